"""Adding words to a released model's vocabulary (`extend_vocab.py`).

`extend_vocabulary` reads a model folder (`vocab.txt`, `bert_config.json`, a checkpoint) and a words file
(one word a line), and writes a model folder with:

* `vocab.txt`: the words put into the `[unusedN]` slots in id order, then (only with `grow`) appended;
  every other line unchanged.
* `bert_config.json`: `vocab_size` updated (the other fields unchanged).
* `bert_model.ckpt`: `bert/embeddings/word_embeddings` [vocab_size, hidden] and (when present)
  `cls/predictions/output_bias` [vocab_size] with one row per entry of the new vocabulary: the rows of
  the kept entries bit-identical, the row of each new word the mean (computed in float64) of the old rows
  of the pieces the old vocabulary spelled it with (`FullTokenizer.tokenize(word)`). Their Adam slots
  (`<name>/adam_m`, `<name>/adam_v`), when present, keep the old rows and have zeros for the new words.
  Every other entry (`global_step` included) is copied unchanged.

A word must be one token the tokenizer keeps whole (`BasicTokenizer(do_lower_case).tokenize(word) ==
[word]`: lower case for an uncased model, no punctuation, no CJK character next to others), or such a
token after `##` (a continuation piece). Everything is checked before anything is written.
"""
from __future__ import annotations

import dataclasses
import os
import re
from typing import Dict, List, Sequence, Tuple

import numpy as np

from bert_tf.errors import InputError
from bert_tf.files import atomic_write_text, check_not_an_input, protected_inputs, read_text_file
from bert_tf.tokenization.full_tokenizer import BasicTokenizer, FullTokenizer

__all__ = [
    "WORD_EMBEDDINGS",
    "OUTPUT_BIAS",
    "VocabularyExtensionError",
    "ExtendedVocabulary",
    "ExtensionSummary",
    "read_words",
    "plan_extension",
    "extended_tensors",
    "extend_vocabulary",
]

WORD_EMBEDDINGS = "bert/embeddings/word_embeddings"
OUTPUT_BIAS = "cls/predictions/output_bias"
_ADAM_SLOTS = ("adam_m", "adam_v")
_SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_UNUSED = re.compile(r"\[unused\d+\]")
CHECKPOINT_NAME = "bert_model.ckpt"


class VocabularyExtensionError(InputError):
    """Bad input for `extend_vocabulary` (the message names the file and line or the flag)."""


@dataclasses.dataclass
class ExtendedVocabulary:
    """The new vocabulary and where each word went.

    Attributes:
      lines: the new vocab.txt lines (old lines, with the filled `[unusedN]` replaced, then the grown ones).
      new_ids: word -> its id in the new vocabulary.
      pieces: word -> ids of the old pieces that spelled it (their mean initialises its rows).
      num_filled: words put into `[unusedN]` slots; num_grown: words appended.
      old_size: entries of the old vocabulary.
    """

    lines: List[str]
    new_ids: Dict[str, int]
    pieces: Dict[str, List[int]]
    num_filled: int
    num_grown: int
    old_size: int

    @property
    def new_size(self) -> int:
        return len(self.lines)


@dataclasses.dataclass
class ExtensionSummary:
    """What `extend_vocabulary` wrote: the folder, the counts, and the mean pieces per word before."""

    output_dir: str
    old_size: int
    new_size: int
    num_filled: int
    num_grown: int
    mean_pieces_before: float
    resized: List[str]

    def format(self) -> str:
        return (f"added {self.num_filled + self.num_grown} words ({self.num_filled} into [unused] slots, "
                f"{self.num_grown} appended; {self.mean_pieces_before:.2f} pieces per word before): vocabulary "
                f"{self.old_size} -> {self.new_size}; resized {', '.join(self.resized)}; wrote {self.output_dir}")


def _read_vocabulary_lines(vocab_file: str) -> List[str]:
    """The lines of vocab.txt (without line ends), after checking special tokens and duplicates."""
    text = read_text_file(vocab_file)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    seen: Dict[str, int] = {}
    for line_number, line in enumerate(lines, 1):
        token = line.strip()
        if token in seen:
            raise VocabularyExtensionError(f"{vocab_file}:{line_number}: duplicate entry {token!r} (also line "
                                           f"{seen[token]}): not a BERT vocabulary")
        seen[token] = line_number
    missing = [token for token in _SPECIAL_TOKENS if token not in seen]
    if missing:
        raise VocabularyExtensionError(f"{vocab_file} has no {', '.join(missing)}: not a BERT WordPiece vocabulary")
    return lines


def read_words(words_file: str, vocab: Dict[str, int], do_lower_case: bool) -> List[str]:
    """The words of `words_file` (one a line; blank lines skipped), checked.

    Raises:
      VocabularyExtensionError: naming the line of a word that repeats, is already in the vocabulary, or
        is not one token the tokenizer keeps whole; or an empty file.
    """
    basic = BasicTokenizer(do_lower_case=do_lower_case)
    words: List[str] = []
    first_line: Dict[str, int] = {}
    for line_number, line in enumerate(read_text_file(words_file).splitlines(), 1):
        word = line.strip()
        if not word:
            continue
        where = f"{words_file}:{line_number}"
        if word in first_line:
            raise VocabularyExtensionError(f"{where}: {word!r} repeats line {first_line[word]}")
        if word in vocab:
            raise VocabularyExtensionError(f"{where}: {word!r} is already in the vocabulary (id {vocab[word]})")
        body = word[2:] if word.startswith("##") else word
        seen_as = basic.tokenize(body)
        if seen_as != [body]:
            hint = (f"; write it as {seen_as[0]!r}" if len(seen_as) == 1 else
                    "; CJK characters, punctuation and spaces split words, so it would never be used")
            raise VocabularyExtensionError(f"{where}: the tokenizer never keeps {word!r} whole (it sees "
                                           f"{seen_as}){hint}")
        first_line[word] = line_number
        words.append(word)
    if not words:
        raise VocabularyExtensionError(f"{words_file}: no words (one word a line)")
    return words


def plan_extension(vocab_lines: Sequence[str], words: Sequence[str], tokenizer: FullTokenizer,
                   grow: bool, vocab_file: str = "vocab.txt") -> ExtendedVocabulary:
    """Places `words` into the `[unusedN]` slots (in id order), then appends the rest when `grow`.

    Args:
      vocab_lines: the old vocab.txt lines; line i is id i.
      words: checked words (`read_words`).
      tokenizer: the old vocabulary's `FullTokenizer` (spells each word in old pieces).
      grow: append the words that find no slot (else they are an error).
    Raises:
      VocabularyExtensionError: more words than slots without `grow`.
    """
    slots = [token_id for token_id, line in enumerate(vocab_lines) if _UNUSED.fullmatch(line.strip())]
    if len(words) > len(slots) and not grow:
        raise VocabularyExtensionError(
            f"{len(words)} words but {vocab_file} has only {len(slots)} [unusedN] slots: add --grow to append "
            f"the other {len(words) - len(slots)} (the embedding matrix and output bias grow with them)")
    lines = list(vocab_lines)
    new_ids: Dict[str, int] = {}
    for word, slot in zip(words, slots):
        lines[slot] = word
        new_ids[word] = slot
    for word in words[len(slots):]:
        new_ids[word] = len(lines)
        lines.append(word)
    pieces = {word: tokenizer.convert_tokens_to_ids(_old_pieces(tokenizer, word)) for word in words}
    num_filled = min(len(words), len(slots))
    return ExtendedVocabulary(lines=lines, new_ids=new_ids, pieces=pieces, num_filled=num_filled,
                              num_grown=len(words) - num_filled, old_size=len(vocab_lines))


def _old_pieces(tokenizer: FullTokenizer, word: str) -> List[str]:
    """The old vocabulary's pieces of `word`; a `##body` is spelled as WordPiece spells `body` after the
    start of a word (greedy longest match over `##` pieces)."""
    if not word.startswith("##"):
        return tokenizer.tokenize(word)
    body, pieces, start = word[2:], [], 0
    while start < len(body):
        for end in range(len(body), start, -1):
            if "##" + body[start:end] in tokenizer.vocab:
                pieces.append("##" + body[start:end])
                start = end
                break
        else:
            return [tokenizer.wordpiece_tokenizer.unk_token]
    return pieces


def extended_tensors(tensors: Dict[str, np.ndarray], extension: ExtendedVocabulary) -> Tuple[Dict[str, np.ndarray],
                                                                                              List[str]]:
    """The checkpoint entries with the vocabulary-sized ones resized (see the module docstring).

    Args:
      tensors: every checkpoint entry, name -> array (`checkpoint.read_tensors`).
      extension: `plan_extension`'s result.
    Returns:
      (the new entries, the names resized).
    Raises:
      VocabularyExtensionError: no word embeddings, or vocabulary-sized entries of another size.
    """
    if WORD_EMBEDDINGS not in tensors:
        raise VocabularyExtensionError(f"the checkpoint has no {WORD_EMBEDDINGS}: not a BERT checkpoint")
    output = dict(tensors)
    resized = []
    rows = [extension.new_ids[word] for word in extension.pieces]
    for name in (WORD_EMBEDDINGS, OUTPUT_BIAS):
        if name not in tensors:
            continue
        old = tensors[name]
        if old.shape[0] != extension.old_size:
            raise VocabularyExtensionError(f"the checkpoint's {name} has {old.shape[0]} rows but the vocabulary "
                                           f"{extension.old_size} entries: they are from different models")
        new = _with_rows(old, extension.new_size)
        for row, word in zip(rows, extension.pieces):
            new[row] = old[extension.pieces[word]].astype(np.float64).mean(axis=0).astype(old.dtype)
        output[name] = new
        resized.append(name)
        for slot in _ADAM_SLOTS:
            slot_name = f"{name}/{slot}"
            if slot_name in tensors:
                moments = _with_rows(tensors[slot_name], extension.new_size)
                moments[rows] = 0
                output[slot_name] = moments
                resized.append(slot_name)
    return output, resized


def _with_rows(array: np.ndarray, num_rows: int) -> np.ndarray:
    """A copy of `array` with `num_rows` rows: the old rows first, zeros after."""
    new = np.zeros((num_rows,) + array.shape[1:], dtype=array.dtype)
    new[:array.shape[0]] = array
    return new


def extend_vocabulary(bert_dir: str, words_file: str, output_dir: str, grow: bool = False,
                      do_lower_case: bool = True) -> ExtensionSummary:
    """Adds the words of `words_file` to the model in `bert_dir` and writes the result to `output_dir`.

    Raises:
      VocabularyExtensionError / InputError / CheckpointError: a missing file, a vocabulary without the
        special tokens or with duplicates, a vocabulary, config and checkpoint of different sizes, a bad
        word, more words than slots without `grow`, an `output_dir` that is `bert_dir`. Nothing is written
        then.
    """
    from bert_tf import checkpoint
    from bert_tf.training.run_options import load_bert_config, resolve_model_files

    files = resolve_model_files(bert_dir, checkpoint_required=True, do_lower_case=do_lower_case)
    prefix = checkpoint.resolve_checkpoint(files.init_checkpoint)
    bert_config = load_bert_config(files.bert_config_file)
    vocab_lines = _read_vocabulary_lines(files.vocab_file)
    if len(vocab_lines) != bert_config.vocab_size:
        raise VocabularyExtensionError(f"{files.vocab_file} has {len(vocab_lines)} entries but "
                                       f"{files.bert_config_file} has vocab_size {bert_config.vocab_size}")
    tokenizer = FullTokenizer(files.vocab_file, do_lower_case=do_lower_case)
    words = read_words(words_file, tokenizer.vocab, do_lower_case)
    extension = plan_extension(vocab_lines, words, tokenizer, grow, files.vocab_file)

    output_dir = os.fspath(output_dir)
    new_files = {name: os.path.join(output_dir, name) for name in ("vocab.txt", "bert_config.json")}
    checkpoint_files = [prefix + suffix for suffix in (checkpoint.INDEX_SUFFIX, checkpoint.DATA_SUFFIX)]
    inputs = {"--bert_dir": [files.vocab_file, files.bert_config_file, *checkpoint_files], "--words_file": words_file}
    with protected_inputs(inputs):
        for path in [*new_files.values(), os.path.join(output_dir, CHECKPOINT_NAME + checkpoint.INDEX_SUFFIX),
                     os.path.join(output_dir, CHECKPOINT_NAME + checkpoint.DATA_SUFFIX)]:
            check_not_an_input(path, "--output_dir")
        tensors, resized = extended_tensors(checkpoint.read_tensors(prefix), extension)
        os.makedirs(output_dir, exist_ok=True)
        checkpoint.save_tensors(tensors, os.path.join(output_dir, CHECKPOINT_NAME))
        new_config = dataclasses.replace(bert_config, vocab_size=extension.new_size)
        atomic_write_text(new_files["bert_config.json"], new_config.to_json_string())
        atomic_write_text(new_files["vocab.txt"], "".join(line + "\n" for line in extension.lines))
    mean_pieces = float(np.mean([len(pieces) for pieces in extension.pieces.values()]))
    return ExtensionSummary(output_dir=output_dir, old_size=extension.old_size, new_size=extension.new_size,
                            num_filled=extension.num_filled, num_grown=extension.num_grown,
                            mean_pieces_before=mean_pieces, resized=resized)
