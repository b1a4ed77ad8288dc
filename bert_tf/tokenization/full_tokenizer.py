"""WordPiece tokenization with the exact behaviour of google-research/bert `tokenization.py`.

The algorithm (and therefore every token and id) is the original one:

1. `BasicTokenizer`: drop NUL, U+FFFD and control characters (Unicode `Cc`/`Cf` except tab, newline
   and carriage return), map whitespace (space, `\\t`, `\\n`, `\\r` and category `Zs`) to a space,
   surround every CJK ideograph with spaces, split on whitespace (`str.split`), then per word: optionally
   lower-case and strip accents (NFD, drop category `Mn`), and split off every punctuation character
   (ASCII 33-47, 58-64, 91-96, 123-126, or any Unicode category `P*`) as its own token.
2. `WordpieceTokenizer`: greedy longest-match-first over the vocabulary, continuation pieces prefixed
   with `##`; a word that cannot be fully covered, or that is longer than `max_input_chars_per_word`
   characters, becomes a single `[UNK]`.

Unlike some popular re-implementations, private-use and unassigned characters are *kept* (so a word
containing one becomes `[UNK]`), words may be up to 200 characters, and `[CLS]`-style strings in the
text are split like any other text.

Speed: character classes are cached per code point, and the per-word work (lower-casing, accent stripping,
punctuation split, WordPiece) is memoised per distinct word with bounded LRU caches, so tokenizing a large
corpus costs roughly one dictionary look-up per repeated word.
"""
import collections
import functools
import re
import unicodedata
from typing import Iterable, List, Optional

from bert_tf.errors import InputError

__all__ = [
    "convert_to_unicode",
    "printable_text",
    "load_vocab",
    "convert_by_vocab",
    "convert_tokens_to_ids",
    "convert_ids_to_tokens",
    "whitespace_tokenize",
    "is_whitespace",
    "is_control",
    "is_punctuation",
    "is_chinese_char",
    "BasicTokenizer",
    "WordpieceTokenizer",
    "FullTokenizer",
    "validate_case_matches_checkpoint",
    "CJK_CODE_POINT_RANGES",
]

# The original's "CJK Unified Ideographs" ranges (inclusive). Hangul, Hiragana and Katakana are NOT in
# them: those scripts are written with spaces and go through the normal word path.
CJK_CODE_POINT_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)

# Released checkpoints whose casing is known (the original's lists).
_LOWER_CASED_MODELS = (
    "uncased_L-24_H-1024_A-16",
    "uncased_L-12_H-768_A-12",
    "multilingual_L-12_H-768_A-12",
    "chinese_L-12_H-768_A-12",
)
_CASED_MODELS = (
    "cased_L-12_H-768_A-12",
    "cased_L-24_H-1024_A-16",
    "multi_cased_L-12_H-768_A-12",
)

# Default size of the per-word memo caches (entries). A corpus vocabulary of distinct words rarely
# exceeds this; beyond it the least recently used words are recomputed, which is only slower.
_WORD_CACHE_SIZE = 1 << 18


# ----------------------------------------------------------------------------------------------------
# Text helpers
# ----------------------------------------------------------------------------------------------------
def convert_to_unicode(text) -> str:
    """Returns `text` as `str`; `bytes` are decoded as UTF-8, invalid bytes dropped (original)."""
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray)):
        return bytes(text).decode("utf-8", "ignore")
    raise ValueError("Unsupported string type: %s" % (type(text),))


def printable_text(text) -> str:
    """Returns `text` as a `str` suitable for printing or logging (Python 3: same as unicode)."""
    return convert_to_unicode(text)


def load_vocab(vocab_file) -> "collections.OrderedDict[str, int]":
    """Loads a vocabulary file (one token per line) into an ordered `token -> id` dict.

    As in the original: the id is the 0-based line number, each line is stripped of surrounding
    whitespace, and a repeated token keeps the id of its last occurrence. Lines are separated by `\\n`
    only (other Unicode line breaks are part of a token). Raises `FileNotFoundError` naming the file.
    """
    vocab = collections.OrderedDict()
    path = str(vocab_file)
    with open(path, "rb") as reader:
        data = reader.read()
    if not data:
        return vocab
    lines = data.split(b"\n")
    if lines[-1] == b"":  # the final newline does not start another token
        lines.pop()
    for index, raw_line in enumerate(lines):
        vocab[convert_to_unicode(raw_line).strip()] = index
    return vocab


def convert_by_vocab(vocab, items: Iterable, what: str = "item") -> list:
    """Maps every item through `vocab`; an unknown item raises `KeyError` naming it."""
    output = []
    for position, item in enumerate(items):
        try:
            output.append(vocab[item])
        except KeyError:
            raise KeyError(
                f"{what} {item!r} (position {position}) is not in the vocabulary "
                f"({len(vocab)} entries)") from None
    return output


def convert_tokens_to_ids(vocab, tokens: Iterable[str]) -> List[int]:
    """Token strings -> ids. Raises `KeyError` naming the first unknown token."""
    return convert_by_vocab(vocab, tokens, what="token")


def convert_ids_to_tokens(inv_vocab, ids: Iterable[int]) -> List[str]:
    """Ids -> token strings. Raises `KeyError` naming the first unknown id."""
    return convert_by_vocab(inv_vocab, (int(token_id) for token_id in ids), what="id")


def whitespace_tokenize(text: str) -> List[str]:
    """Strips and splits `text` on any whitespace (Python `str.split()` semantics)."""
    return text.split()


# ----------------------------------------------------------------------------------------------------
# Character classes (the original definitions)
# ----------------------------------------------------------------------------------------------------
def is_whitespace(char: str) -> bool:
    """Space, tab, newline, carriage return, or Unicode category `Zs`."""
    if char in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(char) == "Zs"


def is_control(char: str) -> bool:
    """Unicode `Cc` or `Cf`, except tab/newline/carriage return (those count as whitespace).

    Private-use (`Co`), unassigned (`Cn`) and surrogate (`Cs`) characters are NOT control.
    """
    if char in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(char) in ("Cc", "Cf")


def is_punctuation(char: str) -> bool:
    """ASCII 33-47, 58-64, 91-96, 123-126 (all non-alphanumeric ASCII), or Unicode category `P*`."""
    code_point = ord(char)
    if (33 <= code_point <= 47 or 58 <= code_point <= 64 or 91 <= code_point <= 96
            or 123 <= code_point <= 126):
        return True
    return unicodedata.category(char).startswith("P")


def is_chinese_char(code_point: int) -> bool:
    """True if the code point lies in one of `CJK_CODE_POINT_RANGES`."""
    for low, high in CJK_CODE_POINT_RANGES:
        if low <= code_point <= high:
            return True
    return False


class _CleanTextTable(dict):
    """A lazily filled `str.translate` table doing the original `_clean_text` and
    `_tokenize_chinese_chars` in one pass: code point -> None (drop), " " (whitespace),
    " X " (CJK ideograph X) or X itself."""

    def __missing__(self, code_point: int):
        char = chr(code_point)
        if code_point == 0 or code_point == 0xFFFD or is_control(char):
            replacement = None
        elif is_whitespace(char):
            replacement = " "
        elif is_chinese_char(code_point):
            replacement = " " + char + " "
        else:
            replacement = char
        self[code_point] = replacement
        return replacement


@functools.lru_cache(maxsize=None)
def _is_punctuation_cached(char: str) -> bool:
    return is_punctuation(char)


# ----------------------------------------------------------------------------------------------------
# Tokenizers
# ----------------------------------------------------------------------------------------------------
class BasicTokenizer:
    """Cleans text and splits it into words and punctuation (original `BasicTokenizer`).

    Args:
      do_lower_case: lower-case (`str.lower`) and strip accents (NFD, drop `Mn`) every word.
    """

    def __init__(self, do_lower_case: bool = True, word_cache_size: int = _WORD_CACHE_SIZE):
        self.do_lower_case = bool(do_lower_case)
        self._clean_table = _CleanTextTable()
        self._split_word = functools.lru_cache(maxsize=word_cache_size)(self._split_word_uncached)

    def tokenize(self, text) -> List[str]:
        """Returns the list of basic tokens (words and single punctuation characters) of `text`."""
        text = convert_to_unicode(text)
        output = []
        for word in self.clean_and_split_cjk(text).split():
            output.extend(self._split_word(word))
        return output

    def clean_and_split_cjk(self, text: str) -> str:
        """The original `_clean_text` followed by `_tokenize_chinese_chars`."""
        return text.translate(self._clean_table)

    def _split_word_uncached(self, word: str) -> tuple:
        if self.do_lower_case:
            word = self.strip_accents(word.lower())
        pieces = []
        for piece in self.split_on_punctuation(word):
            # The original re-splits " ".join(pieces) on whitespace; doing it per piece is equivalent.
            pieces.extend(piece.split())
        return tuple(pieces)

    @staticmethod
    def strip_accents(text: str) -> str:
        """NFD-decomposes `text` and removes the non-spacing marks (category `Mn`)."""
        if text.isascii():
            return text
        decomposed = unicodedata.normalize("NFD", text)
        return "".join(char for char in decomposed if unicodedata.category(char) != "Mn")

    @staticmethod
    def split_on_punctuation(text: str) -> List[str]:
        """Splits `text` so that every punctuation character is a separate, single-char piece."""
        if text.isalnum():  # letters and digits are never punctuation: nothing to split
            return [text] if text else []
        pieces = []
        current = []
        for char in text:
            if _is_punctuation_cached(char):
                if current:
                    pieces.append("".join(current))
                    current = []
                pieces.append(char)
            else:
                current.append(char)
        if current:
            pieces.append("".join(current))
        return pieces


class WordpieceTokenizer:
    """Greedy longest-match-first WordPiece (original `WordpieceTokenizer`).

    Args:
      vocab: mapping token -> id (only membership is used).
      unk_token: emitted for a whole word that cannot be tokenized or is too long.
      max_input_chars_per_word: words with more characters than this become `unk_token`.
    """

    def __init__(self, vocab, unk_token: str = "[UNK]", max_input_chars_per_word: int = 200,
                 word_cache_size: int = _WORD_CACHE_SIZE):
        self.vocab = vocab
        self.unk_token = unk_token
        self.max_input_chars_per_word = max_input_chars_per_word
        self._tokenize_word = functools.lru_cache(maxsize=word_cache_size)(self._tokenize_word_uncached)

    def tokenize(self, text) -> List[str]:
        """Tokenizes already basic-tokenized `text` (split on whitespace) into word pieces.

        Example: `"unaffable"` -> `["un", "##aff", "##able"]`.
        """
        text = convert_to_unicode(text)
        output = []
        for word in text.split():
            output.extend(self._tokenize_word(word))
        return output

    def tokenize_word(self, word: str) -> tuple:
        """Word pieces of one whitespace-free word (memoised)."""
        return self._tokenize_word(word)

    def _tokenize_word_uncached(self, word: str) -> tuple:
        if len(word) > self.max_input_chars_per_word:
            return (self.unk_token,)
        vocab = self.vocab
        pieces = []
        start = 0
        length = len(word)
        while start < length:
            end = length
            match = None
            while start < end:
                candidate = word[start:end]
                if start > 0:
                    candidate = "##" + candidate
                if candidate in vocab:
                    match = candidate
                    break
                end -= 1
            if match is None:
                return (self.unk_token,)
            pieces.append(match)
            start = end
        return tuple(pieces)


class FullTokenizer:
    """Basic tokenization followed by WordPiece, with vocabulary look-ups (original `FullTokenizer`).

    Attributes:
      vocab: `OrderedDict` token -> id from `vocab_file`.
      inv_vocab: dict id -> token.
      basic_tokenizer: the `BasicTokenizer`.
      wordpiece_tokenizer: the `WordpieceTokenizer`.
    """

    def __init__(self, vocab_file, do_lower_case: bool = True):
        self.vocab_file = str(vocab_file)
        self.do_lower_case = bool(do_lower_case)
        self.vocab = load_vocab(vocab_file)
        self.inv_vocab = {token_id: token for token, token_id in self.vocab.items()}
        self.basic_tokenizer = BasicTokenizer(do_lower_case=do_lower_case)
        self.wordpiece_tokenizer = WordpieceTokenizer(vocab=self.vocab)
        self._word_to_pieces = functools.lru_cache(maxsize=_WORD_CACHE_SIZE)(self._word_to_pieces_uncached)

    def _word_to_pieces_uncached(self, word: str) -> tuple:
        pieces = []
        for basic_token in self.basic_tokenizer._split_word(word):
            pieces.extend(self.wordpiece_tokenizer.tokenize_word(basic_token))
        return tuple(pieces)

    def tokenize(self, text) -> List[str]:
        """Returns the word pieces of `text` (a `str` or UTF-8 `bytes`)."""
        text = convert_to_unicode(text)
        output = []
        for word in self.basic_tokenizer.clean_and_split_cjk(text).split():
            output.extend(self._word_to_pieces(word))
        return output

    def convert_tokens_to_ids(self, tokens: Iterable[str]) -> List[int]:
        """Token strings -> ids. Raises `KeyError` naming the first token not in the vocabulary."""
        return convert_tokens_to_ids(self.vocab, tokens)

    def convert_ids_to_tokens(self, ids: Iterable[int]) -> List[str]:
        """Ids -> token strings. Raises `KeyError` naming the first unknown id."""
        return convert_ids_to_tokens(self.inv_vocab, ids)


def validate_case_matches_checkpoint(do_lower_case: bool, init_checkpoint: Optional[str]) -> None:
    """Raises `InputError` (a `ValueError`) if `do_lower_case` contradicts a released checkpoint's casing.

    The casing is inferred from the checkpoint's folder name (e.g. `.../uncased_L-12_H-768_A-12/
    bert_model.ckpt`); unknown names, and an empty `init_checkpoint`, are accepted.
    """
    if not init_checkpoint:
        return
    match = re.match("^.*?([A-Za-z0-9_-]+)/bert_model.ckpt", str(init_checkpoint))
    if match is None:
        return
    model_name = match.group(1)

    if model_name in _LOWER_CASED_MODELS and not do_lower_case:
        actual_flag, case_name, opposite_flag = "False", "lowercased", "True"
    elif model_name in _CASED_MODELS and do_lower_case:
        actual_flag, case_name, opposite_flag = "True", "cased", "False"
    else:
        return
    raise InputError(
        "You passed in `--do_lower_case=%s` with `--init_checkpoint=%s`. "
        "However, `%s` seems to be a %s model, so you "
        "should pass in `--do_lower_case=%s` so that the fine-tuning matches "
        "how the model was pre-training. If this error is wrong, please "
        "just comment out this check." % (actual_flag, init_checkpoint, model_name, case_name,
                                          opposite_flag))
