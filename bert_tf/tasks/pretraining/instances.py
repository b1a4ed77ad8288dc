"""Masked-LM / next-sentence pretraining data: the algorithm of google-research/bert
``create_pretraining_data.py``, with the same random choices, made fast.

Pipeline (``create_pretraining_data``):

1. ``read_corpus``: input files (comma-separated list of files or glob patterns) hold one sentence per
   line and a blank line between documents. Bytes that are not UTF-8 are dropped (as the original does)
   and counted per file. Every line is tokenized once; empty documents are dropped. As in the original,
   a document is only ended by a blank line, so one may continue from one file into the next.
2. The documents are shuffled with ``random.Random(random_seed)``. For each of ``dupe_factor`` passes
   and each document, ``InstanceBuilder`` cuts the document into ``[CLS] A [SEP] B [SEP]`` instances:
   a target length of ``max_seq_length - 3`` (with probability ``short_seq_prob`` a random length in
   ``[2, max_seq_length - 3]``); sentences are accumulated up to it; A is a random prefix of the chunk;
   B is, with probability 1/2 (or when the chunk has one sentence), text from a random other document
   (``next_sentence_labels`` 1, the unused sentences are put back), else the rest of the chunk (label
   0); the pair is truncated from the longer side, at the front or the back at random; then
   ``num_to_predict = min(max_predictions_per_seq, max(1, round(len(tokens) * masked_lm_prob)))``
   shuffled candidates (whole words with ``do_whole_word_mask``) are masked: 80% ``[MASK]``, 10% kept,
   10% a random vocabulary id.
3. All instances are shuffled and written round-robin to the output files (``pretraining_records``).

Random choices: with ``num_workers=1`` every random draw is the original's, in the original's order
(documents shuffle, then per document, then the final shuffle), so the records are those the original
writes for the same tokenizer and seed. With ``num_workers=N > 1`` the (pass, document) items are split
into N contiguous shards of about equal token count; shard ``s`` draws from its own
``random.Random("<seed>:<s>/<N>")`` and the shards' instances are concatenated in shard order before the
final shuffle (done with the main generator): the output depends only on the seed and N. Workers draw
the same distributions with fewer draws (a partial shuffle of the masking candidates, one binomial
draw per truncated segment; see ``InstanceBuilder``).

Speed: sentences are ``array('i')`` of ids (concatenation and slicing are memcpy); text is tokenized
once per distinct space-separated word (in the workers when there are several); ``random.shuffle`` and
``randint`` are inlined with the same ``getrandbits`` calls (checked against ``random.Random`` at first
use, with a fall-back to the library calls); truncation counts cuts instead of deleting list items;
records are serialised for a whole batch by ``ExampleEncoder`` (numpy varints, no protobuf objects).
"""
import array
import dataclasses
import glob
import multiprocessing
import os
import random
import sys
import time
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from bert_tf.tasks.pretraining.records import (
    PRETRAINING_FEATURE_NAMES,
    ID_TYPECODE,
    ExampleEncoder,
    InstanceBatch,
    PretrainingRecordError,
    check_pretraining_tfrecord,
    pretraining_feature_spec,
    write_tfrecord_files,
)

__all__ = [
    "PRETRAINING_FEATURE_NAMES",
    "REQUIRED_SPECIAL_TOKENS",
    "PretrainingDataError",
    "PretrainingRecordError",
    "PretrainingDataConfig",
    "Corpus",
    "PretrainingDataSummary",
    "InstanceBuilder",
    "WorkerPool",
    "expand_input_files",
    "split_output_files",
    "read_corpus",
    "check_vocabulary",
    "create_pretraining_records",
    "create_pretraining_data",
    "pretraining_feature_spec",
    "check_pretraining_tfrecord",
    "write_tfrecord_files",
]

REQUIRED_SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[MASK]", "[UNK]")

# A document is a list of sentences; a sentence is a non-empty array of token ids (C ints: copying
# and concatenating them is a memcpy).
Sentence = array.array
Document = List[Sentence]


class PretrainingDataError(ValueError):
    """Bad input for pretraining data creation (flags, files, vocabulary, corpus)."""


# ----------------------------------------------------------------------------------------------------
# Configuration
# ----------------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class PretrainingDataConfig:
    """The original flags that shape the instances (same names and defaults), plus ``num_workers``.

    Attributes:
      max_seq_length: S, tokens per instance including ``[CLS]`` and two ``[SEP]`` (>= 5).
      max_predictions_per_seq: P, most masked positions per instance (1 .. S - 3).
      masked_lm_prob: fraction of the tokens masked, in (0, 1].
      short_seq_prob: probability of a document using a random shorter target length, in [0, 1].
      dupe_factor: passes over the corpus (each with different masks), >= 1.
      do_whole_word_mask: mask all WordPiece pieces of a word together.
      random_seed: seed of ``random.Random``.
      num_workers: processes creating instances; None = all available cores. 1 reproduces the
        original's random sequence; any fixed value gives identical output for a fixed seed.
    """

    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    masked_lm_prob: float = 0.15
    short_seq_prob: float = 0.1
    dupe_factor: int = 10
    do_whole_word_mask: bool = False
    random_seed: int = 12345
    num_workers: Optional[int] = None

    def validate(self) -> None:
        """Raises ``PretrainingDataError`` naming the flag of the first invalid value."""
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
        if self.num_workers is not None and self.num_workers < 1:
            raise PretrainingDataError(
                f"--num_workers={self.num_workers}: must be at least 1 (or unset for all cores)")

    def resolved_num_workers(self) -> int:
        """``num_workers``, or the number of cores this process may use when it is None."""
        if self.num_workers is not None:
            return int(self.num_workers)
        if hasattr(os, "sched_getaffinity"):
            return max(1, len(os.sched_getaffinity(0)))
        return max(1, os.cpu_count() or 1)


# ----------------------------------------------------------------------------------------------------
# Input
# ----------------------------------------------------------------------------------------------------
def _split_comma_list(value: Union[str, Sequence[str]]) -> List[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item.strip()]


def expand_input_files(input_file: Union[str, Sequence[str]], flag_name: str = "input_file") -> List[str]:
    """Comma-separated files or glob patterns (or a list of them) -> file names.

    Each pattern's matches are sorted (so the document order, and the output, do not depend on the
    file system's listing order); patterns are kept in the given order. ``gs://``-style paths are
    globbed with ``tf.io.gfile``.

    Raises:
      PretrainingDataError: no pattern given, or a pattern that matches no file (naming it).
    """
    patterns = _split_comma_list(input_file)
    if not patterns:
        raise PretrainingDataError(f"--{flag_name} is empty: give one or more files or glob patterns")
    files = []
    for pattern in patterns:
        if os.path.isfile(pattern):  # an existing name is taken as is, even with glob characters
            files.append(pattern)
            continue
        if "://" in pattern:
            import tensorflow as tf

            matches = sorted(tf.io.gfile.glob(pattern))
        else:
            matches = sorted(path for path in glob.glob(pattern) if os.path.isfile(path))
        if not matches:
            raise PretrainingDataError(f"--{flag_name}: no file matches {pattern!r}")
        files.extend(matches)
    return files


def split_output_files(output_file: Union[str, Sequence[str]]) -> List[str]:
    """Comma-separated output file names -> list; checks that their folders exist.

    Raises:
      PretrainingDataError: no name given, or a folder that does not exist (naming the file).
    """
    files = _split_comma_list(output_file)
    if not files:
        raise PretrainingDataError("--output_file is empty: give one or more comma-separated files")
    for path in files:
        folder = os.path.dirname(path)
        if "://" not in path and folder and not os.path.isdir(folder):
            raise PretrainingDataError(f"--output_file {path}: folder {folder} does not exist")
    return files


def check_vocabulary(vocab: Dict[str, int], vocab_file: str = "the vocabulary") -> None:
    """Raises ``PretrainingDataError`` if ``vocab`` lacks one of ``REQUIRED_SPECIAL_TOKENS``."""
    missing = [token for token in REQUIRED_SPECIAL_TOKENS if token not in vocab]
    if missing:
        raise PretrainingDataError(
            f"{vocab_file} lacks the special token(s) {', '.join(missing)} "
            f"({len(vocab)} entries); pretraining data needs {', '.join(REQUIRED_SPECIAL_TOKENS)}")


@dataclasses.dataclass
class Corpus:
    """Tokenized documents.

    Attributes:
      documents: documents (in file order), each a list of sentences, each a non-empty
        ``array('i')`` of ids.
      input_files: the files read, in order.
      undecodable_bytes: file -> number of bytes dropped because they were not valid UTF-8 (only
        files with some).
      num_lines: lines read (blank ones included).
    """

    documents: List[Document]
    input_files: List[str]
    undecodable_bytes: Dict[str, int]
    num_lines: int

    @property
    def num_sentences(self) -> int:
        return sum(len(document) for document in self.documents)

    @property
    def num_tokens(self) -> int:
        return sum(len(sentence) for document in self.documents for sentence in document)


def _read_bytes(path: str) -> bytes:
    try:
        if "://" in path:
            import tensorflow as tf

            with tf.io.gfile.GFile(path, "rb") as reader:
                return reader.read()
        with open(path, "rb") as reader:
            return reader.read()
    except OSError as error:
        raise PretrainingDataError(f"cannot read input file {path}: {error}") from None


def _decode_utf8_ignoring(data: bytes) -> Tuple[str, int]:
    """UTF-8 decoding that drops invalid bytes (the original's ``errors="ignore"``).

    Returns the text and the number of bytes dropped (what decodes re-encodes to the same bytes).
    """
    try:
        return data.decode("utf-8"), 0
    except UnicodeDecodeError:
        text = data.decode("utf-8", "ignore")
        return text, len(data) - len(text.encode("utf-8"))


class _WordIdCache(dict):
    """Space-separated word -> its ids as ``array(ID_TYPECODE)`` bytes, tokenizing each distinct word
    once.

    ``tokenizer.tokenize(line)`` equals the concatenation of ``tokenizer.tokenize(word)`` over
    ``line.split(" ")``: the original tokenizer maps characters one at a time, then splits on
    whitespace (the ASCII space included) and processes every whitespace-free word on its own.
    """

    def __init__(self, tokenizer):
        super().__init__()
        self._tokenize = tokenizer.tokenize
        self._vocab = tokenizer.vocab

    def __missing__(self, word: str) -> bytes:
        tokens = self._tokenize(word)
        try:
            ids = array.array(ID_TYPECODE, [self._vocab[token] for token in tokens]).tobytes()
        except KeyError as error:
            raise PretrainingDataError(
                f"the tokenizer produced {error.args[0]!r} (from {word!r}), which is not in the "
                f"vocabulary") from None
        self[word] = ids
        return ids


def _word_ids_in_pool(lines_per_file: List[List[str]], pool: "WorkerPool") -> Dict[str, bytes]:
    """word -> ids bytes for every distinct word, tokenized in the pool's processes."""
    distinct_words = set()
    for lines in lines_per_file:
        for line in lines:
            distinct_words.update(line.split(" "))
    words = list(distinct_words)
    num_chunks = min(4 * pool.num_workers, max(1, len(words) // _MIN_WORDS_PER_TOKENIZE_TASK))
    chunks = [words[start::num_chunks] for start in range(num_chunks)]
    word_ids: Dict[str, bytes] = {}
    for chunk, ids in zip(chunks, pool.map(_tokenize_words, chunks)):
        word_ids.update(zip(chunk, ids))
    return word_ids


# Distinct words per tokenization task, at least: smaller tasks cost more in transfers than they save.
_MIN_WORDS_PER_TOKENIZE_TASK = 1000


def read_corpus(input_files: Sequence[str], tokenizer, pool: Optional["WorkerPool"] = None) -> Corpus:
    """Reads and tokenizes documents (one sentence per line, blank line between documents).

    Args:
      input_files: file names (see ``expand_input_files``).
      tokenizer: a ``FullTokenizer`` (``.tokenize(text) -> list of str``, ``.vocab`` token -> id).
      pool: optional ``WorkerPool`` (made with this tokenizer) to tokenize the distinct words in;
        the result does not depend on it.
    Returns:
      ``Corpus`` with the non-empty documents; a line whose tokens are empty (e.g. only control
      characters) adds nothing, as in the original.
    """
    undecodable: Dict[str, int] = {}
    file_lines: List[List[str]] = []
    for path in input_files:
        text, dropped = _decode_utf8_ignoring(_read_bytes(path))
        if dropped:
            undecodable[path] = dropped
        # Lines end at "\n" only (other Unicode line breaks stay inside a line), as readline() does.
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()  # the final newline ends the last line
        file_lines.append([line.strip() for line in lines])
    if pool is not None and pool.has_tokenizer:
        word_ids: Dict[str, bytes] = _word_ids_in_pool(file_lines, pool)
    else:
        word_ids = _WordIdCache(tokenizer)
    ids_of_word = word_ids.__getitem__

    documents: List[Document] = [[]]
    current = documents[-1]
    for lines in file_lines:
        for line in lines:
            if not line:
                if current:
                    current = []
                    documents.append(current)
                continue
            ids = b"".join(map(ids_of_word, line.split(" ")))
            if ids:
                sentence = array.array(ID_TYPECODE)
                sentence.frombytes(ids)
                current.append(sentence)
    documents = [document for document in documents if document]
    return Corpus(documents=documents, input_files=list(input_files), undecodable_bytes=undecodable,
                  num_lines=sum(len(lines) for lines in file_lines))


# ----------------------------------------------------------------------------------------------------
# Random draws identical to random.Random's
# ----------------------------------------------------------------------------------------------------
_SHUFFLE_PLANS: Dict[int, List[Tuple[int, int, int]]] = {}
_MAX_PLANNED_SHUFFLE = 4096  # longer lists (the final shuffle of all records) are not tabulated


def _shuffle_plan(length: int) -> List[Tuple[int, int, int]]:
    """(i, i + 1, (i + 1).bit_length()) for i = length-1 .. 1: the steps of ``random.shuffle``."""
    plan = _SHUFFLE_PLANS.get(length)
    if plan is None:
        plan = [(index, index + 1, (index + 1).bit_length()) for index in range(length - 1, 0, -1)]
        _SHUFFLE_PLANS[length] = plan
    return plan


def _fast_shuffle(items: list, getrandbits) -> None:
    """``random.Random.shuffle(items)`` with the same ``getrandbits`` calls, without method overhead."""
    if len(items) > _MAX_PLANNED_SHUFFLE:
        for index in range(len(items) - 1, 0, -1):
            bound = index + 1
            num_bits = bound.bit_length()
            draw = getrandbits(num_bits)
            while draw >= bound:
                draw = getrandbits(num_bits)
            items[index], items[draw] = items[draw], items[index]
        return
    for index, bound, num_bits in _shuffle_plan(len(items)):
        draw = getrandbits(num_bits)
        while draw >= bound:
            draw = getrandbits(num_bits)
        items[index], items[draw] = items[draw], items[index]


def _fast_randbelow(bound: int, getrandbits) -> int:
    """``random.Random._randbelow(bound)`` (so ``randint(a, b) == a + _fast_randbelow(b - a + 1)``)."""
    num_bits = bound.bit_length()
    draw = getrandbits(num_bits)
    while draw >= bound:
        draw = getrandbits(num_bits)
    return draw


_FAST_DRAWS_MATCH: Optional[bool] = None


def _fast_draws_match_library() -> bool:
    """True if the inlined draws reproduce this Python's ``random.Random`` (checked once)."""
    global _FAST_DRAWS_MATCH
    if _FAST_DRAWS_MATCH is None:
        library, inlined = random.Random(20240607), random.Random(20240607)
        matches = True
        for length in (0, 1, 2, 3, 5, 17, 64, 65, 127, 200, _MAX_PLANNED_SHUFFLE + 10):
            expected, actual = list(range(length)), list(range(length))
            library.shuffle(expected)
            _fast_shuffle(actual, inlined.getrandbits)
            matches = matches and expected == actual
        for bound in (1, 2, 3, 7, 8, 9, 30522, 1 << 20):
            for _ in range(20):
                matches = matches and library.randint(3, 2 + bound) == 3 + _fast_randbelow(
                    bound, inlined.getrandbits)
        _FAST_DRAWS_MATCH = matches and library.random() == inlined.random()
    return _FAST_DRAWS_MATCH


# ----------------------------------------------------------------------------------------------------
# Instance creation
# ----------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class _BuildCounts:
    instances: int = 0
    tokens: int = 0
    masked_positions: int = 0
    random_next: int = 0
    masked_with_mask_token: int = 0
    masked_kept: int = 0
    masked_random: int = 0

    def add(self, other: "_BuildCounts") -> None:
        for field in dataclasses.fields(self):
            setattr(self, field.name, getattr(self, field.name) + getattr(other, field.name))


@dataclasses.dataclass(frozen=True)
class _VocabularyIds:
    """What instance creation needs from the vocabulary (picklable, for worker processes).

    Attributes:
      cls_id, sep_id, mask_id: special token ids.
      replacement_ids: ``vocab[word]`` for ``word in list(vocab)`` (the original's random word list).
      is_continuation: bytes, 1 at ids whose token starts with ``##``.
      text_has_special_ids: whether some document token is ``[CLS]`` or ``[SEP]`` (never with the
        original tokenizer); if not, masking candidates are found by position, without a scan.
    """

    cls_id: int
    sep_id: int
    mask_id: int
    replacement_ids: Tuple[int, ...]
    is_continuation: bytes
    text_has_special_ids: bool = True

    @classmethod
    def from_vocab(cls, vocab: Dict[str, int], documents: Sequence[Document] = ()) -> "_VocabularyIds":
        max_id = max(vocab.values())
        flags = bytearray(max_id + 1)
        for token, token_id in vocab.items():
            if token.startswith("##"):
                flags[token_id] = 1
        cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
        has_special = any(cls_id in sentence or sep_id in sentence
                          for document in documents for sentence in document)
        return cls(cls_id=cls_id, sep_id=sep_id, mask_id=vocab["[MASK]"],
                   replacement_ids=tuple(vocab[token] for token in vocab),
                   is_continuation=bytes(flags), text_has_special_ids=has_special)


class InstanceBuilder:
    """Creates instances from documents, drawing from ``rng`` exactly as the original.

    Instances are collected unpadded in ``self.batch`` (an ``InstanceBatch``); ``encode()`` serialises
    them; ``counts()`` tallies instances, tokens, masked positions by replacement kind and random B.

    Args:
      documents: all documents (random B segments come from any of them).
      vocabulary: special ids, replacement ids and ``##`` flags (``_VocabularyIds``).
      config: ``PretrainingDataConfig``.
      rng: a ``random.Random``.
      original_draws: True: every draw is the original's, in the original's order. False (workers):
        the same distribution with fewer draws: the masking candidates are drawn by a partial
        Fisher-Yates shuffle that stops once enough are chosen (the original shuffles all ~S of them,
        then takes a prefix), and the number of front cuts of a truncated segment is one
        Binomial(cuts, 1/2) draw (the popcount of ``getrandbits(cuts)``) instead of one coin a cut.
    """

    def __init__(self, documents: Sequence[Document], vocabulary: "_VocabularyIds",
                 config: PretrainingDataConfig, rng: random.Random, original_draws: bool = True):
        self.documents = documents
        self.vocabulary = vocabulary
        self.config = config
        self.rng = rng
        self.original_draws = original_draws
        self.batch = InstanceBatch()
        self._cls_array = array.array(ID_TYPECODE, [vocabulary.cls_id])
        self._sep_array = array.array(ID_TYPECODE, [vocabulary.sep_id])
        self._num_mask_token = 0
        self._num_random = 0
        self._max_num_tokens = config.max_seq_length - 3
        # num_to_predict for every instance length, exactly as the original computes it.
        self._num_to_predict = [
            min(config.max_predictions_per_seq, max(1, int(round(length * config.masked_lm_prob))))
            for length in range(config.max_seq_length + 1)]
        self._mask_by_position = not config.do_whole_word_mask and not vocabulary.text_has_special_ids
        self._whole_words_by_position = config.do_whole_word_mask and not vocabulary.text_has_special_ids
        self._continuation_flags = np.frombuffer(vocabulary.is_continuation, dtype=np.uint8)
        self._id_dtype = np.dtype(f"=i{array.array(ID_TYPECODE).itemsize}")
        if _fast_draws_match_library():
            getrandbits = rng.getrandbits
            self._shuffle = lambda items: _fast_shuffle(items, getrandbits)
            self._randbelow = lambda bound: _fast_randbelow(bound, getrandbits)
        else:  # a Python whose random.Random draws differently: use the library calls
            self._shuffle = rng.shuffle
            self._randbelow = lambda bound: rng.randint(0, bound - 1)

    def __len__(self) -> int:
        return len(self.batch)

    def encode(self) -> List[bytes]:
        """The collected instances as serialised ``tf.train.Example`` bytes, in creation order."""
        encoder = ExampleEncoder(self.config.max_seq_length, self.config.max_predictions_per_seq)
        return encoder.encode_batch(self.batch)

    def build_document(self, document_index: int) -> int:
        """Adds the instances of one document (original ``create_instances_from_document``);
        returns how many."""
        documents = self.documents
        document = documents[document_index]
        num_sentences = len(document)
        random_float = self.rng.random
        randbelow = self._randbelow
        max_num_tokens = self._max_num_tokens
        target_seq_length = max_num_tokens
        if random_float() < self.config.short_seq_prob:
            target_seq_length = 2 + randbelow(max_num_tokens - 1)  # randint(2, max_num_tokens)
        created = 0
        chunk: List[Sentence] = []
        chunk_length = 0
        index = 0
        while index < num_sentences:
            sentence = document[index]
            chunk.append(sentence)
            chunk_length += len(sentence)
            if index == num_sentences - 1 or chunk_length >= target_seq_length:
                a_end = 1
                if len(chunk) >= 2:
                    a_end = 1 + randbelow(len(chunk) - 1)  # randint(1, len(chunk) - 1)
                tokens_a = array.array(ID_TYPECODE)
                for sentence_a in chunk[:a_end]:
                    tokens_a += sentence_a
                tokens_b = array.array(ID_TYPECODE)
                if len(chunk) == 1 or random_float() < 0.5:
                    is_random_next = True
                    target_b_length = target_seq_length - len(tokens_a)
                    for _ in range(10):
                        random_document_index = randbelow(len(documents))
                        if random_document_index != document_index:
                            break
                    random_document = documents[random_document_index]
                    for random_index in range(randbelow(len(random_document)), len(random_document)):
                        tokens_b += random_document[random_index]
                        if len(tokens_b) >= target_b_length:
                            break
                    index -= len(chunk) - a_end  # the unused sentences go back
                else:
                    is_random_next = False
                    for sentence_b in chunk[a_end:]:
                        tokens_b += sentence_b
                if len(tokens_a) + len(tokens_b) > max_num_tokens:
                    if self.original_draws:
                        tokens_a, tokens_b = self._truncate_pair(tokens_a, tokens_b, random_float)
                    else:
                        tokens_a, tokens_b = self._truncate_pair_binomial(tokens_a, tokens_b)
                self._add_masked_instance(tokens_a, tokens_b, is_random_next)
                created += 1
                chunk = []
                chunk_length = 0
            index += 1
        return created

    def _truncate_pair(self, tokens_a: Sentence, tokens_b: Sentence, random_float
                       ) -> Tuple[Sentence, Sentence]:
        """Original ``truncate_seq_pair``: while too long, drop a token from the longer list (B on a
        tie), from the front when ``random() < 0.5``, else from the back."""
        max_num_tokens = self._max_num_tokens
        length_a, length_b = len(tokens_a), len(tokens_b)
        front_a = back_a = front_b = back_b = 0
        while length_a + length_b > max_num_tokens:
            if length_a > length_b:
                if random_float() < 0.5:
                    front_a += 1
                else:
                    back_a += 1
                length_a -= 1
            else:
                if random_float() < 0.5:
                    front_b += 1
                else:
                    back_b += 1
                length_b -= 1
        return (tokens_a[front_a:front_a + length_a], tokens_b[front_b:front_b + length_b])

    def _truncate_pair_binomial(self, tokens_a: Sentence, tokens_b: Sentence) -> Tuple[Sentence, Sentence]:
        """``_truncate_pair`` in distribution: which side loses each token depends only on the lengths;
        the number of front cuts of a side is Binomial(cuts, 1/2)."""
        max_num_tokens = self._max_num_tokens
        length_a, length_b = len(tokens_a), len(tokens_b)
        while length_a + length_b > max_num_tokens:
            if length_a > length_b:
                length_a -= 1
            else:
                length_b -= 1
        getrandbits = self.rng.getrandbits
        cuts_a, cuts_b = len(tokens_a) - length_a, len(tokens_b) - length_b
        front_a = getrandbits(cuts_a).bit_count() if cuts_a else 0
        front_b = getrandbits(cuts_b).bit_count() if cuts_b else 0
        return (tokens_a[front_a:front_a + length_a], tokens_b[front_b:front_b + length_b])

    def _masked_order(self, tokens: Sentence, length_a: int, num_to_predict: int) -> List[int]:
        """Positions to mask, in the order the original visits them (original
        ``create_masked_lm_predictions`` candidate selection)."""
        if self._mask_by_position:
            # Every candidate is one token: all but [CLS] (0) and the two [SEP]s.
            candidates = list(range(1, length_a + 1))
            candidates += range(length_a + 2, len(tokens) - 1)
            if self.original_draws:
                self._shuffle(candidates)
            else:  # a uniformly random ordered prefix: partial Fisher-Yates from the front
                randbelow = self._randbelow
                num_candidates = len(candidates)
                for index in range(min(num_to_predict, num_candidates - 1)):
                    other = index + randbelow(num_candidates - index)
                    candidates[index], candidates[other] = candidates[other], candidates[index]
            return candidates[:num_to_predict]
        if self._whole_words_by_position:
            return self._whole_word_order(tokens, length_a, num_to_predict)
        vocabulary = self.vocabulary
        cls_id, sep_id = vocabulary.cls_id, vocabulary.sep_id
        whole_words = self.config.do_whole_word_mask
        is_continuation = vocabulary.is_continuation
        groups: List[List[int]] = []
        for position, token in enumerate(tokens):
            if token == cls_id or token == sep_id:
                continue
            # As the original: a "##" piece joins the previous candidate, even across the middle [SEP].
            if whole_words and groups and is_continuation[token]:
                groups[-1].append(position)
            else:
                groups.append([position])
        order: List[int] = []
        if self.original_draws:
            self._shuffle(groups)
            for group in groups:
                if len(order) >= num_to_predict:
                    break
                if len(order) + len(group) > num_to_predict:
                    continue  # a whole word that does not fit is skipped
                order += group  # groups are disjoint: never already covered
            return order
        # The same walk over a random order of the groups, shuffling only as far as it goes.
        randbelow = self._randbelow
        num_groups = len(groups)
        index = 0
        while index < num_groups and len(order) < num_to_predict:
            other = index + randbelow(num_groups - index)
            groups[index], groups[other] = groups[other], groups[index]
            group = groups[index]
            index += 1
            if len(order) + len(group) <= num_to_predict:
                order += group
        return order

    def _whole_word_order(self, tokens: Sentence, length_a: int, num_to_predict: int) -> List[int]:
        """``_masked_order`` with whole-word masking when [CLS]/[SEP] occur only at their three
        positions: the same groups and draws, with the group starts found by numpy."""
        num_tokens = len(tokens)
        separator = length_a + 1
        # A group starts at every token that is not a "##" piece, and at position 1 in any case; a
        # "##" piece starting B joins A's last word (the middle [SEP] is skipped), as in the original.
        is_start = self._continuation_flags[np.frombuffer(tokens, dtype=self._id_dtype)] == 0
        is_start[1] = True
        is_start[0] = is_start[separator] = is_start[num_tokens - 1] = False
        starts = np.flatnonzero(is_start).tolist()
        starts.append(num_tokens - 1)  # the end of the last group
        groups = list(range(len(starts) - 1))

        def positions(group: int) -> List[int]:
            start, end = starts[group], starts[group + 1]
            if start < separator < end:
                return list(range(start, separator)) + list(range(separator + 1, end))
            return list(range(start, end))

        order: List[int] = []
        if self.original_draws:
            self._shuffle(groups)
            for group in groups:
                if len(order) >= num_to_predict:
                    break
                start, end = starts[group], starts[group + 1]
                if end - start == 1:  # most words are one piece
                    if len(order) < num_to_predict:
                        order.append(start)
                elif len(order) + end - start - (start < separator < end) <= num_to_predict:
                    order += positions(group)
            return order
        randbelow = self._randbelow
        num_groups = len(groups)
        index = 0
        while index < num_groups and len(order) < num_to_predict:
            other = index + randbelow(num_groups - index)
            groups[index], groups[other] = groups[other], groups[index]
            group = groups[index]
            index += 1
            start, end = starts[group], starts[group + 1]
            if end - start == 1:
                order.append(start)
            elif len(order) + end - start - (start < separator < end) <= num_to_predict:
                order += positions(group)
        return order

    def _add_masked_instance(self, tokens_a: Sentence, tokens_b: Sentence, is_random_next: bool) -> None:
        """Packs ``[CLS] A [SEP] B [SEP]``, masks it (original ``create_masked_lm_predictions``) and
        adds it to the batch."""
        vocabulary = self.vocabulary
        tokens = self._cls_array + tokens_a
        tokens += self._sep_array
        tokens += tokens_b
        tokens += self._sep_array
        num_tokens = len(tokens)
        length_a = len(tokens_a)
        order = self._masked_order(tokens, length_a, self._num_to_predict[num_tokens])
        positions = sorted(order)
        batch = self.batch
        batch.masked_lm_ids.extend([tokens[position] for position in positions])
        batch.masked_lm_positions.extend(positions)
        random_float = self.rng.random
        mask_id = vocabulary.mask_id
        replacement_ids = vocabulary.replacement_ids
        num_replacements = len(replacement_ids)
        randbelow = self._randbelow
        num_mask_token = num_random = 0
        for position in order:
            if random_float() < 0.8:
                tokens[position] = mask_id
                num_mask_token += 1
            elif random_float() >= 0.5:  # (< 0.5 keeps the original token)
                tokens[position] = replacement_ids[randbelow(num_replacements)]
                num_random += 1
        batch.token_ids.extend(tokens)
        batch.num_tokens.append(num_tokens)
        batch.num_segment_a_tokens.append(length_a)
        batch.num_predictions.append(len(order))
        batch.next_sentence_labels.append(is_random_next)
        self._num_mask_token += num_mask_token
        self._num_random += num_random

    def counts(self) -> "_BuildCounts":
        """Tallies of the instances built so far."""
        batch = self.batch
        masked = len(batch.masked_lm_positions)
        return _BuildCounts(instances=len(batch), tokens=len(batch.token_ids), masked_positions=masked,
                            random_next=sum(batch.next_sentence_labels),
                            masked_with_mask_token=self._num_mask_token,
                            masked_kept=masked - self._num_mask_token - self._num_random,
                            masked_random=self._num_random)


# ----------------------------------------------------------------------------------------------------
# Parallel creation
# ----------------------------------------------------------------------------------------------------
def _plan_shards(documents: Sequence[Document], dupe_factor: int, num_shards: int) -> List[List[int]]:
    """Splits the items (pass-major list of document indices) into ``num_shards`` contiguous runs of
    about equal token count. Depends only on the documents and ``num_shards``."""
    sizes = [sum(len(sentence) for sentence in document) for document in documents]
    items = [document_index for _ in range(dupe_factor) for document_index in range(len(documents))]
    total = sum(sizes) * dupe_factor
    shards: List[List[int]] = [[] for _ in range(num_shards)]
    done = 0
    for document_index in items:
        # The shard whose share of the total contains the middle of this item.
        shard = min(num_shards - 1, int((done + sizes[document_index] / 2) * num_shards / total))
        shards[shard].append(document_index)
        done += sizes[document_index]
    return shards


def _shard_seed(random_seed: int, shard: int, num_shards: int) -> str:
    return f"{random_seed}:{shard}/{num_shards}"


# Per-process state of a worker, set by _init_worker.
_WORKER_STATE: dict = {}


def _init_worker(state: dict) -> None:
    _WORKER_STATE.clear()
    _WORKER_STATE.update(state)


class WorkerPool:
    """Processes shared by tokenization and instance creation (started once: ~40 ms a pool).

    With the ``fork`` start method the workers inherit ``tokenizer`` and tokenize words too; otherwise
    (``spawn``) only instance creation runs in them. Use as a context manager.

    Args:
      num_workers: processes (>= 2).
      tokenizer: the ``FullTokenizer`` used for reading, or None.
    """

    def __init__(self, num_workers: int, tokenizer=None):
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        self.num_workers = int(num_workers)
        self.has_tokenizer = tokenizer is not None and context.get_start_method() == "fork"
        # Progress of instance creation: [documents done, instances] per shard (written by workers).
        self.progress_counters = context.RawArray("q", 2 * self.num_workers)
        state = {"progress": self.progress_counters}
        if self.has_tokenizer:
            state["tokenizer"] = tokenizer
        self._pool = context.Pool(self.num_workers, initializer=_init_worker, initargs=(state,))

    def map(self, function, items):
        return self._pool.map(function, items, chunksize=1)

    def starmap_async(self, function, items):
        return self._pool.starmap_async(function, items, chunksize=1)

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _pack_documents(documents: Sequence[Document]) -> Tuple[array.array, array.array, array.array]:
    """Documents -> (all ids, sentence lengths, sentences per document): three flat arrays that
    pickle as plain bytes."""
    all_ids = array.array(ID_TYPECODE)
    sentence_lengths = array.array(ID_TYPECODE)
    document_sizes = array.array(ID_TYPECODE, [len(document) for document in documents])
    for document in documents:
        for sentence in document:
            all_ids += sentence
        sentence_lengths.extend([len(sentence) for sentence in document])
    return all_ids, sentence_lengths, document_sizes


def _unpack_documents(packed) -> List[Document]:
    all_ids, sentence_lengths, document_sizes = packed
    documents: List[Document] = []
    position = sentence_index = 0
    for size in document_sizes:
        document = []
        for length in sentence_lengths[sentence_index:sentence_index + size]:
            document.append(all_ids[position:position + length])
            position += length
        sentence_index += size
        documents.append(document)
    return documents


def _build_shard(shard: int, num_shards: int, document_indices: List[int], packed_documents,
                 vocabulary: "_VocabularyIds", config: PretrainingDataConfig):
    """Worker: builds and serialises the instances of one shard with its own generator."""
    documents = _unpack_documents(packed_documents)
    rng = random.Random(_shard_seed(config.random_seed, shard, num_shards))
    builder = InstanceBuilder(documents, vocabulary, config, rng, original_draws=False)
    progress = _WORKER_STATE["progress"]
    for done, document_index in enumerate(document_indices, 1):
        builder.build_document(document_index)
        progress[2 * shard] = done
        progress[2 * shard + 1] = len(builder)
    return builder.encode(), builder.counts()


def _tokenize_words(words: List[str]) -> List[bytes]:
    """Worker: ids bytes of every word, with the tokenizer inherited from the parent."""
    word_ids = _WordIdCache(_WORKER_STATE["tokenizer"])
    return [word_ids[word] for word in words]


class _ProgressLine:
    """A one-line progress display on stderr, redrawn at most every ``interval`` seconds."""

    def __init__(self, total_documents: int, enabled: bool = True, interval: float = 0.5,
                 stream=None):
        self.total_documents = total_documents
        self.enabled = enabled
        self.interval = interval
        self.stream = stream if stream is not None else sys.stderr
        self._start = time.monotonic()
        self._last = -1e9
        self._last_state = None
        self._shown = False

    def update(self, documents_done: int, instances: int, force: bool = False) -> None:
        if not self.enabled or (documents_done, instances) == self._last_state:
            return
        now = time.monotonic()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        self._last_state = (documents_done, instances)
        elapsed = max(now - self._start, 1e-9)
        percent = 100.0 * documents_done / max(1, self.total_documents)
        line = (f"creating instances: documents {documents_done}/{self.total_documents} "
                f"({percent:5.1f}%) | instances {instances} | {instances / elapsed:,.0f}/s")
        terminal = getattr(self.stream, "isatty", lambda: False)()
        self.stream.write(("\r" + line) if terminal else (line + "\n"))
        self.stream.flush()
        self._shown = terminal

    def close(self, documents_done: int, instances: int) -> None:
        self.update(documents_done, instances, force=True)
        if self.enabled and self._shown:
            self.stream.write("\n")
            self.stream.flush()


def create_pretraining_records(documents: Sequence[Document], vocab: Dict[str, int],
                               config: PretrainingDataConfig, rng: random.Random,
                               show_progress: bool = False, pool: Optional[WorkerPool] = None
                               ) -> Tuple[List[bytes], _BuildCounts]:
    """Creates the serialised instances of all passes over ``documents`` and shuffles them.

    Args:
      documents: shuffled documents (sentences of ids).
      vocab: token -> id (needs ``[CLS]``, ``[SEP]``, ``[MASK]``).
      config: the flags; ``num_workers`` selects the random scheme (see the module docstring).
      rng: the main generator, after the documents shuffle; used for the whole build when one worker,
        and for the final shuffle in any case.
      show_progress: draw a progress line on stderr.
      pool: a ``WorkerPool`` of ``config.resolved_num_workers()`` processes to use (else one is
        started when more than one worker is asked for).
    Returns:
      (records in output order, counts).
    """
    vocabulary = _VocabularyIds.from_vocab(vocab, documents)
    total_items = config.dupe_factor * len(documents)
    num_workers = config.resolved_num_workers()
    progress = _ProgressLine(total_items, enabled=show_progress)
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
        records, counts = _build_in_workers(documents, vocabulary, config, pool, progress)
    else:
        with WorkerPool(num_workers) as own_pool:
            records, counts = _build_in_workers(documents, vocabulary, config, own_pool, progress)
    if _fast_draws_match_library():
        _fast_shuffle(records, rng.getrandbits)  # == rng.shuffle(records)
    else:
        rng.shuffle(records)
    return records, counts


def _build_in_workers(documents, vocabulary, config, pool: WorkerPool, progress: _ProgressLine):
    if pool.num_workers != config.resolved_num_workers():
        raise ValueError(f"the pool has {pool.num_workers} workers but num_workers="
                         f"{config.resolved_num_workers()}: the output depends on the number of shards")
    num_shards = pool.num_workers
    shards = _plan_shards(documents, config.dupe_factor, num_shards)
    counters = pool.progress_counters
    for index in range(len(counters)):
        counters[index] = 0
    packed = _pack_documents(documents)
    pending = pool.starmap_async(
        _build_shard, [(shard, num_shards, shards[shard], packed, vocabulary, config)
                       for shard in range(num_shards)])
    while not pending.ready():
        pending.wait(0.1)
        progress.update(sum(counters[0::2]), sum(counters[1::2]))
    records: List[bytes] = []
    counts = _BuildCounts()
    for shard_records, shard_counts in pending.get():
        records += shard_records
        counts.add(shard_counts)
    progress.close(sum(len(shard) for shard in shards), len(records))
    return records, counts


# ----------------------------------------------------------------------------------------------------
# Driver
# ----------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class PretrainingDataSummary:
    """What ``create_pretraining_data`` read and wrote.

    Attributes:
      input_files, output_files: the files.
      records_per_file: records written to each output file.
      num_documents, num_sentences: non-empty documents and sentences read.
      num_instances: records written; num_tokens: real tokens in them ([CLS]/[SEP] included).
      num_masked_positions: masked-LM predictions; the next three split them by replacement.
      num_random_next: instances with ``next_sentence_labels`` 1.
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
                            show_progress: bool = False, vocab_file: Optional[str] = None
                            ) -> PretrainingDataSummary:
    """Reads text, creates masked-LM / next-sentence instances and writes them as TFRecords.

    Args:
      input_file: comma-separated files / glob patterns (or a list of them).
      output_file: comma-separated output files (or a list); instances are written round-robin.
      tokenizer: ``FullTokenizer``-like (``.tokenize``, ``.vocab``).
      config: ``PretrainingDataConfig``.
      show_progress: progress line on stderr.
      vocab_file: only used in error messages (defaults to ``tokenizer.vocab_file`` if present).
    Returns:
      ``PretrainingDataSummary``.
    Raises:
      PretrainingDataError: bad flags, missing input, unusable vocabulary, empty corpus.
    """
    config.validate()
    vocab_name = vocab_file or getattr(tokenizer, "vocab_file", None) or "the vocabulary"
    check_vocabulary(tokenizer.vocab, str(vocab_name))
    input_files = expand_input_files(input_file)
    output_files = split_output_files(output_file)

    start = time.perf_counter()
    num_workers = config.resolved_num_workers()
    pool = WorkerPool(num_workers, tokenizer) if num_workers > 1 else None
    try:
        corpus = read_corpus(input_files, tokenizer, pool=pool)
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
