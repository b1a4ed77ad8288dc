"""GLUE / XNLI task readers for `run_classifier.py`.

Each task has a processor that turns the task's TSV files, laid out as the GLUE download script (and the
original google-research/bert `run_classifier.py`) expects, into `InputExample` objects::

    <data_dir>/train.tsv, dev.tsv, test.tsv           most tasks
    <data_dir>/dev_matched.tsv, test_matched.tsv      MNLI (`mnli`)
    <data_dir>/dev_mismatched.tsv, test_mismatched.tsv  MNLI (`mnli-mm`)
    <data_dir>/multinli/multinli.train.<lang>.tsv, xnli.dev.tsv, xnli.test.tsv   XNLI

GLUE files contain unescaped double quotes, so rows are split on tabs only (never with a CSV quote parser).
A leading UTF-8 byte-order mark (MRPC has one) is removed. Unlabelled test splits get the first label of
the task as a placeholder label, like the original (`0.0` for the regression task STS-B).

Bad input raises `ValueError` naming the file and the 1-based line number: a row whose column count differs
from the header's (or from the fixed count of a header-less file), an unknown label, or an unparsable
regression score. A missing data file raises `FileNotFoundError`; an empty one `ValueError`.
"""
import dataclasses
import math
import os
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

_UTF8_BOM = "\ufeff"

Label = Union[str, float, None]


@dataclasses.dataclass
class InputExample:
    """One sequence-classification example.

    Attributes:
      guid: unique id, `"<split>-<0-based line index>"`.
      text_a: first (or only) text, untokenized.
      text_b: second text for pair tasks, else None.
      label: a label string from `get_labels()` for classification tasks, a float for regression
        tasks; None is allowed only for examples that are not fed to `convert_examples_to_features`.
    """

    guid: str
    text_a: str
    text_b: Optional[str] = None
    label: Label = None


@dataclasses.dataclass(frozen=True)
class TsvLayout:
    """Where a split's file lives and which columns hold what.

    Attributes:
      file_name: path of the file relative to `data_dir`.
      has_header: whether the first line is a header (skipped). With a header, every row must have the
        header's number of columns.
      text_a_column: 0-based column of `text_a`.
      text_b_column: 0-based column of `text_b`, or None for single-sentence tasks.
      label_column: 0-based column of the label (negative counts from the end), or None for an unlabelled
        split (the placeholder label is used).
      num_columns: required number of columns per row for a header-less file (ignored with a header).
    """

    file_name: str
    has_header: bool
    text_a_column: int
    text_b_column: Optional[int]
    label_column: Optional[int]
    num_columns: Optional[int] = None


def _open_binary(path: str):
    """Opens `path` for binary reading; remote paths (`gs://` etc.) go through `tf.io.gfile`."""
    if "://" in path:
        import tensorflow as tf  # Only needed for remote file systems.

        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(f"GLUE data file not found: {path}")
        return tf.io.gfile.GFile(path, "rb")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"GLUE data file not found: {path}")
    return open(path, "rb")


def iter_tsv_rows(path: str) -> Iterator[Tuple[int, List[str]]]:
    """Yields `(line_number, columns)` for each line of a tab-separated file.

    Lines are split on `\\n` only and columns on `\\t` only (no quote handling); a trailing `\\r` is
    removed, as is a UTF-8 BOM at the start of the file. `line_number` is 1-based. Empty lines at the end
    of the file are ignored.

    Raises:
      FileNotFoundError: `path` does not exist.
      ValueError: the file is empty, or a line is not valid UTF-8 (naming the file and line).
    """
    path = os.fspath(path)
    pending_blank_lines: List[int] = []
    saw_any_line = False
    with _open_binary(path) as data_file:
        for line_number, raw_line in enumerate(data_file, start=1):
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(f"{path}:{line_number}: not valid UTF-8 ({error})") from None
            if line_number == 1 and line.startswith(_UTF8_BOM):
                line = line[len(_UTF8_BOM):]
            line = line.rstrip("\n").rstrip("\r")
            saw_any_line = True
            if not line:
                pending_blank_lines.append(line_number)
                continue
            for blank_line_number in pending_blank_lines:
                # A blank line followed by more data is a malformed (one-column) row.
                yield blank_line_number, [""]
            pending_blank_lines = []
            yield line_number, line.split("\t")
    if not saw_any_line:
        raise ValueError(f"GLUE data file is empty: {path}")


class DataProcessor:
    """Base class of the task readers.

    Attributes:
      task_name: canonical lower-case task name (a key of `PROCESSORS`).
      is_regression: True for tasks with one float output (STS-B); labels are then floats.
      metric_names: keys of the dict returned by `metrics.glue_metrics` for this task, main metric first.
      split_layouts: `{"train"|"dev"|"test": TsvLayout}` for the splits this task has.
    """

    task_name: str = ""
    is_regression: bool = False
    metric_names: Tuple[str, ...] = ("eval_accuracy",)
    labels: Tuple[str, ...] = ()
    score_range: Optional[Tuple[float, float]] = None  # regression tasks: the valid label range
    split_layouts: Dict[str, TsvLayout] = {}

    def get_train_examples(self, data_dir: str) -> List[InputExample]:
        """Training examples from `data_dir`."""
        return self._read_split(data_dir, "train")

    def get_dev_examples(self, data_dir: str) -> List[InputExample]:
        """Development (evaluation) examples from `data_dir`."""
        return self._read_split(data_dir, "dev")

    def get_test_examples(self, data_dir: str) -> List[InputExample]:
        """Test (prediction) examples from `data_dir`; unlabelled splits carry a placeholder label."""
        return self._read_split(data_dir, "test")

    def get_labels(self) -> List[Label]:
        """The label list; a label's index is its class id. `[None]` for regression tasks."""
        if self.is_regression:
            return [None]
        return list(self.labels)

    @property
    def num_labels(self) -> int:
        """Number of model outputs: 1 for regression, else the number of labels."""
        return len(self.get_labels())

    def placeholder_label(self) -> Label:
        """The label given to examples of unlabelled splits: the first label (0.0 for regression)."""
        return 0.0 if self.is_regression else self.labels[0]

    def split_path(self, data_dir: str, split: str) -> str:
        """The file that holds `split` ("train", "dev" or "test") under `data_dir`."""
        return os.path.join(os.fspath(data_dir), self._layout(split).file_name)

    # Hooks for tasks that need more than a column layout.

    def _keep_row(self, split: str, columns: Sequence[str]) -> bool:
        """Whether a (well-formed) data row becomes an example."""
        del split, columns
        return True

    def _normalize_label(self, label: str) -> str:
        """Maps a raw label string to one of `self.labels` (before validation)."""
        return label

    def _split_guid_prefix(self, split: str) -> str:
        return split

    # Reading.

    def _layout(self, split: str) -> TsvLayout:
        try:
            return self.split_layouts[split]
        except KeyError:
            raise NotImplementedError(f"task {self.task_name!r} has no {split!r} split") from None

    def _parse_label(self, raw_label: str, path: str, line_number: int) -> Label:
        if self.is_regression:
            try:
                score = float(raw_label)
            except ValueError:
                raise ValueError(
                    f"{path}:{line_number}: regression label {raw_label!r} is not a number") from None
            if not math.isfinite(score):
                raise ValueError(f"{path}:{line_number}: regression label {raw_label!r} is not finite")
            if self.score_range is not None and not self.score_range[0] <= score <= self.score_range[1]:
                raise ValueError(f"{path}:{line_number}: score {raw_label} is outside {self.score_range[0]:g}.."
                                 f"{self.score_range[1]:g}, the task's range")
            return score
        label = self._normalize_label(raw_label)
        if label not in self.labels:
            raise ValueError(
                f"{path}:{line_number}: unknown label {raw_label!r} for task {self.task_name!r} "
                f"(expected one of {list(self.labels)})")
        return label

    def _read_split(self, data_dir: str, split: str) -> List[InputExample]:
        layout = self._layout(split)
        path = self.split_path(data_dir, split)
        used_columns = [layout.text_a_column]
        if layout.text_b_column is not None:
            used_columns.append(layout.text_b_column)
        if layout.label_column is not None:
            used_columns.append(layout.label_column)
        columns_needed = max(column + 1 if column >= 0 else -column for column in used_columns)

        expected_columns = layout.num_columns
        prefix = self._split_guid_prefix(split)
        examples: List[InputExample] = []
        for line_number, columns in iter_tsv_rows(path):
            if layout.has_header and expected_columns is None:
                expected_columns = len(columns)
                if expected_columns < columns_needed:
                    raise ValueError(
                        f"{path}:{line_number}: header has {expected_columns} columns but task "
                        f"{self.task_name!r} reads {columns_needed} ({split} split)")
                continue
            if expected_columns is None:
                expected_columns = columns_needed
            if len(columns) != expected_columns:
                raise ValueError(
                    f"{path}:{line_number}: malformed row: expected {expected_columns} tab-separated "
                    f"columns, found {len(columns)}")
            if not self._keep_row(split, columns):
                continue
            if layout.label_column is None:
                label = self.placeholder_label()
            else:
                label = self._parse_label(columns[layout.label_column], path, line_number)
            text_b = columns[layout.text_b_column] if layout.text_b_column is not None else None
            examples.append(InputExample(
                guid=f"{prefix}-{line_number - 1}",
                text_a=columns[layout.text_a_column],
                text_b=text_b,
                label=label))
        if not examples:
            raise ValueError(f"GLUE data file has no examples: {path}")
        return examples


_BINARY = ("0", "1")
_NLI_3WAY = ("contradiction", "entailment", "neutral")
_ENTAILMENT_2WAY = ("entailment", "not_entailment")


def _sentence_pair_layouts(labels_at: int = 3) -> Dict[str, TsvLayout]:
    """`index  sentence1  sentence2  label` with header (RTE, WNLI, QNLI); test has no label column."""
    return {
        "train": TsvLayout("train.tsv", True, 1, 2, labels_at),
        "dev": TsvLayout("dev.tsv", True, 1, 2, labels_at),
        "test": TsvLayout("test.tsv", True, 1, 2, None),
    }


class ColaProcessor(DataProcessor):
    """CoLA: `source  label  original_label  sentence`, no header; test: `index  sentence` with header."""

    task_name = "cola"
    labels = _BINARY
    metric_names = ("eval_mcc", "eval_accuracy")
    split_layouts = {
        "train": TsvLayout("train.tsv", False, 3, None, 1, num_columns=4),
        "dev": TsvLayout("dev.tsv", False, 3, None, 1, num_columns=4),
        "test": TsvLayout("test.tsv", True, 1, None, None),
    }


class Sst2Processor(DataProcessor):
    """SST-2: `sentence  label` with header; test: `index  sentence`."""

    task_name = "sst-2"
    labels = _BINARY
    split_layouts = {
        "train": TsvLayout("train.tsv", True, 0, None, 1),
        "dev": TsvLayout("dev.tsv", True, 0, None, 1),
        "test": TsvLayout("test.tsv", True, 1, None, None),
    }


class MrpcProcessor(DataProcessor):
    """MRPC: `Quality  #1 ID  #2 ID  #1 String  #2 String` with header; test has `index` for Quality."""

    task_name = "mrpc"
    labels = _BINARY
    metric_names = ("eval_accuracy", "eval_f1")
    split_layouts = {
        "train": TsvLayout("train.tsv", True, 3, 4, 0),
        "dev": TsvLayout("dev.tsv", True, 3, 4, 0),
        "test": TsvLayout("test.tsv", True, 3, 4, None),
    }


class StsbProcessor(DataProcessor):
    """STS-B (regression): `index genre filename year old_index source1 source2 sentence1 sentence2 score`."""

    task_name = "sts-b"
    is_regression = True
    score_range = (0.0, 5.0)
    metric_names = ("eval_pearson", "eval_spearman")
    split_layouts = {
        "train": TsvLayout("train.tsv", True, 7, 8, -1),
        "dev": TsvLayout("dev.tsv", True, 7, 8, -1),
        "test": TsvLayout("test.tsv", True, 7, 8, None),
    }


class QqpProcessor(DataProcessor):
    """QQP: `id  qid1  qid2  question1  question2  is_duplicate`; test: `id  question1  question2`."""

    task_name = "qqp"
    labels = _BINARY
    metric_names = ("eval_accuracy", "eval_f1")
    split_layouts = {
        "train": TsvLayout("train.tsv", True, 3, 4, 5),
        "dev": TsvLayout("dev.tsv", True, 3, 4, 5),
        "test": TsvLayout("test.tsv", True, 1, 2, None),
    }


class MnliProcessor(DataProcessor):
    """MNLI matched: sentence1/sentence2 in columns 8/9, `gold_label` last; dev/test `*_matched.tsv`."""

    task_name = "mnli"
    labels = _NLI_3WAY
    split_layouts = {
        "train": TsvLayout("train.tsv", True, 8, 9, -1),
        "dev": TsvLayout("dev_matched.tsv", True, 8, 9, -1),
        "test": TsvLayout("test_matched.tsv", True, 8, 9, None),
    }


class MnliMismatchedProcessor(MnliProcessor):
    """MNLI mismatched: as MNLI but dev/test from `dev_mismatched.tsv` / `test_mismatched.tsv`."""

    task_name = "mnli-mm"
    split_layouts = {
        "train": TsvLayout("train.tsv", True, 8, 9, -1),
        "dev": TsvLayout("dev_mismatched.tsv", True, 8, 9, -1),
        "test": TsvLayout("test_mismatched.tsv", True, 8, 9, None),
    }


class QnliProcessor(DataProcessor):
    """QNLI: `index  question  sentence  label` with header."""

    task_name = "qnli"
    labels = _ENTAILMENT_2WAY
    split_layouts = _sentence_pair_layouts()


class RteProcessor(DataProcessor):
    """RTE: `index  sentence1  sentence2  label` with header."""

    task_name = "rte"
    labels = _ENTAILMENT_2WAY
    split_layouts = _sentence_pair_layouts()


class WnliProcessor(DataProcessor):
    """WNLI: `index  sentence1  sentence2  label` (0/1) with header."""

    task_name = "wnli"
    labels = _BINARY
    split_layouts = _sentence_pair_layouts()


class XnliProcessor(DataProcessor):
    """XNLI for one language (default `zh` like the original).

    train: `multinli/multinli.train.<language>.tsv` (`premise  hypo  label`, label "contradictory" read as
    "contradiction"); dev/test: `xnli.dev.tsv` / `xnli.test.tsv` (`language  gold_label ...
    sentence1 (col 6)  sentence2 (col 7) ...`), keeping only rows of `language`. The XNLI test file is
    labelled, so test examples keep their gold labels.
    """

    task_name = "xnli"
    labels = _NLI_3WAY

    def __init__(self, language: str = "zh"):
        self.language = language
        self.split_layouts = {
            "train": TsvLayout(os.path.join("multinli", f"multinli.train.{language}.tsv"), True, 0, 1, 2),
            "dev": TsvLayout("xnli.dev.tsv", True, 6, 7, 1),
            "test": TsvLayout("xnli.test.tsv", True, 6, 7, 1),
        }

    def _keep_row(self, split: str, columns: Sequence[str]) -> bool:
        return split == "train" or columns[0] == self.language

    def _normalize_label(self, label: str) -> str:
        return "contradiction" if label == "contradictory" else label


PROCESSORS = {
    "cola": ColaProcessor,
    "sst-2": Sst2Processor,
    "sst2": Sst2Processor,
    "mrpc": MrpcProcessor,
    "sts-b": StsbProcessor,
    "stsb": StsbProcessor,
    "qqp": QqpProcessor,
    "mnli": MnliProcessor,
    "mnli-mm": MnliMismatchedProcessor,
    "qnli": QnliProcessor,
    "rte": RteProcessor,
    "wnli": WnliProcessor,
    "xnli": XnliProcessor,
}


# The folder of each task in the GLUE download (`$GLUE_DIR/<folder>`).
GLUE_FOLDERS = {"cola": "CoLA", "sst-2": "SST-2", "mrpc": "MRPC", "sts-b": "STS-B", "qqp": "QQP", "mnli": "MNLI",
                "mnli-mm": "MNLI", "qnli": "QNLI", "rte": "RTE", "wnli": "WNLI", "xnli": "XNLI"}


def get_processor(task_name: str) -> DataProcessor:
    """A new processor for `task_name` (case-insensitive, e.g. "MRPC", "sts-b", "MNLI-MM").

    Raises:
      ValueError: unknown task, listing the known ones.
    """
    key = str(task_name).strip().lower()
    if key not in PROCESSORS:
        raise ValueError(f"unknown GLUE task {task_name!r}; known tasks: {', '.join(sorted(PROCESSORS))}")
    return PROCESSORS[key]()
