"""Chinese word boundaries for whole-word masking (`--word_segmentation=jieba|ref`).

The original tokenizer splits Chinese text into single characters, so `--do_whole_word_mask` alone
(which groups `##` pieces) masks characters. With a word segmentation, the characters that continue a
Chinese word (a word of two or more CJK characters) are marked in the token ids of the corpus, and
`InstanceBuilder` masks every token of a marked word together.

Marking: a continuation token's id is stored as `id + continuation_mark(vocab)` (one past the largest
id), so the mark travels with the token through concatenation, slicing and truncation, and
`InstanceBuilder` removes it (`id % mark`) before an instance is written.

Sources of boundaries:

* `jieba`: jieba's default dictionary, exact mode without the HMM (`Tokenizer.tokenize(line,
  HMM=False)`): deterministic. Only words made entirely of CJK characters (the tokenizer's
  `CJK_CODE_POINT_RANGES`) are marked; other text keeps the `##` rule.
* `ref`: a reference file in the format of Hugging Face's `run_chinese_ref.py` (LTP or any other
  segmenter): one JSON list per non-blank corpus line, in order, of the positions of the tokens that
  continue a word, counted in `[CLS] + tokenize(line)` (the first token of the line is position 1).
  A position must name a token made from a CJK character whose previous token is one too.

Tokens of a line are found per CJK character: the tokenizer surrounds every CJK character with spaces,
so `tokenize(line)` is the concatenation of the tokens of the text between CJK characters (split on
spaces) and of each CJK character (exactly one token: itself or `[UNK]`).
"""
from __future__ import annotations

import array
import json
import logging
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from bert_tf.errors import InputError
from bert_tf.files import read_text_file, split_comma_list
from bert_tf.tasks.pretraining.corpus import PretrainingDataError, WordIdCache
from bert_tf.tasks.pretraining.records import ID_TYPECODE
from bert_tf.tokenization.full_tokenizer import CJK_CODE_POINT_RANGES, is_chinese_char

__all__ = [
    "WORD_SEGMENTATIONS",
    "JIEBA_INSTALL_HINT",
    "continuation_mark",
    "split_line",
    "LineMarker",
    "WordBoundaries",
    "JiebaSegmenter",
    "word_boundaries",
]

WORD_SEGMENTATIONS = ("none", "jieba", "ref")
JIEBA_INSTALL_HINT = "pip install 'bert_tf[chinese]'"

# One CJK character, captured: `pattern.split(text)` alternates other text and single CJK characters.
_CJK_CHARACTER = re.compile(
    "([" + "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in CJK_CODE_POINT_RANGES) + "])")

# (line, 1-based line number) -> the line's token ids as array(ID_TYPECODE) bytes, continuations marked.
LineMarker = Callable[[str, int], bytes]


def continuation_mark(vocab: Dict[str, int]) -> int:
    """The offset added to the id of a token that continues a word: one past the largest id."""
    return max(vocab.values()) + 1


def split_line(line: str, word_ids: WordIdCache) -> Tuple[array.array, Dict[int, int]]:
    """Token ids of `line` and the token made from each CJK character.

    Args:
      line: one corpus line (stripped).
      word_ids: the corpus' `WordIdCache` (word -> ids bytes).
    Returns:
      (ids: `array(ID_TYPECODE)` equal to the ids of `tokenizer.tokenize(line)`,
       {character offset in `line`: token position in ids} for every CJK character).
    """
    ids = array.array(ID_TYPECODE)
    token_of_character: Dict[int, int] = {}
    offset = 0
    for index, part in enumerate(_CJK_CHARACTER.split(line)):
        if index % 2:  # one CJK character: one token
            token_of_character[offset] = len(ids)
            ids.frombytes(word_ids[part])
        elif part:
            for word in part.split(" "):
                ids.frombytes(word_ids[word])
        offset += len(part)
    return ids, token_of_character


def _is_chinese_word(word: str) -> bool:
    return len(word) > 1 and all(is_chinese_char(ord(character)) for character in word)


class JiebaSegmenter:
    """jieba's default dictionary, exact mode without HMM (deterministic), initialised quietly.

    Raises:
      PretrainingDataError: jieba is not installed (naming the extra to install).
    """

    def __init__(self):
        try:
            import jieba
        except ImportError:
            raise PretrainingDataError(
                f"--word_segmentation=jieba needs the jieba package: {JIEBA_INSTALL_HINT}") from None
        self._tokenizer = jieba.Tokenizer()  # its own instance: words a caller adds to jieba.dt do not count
        logger = jieba.default_logger  # "Building prefix dict ..." goes to stderr at DEBUG level
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            self._tokenizer.initialize()
        finally:
            logger.setLevel(level)

    def continuation_offsets(self, line: str) -> List[int]:
        """Character offsets in `line` of the 2nd, 3rd, ... characters of its Chinese words (words of
        two or more CJK characters)."""
        offsets: List[int] = []
        for word, start, end in self._tokenizer.tokenize(line, HMM=False):
            if end - start > 1 and _is_chinese_word(word):
                offsets.extend(range(start + 1, end))
        return offsets


def _mark(ids: array.array, positions, mark: int) -> bytes:
    for position in positions:
        ids[position] += mark
    return ids.tobytes()


class WordBoundaries:
    """Marks the continuation tokens of Chinese words in each corpus line (see the module docstring).

    Args:
      segmentation: "jieba" or "ref".
      tokenizer: the corpus' `FullTokenizer` (`.tokenize`, `.vocab`).
      ref_files: with "ref": one reference file per input file, in input order.
    Raises:
      PretrainingDataError: jieba missing; "ref" without reference files.
    """

    def __init__(self, segmentation: str, tokenizer, ref_files: Sequence[str] = ()):
        if segmentation not in ("jieba", "ref"):
            raise ValueError(f"WordBoundaries: segmentation {segmentation!r} is not 'jieba' or 'ref'")
        self.segmentation = segmentation
        self.mark = continuation_mark(tokenizer.vocab)
        self.ref_files = list(ref_files)
        self._word_ids = WordIdCache(tokenizer)
        self._jieba = JiebaSegmenter() if segmentation == "jieba" else None

    def line_marker(self, file_index: int, input_file: str, lines: Sequence[str]) -> LineMarker:
        """The marker of the lines of one input file (`lines`: all its stripped lines, blank ones
        included); with "ref" checks first that the reference file has one line per non-blank line.

        Raises:
          PretrainingDataError: a reference file that cannot be read or has another number of lines.
        """
        if self._jieba is not None:
            return self._jieba_marker
        return self._reference_marker(self.ref_files[file_index], input_file, lines)

    def _jieba_marker(self, line: str, line_number: int) -> bytes:
        ids, token_of_character = split_line(line, self._word_ids)
        offsets = self._jieba.continuation_offsets(line)
        return _mark(ids, [token_of_character[offset] for offset in offsets], self.mark)

    def _reference_marker(self, ref_file: str, input_file: str, lines: Sequence[str]) -> LineMarker:
        try:
            text = read_text_file(ref_file)
        except InputError as error:  # "<file>: no such file", "<file>:<line>: not UTF-8 text", ...
            raise PretrainingDataError(f"--ref_file {error}") from None
        references = text.split("\n")
        if references and references[-1] == "":
            references.pop()
        num_text_lines = sum(1 for line in lines if line)
        if len(references) != num_text_lines:
            raise PretrainingDataError(
                f"--ref_file {ref_file} has {len(references)} line(s) but {input_file} has {num_text_lines} "
                f"non-blank line(s): a reference file needs one JSON list per non-blank line of its input file")
        reference_lines = iter(enumerate(references, 1))

        def marker(line: str, line_number: int) -> bytes:
            ref_line_number, reference = next(reference_lines)
            where = f"{ref_file}:{ref_line_number} (for {input_file}:{line_number})"
            positions = _parse_positions(reference, where)
            ids, token_of_character = split_line(line, self._word_ids)
            from_cjk = set(token_of_character.values())
            tokens = []
            for position in positions:
                token = position - 1  # position 0 is [CLS]
                if token not in from_cjk or token - 1 not in from_cjk:
                    raise PretrainingDataError(
                        f"{where}: position {position} is not a Chinese character that continues one "
                        f"(the line has {len(ids)} tokens; positions count [CLS] as 0)")
                tokens.append(token)
            return _mark(ids, sorted(set(tokens)), self.mark)

        return marker


def _parse_positions(reference: str, where: str) -> List[int]:
    try:
        positions = json.loads(reference)
    except ValueError:
        positions = None
    if not isinstance(positions, list) or not all(
            isinstance(position, int) and not isinstance(position, bool) for position in positions):
        shown = reference if len(reference) <= 40 else reference[:37] + "..."
        raise PretrainingDataError(f"{where}: expected a JSON list of token positions, got {shown!r}")
    return positions


def word_boundaries(segmentation: str, tokenizer, ref_file: Union[None, str, Sequence[str]],
                    input_files: Sequence[str]) -> Optional[WordBoundaries]:
    """The `WordBoundaries` of `--word_segmentation` / `--ref_file` (None for "none").

    Args:
      segmentation: one of `WORD_SEGMENTATIONS`.
      tokenizer: the corpus' `FullTokenizer`.
      ref_file: comma-separated reference files (or a list), one per input file (only with "ref").
      input_files: the expanded input files.
    Raises:
      PretrainingDataError: an unknown segmentation, `--ref_file` missing with "ref" or given without
        it, another number of reference files than input files, jieba not installed.
    """
    ref_files = split_comma_list(ref_file or "")
    if segmentation not in WORD_SEGMENTATIONS:
        raise PretrainingDataError(
            f"--word_segmentation={segmentation}: must be one of {', '.join(WORD_SEGMENTATIONS)}")
    if segmentation != "ref":
        if ref_files:
            raise PretrainingDataError(
                f"--ref_file is only read with --word_segmentation=ref (got --word_segmentation={segmentation})")
        return None if segmentation == "none" else WordBoundaries(segmentation, tokenizer)
    if not ref_files:
        raise PretrainingDataError("--word_segmentation=ref needs --ref_file (one reference file per input file)")
    if len(ref_files) != len(input_files):
        raise PretrainingDataError(
            f"--ref_file names {len(ref_files)} file(s) for {len(input_files)} input file(s): give one "
            f"reference file per input file, in the order of --input_file")
    return WordBoundaries("ref", tokenizer, ref_files)
