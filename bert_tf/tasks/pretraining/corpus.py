"""Reading the pretraining corpus: text files -> documents of sentences of token ids.

Holds `Document`/`Corpus`, `read_corpus` (UTF-8 decoding that drops invalid bytes, one sentence per
line, a blank line between documents), the per-word tokenization cache, `check_vocabulary` and
`PretrainingDataError`.
"""
from __future__ import annotations

import array
import dataclasses
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from bert_tf.errors import InputError
from bert_tf.files import is_remote
from bert_tf.tasks.pretraining.records import ID_TYPECODE

if TYPE_CHECKING:
    from bert_tf.tasks.pretraining.word_segmentation import WordBoundaries
    from bert_tf.tasks.pretraining.workers import WorkerPool

__all__ = [
    "REQUIRED_SPECIAL_TOKENS",
    "PretrainingDataError",
    "Sentence",
    "Document",
    "Corpus",
    "check_vocabulary",
    "read_corpus",
]

REQUIRED_SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[MASK]", "[UNK]")

# A document is a list of sentences; a sentence is a non-empty array of token ids (C ints: copying
# and concatenating them is a memcpy).
Sentence = array.array
Document = List[Sentence]


class PretrainingDataError(InputError):
    """Bad input for pretraining data creation (flags, files, vocabulary, corpus)."""


def check_vocabulary(vocab: Dict[str, int], vocab_file: str = "the vocabulary") -> None:
    """Raises `PretrainingDataError` if `vocab` lacks one of `REQUIRED_SPECIAL_TOKENS`."""
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
        `array('i')` of ids.
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
        if is_remote(path):
            import tensorflow as tf

            with tf.io.gfile.GFile(path, "rb") as reader:
                return reader.read()
        with open(path, "rb") as reader:
            return reader.read()
    except OSError as error:
        raise PretrainingDataError(f"cannot read input file {path}: {error}") from None


def _decode_utf8_ignoring(data: bytes) -> Tuple[str, int]:
    """UTF-8 decoding that drops invalid bytes (the original's `errors="ignore"`).

    Returns the text and the number of bytes dropped (what decodes re-encodes to the same bytes).
    """
    try:
        return data.decode("utf-8"), 0
    except UnicodeDecodeError:
        text = data.decode("utf-8", "ignore")
        return text, len(data) - len(text.encode("utf-8"))


class WordIdCache(dict):
    """Space-separated word -> its ids as `array(ID_TYPECODE)` bytes, tokenizing each distinct word
    once.

    `tokenizer.tokenize(line)` equals the concatenation of `tokenizer.tokenize(word)` over
    `line.split(" ")`: the original tokenizer maps characters one at a time, then splits on
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


def read_corpus(input_files: Sequence[str], tokenizer, pool: Optional[WorkerPool] = None,
                word_boundaries: Optional[WordBoundaries] = None) -> Corpus:
    """Reads and tokenizes documents (one sentence per line, blank line between documents).

    Args:
      input_files: file names (see `expand_input_files`).
      tokenizer: a `FullTokenizer` (`.tokenize(text) -> list of str`, `.vocab` token -> id).
      pool: optional `WorkerPool` (made with this tokenizer) to tokenize the distinct words in;
        the result does not depend on it.
      word_boundaries: optional `word_segmentation.WordBoundaries`: the ids of the tokens that
        continue a Chinese word are marked (`id + word_boundaries.mark`); lines are then tokenized
        in this process.
    Returns:
      `Corpus` with the non-empty documents; a line whose tokens are empty (e.g. only control
      characters) adds nothing, as in the original.
    Raises:
      PretrainingDataError: a file that cannot be read, a token that is not in the vocabulary, a
        reference file of `word_boundaries` that does not match its input file.
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
    if pool is not None and pool.has_tokenizer and word_boundaries is None:
        word_ids: Dict[str, bytes] = pool.tokenize_words(file_lines)
    else:
        word_ids = WordIdCache(tokenizer)
    ids_of_word = word_ids.__getitem__

    documents: List[Document] = [[]]
    current = documents[-1]
    for file_index, lines in enumerate(file_lines):
        marked_ids = None
        if word_boundaries is not None:
            marked_ids = word_boundaries.line_marker(file_index, input_files[file_index], lines)
        for line_number, line in enumerate(lines, 1):
            if not line:
                if current:
                    current = []
                    documents.append(current)
                continue
            if marked_ids is None:
                ids = b"".join(map(ids_of_word, line.split(" ")))
            else:
                ids = marked_ids(line, line_number)
            if ids:
                sentence = array.array(ID_TYPECODE)
                sentence.frombytes(ids)
                current.append(sentence)
    documents = [document for document in documents if document]
    return Corpus(documents=documents, input_files=list(input_files), undecodable_bytes=undecodable,
                  num_lines=sum(len(lines) for lines in file_lines))
