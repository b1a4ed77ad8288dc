"""`encode.py` input: the texts of a text file (one per line), a JSON-lines file (a field) or a TSV file (a column).

* Text lines: every line is a text, empty lines included (their vector is the empty text's); lines end at `\\n`
  (a `\\r` before it is dropped); a final newline does not start another text.
* JSON lines (`text_field`, or a `.jsonl`/`.json` name with the field `text`): one object per non-blank line;
  the field must hold a string.
* TSV (`column`): tab-separated columns, no quoting; `column` is a header name (the first line is then the
  header) or a 0-based index (every line is a row).

The file must be UTF-8 (a leading byte-order mark is dropped). Every problem is an `InputError` naming the file
and the line.
"""
from __future__ import annotations

import os
from typing import List, Optional

from bert_tf import files
from bert_tf.errors import InputError

TEXT, JSONL, TSV = "text", "jsonl", "tsv"
DEFAULT_TEXT_FIELD = "text"


def input_format(path: str, text_field: Optional[str] = None, column: Optional[str] = None) -> str:
    """`text`, `jsonl` or `tsv`: `column` means TSV, `text_field` JSON lines, else the file's extension decides
    (`.jsonl`/`.json`: JSON lines; `.tsv` needs `column`; anything else: text lines).

    Raises:
      InputError: both `text_field` and `column`, or a `.tsv` file without `column`.
    """
    if text_field and column is not None and str(column) != "":
        raise InputError("give --text_field (JSON lines) or --column (TSV), not both")
    if column is not None and str(column) != "":
        return TSV
    if text_field:
        return JSONL
    extension = os.path.splitext(str(path))[1].lower()
    if extension in (".jsonl", ".json"):
        return JSONL
    if extension == ".tsv":
        raise InputError(f"--input_file {path} is a TSV file: give --column (a header name or a 0-based index)")
    return TEXT


def _lines(text: str) -> List[str]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def _tsv_column(path: str, lines: List[str], column: str) -> List[str]:
    column = str(column).strip()
    if column.lstrip("-").isdigit():
        index, first_row = int(column), 0
        if index < 0:
            raise InputError(f"--column={column}: a column index counts from 0")
        where = f"column {index}"
    else:
        if not lines:
            return []
        header = lines[0].split("\t")
        if column not in header:
            raise InputError(f"{path}:1: no column {column!r} in the header (columns: {', '.join(header)})")
        index, first_row = header.index(column), 1
        where = f"column {column!r} (index {index})"
    texts = []
    for line_number, line in enumerate(lines[first_row:], start=first_row + 1):
        columns = line.split("\t")
        if index >= len(columns):
            raise InputError(f"{path}:{line_number}: {len(columns)} column(s); --column reads {where}")
        texts.append(columns[index])
    return texts


def _jsonl_field(path: str, text: str, field: str) -> List[str]:
    texts = []
    for line_number, record in files.json_objects(path, text):
        if field not in record:
            raise InputError(f"{path}:{line_number}: no field {field!r} (fields: {', '.join(sorted(record))}); "
                             "choose it with --text_field")
        value = record[field]
        if not isinstance(value, str):
            raise InputError(f"{path}:{line_number}: field {field!r} holds a {type(value).__name__}, not a string")
        texts.append(value)
    return texts


def read_texts(path: str, text_field: Optional[str] = None, column: Optional[str] = None) -> List[str]:
    """The texts of `path`, in file order (see the module docstring for the formats).

    Raises:
      InputError: a missing or unreadable file, bytes that are not UTF-8 (`path:line: not UTF-8 text`), a
        missing column or field, a line that is not a JSON object.
    """
    path = os.fspath(path)
    if files.tf_gfile().isdir(path):
        raise InputError(f"--input_file {path} is a folder, not a file")
    kind = input_format(path, text_field, column)
    text = files.read_text_file(path)
    if kind == JSONL:
        return _jsonl_field(path, text, text_field or DEFAULT_TEXT_FIELD)
    if kind == TSV:
        return _tsv_column(path, _lines(text), column)
    return _lines(text)
