"""Multiple-choice files: SWAG's CSV and generic JSON lines -> `MultipleChoiceExample`s.

* SWAG CSV (`train.csv`, `val.csv`, `test.csv`): a header naming at least `sent1`, `sent2` and `ending0`,
  `ending1`, ... (the released files: `,video-id,fold-ind,startphrase,sent1,sent2,gold-source,ending0..3,
  label`; the test file has no `label`). Each choice is the pair (`sent1`, `sent2 + " " + ending_i`), as
  in the BERT paper's SWAG set-up. Quoting as Python's `csv` module; UTF-8 with or without a BOM.
* JSON lines (`train.jsonl`, `val.jsonl` or `dev.jsonl`, `test.jsonl`): one object per line,
  `{"context": str, "choices": [str, ...], "label": int}` (each choice the whole second segment), or
  SWAG's keys (`sent1`, `sent2`, `ending0`, ...: Hugging Face's SWAG files); `label` absent in a test file.

A question may have any number of choices from 2 up; a file whose questions have different counts is
padded to its largest count (the padding choices are masked out: probability 0). Every problem is an
`InputError` naming the file and line: a missing column or key, a row of another width, an empty context or
choice, fewer than 2 choices, a label that is not one of the question's choice indexes, a missing label
where labels are needed, invalid UTF-8 or JSON.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
from typing import Dict, List, Optional, Sequence

from bert_tf import files
from bert_tf.errors import InputError

SPLIT_FILES = {
    "train": ("train.csv", "train.jsonl"),
    "dev": ("val.csv", "val.jsonl", "dev.csv", "dev.jsonl"),
    "test": ("test.csv", "test.jsonl"),
}
MIN_CHOICES = 2
_ENDING = re.compile(r"^ending(\d+)$")


@dataclasses.dataclass
class MultipleChoiceExample:
    """One question.

    Attributes:
      guid: `<split>-<line number>`.
      context: the first segment of every pair (SWAG: `sent1`).
      choices: each choice's second segment (SWAG: `sent2 + " " + ending_i`).
      label: the index of the right choice; None in a file without labels.
    """

    guid: str
    context: str
    choices: List[str]
    label: Optional[int] = None


def find_split_file(data_dir: str, split: str) -> str:
    """The file of `split` (`train`, `dev`, `test`) in `data_dir` (`SPLIT_FILES`).

    Raises:
      InputError: none of the names exists, or two do (which one is meant is unclear).
    """
    gfile = files.tf_gfile()
    found = [os.path.join(data_dir, name) for name in SPLIT_FILES[split] if gfile.exists(os.path.join(data_dir, name))]
    if not found:
        raise InputError(f"--data_dir {data_dir}: no {' or '.join(SPLIT_FILES[split])}")
    if len(found) > 1:
        raise InputError(f"--data_dir {data_dir} holds {' and '.join(os.path.basename(path) for path in found)}: "
                         f"keep one {split} file")
    return found[0]


def _label(value, num_choices: int, where: str) -> int:
    """A label value (an int, or a string of one) checked against the choice count."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{where}: label {value!r} is not a choice index (an integer)")
    if not 0 <= value < num_choices:
        raise InputError(f"{where}: label {value} is outside the question's {num_choices} choices "
                         f"(0..{num_choices - 1})")
    return value


def _example(guid: str, context, choices: Sequence, label, where: str) -> MultipleChoiceExample:
    """Checks one question's texts and label; `label` None when the file has none."""
    if not isinstance(context, str):
        raise InputError(f"{where}: the context is not a string")
    if not context.strip():
        raise InputError(f"{where}: the context is empty")
    if len(choices) < MIN_CHOICES:
        raise InputError(f"{where}: {len(choices)} choice(s); a question needs at least {MIN_CHOICES}")
    for index, choice in enumerate(choices):
        if not isinstance(choice, str):
            raise InputError(f"{where}: choice {index} is not a string")
        if not choice.strip():
            raise InputError(f"{where}: choice {index} is empty")
    return MultipleChoiceExample(guid, context, list(choices),
                                 None if label is None else _label(label, len(choices), where))


def _swag_choices(record: Dict[str, str], endings: Sequence[str]) -> List[str]:
    """SWAG's second segments: `sent2 + " " + ending_i` (an empty ending stays empty: refused later)."""
    return [f"{record['sent2']} {record[name]}" if record[name].strip() else "" for name in endings]


def _ending_names(names: Sequence[str]) -> List[str]:
    return sorted((name for name in names if _ENDING.match(name)), key=lambda name: int(_ENDING.match(name)[1]))


def read_swag_csv(path: str, split: str) -> List[MultipleChoiceExample]:
    """The questions of a SWAG-format CSV file (see the module docstring)."""
    rows = csv.reader(io.StringIO(files.read_text_file(path), newline=""))
    header = next(rows, None)
    if header is None:
        raise InputError(f"{path}: the file is empty")
    endings = _ending_names(header)
    missing = [name for name in ("sent1", "sent2") if name not in header]
    missing += [] if endings else ["ending0, ending1, ..."]
    if missing:
        raise InputError(f"{path}:1: the header has no {', '.join(missing)} column (found {', '.join(header)})")
    has_label = "label" in header
    examples = []
    for row in rows:
        line = rows.line_num
        if not row:
            continue
        if len(row) != len(header):
            raise InputError(f"{path}:{line}: {len(row)} columns where the header has {len(header)}")
        record = dict(zip(header, row))
        where = f"{path}:{line}"
        examples.append(_example(f"{split}-{line}", record["sent1"], _swag_choices(record, endings),
                                 record["label"] if has_label else None, where))
    return examples


def read_jsonl(path: str, split: str) -> List[MultipleChoiceExample]:
    """The questions of a JSON-lines file: generic (`context`, `choices`, `label`) or SWAG's keys."""
    examples = []
    for line, record in files.json_objects(path, files.read_text_file(path)):
        where = f"{path}:{line}"
        if "choices" in record:
            context, choices = record.get("context"), record["choices"]
            if not isinstance(choices, list):
                raise InputError(f"{where}: \"choices\" must be a list of strings")
        elif "sent1" in record and _ending_names(record):
            if not isinstance(record.get("sent2", ""), str):
                raise InputError(f"{where}: \"sent2\" must be a string")
            record.setdefault("sent2", "")
            context, choices = record["sent1"], _swag_choices(record, _ending_names(record))
        else:
            raise InputError(f"{where}: expected the keys \"context\" and \"choices\" (or SWAG's sent1, sent2, "
                             f"ending0, ...); found {', '.join(sorted(record)) or 'none'}")
        examples.append(_example(f"{split}-{line}", context, choices, record.get("label"), where))
    return examples


def read_split(path: str, split: str, require_labels: bool) -> List[MultipleChoiceExample]:
    """The questions of `path` (`.csv`: SWAG; anything else: JSON lines).

    Raises:
      InputError: the file has no question, or (`require_labels`) a question without a label.
    """
    reader = read_swag_csv if path.lower().endswith(".csv") else read_jsonl
    examples = reader(path, split)
    if not examples:
        raise InputError(f"{path}: no questions")
    if require_labels:
        unlabeled = next((example for example in examples if example.label is None), None)
        if unlabeled is not None:
            raise InputError(f"{path}:{unlabeled.guid.split('-')[-1]}: no label; training and evaluation need "
                             "the right choice of every question")
    return examples
