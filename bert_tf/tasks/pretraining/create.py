"""Masked-LM / next-sentence pretraining data: the algorithm of google-research/bert
`create_pretraining_data.py`, with the same random choices, made fast. This module is the driver;
`corpus`, `instances`, `workers`, `sampling` and `records` hold the stages.

Pipeline (`create_pretraining_data`):

1. `read_corpus`: input files (comma-separated list of files or glob patterns) hold one sentence per
   line and a blank line between documents. Bytes that are not UTF-8 are dropped (as the original does)
   and counted per file. Every line is tokenized once; empty documents are dropped. As in the original,
   a document is only ended by a blank line, so one may continue from one file into the next.
2. The documents are shuffled with `random.Random(random_seed)`. For each of `dupe_factor` passes
   and each document, `InstanceBuilder` cuts the document into `[CLS] A [SEP] B [SEP]` instances:
   a target length of `max_seq_length - 3` (with probability `short_seq_prob` a random length in
   `[2, max_seq_length - 3]`); sentences are accumulated up to it; A is a random prefix of the chunk;
   B is, with probability 1/2 (or when the chunk has one sentence), text from a random other document
   (`next_sentence_labels` 1, the unused sentences are put back), else the rest of the chunk (label
   0); the pair is truncated from the longer side, at the front or the back at random; then
   `num_to_predict = min(max_predictions_per_seq, max(1, round(len(tokens) * masked_lm_prob)))`
   shuffled candidates (whole words with `do_whole_word_mask`) are masked: 80% `[MASK]`, 10% kept,
   10% a random vocabulary id. With `word_segmentation` "jieba" or "ref" the Chinese words are
   marked while reading (`word_segmentation`) and masked whole, one 80/10/10 draw per word.
3. All instances are shuffled and written round-robin to the output files (`records.write_tfrecord_files`).

Random choices: with `num_workers=1` every random draw is the original's, in the original's order
(documents shuffle, then per document, then the final shuffle), so the records are those the original
writes for the same tokenizer and seed. With `num_workers=N > 1` the (pass, document) items are split
into N contiguous shards of about equal token count; shard `s` draws from its own
`random.Random("<seed>:<s>/<N>")` and the shards' instances are concatenated in shard order before the
final shuffle (done with the main generator): the output depends only on the seed and N. Workers draw
the same distributions with fewer draws (a partial shuffle of the masking candidates, one binomial
draw per truncated segment; see `InstanceBuilder`).

Speed: sentences are `array('i')` of ids (concatenation and slicing are memcpy); text is tokenized
once per distinct space-separated word (in the workers when there are several); `random.shuffle` and
`randint` are inlined with the same `getrandbits` calls (checked against `random.Random` at first
use, with a fall-back to the library calls); truncation counts cuts instead of deleting list items;
records are serialised for a whole batch by `ExampleEncoder` (numpy varints, no protobuf objects).
"""
from __future__ import annotations

import dataclasses
import os
import random
import time
from typing import Dict, List, Optional, Sequence, Tuple, Union

from bert_tf.files import (
    check_not_an_input,
    check_output_folders,
    expand_input_files,
    protected_inputs,
    split_comma_list,
)
from bert_tf.tasks.pretraining.corpus import (
    Document,
    PretrainingDataError,
    check_vocabulary,
    read_corpus,
)
from bert_tf.tasks.pretraining.instances import BuildCounts, InstanceBuilder, VocabularyIds
from bert_tf.tasks.pretraining.records import write_tfrecord_files
from bert_tf.tasks.pretraining.sampling import fast_draws_match_library, fast_shuffle
from bert_tf.tasks.pretraining.word_segmentation import WORD_SEGMENTATIONS, continuation_mark, word_boundaries
from bert_tf.tasks.pretraining.workers import ProgressLine, WorkerPool, build_in_workers

__all__ = [
    "PretrainingDataError",
    "PretrainingDataConfig",
    "PretrainingDataSummary",
    "split_output_files",
    "create_pretraining_records",
    "create_pretraining_data",
]


@dataclasses.dataclass(frozen=True)
class PretrainingDataConfig:
    """The original flags that shape the instances (same names and defaults), plus `num_workers`.

    Attributes:
      max_seq_length: S, tokens per instance including `[CLS]` and two `[SEP]` (>= 5).
      max_predictions_per_seq: P, most masked positions per instance (1 .. S - 3).
      masked_lm_prob: fraction of the tokens masked, in (0, 1].
      short_seq_prob: probability of a document using a random shorter target length, in [0, 1].
      dupe_factor: passes over the corpus (each with different masks), >= 1.
      do_whole_word_mask: mask all WordPiece pieces of a word together.
      word_segmentation: "none" (words are `##` groups, the original), "jieba" or "ref": Chinese
        words (from jieba or a reference file) are masked whole too, with one 80/10/10 draw per word
        (`word_segmentation`); needs `do_whole_word_mask`.
      random_seed: seed of `random.Random`.
      num_workers: processes creating instances; None = all available cores. 1 reproduces the
        original's random sequence; any fixed value gives identical output for a fixed seed.
    """

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    dupe_factor: int = 10
    do_whole_word_mask: bool = False
    word_segmentation: str = "none"
    random_seed: int = 12345
    num_workers: Optional[int] = None

    def validate(self) -> None:
        """Raises `PretrainingDataError` naming the flag of the first invalid value."""
        if self.max_seq_length < 5:
            raise PretrainingDataError(
                f"--max_seq_length={self.max_seq_length}: must be at least 5 ([CLS] A [SEP] B [SEP] "
                f"with at least 2 tokens in A and B together)")
        max_maskable = self.max_seq_length - 3
        if not 1 <= self.max_predictions_per_seq <= max_maskable:
            raise PretrainingDataError(
                f"--max_predictions_per_seq={self.max_predictions_per_seq}: must be between 1 and "
                f"max_seq_length - 3 = {max_maskable} (an instance has at most {max_maskable} maskable "
                f"tokens); usually about max_seq_length * masked_lm_prob")
        if not 0.0 < self.masked_lm_prob <= 1.0:
            raise PretrainingDataError(f"--masked_lm_prob={self.masked_lm_prob}: must be in (0, 1]")
        if not 0.0 <= self.short_seq_prob <= 1.0:
            raise PretrainingDataError(f"--short_seq_prob={self.short_seq_prob}: must be in [0, 1]")
        if self.dupe_factor < 1:
            raise PretrainingDataError(f"--dupe_factor={self.dupe_factor}: must be at least 1")
        if self.word_segmentation not in WORD_SEGMENTATIONS:
            raise PretrainingDataError(f"--word_segmentation={self.word_segmentation}: must be one of "
                                       f"{', '.join(WORD_SEGMENTATIONS)}")
        if self.word_segmentation != "none" and not self.do_whole_word_mask:
            raise PretrainingDataError(f"--word_segmentation={self.word_segmentation} segments words for whole-word "
                                       f"masking: add --do_whole_word_mask")
        if self.num_workers is not None and self.num_workers < 1:
            raise PretrainingDataError(
                f"--num_workers={self.num_workers}: must be at least 1 (or unset for all cores)")

    def resolved_num_workers(self) -> int:
        """`num_workers`, or the number of cores this process may use when it is None."""
        if self.num_workers is not None:
            return int(self.num_workers)
        if hasattr(os, "sched_getaffinity"):
            return max(1, len(os.sched_getaffinity(0)))
        return max(1, os.cpu_count() or 1)


def split_output_files(output_file: Union[str, Sequence[str]]) -> List[str]:
    """Comma-separated output file names -> list; checks that their folders exist.

    Raises:
      PretrainingDataError: no name given, or a folder that does not exist (naming the file).
    """
    files = split_comma_list(output_file)
    if not files:
        raise PretrainingDataError("--output_file is empty: give one or more comma-separated files")
    check_output_folders(files, "--output_file", PretrainingDataError)
    return files


def create_pretraining_records(documents: Sequence[Document], vocab: Dict[str, int],
                               config: PretrainingDataConfig, rng: random.Random,
                               show_progress: bool = False, pool: Optional[WorkerPool] = None
                               ) -> Tuple[List[bytes], BuildCounts]:
    """Creates the serialised instances of all passes over `documents` and shuffles them.

    Args:
      documents: shuffled documents (sentences of ids; with a word segmentation, continuations
        marked as `read_corpus` does).
      vocab: token -> id (needs `[CLS]`, `[SEP]`, `[MASK]`).
      config: the flags; `num_workers` selects the random scheme (see the module docstring).
      rng: the main generator, after the documents shuffle; used for the whole build when one worker,
        and for the final shuffle in any case.
      show_progress: draw a progress line on stderr.
      pool: a `WorkerPool` of `config.resolved_num_workers()` processes to use (else one is
        started when more than one worker is asked for).
    Returns:
      (records in output order, counts).
    """
    mark = continuation_mark(vocab) if config.word_segmentation != "none" else 0
    vocabulary = VocabularyIds.from_vocab(vocab, documents, continuation_mark=mark)
    total_items = config.dupe_factor * len(documents)
    num_workers = config.resolved_num_workers()
    progress = ProgressLine(total_items, enabled=show_progress)
    if num_workers <= 1:
        builder = InstanceBuilder(documents, vocabulary, config, rng)
        done = 0
        for _ in range(config.dupe_factor):
            for document_index in range(len(documents)):
                builder.build_document(document_index)
                done += 1
                progress.update(done, len(builder))
        progress.close(done, len(builder))
        records, counts = builder.encode(), builder.counts()
    elif pool is not None:
        records, counts = build_in_workers(documents, vocabulary, config, pool, progress)
    else:
        with WorkerPool(num_workers) as own_pool:
            records, counts = build_in_workers(documents, vocabulary, config, own_pool, progress)
    if fast_draws_match_library():
        fast_shuffle(records, rng.getrandbits)  # == rng.shuffle(records)
    else:
        rng.shuffle(records)
    return records, counts


@dataclasses.dataclass
class PretrainingDataSummary:
    """What `create_pretraining_data` read and wrote.

    Attributes:
      input_files, output_files: the files.
      records_per_file: records written to each output file.
      num_documents, num_sentences: non-empty documents and sentences read.
      num_instances: records written; num_tokens: real tokens in them ([CLS]/[SEP] included).
      num_masked_positions: masked-LM predictions; the next three split them by replacement.
      num_random_next: instances with `next_sentence_labels` 1.
      undecodable_bytes: input file -> bytes dropped as invalid UTF-8 (only files with some).
      num_workers: processes used.
      seconds_reading, seconds_creating, seconds_writing: wall times of the three stages.
    """

    input_files: List[str]
    output_files: List[str]
    records_per_file: List[int]
    num_documents: int
    num_sentences: int
    num_instances: int
    num_tokens: int
    num_masked_positions: int
    num_masked_with_mask_token: int
    num_masked_kept: int
    num_masked_random: int
    num_random_next: int
    undecodable_bytes: Dict[str, int]
    num_workers: int
    seconds_reading: float
    seconds_creating: float
    seconds_writing: float

    @property
    def total_undecodable_bytes(self) -> int:
        return sum(self.undecodable_bytes.values())

    def format(self) -> str:
        """Multi-line human-readable summary."""
        instances = max(1, self.num_instances)
        masked = max(1, self.num_masked_positions)
        seconds = self.seconds_reading + self.seconds_creating + self.seconds_writing
        lines = [
            f"read {len(self.input_files)} file(s): {self.num_documents} documents, "
            f"{self.num_sentences} sentences",
            f"wrote {self.num_instances} instances to {len(self.output_files)} file(s) "
            f"({', '.join(self.output_files)}) with {self.num_workers} worker(s) in {seconds:.2f} s "
            f"({self.num_instances / max(seconds, 1e-9):,.0f} instances/s; reading "
            f"{self.seconds_reading:.2f} s, creating {self.seconds_creating:.2f} s, writing "
            f"{self.seconds_writing:.2f} s)",
            f"tokens: {self.num_tokens} ({self.num_tokens / instances:.1f} per instance); masked "
            f"positions: {self.num_masked_positions} ({self.num_masked_positions / instances:.2f} per "
            f"instance; [MASK] {100 * self.num_masked_with_mask_token / masked:.1f}%, kept "
            f"{100 * self.num_masked_kept / masked:.1f}%, random "
            f"{100 * self.num_masked_random / masked:.1f}%)",
            f"next sentence random: {self.num_random_next} "
            f"({100 * self.num_random_next / instances:.1f}%)",
        ]
        if self.undecodable_bytes:
            details = ", ".join(f"{path}: {count}" for path, count in self.undecodable_bytes.items())
            lines.append(f"undecodable bytes dropped (not UTF-8): {self.total_undecodable_bytes} ({details})")
        else:
            lines.append("undecodable bytes dropped (not UTF-8): 0")
        return "\n".join(lines)


def create_pretraining_data(input_file: Union[str, Sequence[str]], output_file: Union[str, Sequence[str]],
                            tokenizer, config: PretrainingDataConfig = PretrainingDataConfig(),
                            show_progress: bool = False, vocab_file: Optional[str] = None,
                            ref_file: Optional[Union[str, Sequence[str]]] = None) -> PretrainingDataSummary:
    """Reads text, creates masked-LM / next-sentence instances and writes them as TFRecords.

    Args:
      input_file: comma-separated files / glob patterns (or a list of them).
      output_file: comma-separated output files (or a list); instances are written round-robin.
      tokenizer: `FullTokenizer`-like (`.tokenize`, `.vocab`).
      config: `PretrainingDataConfig`.
      show_progress: progress line on stderr.
      vocab_file: only used in error messages (defaults to `tokenizer.vocab_file` if present).
      ref_file: with `config.word_segmentation == "ref"`: comma-separated reference files (or a list),
        one per input file in input order (`word_segmentation`).
    Returns:
      `PretrainingDataSummary`.
    Raises:
      PretrainingDataError: bad flags, unusable vocabulary, unreadable input, empty corpus, a
        reference file that does not match its input, jieba not installed.
      InputError: no input file given, or a pattern that matches no file (`expand_input_files`).
    """
    config.validate()
    vocab_name = vocab_file or getattr(tokenizer, "vocab_file", None) or "the vocabulary"
    check_vocabulary(tokenizer.vocab, str(vocab_name))
    input_files = expand_input_files(input_file)
    output_files = split_output_files(output_file)
    ref_files = split_comma_list(ref_file or "")
    with protected_inputs({"--input_file": input_files, "--vocab_file": vocab_file, "--ref_file": ref_files}):
        for path in output_files:  # any spelling of an input (./a/../a/f, a link) is the input
            check_not_an_input(path, "--output_file")
    boundaries = word_boundaries(config.word_segmentation, tokenizer, ref_files, input_files)

    start = time.perf_counter()
    num_workers = config.resolved_num_workers()
    pool = WorkerPool(num_workers, tokenizer) if num_workers > 1 else None
    try:
        corpus = read_corpus(input_files, tokenizer, pool=pool, word_boundaries=boundaries)
        if not corpus.documents:
            raise PretrainingDataError(
                f"--input_file: no text in {', '.join(input_files)} (every line is empty or yields no "
                f"tokens); expected one sentence per line and a blank line between documents")
        rng = random.Random(config.random_seed)
        rng.shuffle(corpus.documents)
        read_done = time.perf_counter()
        records, counts = create_pretraining_records(corpus.documents, tokenizer.vocab, config, rng,
                                                     show_progress=show_progress, pool=pool)
    finally:
        if pool is not None:
            pool.close()
    created = time.perf_counter()
    records_per_file = write_tfrecord_files(records, output_files)
    written = time.perf_counter()
    return PretrainingDataSummary(
        input_files=input_files, output_files=output_files, records_per_file=records_per_file,
        num_documents=len(corpus.documents), num_sentences=corpus.num_sentences,
        num_instances=counts.instances, num_tokens=counts.tokens,
        num_masked_positions=counts.masked_positions,
        num_masked_with_mask_token=counts.masked_with_mask_token, num_masked_kept=counts.masked_kept,
        num_masked_random=counts.masked_random, num_random_next=counts.random_next,
        undecodable_bytes=corpus.undecodable_bytes,
        num_workers=num_workers,
        seconds_reading=read_done - start, seconds_creating=created - read_done,
        seconds_writing=written - created)
