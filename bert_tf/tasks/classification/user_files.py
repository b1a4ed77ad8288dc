"""Your own classification files: CSV, TSV or JSON lines with the columns you name (`run_classifier.py
--task=csv|tsv|jsonl`).

* Files: `train.<ext>`, `dev.<ext>` and `test.<ext>` in `--data_dir`, or `--train_file`, `--eval_file`,
  `--predict_file` (any names). CSV and TSV are read with Python's `csv` module (TSV is tab-delimited),
  UTF-8 with or without a byte-order mark; JSON lines hold one object per line.
* Quoting (`--quoting=auto|csv|none`): `csv` reads quotes as Python's `csv` module does (a field in `"..."`
  may hold delimiters, newlines and doubled `""`), `none` takes every line as it is, split on the delimiter
  (the original `_read_tsv`; GLUE and ChnSentiCorp TSVs have quotes that are not CSV-escaped). `auto`
  (default) reads quotes as `csv` unless the file cannot be CSV-quoted: a quoted field followed by other
  text, or (TSV) a quoted field running over several lines; it then reads the lines as they are, with a
  warning naming the first such line.
* Columns (`ColumnSpec`): `--text_a_column`, `--text_b_column` (optional: no second text, or an empty one,
  means a single sentence) and `--label_column`, each a header name or a 0-based index (JSON lines: keys).
  A CSV/TSV header row is declared with `--header` / `--noheader`, else it is taken to be there when a
  column is chosen by name, or when the first row's label is unlike the others' (not a number for
  regression, a value no other row has), or, without a label column, when Python's `csv.Sniffer` says so.
* Labels: classification labels are strings; the label list is the training file's labels sorted (written to
  `label_list.txt` in `output_dir` and read back by runs that do not train), or `--label_list=a,b,c` (that
  order is the id order). Regression labels (`--regression`) are floats. Multi-label rows
  (`--multi_label`) hold several labels split on `--label_delimiter` (default `,`; a JSON list in JSON
  lines). A test file may lack the label column.

Every problem is an `InputError` naming the file, line and column: a missing or misspelled column (with the
columns there are), a row of another width, an empty text, a label not in the label list, a regression
label that is not a finite number, an empty file.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple, Union

from absl import logging

from bert_tf import files
from bert_tf.errors import InputError
from bert_tf.tasks.classification.examples import DataProcessor, InputExample

FORMATS = ("csv", "tsv", "jsonl")
QUOTING = ("auto", "csv", "none")
LABEL_LIST_FILE = "label_list.txt"
SPLIT_STEMS = {"train": ("train",), "dev": ("dev", "valid", "val"), "test": ("test",)}
Column = Union[str, int]


@dataclasses.dataclass(frozen=True)
class ColumnSpec:
    """Which column holds what: a header name or a 0-based index each (JSON lines: keys).

    Attributes:
      text_a: the first (or only) text.
      text_b: the second text, or None for single sentences.
      label: the label column, or None when no file has labels.
      header: CSV/TSV only: the first row is a header (True), is not (False), or detect (None).
      quoting: CSV/TSV only: `auto`, `csv` or `none` (see the module docstring).
    """

    text_a: Column = "text_a"
    text_b: Optional[Column] = None
    label: Optional[Column] = "label"
    header: Optional[bool] = None
    quoting: str = "auto"

    def named(self) -> bool:
        """Whether a column is chosen by name (a CSV/TSV file then needs a header)."""
        return any(isinstance(column, str) for column in (self.text_a, self.text_b, self.label))


def parse_column(value: Optional[str]) -> Optional[Column]:
    """A flag's column: None, an index (`"2"` -> 2) or a name."""
    if value is None or value == "":
        return None
    return int(value) if value.strip().lstrip("-").isdigit() else value


def split_file(data_dir: Optional[str], file_format: str, split: str, explicit: Optional[str] = None) -> str:
    """The file of `split`: the explicit flag's, else `<data_dir>/<stem>.<ext>` (`dev`: also `valid`, `val`).

    Raises:
      InputError: no such file (naming what was looked for).
    """
    gfile = files.tf_gfile()
    if explicit:
        if not gfile.exists(explicit):
            raise InputError(f"{explicit} does not exist")
        return explicit
    if not data_dir:
        raise InputError(f"--data_dir (or the file flag of the {split} split) is required")
    candidates = [os.path.join(data_dir, f"{stem}.{file_format}") for stem in SPLIT_STEMS[split]]
    for path in candidates:
        if gfile.exists(path):
            return path
    raise InputError(f"--data_dir {data_dir}: no {' or '.join(os.path.basename(path) for path in candidates)}")


def read_table(path: str, file_format: str, spec: ColumnSpec, kind: Optional["LabelKind"] = None
               ) -> Tuple[Optional[List[str]], List[Tuple[int, object]]]:
    """`(header, rows)`: the header names (None without a header; JSON lines: None) and `(line, row)` pairs,
    each row a list of strings (CSV/TSV) or a dict (JSON lines).

    Raises:
      InputError: an empty file, invalid JSON or UTF-8, a row of another width than the first.
    """
    text = files.read_text_file(path)
    if not text.strip():
        raise InputError(f"{path}: the file is empty")
    if file_format == "jsonl":
        return None, list(files.json_objects(path, text))
    rows = table_rows(path, text, "\t" if file_format == "tsv" else ",", spec.quoting)
    has_header = spec.header
    if has_header is None:
        has_header = spec.named() or _detected_header(text, rows, spec, kind or LabelKind())
    header = [name.strip() for name in rows[0][1]] if has_header else None
    body = rows[1:] if has_header else rows
    width = len(header) if header else len(body[0][1]) if body else 0
    for line, row in body:
        if len(row) != width:
            raise InputError(f"{path}:{line}: {len(row)} column(s) where {'the header' if header else 'line 1'} "
                             f"has {width}")
    return header, body


def table_rows(path: str, text: str, delimiter: str, quoting: str = "auto") -> List[Tuple[int, List[str]]]:
    """`(line, fields)` of each non-empty record of a CSV/TSV text, quotes read as `quoting` says (`auto`,
    `csv`, `none`: see the module docstring); `line` is the record's first line (1-based).

    Raises:
      InputError: `--quoting=csv` and a quote the `csv` module cannot read (naming the line).
    """
    if quoting not in QUOTING:
        raise InputError(f"--quoting={quoting}: expected one of {', '.join(QUOTING)}")
    if quoting != "none":
        rows, problem = _csv_quoted_rows(text, delimiter, multi_line_ok=quoting == "csv" or delimiter == ",")
        if problem is None:
            return rows
        if quoting == "csv":
            raise InputError(f"{path}:{problem[0]}: {problem[1]} (--quoting=none reads each line as it is)")
        logging.warning("%s:%d: %s: reading each line as it is, split on %s (--quoting=csv to read the quotes)",
                        path, problem[0], problem[1], "tabs" if delimiter == "\t" else repr(delimiter))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=csv.QUOTE_NONE)
    return [(reader.line_num, row) for row in reader if row]


def _csv_quoted_rows(text: str, delimiter: str, multi_line_ok: bool):
    """`(rows, None)` read with CSV quoting, or `(None, (line, why))` when the text is not CSV-quoted: a
    quote the strict `csv` reader refuses, or (unless `multi_line_ok`) a quoted field over several lines."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows = []
    first_line = 1
    try:
        for row in reader:
            if row:
                if not multi_line_ok and reader.line_num > first_line:
                    return None, (first_line, f"a quoted field runs over lines {first_line}-{reader.line_num}")
                rows.append((first_line, row))
            first_line = reader.line_num + 1
    except csv.Error as error:
        return None, (first_line, f"quotes that are not CSV-escaped ({error})")
    return rows, None


def _detected_header(text: str, rows, spec: ColumnSpec, kind: "LabelKind") -> bool:
    """Whether the first row of a file whose columns are indexes is a header: its label cell is not a label
    like the others (not a number for regression; a value no other row has); without a label column, what
    Python's `csv.Sniffer` says. A lone row is data."""
    if len(rows) < 2:
        return False
    column = spec.label
    if column is not None and all(-len(row) <= column < len(row) for _, row in rows[:2]):
        first, others = rows[0][1][column], [row[column] for _, row in rows[1:1001] if -len(row) <= column < len(row)]
        if kind.regression:
            return not _is_number(first) and all(_is_number(value) for value in others)
        split = (lambda value: set(value.split(kind.delimiter))) if kind.multi_label else (lambda value: {value})
        seen = set().union(*(split(value) for value in others))
        return not split(first) <= seen
    try:
        return csv.Sniffer().has_header(text[:20000])
    except csv.Error:
        return False


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def column_index(path: str, header: Optional[List[str]], column: Column, flag: str, width: int) -> Column:
    """The index (CSV/TSV) or key (JSON lines: `header` None and a dict row) a column flag names.

    Raises:
      InputError: a name not in the header (listing the header), or an index outside the rows.
    """
    if isinstance(column, int):
        if not -width <= column < width:
            raise InputError(f"{path}: --{flag}={column} is outside the {width} columns")
        return column
    if header is None:
        raise InputError(f"{path}: --{flag}={column} names a column but the file has no header row (pass "
                         "--header, or a 0-based index)")
    if column not in header:
        raise InputError(f"{path}:1: no column {column!r} (--{flag}); the header has {', '.join(header)}")
    return header.index(column)


@dataclasses.dataclass
class LabelKind:
    """How labels are read: one class (default), a float (`regression`), or several (`multi_label`)."""

    regression: bool = False
    multi_label: bool = False
    delimiter: str = ","

    def parse(self, value, where: str):
        """The label of one row: a string, a float, or a tuple of strings (multi-label: an empty cell or
        list is the empty set, a row with none of the labels); None for no value (single label: an empty cell)."""
        if value is None:
            return None
        if self.multi_label:
            if isinstance(value, dict) or (isinstance(value, list) and not all(
                    isinstance(part, (str, int)) and not isinstance(part, bool) for part in value)):
                raise InputError(f"{where}: labels {value!r} are not a list of names")
            parts = value if isinstance(value, list) else str(value).split(self.delimiter)
            return tuple(sorted({str(part).strip() for part in parts if str(part).strip()}))
        if isinstance(value, str) and not value.strip():
            return None
        if self.regression:
            try:
                score = float(value)
            except (TypeError, ValueError):
                raise InputError(f"{where}: regression label {value!r} is not a number") from None
            if not math.isfinite(score):
                raise InputError(f"{where}: regression label {value!r} is not finite")
            return score
        if isinstance(value, (list, dict)):
            raise InputError(f"{where}: label {value!r} is not one value (--multi_label for several)")
        return str(value).strip()


def read_examples(path: str, file_format: str, spec: ColumnSpec, kind: LabelKind, split: str,
                  require_labels: bool) -> List[InputExample]:
    """The examples of one file; see the module docstring.

    Raises:
      InputError: see the module docstring; also a missing label where labels are needed.
    """
    header, rows = read_table(path, file_format, spec, kind)
    if not rows:
        raise InputError(f"{path}: no rows")
    if file_format == "jsonl":
        keys = {"text_a": spec.text_a, "text_b": spec.text_b, "label": spec.label}
    else:
        width = len(rows[0][1])
        label = spec.label
        if not require_labels and isinstance(label, str) and header is not None and label not in header:
            label = None  # a test file without the label column
        keys = {name: None if column is None else column_index(path, header, column, f"{name}_column", width)
                for name, column in (("text_a", spec.text_a), ("text_b", spec.text_b), ("label", label))}
    examples = []
    for line, row in rows:
        values = {name: _cell(row, key, path, line, name, name != "label" or require_labels)
                  for name, key in keys.items() if key is not None}
        where = f"{path}:{line}"
        if not isinstance(values["text_a"], str) or not values["text_a"].strip():
            raise InputError(f"{where}: the text ({_describe(keys['text_a'])}) is empty")
        label = kind.parse(values.get("label"), f"{where} ({_describe(keys.get('label'))})")
        if label is None and require_labels:
            raise InputError(f"{where}: no label ({_describe(keys['label'])})")
        text_b = values.get("text_b")
        examples.append(InputExample(f"{split}-{line}", values["text_a"], text_b if text_b else None, label))
    return examples


def _cell(row, key: Column, path: str, line: int, name: str, required: bool):
    """A row's value at `key`; None when a JSON object lacks an optional key."""
    if isinstance(row, dict):
        if key not in row:
            if required:
                raise InputError(f"{path}:{line}: no key {key!r} (--{name}_column); the object has "
                                 f"{', '.join(sorted(row)) or 'no keys'}")
            return None
        value = row[key]
        return value if name == "label" or value is None or isinstance(value, str) else str(value)
    return row[key]


def _describe(key: Column) -> str:
    return f"column {key}" if isinstance(key, int) else f"column {key!r}"


def label_list_from(examples: Sequence[InputExample], kind: LabelKind) -> List[str]:
    """The sorted set of the training labels (each label of a multi-label row)."""
    labels = set()
    for example in examples:
        labels.update(example.label if kind.multi_label else [example.label])
    return sorted(labels)


def check_labels(examples: Sequence[InputExample], label_list: Sequence[str], kind: LabelKind, path: str) -> None:
    """Raises InputError at the first label outside `label_list` (classification and multi-label)."""
    known = set(label_list)
    for example in examples:
        labels = () if example.label is None else example.label if kind.multi_label else (example.label,)
        unknown = [label for label in labels if label not in known]
        if unknown:
            raise InputError(f"{path}:{example.guid.split('-')[-1]}: label {unknown[0]!r} is not in the label list "
                             f"({', '.join(label_list)})")


def write_label_list(folder: str, label_list: Sequence[str]) -> str:
    """`folder/label_list.txt`: one label per line, in id order; returns its path."""
    path = os.path.join(folder, LABEL_LIST_FILE)
    files.atomic_write_text(path, "".join(f"{label}\n" for label in label_list))
    return path


def read_label_list(folders: Sequence[Optional[str]]) -> Optional[Tuple[str, List[str]]]:
    """`(path, labels)` of the first `label_list.txt` in `folders`, or None."""
    gfile = files.tf_gfile()
    for folder in folders:
        path = os.path.join(folder, LABEL_LIST_FILE) if folder else None
        if path and gfile.exists(path):
            with gfile.GFile(path, "r") as reader:
                return path, [line.rstrip("\n") for line in reader if line.rstrip("\n")]
    return None


def describe_columns(spec: ColumnSpec) -> Dict[str, Optional[Column]]:
    """The column settings, for the feature cache's key."""
    return {"text_a": spec.text_a, "text_b": spec.text_b, "label": spec.label, "header": spec.header}


class UserFilesProcessor(DataProcessor):
    """`run_classifier.py --task=csv|tsv|jsonl`: your own files behind the GLUE processors' interface.

    Args:
      file_format: `csv`, `tsv` or `jsonl` (also the `task_name`).
      spec: the columns.
      kind: how labels are read (class, regression, multi-label).
      split_files: split -> an explicit file (`--train_file`, ...); the others are found in `data_dir`.
      labels: the label list in id order (`--label_list`), or empty until `set_labels`.
    """

    def __init__(self, file_format: str, spec: ColumnSpec, kind: LabelKind,
                 split_files: Optional[Dict[str, Optional[str]]] = None, labels: Sequence[str] = ()):
        if file_format not in FORMATS:
            raise InputError(f"--task={file_format}: your own files are csv, tsv or jsonl")
        if kind.regression and kind.multi_label:
            raise InputError("--regression and --multi_label exclude each other")
        self.task_name = file_format
        self.spec = spec
        self.kind = kind
        self.is_regression = kind.regression
        self.is_multi_label = kind.multi_label
        self.split_files = dict(split_files or {})
        self.set_labels(labels)

    def set_labels(self, labels: Sequence[str]) -> None:
        """Sets the label list (id order) and the metrics it gives (binary: accuracy and F1 of the second)."""
        self.labels = tuple(str(label) for label in labels)
        if self.is_regression:
            self.metric_names = ("eval_pearson", "eval_spearman")
        else:
            self.metric_names = ("eval_accuracy", "eval_f1") if len(self.labels) == 2 else ("eval_accuracy",)

    @property
    def has_text_b(self) -> bool:
        """Whether examples may have a second text."""
        return self.spec.text_b is not None

    def placeholder_label(self):
        """The label of a test row without one: 0.0 (regression), no label (multi-label), the first label."""
        if self.is_regression:
            return 0.0
        return () if self.is_multi_label else self.labels[0]

    def split_path(self, data_dir: str, split: str) -> str:
        return split_file(data_dir, self.task_name, split, self.split_files.get(split))

    def _read_split(self, data_dir: str, split: str) -> List[InputExample]:
        path = self.split_path(data_dir, split)
        examples = read_examples(path, self.task_name, self.spec, self.kind, split,
                                 require_labels=split != "test" and self.spec.label is not None)
        if self.labels and not self.is_regression:
            check_labels(examples, self.labels, self.kind, path)
        for example in examples:
            if example.label is None:
                example.label = self.placeholder_label()
        return examples
