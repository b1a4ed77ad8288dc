"""CoNLL column files: reading, IOB1 -> IOB2 conversion and the label map.

A CoNLL file (CoNLL-2003 `train.txt`, `valid.txt`, `test.txt`) has one word per line, columns separated by
white space, the word in the first column and its tag in the last (`EU NNP B-NP B-ORG`); a blank line ends a
sentence and a `-DOCSTART-` line starts a document. Tags are IOB1 (`I-` starts an entity unless it follows one
of the same type; `B-` only between two adjacent entities of one type) or IOB2 (every entity starts with
`B-`); both are read as IOB2, converted the same way in every file, so the label set is always
`O, B-TYPE, I-TYPE, ...`.

The label map (`label_map.json` in `output_dir`) lists the training file's labels in a stable order: `O`,
then `B-TYPE`, `I-TYPE` for every entity type in alphabetical order (`I-TYPE` even where the training file
has none), each with its id: `{"O": 0, "B-LOC": 1, "I-LOC": 2, ...}`.

Every problem is an `InputError` naming the file and the line.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import List, Optional, Sequence

from bert_tf import files
from bert_tf.conventions import OUTSIDE
from bert_tf.errors import InputError

DOCSTART = "-DOCSTART-"
LABEL_MAP_FILE = "label_map.json"
ENTITY_PREFIXES = ("B-", "I-")


@dataclasses.dataclass
class Sentence:
    """One sentence of a CoNLL file.

    Attributes:
      words: the first column of each line (never empty, never white space).
      tags: the last column as written in the file (IOB1 or IOB2), or None for an untagged file.
      labels: `tags` converted to IOB2 (what the model learns and is scored on), or None.
      line_numbers: the 1-based line of each word in its file.
    """

    words: List[str]
    tags: Optional[List[str]]
    labels: Optional[List[str]]
    line_numbers: List[int]


@dataclasses.dataclass
class ConllFile:
    """A parsed CoNLL file.

    Attributes:
      path: the file read.
      sentences: its sentences, in order.
      docstarts: for each `-DOCSTART-` line, the index of the sentence that follows it (`len(sentences)`
        for one at the end), so that output files keep them in place.
      tagged: whether the lines have a tag column (a prediction input may have words only).
    """

    path: str
    sentences: List[Sentence]
    docstarts: List[int]
    tagged: bool

    @property
    def num_words(self) -> int:
        return sum(len(sentence.words) for sentence in self.sentences)

    def entity_types(self) -> List[str]:
        """The entity types of the IOB2 labels, sorted."""
        return sorted({label[2:] for sentence in self.sentences for label in sentence.labels or ()
                       if label != OUTSIDE})


def iob1_to_iob2(tags: Sequence[str]) -> List[str]:
    """Converts one sentence's tags to IOB2: an `I-TYPE` that does not continue a `TYPE` entity becomes `B-TYPE`.

    IOB2 input comes back unchanged; an ill-formed IOB2 `I-` (after `O` or another type) becomes `B-`,
    which is how conlleval reads it anyway.

    Args:
      tags: `O`, `B-TYPE` or `I-TYPE` strings.

    Returns:
      The IOB2 tags (a new list of the same length).
    """
    converted: List[str] = []
    previous = OUTSIDE
    for tag in tags:
        if tag.startswith("I-") and (previous == OUTSIDE or previous[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        converted.append(tag)
        previous = tag
    return converted


def _decode(path: str, data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InputError(f"{path}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x}); CoNLL files must "
                         "be UTF-8") from None
    return text[1:] if text.startswith("\ufeff") else text


def _check_tag(path: str, line_number: int, tag: str) -> None:
    if tag != OUTSIDE and not (tag.startswith(ENTITY_PREFIXES) and len(tag) > 2):
        raise InputError(f"{path}:{line_number}: tag {tag!r} is not IOB1/IOB2 (O, B-TYPE or I-TYPE)")


def parse_conll(path: str, text: str, require_tags: bool = True) -> ConllFile:
    """Parses the text of a CoNLL file (see the module docstring).

    Args:
      path: the file name, for messages.
      text: its content.
      require_tags: every word line needs a tag column; otherwise the first word line decides whether
        the file is tagged (two or more columns) or words only (one column), and all lines must agree.

    Returns:
      A `ConllFile` with IOB2 `labels`.

    Raises:
      InputError: `<path>:<line>: ...` for a line without a tag column (or with one in a words-only file),
        a tag that is not IOB, or a file without any sentence (empty, or only `-DOCSTART-` lines).
    """
    sentences: List[Sentence] = []
    docstarts: List[int] = []
    tagged: Optional[bool] = True if require_tags else None
    words: List[str] = []
    tags: List[str] = []
    line_numbers: List[int] = []
    last_docstart_line = None

    def end_sentence():
        if words:
            sentences.append(Sentence(list(words), list(tags) if tagged else None,
                                      iob1_to_iob2(tags) if tagged else None, list(line_numbers)))
            words.clear(), tags.clear(), line_numbers.clear()

    for line_number, line in enumerate(text.split("\n"), start=1):
        columns = line.split()
        if not columns:
            end_sentence()
            continue
        if columns[0] == DOCSTART:
            end_sentence()
            docstarts.append(len(sentences))
            last_docstart_line = line_number
            continue
        if tagged is None:
            tagged = len(columns) > 1
        if tagged and len(columns) < 2:
            raise InputError(f"{path}:{line_number}: no tag column in {line.strip()!r} (expected `word ... tag`)")
        if not tagged and len(columns) > 1:
            raise InputError(f"{path}:{line_number}: {len(columns)} columns, but the file's first line has "
                             "words only (one column)")
        if tagged:
            _check_tag(path, line_number, columns[-1])
            tags.append(columns[-1])
        words.append(columns[0])
        line_numbers.append(line_number)
    end_sentence()
    if not sentences:
        if last_docstart_line is not None:
            raise InputError(f"{path}:{last_docstart_line}: the file has only -DOCSTART- lines, no sentence")
        raise InputError(f"{path}:1: the file is empty (no sentence)")
    return ConllFile(path, sentences, docstarts, bool(tagged))


def read_conll_file(path: str, require_tags: bool = True) -> ConllFile:
    """Reads and parses a CoNLL file (local or any `tf.io.gfile` file system); see `parse_conll`.

    Raises:
      InputError: the file is missing or unreadable, not UTF-8, or malformed (naming the file and line).
    """
    path = os.fspath(path)
    try:
        if files.is_remote(path):
            with files.tf_gfile().GFile(path, "rb") as reader:
                data = reader.read()
        else:
            with open(path, "rb") as reader:
                data = reader.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as error:
        raise InputError(f"{path}: cannot read: {error}") from None
    return parse_conll(path, _decode(path, data), require_tags)


# ------------------------------------------------------------------------------------------------ label map
def labels_for_types(entity_types: Sequence[str]) -> List[str]:
    """`O`, then `B-TYPE`, `I-TYPE` for each type in alphabetical order: the stable label order."""
    labels = [OUTSIDE]
    for entity_type in sorted(set(entity_types)):
        labels.extend(prefix + entity_type for prefix in ENTITY_PREFIXES)
    return labels


def label_list_from_training(conll: ConllFile) -> List[str]:
    """The label list of a training file (see `labels_for_types`).

    Raises:
      InputError: the training file has no tags, or no entity at all.
    """
    if not conll.tagged:
        raise InputError(f"{conll.path}: the training file has no tag column")
    entity_types = conll.entity_types()
    if not entity_types:
        raise InputError(f"{conll.path}: the training file has no entity (every tag is O)")
    return labels_for_types(entity_types)


def check_labels(conll: ConllFile, label_list: Sequence[str]) -> None:
    """Checks that every IOB2 label of a tagged file is in `label_list`.

    Raises:
      InputError: `<path>:<line>: tag ... has entity type ... not in the training labels`.
    """
    known = set(label_list)
    for sentence in conll.sentences:
        for label, tag, line_number in zip(sentence.labels or (), sentence.tags or (), sentence.line_numbers):
            if label not in known:
                types = sorted({known_label[2:] for known_label in known if known_label != OUTSIDE})
                raise InputError(f"{conll.path}:{line_number}: tag {tag!r} has entity type {label[2:]!r}, "
                                 f"which the training labels do not have (types: {', '.join(types)})")


def label_map_text(label_list: Sequence[str]) -> str:
    """The content of `label_map.json`: `{"O": 0, "B-LOC": 1, ...}` in label-id order."""
    return json.dumps({label: index for index, label in enumerate(label_list)}, indent=1) + "\n"


def write_label_map(output_dir: str, label_list: Sequence[str]) -> str:
    """Writes `output_dir/label_map.json` atomically; returns its path."""
    path = os.path.join(output_dir, LABEL_MAP_FILE)
    files.atomic_write_text(path, label_map_text(label_list))
    return path


def read_label_map(path: str) -> List[str]:
    """Reads a `label_map.json`; returns the labels in id order.

    Raises:
      InputError: the file is unreadable or is not a `{label: id}` object with ids 0..n-1 and IOB2 labels.
    """
    try:
        with files.tf_gfile().GFile(path, "r") as reader:
            mapping = json.load(reader)
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: cannot read the label map: {error}") from None
    if not isinstance(mapping, dict) or not mapping:
        raise InputError(f"{path}: expected a JSON object {{label: id}}")
    ids = list(mapping.values())
    if any(isinstance(index, bool) or not isinstance(index, int) for index in ids) \
            or sorted(ids) != list(range(len(ids))):
        raise InputError(f"{path}: label ids must be the integers 0..{len(ids) - 1}, each once")
    labels = sorted(mapping, key=mapping.get)
    for label in labels:
        if label != OUTSIDE and not (label.startswith(ENTITY_PREFIXES) and len(label) > 2):
            raise InputError(f"{path}: label {label!r} is not IOB2 (O, B-TYPE or I-TYPE)")
    return labels


def find_label_map(candidates: Sequence[Optional[str]]) -> Optional[str]:
    """The first folder of `candidates` (None entries skipped) that has a `label_map.json`; its path."""
    for folder in candidates:
        if folder:
            path = os.path.join(folder, LABEL_MAP_FILE)
            if files.tf_gfile().exists(path):
                return path
    return None
