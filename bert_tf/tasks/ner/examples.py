"""Token-classification files: CoNLL columns, JSON lines of tokens and tags, JSON lines of text and
character spans; their tag schemes; the label map.

* CoNLL (`conll`; CoNLL-2003 `train.txt`, `valid.txt`, `test.txt`, MSRA's `char TAG` lines) has one word per
  line, columns separated by white space, the word in column `word_column` (default the first) and its tag in
  `tag_column` (default the last; `EU NNP B-NP B-ORG`); a blank line ends a sentence and a `-DOCSTART-` line
  starts a document.
* JSON lines of tokens (`jsonl`): `{"tokens": [...], "tags": [...]}` per sentence (`tags` absent in a file to
  tag); an optional `"doc_id"` groups consecutive lines into documents (`documents`).
* JSON lines of spans (`spans`; CLUENER): `{"text": "...", "label": {TYPE: {entity: [[start, end], ...]}}}`,
  `end` inclusive; the text is tagged per character (every character but white space is a word, as the
  Chinese tokenizer splits CJK text), and the spans must lie on the text, match their entity, not overlap;
  `"doc_id"` as in `jsonl`.

The format is detected from the file when not given (`detect_format`). Tags may be IOB1, IOB2, BIOES or BMES
(`tag_schemes`, detected or given): every file is read into IOB2 labels, so the label set is always
`O, B-TYPE, I-TYPE, ...` and the same entities train the same model whatever the format and scheme;
predictions are written back in the file's format and scheme (`predictions`).

The label map (`label_map.json` in `output_dir`) lists the training file's labels in a stable order: `O`,
then `B-TYPE`, `I-TYPE` for every entity type in alphabetical order (`I-TYPE` even where the training file
has none), each with its id: `{"O": 0, "B-LOC": 1, "I-LOC": 2, ...}`.

Every problem is an `InputError` naming the file and the line (and the column or tag at fault).
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import List, Optional, Sequence

from absl import logging

from bert_tf import files
from bert_tf.conventions import OUTSIDE
from bert_tf.errors import InputError
from bert_tf.tasks.ner import tag_schemes

DOCSTART = "-DOCSTART-"
LABEL_MAP_FILE = "label_map.json"
ENTITY_PREFIXES = ("B-", "I-")
DATA_FORMATS = ("conll", "jsonl", "spans")
EXTENSIONS = ("txt", "conll", "ner", "tsv", "jsonl", "json")


@dataclasses.dataclass
class Sentence:
    """One sentence of a CoNLL file.

    Attributes:
      words: the first column of each line (never empty, never white space).
      tags: the tags as written in the file (its scheme), or None for an untagged file.
      labels: `tags` converted to IOB2 (what the model learns and is scored on), or None.
      line_numbers: the 1-based line of each word in its file.
      text: a span file's text (None for the other formats).
      offsets: a span file's character index of each word in `text`.
      document_id: JSON lines: the line's `doc_id` (None without one).
    """

    words: List[str]
    tags: Optional[List[str]]
    labels: Optional[List[str]]
    line_numbers: List[int]
    text: Optional[str] = None
    offsets: Optional[List[int]] = None
    document_id: Optional[str] = None


@dataclasses.dataclass
class ConllFile:
    """A parsed CoNLL file.

    Attributes:
      path: the file read.
      sentences: its sentences, in order.
      docstarts: for each `-DOCSTART-` line, the index of the sentence that follows it (`len(sentences)`
        for one at the end), so that output files keep them in place.
      tagged: whether the lines have a tag column (a prediction input may have words only).
      data_format: `conll`, `jsonl` or `spans` (the format predictions are written back in).
      scheme: the tags' scheme (`tag_schemes.SCHEMES`), set by `apply_scheme`.
    """

    path: str
    sentences: List[Sentence]
    docstarts: List[int]
    tagged: bool
    data_format: str = "conll"
    scheme: str = "iob2"

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
    return tag_schemes.to_iob2(tags, "iob1")


def _check_tag(path: str, line_number: int, tag: str) -> None:
    problem = tag_schemes.check_tag(tag)
    if problem:
        raise InputError(f"{path}:{line_number}: {problem}")


def apply_scheme(conll: ConllFile, scheme: str = "auto") -> ConllFile:
    """Sets each sentence's IOB2 `labels` from its `tags` read in `scheme` (`auto`: detected) and
    `conll.scheme`; returns `conll`.

    Raises:
      InputError: `<path>:<line>: ...` at the first tag the scheme does not allow there (saying why), or
        tags of two schemes in one file.
    """
    if not conll.tagged:
        conll.scheme = "iob2" if scheme == "auto" else scheme
        return conll
    if scheme == "auto":
        try:
            scheme = tag_schemes.detect_scheme(sentence.tags for sentence in conll.sentences)
        except InputError as error:
            raise InputError(f"{conll.path}: {error}") from None
    for sentence in conll.sentences:
        try:
            sentence.labels = tag_schemes.to_iob2(sentence.tags, scheme)
        except tag_schemes.SchemeError as error:
            raise InputError(f"{conll.path}:{sentence.line_numbers[error.position]}: {error}") from None
    conll.scheme = scheme
    return conll


def parse_conll(path: str, text: str, require_tags: bool = True, word_column: int = 0, tag_column: int = -1,
                scheme: str = "auto") -> ConllFile:
    """Parses the text of a CoNLL file (see the module docstring).

    Args:
      path: the file name, for messages.
      text: its content.
      require_tags: every word line needs a tag column; otherwise the first word line decides whether
        the file is tagged (two or more columns) or words only (one column), and all lines must agree.
      word_column, tag_column: 0-based columns (negative: from the end) of the word and the tag.
      scheme: the tags' scheme, or `auto` (see `apply_scheme`).

    Returns:
      A `ConllFile` with IOB2 `labels`.

    Raises:
      InputError: `<path>:<line>: ...` for a line without a tag column (or with one in a words-only file),
        a line without the word or tag column, a tag of no scheme or one its scheme does not allow there,
        or a file without any sentence (empty, or only `-DOCSTART-` lines).
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
            sentences.append(Sentence(list(words), list(tags) if tagged else None, None, list(line_numbers)))
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
            for column, name in ((word_column, "word"), (tag_column, "tag")):
                if not -len(columns) <= column < len(columns):
                    raise InputError(f"{path}:{line_number}: no {name} column {column} (--{name}_column) in "
                                     f"{line.strip()!r}")
            _check_tag(path, line_number, columns[tag_column])
            tags.append(columns[tag_column])
        words.append(columns[word_column] if tagged else columns[0])
        line_numbers.append(line_number)
    end_sentence()
    if not sentences:
        if last_docstart_line is not None:
            raise InputError(f"{path}:{last_docstart_line}: the file has only -DOCSTART- lines, no sentence")
        raise InputError(f"{path}:1: the file is empty (no sentence)")
    return apply_scheme(ConllFile(path, sentences, docstarts, bool(tagged)), scheme)


def read_conll_file(path: str, require_tags: bool = True) -> ConllFile:
    """Reads and parses a CoNLL file (local or any `tf.io.gfile` file system); see `parse_conll`.

    Raises:
      InputError: the file is missing or unreadable, not UTF-8, or malformed (naming the file and line).
    """
    return read_ner_file(path, "conll", require_tags)


def detect_format(path: str, text: str) -> str:
    """`jsonl` or `spans` for JSON lines (by the first object's keys: `tokens`, or `text`), else `conll`."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    if not first.lstrip().startswith("{"):
        return "conll"
    try:
        record = json.loads(first)
    except ValueError:
        raise InputError(f"{path}:1: starts like JSON lines but is not valid JSON") from None
    return "jsonl" if isinstance(record, dict) and "tokens" in record else "spans"


def parse_jsonl(path: str, text: str, require_tags: bool = True, scheme: str = "auto") -> ConllFile:
    """JSON lines of `{"tokens": [...], "tags": [...]}` (see the module docstring) -> a `ConllFile`."""
    sentences, tagged = [], None
    for line_number, record in files.json_objects(path, text):
        tokens, tags = record.get("tokens"), record.get("tags")
        if not isinstance(tokens, list) or not tokens or not all(isinstance(token, str) and token.strip()
                                                                 for token in tokens):
            raise InputError(f"{path}:{line_number}: \"tokens\" must be a non-empty list of non-empty strings")
        tagged = (tags is not None or require_tags) if tagged is None else tagged
        if tagged:
            if not isinstance(tags, list) or len(tags) != len(tokens):
                raise InputError(f"{path}:{line_number}: \"tags\" must list one tag per token ({len(tokens)})")
            for tag in tags:
                _check_tag(path, line_number, str(tag))
        sentences.append(Sentence([token.strip() for token in tokens], [str(tag) for tag in tags] if tagged else None,
                                  None, [line_number] * len(tokens), document_id=_document_id(record)))
    if not sentences:
        raise InputError(f"{path}:1: the file is empty (no sentence)")
    return apply_scheme(ConllFile(path, sentences, [], bool(tagged), "jsonl"), scheme)


def _span_labels(path: str, line_number: int, text: str, spans) -> List[str]:
    """IOB2 labels of each character of `text` from CLUENER's `{type: {entity: [[start, end], ...]}}`.

    A span inside another (CLUENER's train.json has a company inside a book title) cannot be tagged flat:
    the outer span is kept and the inner one left out with a warning naming the line. Spans that cross
    (overlap without one holding the other) are an error.
    """
    if not isinstance(spans, dict):
        raise InputError(f"{path}:{line_number}: \"label\" must be an object {{type: {{entity: [[start, end]]}}}}")
    placed = []
    for entity_type, entities in spans.items():
        for entity, positions in (entities or {}).items():
            for position in positions:
                placed.append(_checked_span(path, line_number, text, entity, position) + (entity_type, entity))
    labels = [OUTSIDE] * len(text)
    kept = []
    for start, end, entity_type, entity in sorted(placed, key=lambda span: (span[0], -span[1])):
        outer = next((span for span in kept if span[0] <= start and end <= span[1]), None)
        if outer is not None:
            if (outer[0], outer[1]) != (start, end) or outer[2] != entity_type:
                logging.warning("%s:%d: span [%d, %d] of %r is inside [%d, %d] of %r: left out (flat tags hold "
                                "one entity per character)", path, line_number, start, end, entity, outer[0],
                                outer[1], outer[3])
            continue
        if any(span[0] <= end and start <= span[1] for span in kept):
            raise InputError(f"{path}:{line_number}: span [{start}, {end}] of {entity!r} overlaps another")
        kept.append((start, end, entity_type, entity))
        labels[start:end + 1] = [f"B-{entity_type}"] + [f"I-{entity_type}"] * (end - start)
    return labels


def _checked_span(path: str, line_number: int, text: str, entity: str, position) -> tuple:
    """`(start, end)` of one span, checked against the text (end inclusive)."""
    if not (isinstance(position, list) and len(position) == 2 and all(isinstance(index, int)
                                                                      for index in position)):
        raise InputError(f"{path}:{line_number}: span {position!r} of {entity!r} is not [start, end]")
    start, end = position
    if not 0 <= start <= end < len(text):
        raise InputError(f"{path}:{line_number}: span [{start}, {end}] of {entity!r} is outside the "
                         f"text ({len(text)} characters)")
    if text[start:end + 1] != entity:
        raise InputError(f"{path}:{line_number}: span [{start}, {end}] is {text[start:end + 1]!r}, not "
                         f"{entity!r} (end is inclusive)")
    return start, end


def parse_spans(path: str, text: str, require_tags: bool = True) -> ConllFile:
    """JSON lines of `{"text": ..., "label": {...}}` (CLUENER) -> a `ConllFile` of characters, IOB2."""
    sentences, tagged = [], None
    for line_number, record in files.json_objects(path, text):
        sentence_text = record.get("text")
        if not isinstance(sentence_text, str) or not sentence_text.strip():
            raise InputError(f"{path}:{line_number}: \"text\" must be a non-empty string")
        tagged = ("label" in record or require_tags) if tagged is None else tagged
        labels = _span_labels(path, line_number, sentence_text, record.get("label", {})) if tagged else None
        offsets = [index for index, char in enumerate(sentence_text) if not char.isspace()]
        sentences.append(Sentence([sentence_text[index] for index in offsets],
                                  [labels[index] for index in offsets] if tagged else None, None,
                                  [line_number] * len(offsets), sentence_text, offsets, _document_id(record)))
    if not sentences:
        raise InputError(f"{path}:1: the file is empty (no sentence)")
    return apply_scheme(ConllFile(path, sentences, [], bool(tagged), "spans"), "iob2")


def _document_id(record) -> Optional[str]:
    value = record.get("doc_id")
    return None if value is None else str(value)


def documents(conll: ConllFile) -> List[List[int]]:
    """The file's documents, each the indexes of its sentences in order: CoNLL files are cut at each
    `-DOCSTART-` line, JSON lines where `doc_id` changes (lines without one are documents of one sentence).
    A file without any boundary is one document per sentence, with a warning (nothing says which sentences
    belong together)."""
    if conll.data_format == "conll":
        if not conll.docstarts:
            logging.warning("%s has no -DOCSTART- line: each sentence is its own document", conll.path)
            return [[index] for index in range(len(conll.sentences))]
        starts = sorted({0, *(start for start in conll.docstarts if start < len(conll.sentences))})
        ends = starts[1:] + [len(conll.sentences)]
        return [list(range(start, end)) for start, end in zip(starts, ends) if end > start]
    groups: List[List[int]] = []
    previous = None
    for index, sentence in enumerate(conll.sentences):
        if not groups or sentence.document_id is None or sentence.document_id != previous:
            groups.append([index])
        else:
            groups[-1].append(index)
        previous = sentence.document_id
    if all(sentence.document_id is None for sentence in conll.sentences):
        logging.warning("%s has no \"doc_id\": each line is its own document", conll.path)
    return groups


def read_ner_file(path: str, data_format: str = "auto", require_tags: bool = True, scheme: str = "auto",
                  word_column: int = 0, tag_column: int = -1) -> ConllFile:
    """Reads a token-classification file in `data_format` (`auto`: `detect_format`); see the module docstring.

    Raises:
      InputError: the file is missing or unreadable, not UTF-8, or malformed (naming the file and line).
    """
    path = os.fspath(path)
    text = files.read_text_file(path)
    if data_format == "auto":
        data_format = detect_format(path, text)
    if data_format == "jsonl":
        return parse_jsonl(path, text, require_tags, scheme)
    if data_format == "spans":
        return parse_spans(path, text, require_tags)
    return parse_conll(path, text, require_tags, word_column, tag_column, scheme)


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
