"""In-graph BERT tokenization and packing for SavedModels (TF Serving), equal to `FullTokenizer`.

`InGraphBertTokenizer` maps a batch of raw UTF-8 strings to the ids that
`bert_tf.tokenization.FullTokenizer` + `bert_tf.tokenization.packing` produce, inside a `tf.function`.

Why not `tensorflow_text.BertTokenizer` / `FastBertTokenizer` as they are: on the reference strings
both differ from the original tokenizer (they replace control characters by spaces instead of deleting
them, use NFKC case folding -- `½` -> `1⁄2`, `ß` -> `ss`, `…` -> `...` --, limit words to 100
bytes instead of 200 characters, and have no Greek final sigma). So the basic tokenizer is rebuilt here
from plain string ops, and only the WordPiece step uses `tensorflow_text`:

1. `tf.strings.unicode_transcode(errors="ignore")`: drop invalid UTF-8 (`bytes.decode("utf-8",
   "ignore")` in the original).
2. `tf.strings.regex_replace`: delete NUL, U+FFFD and `Cc`/`Cf` except tab/newline/CR; map
   whitespace (tab, newline, CR, `Zs`, and U+2028/U+2029 on which Python's `str.split` splits) to a
   space; surround CJK ideographs (the original's ranges) with spaces.
3. Lower case only: a code-point table applies Python's `str.lower` for every character with a
   one-to-one lower-case mapping except U+03A3; `tf.strings.lower(encoding="utf-8")` (ICU) then does
   the context-dependent Greek final sigma and U+0130; `tensorflow_text.normalize_utf8(.., "NFD")`
   then `regex_replace` deletes `Mn`.
4. `regex_replace` surrounds punctuation (ASCII 33-47, 58-64, 91-96, 123-126, `P*`) with spaces;
   `tf.strings.split` on whitespace gives the words.
5. Words longer than 200 characters become the unknown token; `tensorflow_text.WordpieceTokenizer`
   (greedy longest-match-first, `##`, whole word -> `[UNK]`) over a `tf.lookup.StaticHashTable`
   built from the vocab file, tracked as a `tf.saved_model.Asset`.
6. Packing `[CLS] A [SEP] (B [SEP])` with the original pair truncation in closed form (plain TF ops:
   no `RoundRobinTrimmer`/`combine_segments`), zero padded to `max_seq_length`, or per batch only to
   its longest row rounded up (`pad_to_multiple_of`, `padded_lengths`: see `pack_ids_in_graph`).

Every character class in the regular expressions is enumerated from Python's `unicodedata` when the
tokenizer is built (RE2's `\\p{..}` tables follow a newer Unicode version than Python's), so the graph
classifies characters exactly like `FullTokenizer` in the Python that built it.

Ops in a saved graph (checked by tests/tokenization/test_in_graph.py): core TensorFlow only (`UnicodeTranscode`,
`StaticRegexReplace`, `StringSplitV2`, `StringLength`, `StringLower`, `UnicodeDecode`,
`UnicodeEncode`, `LowerBound`, `HashTableV2`, `InitializeTableFromTextFileV2`,
`LookupTableFindV2`, `RaggedTensorToTensor`, `GatherV2`, `SelectV2`, ...) plus exactly these
`tensorflow_text` ops (`TENSORFLOW_TEXT_OPS`): `WordpieceTokenizeWithOffsets` (always) and
`NormalizeUTF8` (only with `do_lower_case=True`). Both are long-standing tensorflow_text kernels; a
serving binary must have the tensorflow_text kernels registered (TF Serving's model server links them;
a custom build must include at least these two). No `RoundRobinTrimmer`/`Trimmer`/
`combine_segments` ops are used.

Checked beyond the references: all 1,112,064 code points, alone and in a Greek-sigma context, give the
same ids as `FullTokenizer` for the uncased, cased and Chinese vocabularies; and because `I` is
lowered by the table, ICU's locale tailoring (`tf.strings.lower` follows the process locale, e.g.
`I` -> `ı` under `LC_ALL=tr_TR`) does not change the result.

Known limits (none affects the reference strings or the released BERT vocabularies):

* `tf.strings.lower` decides final sigma with the ICU bundled in TensorFlow; Python and ICU agree on
  which characters are "cased"/"case-ignorable" except for letters newer than ICU's Unicode version, so
  a `Σ` directly after such a letter may get a different final form.
* `normalize_utf8` (ICU in tensorflow_text) knows Unicode 16; Python 3.11 knows 14.0: 20 code points
  unassigned in Python (e.g. U+105C9, U+11383, U+16121..16128) are decomposed in-graph but not in
  Python. The results differ only for a vocabulary containing pieces of those new characters.
"""
import functools
import unicodedata
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from bert_tf import tokenization
from bert_tf.errors import InputError, require_int

try:  # tensorflow_text registers its ops on import.
    import tensorflow_text as _tf_text
except ImportError as error:  # pragma: no cover - exercised only without tensorflow_text
    _tf_text = None
    _TF_TEXT_IMPORT_ERROR = error

__all__ = [
    "InGraphBertTokenizer",
    "TENSORFLOW_TEXT_OPS",
    "check_padding",
    "pack_ids_in_graph",
    "padded_length_in_graph",
    "truncated_pair_lengths_in_graph",
]

# tensorflow_text ops an InGraphBertTokenizer graph contains (the rest is core TensorFlow).
TENSORFLOW_TEXT_OPS = ("WordpieceTokenizeWithOffsets", "NormalizeUTF8")

# The original maps a word longer than this many characters to [UNK].
MAX_INPUT_CHARS_PER_WORD = 200
# UTF-8 needs at most 4 bytes per character: words within the character limit fit in this many bytes.
_MAX_BYTES_PER_UTF8_CHAR = 4


# ----------------------------------------------------------------------------------------------------
# Character tables from Python's unicodedata (computed once per process)
# ----------------------------------------------------------------------------------------------------
def _ranges(code_points: Sequence[int]) -> List[Tuple[int, int]]:
    """Sorted code points -> inclusive (low, high) runs."""
    runs = []
    for code_point in code_points:
        if runs and runs[-1][1] == code_point - 1:
            runs[-1][1] = code_point
        else:
            runs.append([code_point, code_point])
    return [(low, high) for low, high in runs]


def _re2_class(code_points: Sequence[int]) -> str:
    """An RE2 character class `[...]` matching exactly `code_points` (must be non-empty)."""
    parts = []
    for low, high in _ranges(sorted(code_points)):
        parts.append(f"\\x{{{low:X}}}" if low == high else f"\\x{{{low:X}}}-\\x{{{high:X}}}")
    return "[" + "".join(parts) + "]"


class _CharacterTables:
    """RE2 classes and the lower-case table, following `bert_tf.tokenization` exactly."""

    def __init__(self):
        dropped, whitespace, punctuation, nonspacing_marks = [], [], [], []
        lower_keys, lower_values = [], []
        for code_point in range(0x110000):
            if 0xD800 <= code_point <= 0xDFFF:  # surrogates cannot occur in valid UTF-8
                continue
            char = chr(code_point)
            category = unicodedata.category(char)
            if code_point == 0 or code_point == 0xFFFD or tokenization.is_control(char):
                dropped.append(code_point)
            elif tokenization.is_whitespace(char) or char.isspace():
                # Zs, \t\n\r, plus U+2028/U+2029 on which str.split also splits (the other str.split
                # whitespace characters are control characters and are dropped above).
                whitespace.append(code_point)
            if tokenization.is_punctuation(char):
                punctuation.append(code_point)
            if category == "Mn":
                nonspacing_marks.append(code_point)
            lowered = char.lower()
            # One-to-one mappings go through the table; U+03A3 (final sigma depends on the context)
            # and U+0130 (-> "i" + U+0307) are left to ICU's full, context-aware lower-casing.
            if lowered != char and len(lowered) == 1 and code_point != 0x03A3:
                lower_keys.append(code_point)
                lower_values.append(ord(lowered))
        self.dropped_class = _re2_class(dropped)
        self.whitespace_class = _re2_class(whitespace)
        self.punctuation_class = _re2_class(punctuation)
        self.nonspacing_mark_class = _re2_class(nonspacing_marks)
        self.cjk_class = "[" + "".join(
            f"\\x{{{low:X}}}-\\x{{{high:X}}}" for low, high in tokenization.CJK_CODE_POINT_RANGES) + "]"
        self.lower_keys = lower_keys  # sorted ascending
        self.lower_values = lower_values
        self.unicode_version = unicodedata.unidata_version


@functools.lru_cache(maxsize=1)
def _character_tables() -> _CharacterTables:
    return _CharacterTables()


# ----------------------------------------------------------------------------------------------------
# Packing with plain TF ops
# ----------------------------------------------------------------------------------------------------
def truncated_pair_lengths_in_graph(length_a: tf.Tensor, length_b: tf.Tensor,
                                    max_num_tokens) -> Tuple[tf.Tensor, tf.Tensor]:
    """`bert_tf.tokenization.packing.truncated_pair_lengths` with TF ops, element-wise over int tensors."""
    max_num_tokens = tf.cast(max_num_tokens, length_a.dtype)
    excess = length_a + length_b - max_num_tokens
    only_a = length_a - length_b >= excess
    only_b = length_b - length_a >= excess
    balanced_a = (max_num_tokens + 1) // 2
    balanced_b = max_num_tokens // 2
    new_a = tf.where(excess <= 0, length_a,
                     tf.where(only_a, length_a - excess, tf.where(only_b, length_a, balanced_a)))
    new_b = tf.where(excess <= 0, length_b,
                     tf.where(only_a, length_b, tf.where(only_b, length_b - excess, balanced_b)))
    return new_a, new_b


def check_padding(max_seq_length: int, pad_to_multiple_of: Optional[int] = None,
                  padded_lengths: Optional[Sequence[int]] = None
                  ) -> Tuple[Optional[int], Optional[Tuple[int, ...]]]:
    """Validates the per-batch padding settings of `pack_ids_in_graph`.

    Args:
      max_seq_length: the longest packed row (a Python int).
      pad_to_multiple_of: pad each batch to its longest row rounded up to a multiple of this, or None.
      padded_lengths: pad each batch to the smallest of these lengths that holds its longest row, or
        None; `max_seq_length` is added to the set.
    Returns:
      `(pad_to_multiple_of, padded_lengths)` as a positive int or None, and a sorted tuple ending with
      `max_seq_length` or None.
    Raises:
      InputError: both are given, `pad_to_multiple_of` is not a positive integer, or a length in
        `padded_lengths` is not in `1..max_seq_length`.
    """
    if pad_to_multiple_of is not None and padded_lengths is not None:
        raise InputError("give pad_to_multiple_of or padded_lengths, not both")
    if pad_to_multiple_of is not None:
        return require_int("pad_to_multiple_of", pad_to_multiple_of), None
    if padded_lengths is not None:
        lengths = sorted({int(length) for length in padded_lengths} | {int(max_seq_length)})
        bad = [length for length in lengths if not 1 <= length <= max_seq_length]
        if bad:
            raise InputError(f"padded_lengths must lie in 1..max_seq_length={max_seq_length}, got {bad}")
        return None, tuple(lengths)
    return None, None


def padded_length_in_graph(num_tokens: tf.Tensor, max_seq_length: int,
                           pad_to_multiple_of: Optional[int] = None,
                           padded_lengths: Optional[Sequence[int]] = None):
    """The length one batch of packed rows is padded to.

    With neither option this is `max_seq_length` (a Python int: the packed shape stays static). Otherwise
    it is computed in the graph from the batch's longest row (at least 1 for an empty batch), so that a
    batch of short texts is not padded to `max_seq_length`.

    Args:
      num_tokens: int32 Tensor [batch], the packed length of each row (`[CLS]`/`[SEP]` included),
        each <= `max_seq_length`.
      max_seq_length: the cap (a Python int).
      pad_to_multiple_of: round the longest row up to a multiple of this (capped at `max_seq_length`).
      padded_lengths: or take the smallest of these lengths that holds the longest row
        (`max_seq_length` is always one of them); see `check_padding`.
    Returns:
      An int32 scalar Tensor, or the Python int `max_seq_length` when neither option is given.
    Raises:
      InputError: see `check_padding`.
    """
    multiple, lengths = check_padding(max_seq_length, pad_to_multiple_of, padded_lengths)
    if multiple is None and lengths is None:
        return int(max_seq_length)
    longest = tf.reduce_max(tf.concat([[1], tf.cast(num_tokens, tf.int32)], axis=0))
    if multiple is not None:
        return tf.minimum((longest + multiple - 1) // multiple * multiple, int(max_seq_length))
    allowed = tf.constant(lengths, tf.int32)
    return allowed[tf.searchsorted(allowed, longest[tf.newaxis], side="left")[0]]


def pack_ids_in_graph(ids_a: tf.RaggedTensor, ids_b: Optional[tf.RaggedTensor], max_seq_length: int,
                      cls_id, sep_id, pad_to_multiple_of: Optional[int] = None,
                      padded_lengths: Optional[Sequence[int]] = None) -> Dict[str, tf.Tensor]:
    """Packs word-piece ids like `bert_tf.tokenization.packing` (`[CLS] A [SEP] (B [SEP])`), zero padded.

    Truncation always follows the original with `max_seq_length`. By default every row is padded to
    `max_seq_length`; with `pad_to_multiple_of` or `padded_lengths` the batch is padded only to the
    length `padded_length_in_graph` gives for its longest row (the columns dropped are padding in every
    row), so a model computes only about as many positions as the batch's longest text has.

    Args:
      ids_a: int RaggedTensor [batch, (tokens_a)].
      ids_b: int RaggedTensor [batch, (tokens_b)] or None; a row with no tokens means "no B segment".
      max_seq_length: Python int >= 3.
      cls_id, sep_id: ids of `[CLS]` and `[SEP]`.
      pad_to_multiple_of, padded_lengths: per-batch padding (at most one); see `padded_length_in_graph`.
    Returns:
      dict with int32 Tensors `input_ids`, `input_mask`, `segment_ids` of shape [batch, length]:
      `length` is `max_seq_length` (static) by default, else the batch's padded length.
    Raises:
      ValueError: `max_seq_length` < 3. InputError: bad padding settings (see `check_padding`).
    """
    if max_seq_length < 3:
        raise ValueError(f"max_seq_length must be >= 3, got {max_seq_length}")
    ids_a = tf.cast(ids_a, tf.int32)
    length_a = tf.cast(ids_a.row_lengths(), tf.int32)
    if ids_b is None:
        ids_b = tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32),
                                                 tf.zeros_like(ids_a.row_lengths()))
    ids_b = tf.cast(ids_b, tf.int32)
    length_b = tf.cast(ids_b.row_lengths(), tf.int32)
    has_b = length_b > 0

    pair_a, pair_b = truncated_pair_lengths_in_graph(length_a, length_b, max_seq_length - 3)
    keep_a = tf.where(has_b, pair_a, tf.minimum(length_a, max_seq_length - 2))[:, tf.newaxis]
    keep_b = tf.where(has_b, pair_b, 0)[:, tf.newaxis]
    has_b = has_b[:, tf.newaxis]
    first_sep = keep_a + 1
    second_sep = first_sep + keep_b + 1
    num_tokens = tf.where(has_b, second_sep + 1, first_sep + 1)
    length = padded_length_in_graph(num_tokens[:, 0], max_seq_length, pad_to_multiple_of, padded_lengths)

    batch_size = tf.shape(length_a)[0]
    dense_a = ids_a.to_tensor(default_value=0, shape=[None, max_seq_length])
    dense_b = ids_b.to_tensor(default_value=0, shape=[None, max_seq_length])
    position = tf.broadcast_to(tf.range(length, dtype=tf.int32)[tf.newaxis, :], [batch_size, length])

    from_a = tf.gather(dense_a, tf.clip_by_value(position - 1, 0, max_seq_length - 1), batch_dims=1)
    from_b = tf.gather(dense_b, tf.clip_by_value(position - first_sep - 1, 0, max_seq_length - 1),
                       batch_dims=1)
    cls_id = tf.cast(cls_id, tf.int32)
    sep_id = tf.cast(sep_id, tf.int32)
    is_sep = tf.logical_or(position == first_sep, tf.logical_and(has_b, position == second_sep))
    in_b = tf.logical_and(position > first_sep, position < num_tokens)
    input_ids = tf.where(position == 0, cls_id,
                         tf.where(position < first_sep, from_a,
                                  tf.where(is_sep, sep_id, tf.where(in_b, from_b, 0))))
    input_mask = tf.cast(position < num_tokens, tf.int32)
    segment_ids = tf.cast(in_b, tf.int32)
    return {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}


def _can_be_looked_up(token: str) -> bool:
    """Whether WordPiece can ever query `token`: a single punctuation character (a whole word), or a
    non-empty run of characters that are neither whitespace nor punctuation, optionally after `##`.
    (Conservative: a few tokens it accepts are unreachable for other reasons.)"""
    if len(token) == 1 and tokenization.is_punctuation(token):
        return True
    body = token[2:] if token.startswith("##") else token
    return bool(body) and not any(char.isspace() or tokenization.is_punctuation(char) for char in body)


# ----------------------------------------------------------------------------------------------------
# The tokenizer
# ----------------------------------------------------------------------------------------------------
class InGraphBertTokenizer(tf.Module):
    """BERT tokenizer + packer made of TF ops; equal to `FullTokenizer` + `packing`.

    Usable inside `tf.function` and saved with `tf.saved_model.save` (the vocabulary file is a
    `tf.saved_model.Asset`; the lookup table is re-initialised from the copied asset on load).

    Args:
      vocab_file: the vocabulary, one token per line (id = line number).
      do_lower_case: as in `FullTokenizer`.
      max_seq_length: default packed length of `__call__` (truncation length, and the padded length
        unless per-batch padding is set).
      unk_token, cls_token, sep_token: special tokens; each must be in the vocabulary.
      pad_to_multiple_of, padded_lengths: per-batch padding of `pack`/`__call__` (at most one; None:
        pad every row to `max_seq_length`); see `pack_ids_in_graph`.
    Raises:
      ValueError if the vocabulary has duplicate, empty or whitespace-padded lines (TF's file-backed
      table would then disagree with `load_vocab`), or lacks a special token.
      InputError for bad padding settings (see `check_padding`).
    """

    def __init__(self, vocab_file, do_lower_case: bool = True, max_seq_length: int = 128,
                 unk_token: str = "[UNK]", cls_token: str = "[CLS]", sep_token: str = "[SEP]",
                 name: Optional[str] = None, pad_to_multiple_of: Optional[int] = None,
                 padded_lengths: Optional[Sequence[int]] = None):
        super().__init__(name=name)
        if _tf_text is None:  # pragma: no cover
            raise ImportError(f"InGraphBertTokenizer needs tensorflow_text: {_TF_TEXT_IMPORT_ERROR}")
        vocab_file = str(vocab_file)
        self.do_lower_case = bool(do_lower_case)
        self.max_seq_length = int(max_seq_length)
        self.pad_to_multiple_of, self.padded_lengths = check_padding(
            self.max_seq_length, pad_to_multiple_of, padded_lengths)
        self.unk_token = unk_token
        vocab = self._check_vocab_file(vocab_file, (unk_token, cls_token, sep_token))
        self.cls_id = vocab[cls_token]
        self.sep_id = vocab[sep_token]
        self.unk_id = vocab[unk_token]
        # Longest vocabulary entry in characters: a sound bound for WordPiece's candidate search.
        max_chars_per_token = max(len(token) for token in vocab)

        self.vocab_asset = tf.saved_model.Asset(vocab_file)
        self.vocab_table = tf.lookup.StaticHashTable(
            tf.lookup.TextFileInitializer(
                self.vocab_asset.asset_path,
                key_dtype=tf.string, key_index=tf.lookup.TextFileIndex.WHOLE_LINE,
                value_dtype=tf.int64, value_index=tf.lookup.TextFileIndex.LINE_NUMBER),
            default_value=-1)  # tensorflow_text's WordPiece op treats -1 as "not in the vocabulary"
        self._wordpiece = _tf_text.WordpieceTokenizer(
            self.vocab_table, suffix_indicator="##",
            max_bytes_per_word=MAX_INPUT_CHARS_PER_WORD * _MAX_BYTES_PER_UTF8_CHAR,
            max_chars_per_token=max_chars_per_token, token_out_type=tf.int64,
            unknown_token=unk_token, split_unknown_characters=False)

        tables = _character_tables()
        self._dropped_class = tables.dropped_class
        self._whitespace_class = tables.whitespace_class
        self._cjk_class = tables.cjk_class
        self._punctuation_class = tables.punctuation_class
        self._nonspacing_mark_class = tables.nonspacing_mark_class
        self._lower_keys = tables.lower_keys
        self._lower_values = tables.lower_values
        self.unicode_version = tables.unicode_version
        if tf.executing_eagerly():
            self._check_table_matches(vocab)

    # -- construction checks ------------------------------------------------------------------------
    @staticmethod
    def _check_vocab_file(vocab_file: str, special_tokens: Sequence[str]) -> Dict[str, int]:
        """Returns `load_vocab(vocab_file)` after checking the TF text-file table will agree with it.

        TF's table keys are the raw lines (one trailing CR removed); `load_vocab` strips whitespace.
        They must agree on every token WordPiece can look up (`_can_be_looked_up`). Lines like the
        Chinese vocabulary's `"\u2028"` or `"##\u2028"` (`"" `/`"##"` once stripped) differ but
        are never looked up.
        """
        vocab = tokenization.load_vocab(vocab_file)
        with open(vocab_file, "rb") as reader:
            lines = reader.read().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        seen_table_keys = {}
        for line_number, line in enumerate(lines, start=1):
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                raise ValueError(f"{vocab_file}:{line_number}: not valid UTF-8") from None
            table_key = text[:-1] if text.endswith("\r") else text
            if not table_key:
                raise ValueError(f"{vocab_file}:{line_number}: empty line (TF's text-file table "
                                 f"rejects empty lines)")
            if table_key in seen_table_keys:
                raise ValueError(f"{vocab_file}:{line_number}: token {text!r} repeats line "
                                 f"{seen_table_keys[table_key]}; the in-graph table needs distinct lines")
            seen_table_keys[table_key] = line_number
            token = text.strip()
            if _can_be_looked_up(token):
                if table_key != token:
                    raise ValueError(f"{vocab_file}:{line_number}: token {text!r} has surrounding "
                                     f"whitespace; load_vocab strips it but the in-graph table would not")
                if vocab[token] != line_number - 1:
                    raise ValueError(f"{vocab_file}:{line_number}: token {token!r} appears again on "
                                     f"line {vocab[token] + 1}; the in-graph table needs distinct tokens")
        for token in special_tokens:
            if token not in vocab:
                raise ValueError(f"{vocab_file}: special token {token!r} is not in the vocabulary")
        return vocab

    def _check_table_matches(self, vocab: Dict[str, int]) -> None:
        keys, values = self.vocab_table.export()
        table = dict(zip((key.decode("utf-8") for key in keys.numpy()), values.numpy().tolist()))
        differing = [token for token, token_id in vocab.items()
                     if _can_be_looked_up(token) and table.get(token) != token_id]
        if differing:
            raise ValueError(f"{self.vocab_asset.asset_path.numpy().decode()}: the TF text-file table "
                             f"disagrees with load_vocab on {differing[:5]}")

    # -- tokenization -------------------------------------------------------------------------------
    def _lower_case(self, text: tf.Tensor) -> tf.Tensor:
        """Python `str.lower` + NFD + removal of `Mn`, for a string Tensor."""
        code_points = tf.strings.unicode_decode(text, "UTF-8")
        flat = code_points.flat_values
        keys = tf.constant(self._lower_keys, tf.int32)
        values = tf.constant(self._lower_values, tf.int32)
        index = tf.searchsorted(keys, flat, side="left")
        index = tf.minimum(index, tf.size(keys) - 1)
        lowered = tf.where(tf.gather(keys, index) == flat, tf.gather(values, index), flat)
        text = tf.strings.unicode_encode(code_points.with_flat_values(lowered), "UTF-8")
        # Remaining: U+03A3 (final sigma, context dependent) and U+0130 -- ICU's full lower-casing.
        text = tf.strings.lower(text, encoding="utf-8")
        text = _tf_text.normalize_utf8(text, "NFD")
        return tf.strings.regex_replace(text, self._nonspacing_mark_class, "")

    def basic_tokenize(self, text) -> tf.RaggedTensor:
        """Raw strings [batch] -> basic tokens, tf.string RaggedTensor [batch, (words)].

        Equal to `BasicTokenizer(do_lower_case).tokenize` (UTF-8 encoded) for every row.
        """
        text = tf.convert_to_tensor(text, dtype=tf.string)
        text = tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="ignore")
        text = tf.strings.regex_replace(text, self._dropped_class, "")
        text = tf.strings.regex_replace(text, self._whitespace_class, " ")
        text = tf.strings.regex_replace(text, "(" + self._cjk_class + ")", " \\1 ")
        if self.do_lower_case:
            text = self._lower_case(text)
        text = tf.strings.regex_replace(text, "(" + self._punctuation_class + ")", " \\1 ")
        return tf.strings.split(text)  # only ' ' is left as whitespace

    def tokenize(self, text) -> tf.RaggedTensor:
        """Raw strings [batch] -> word-piece ids, int64 RaggedTensor [batch, (pieces)]."""
        words = self.basic_tokenize(text)
        too_long = tf.strings.length(words.flat_values, unit="UTF8_CHAR") > MAX_INPUT_CHARS_PER_WORD
        # The unknown token is itself a vocabulary entry, so WordPiece maps it to its id.
        words = words.with_flat_values(tf.where(too_long, self.unk_token, words.flat_values))
        pieces = self._wordpiece.tokenize(words)  # [batch, (words), (pieces)]
        return pieces.merge_dims(1, 2)

    def pack(self, ids_a: tf.RaggedTensor, ids_b: Optional[tf.RaggedTensor] = None,
             max_seq_length: Optional[int] = None) -> Dict[str, tf.Tensor]:
        """Packs word-piece ids with this tokenizer's padding; see `pack_ids_in_graph`."""
        max_seq_length = max_seq_length or self.max_seq_length
        lengths = self.padded_lengths
        if lengths is not None:  # a shorter max_seq_length for this call caps the allowed lengths
            lengths = [length for length in lengths if length <= max_seq_length]
        return pack_ids_in_graph(ids_a, ids_b, max_seq_length, self.cls_id, self.sep_id,
                                 pad_to_multiple_of=self.pad_to_multiple_of, padded_lengths=lengths)

    def __call__(self, text_a, text_b=None, max_seq_length: Optional[int] = None) -> Dict[str, tf.Tensor]:
        """Raw `text_a` [batch] (and `text_b` [batch], "" = no second segment) -> model inputs.

        Returns:
          dict of int32 Tensors `input_ids`, `input_mask`, `segment_ids`, each [batch, length], equal
          to `packing.encode_text_pair` row by row up to `length`, beyond which those are padding:
          `length` is `max_seq_length`, or the batch's padded length with per-batch padding.
        """
        ids_a = self.tokenize(text_a)
        ids_b = None if text_b is None else self.tokenize(text_b)
        return self.pack(ids_a, ids_b, max_seq_length)
