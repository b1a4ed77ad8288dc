"""The one Task protocol: what a fine-tuning task declares, so that one driver can run any of them.

A task is a `Task` subclass in `bert_tf/tasks/<task>/task.py`, registered by name (`register`,
`get_task`), with its settings in a `TaskConfig` subclass. `bert_tf.tasks.driver.run(task)` does
everything else, the same way for every task: the checks, the model files, the strategy, training or the
restore for prediction, the `output_dir` claim, the feature cache, evaluation, prediction, the export.

What a task provides, in the order the driver uses it:

| member | what |
|---|---|
| `name`, `config_type`, `modes` | registry name; its `TaskConfig` subclass; the modes it has |
| `head_variables`, `head_name` | the head's checkpoint names; what messages call it |
| `check_config()` | its own flags (the shared ones are checked by the driver) |
| `read_inputs(tokenizer)` | every split the modes need, read and converted: `{"train": Split, ...}` |
| `record_layout(split, training)`, `write_records(split, path, num_padding)` | its TFRecords |
| `build_model(bert_config, dtype_policy)`, `loss(outputs, labels, features)` | model and per-example loss |
| `evaluate(split, prediction, global_step, write_dir)` | `eval_results.txt` values (and its own files) |
| `predict(split, prediction, global_step, write_dir)` | its prediction files (and scores when the file has answers) |
| `export(model, export_dir, **serving_options)` | its SavedModel |

`read_inputs` and `build_model` are required; a hook the task does not need keeps its default (an inference-only
task has no `loss`; a task without an export sets `has_export = False`).

Each `bert_tf/tasks/<task>/` package has the same files with the same meanings: `examples.py` (the task's
input files -> examples, pure Python), `features.py` (examples -> model features, their TFRecord layout
and writer), `predictions.py` (model outputs -> predictions -> the prediction files), `metrics.py` (scores,
where the task has them) and `task.py` (the `Task`: config, model, loss, wiring, export).
"""
from __future__ import annotations

import abc
import dataclasses
import importlib
import os
from typing import Any, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple, Type

from bert_tf.errors import InputError
from bert_tf.training.run_options import FineTuningOptions, ModelFiles, RunOptions

SPLITS = ("train", "dev", "test")
# The cached feature file of each split in `output_dir` (the original scripts' names).
FEATURE_FILES = {"train": "train.tf_record", "dev": "eval.tf_record", "test": "predict.tf_record"}


@dataclasses.dataclass(kw_only=True)
class TaskConfig:
    """What every fine-tuning run is given; a task's config adds its own fields (all keyword-only).

    Attributes:
      model: the model files (`--bert_dir` or the original flags): config, vocabulary, checkpoint, casing.
      options: output folder, strategy, dtype, checkpoint cadence, export (shared by every script).
      recipe: batch sizes, learning rate, epochs, warmup.
      max_seq_length: word pieces per sequence, `[CLS]` and `[SEP]` included.
      do_train, do_eval, do_predict: the original's three modes.
      pad_to_max_length: pad every batch to max_seq_length instead of its longest example (always on TPUs).
      group_by_length: train on batches of similar-length examples (`bert_tf.training.batching`).
    """

    model: ModelFiles
    options: RunOptions
    recipe: FineTuningOptions = dataclasses.field(default_factory=FineTuningOptions)
    max_seq_length: int = 128
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    pad_to_max_length: bool = False
    group_by_length: bool = False


@dataclasses.dataclass
class Split:
    """One data split, read and converted: what the driver caches, batches and hands back for decoding.

    Attributes:
      name: `train`, `dev` or `test`.
      source_files: the files it was read from (their digests key the feature cache).
      examples: the task's examples, in file order (what predictions are decoded against).
      features: the task's features when they are made before the records are written (e.g. windows a
        prediction is decoded from); None when `write_records` converts the examples itself (a large
        training set is then converted only when its cache is stale).
      num_examples: how many examples count for the training schedule (`num_train_steps =
        int(num_examples / train_batch_size * num_train_epochs)`).
      num_records: records of the feature file (without padding) when known before writing it; needed
        to pad evaluation and prediction to whole batches on TPUs.
      data: the task's parsed form of the file when decoding needs more than the examples (NER: the
        `ConllFile` with its document breaks; SQuAD: the json articles the official scores read).
    """

    name: str
    source_files: Sequence[str]
    examples: Sequence[Any]
    features: Optional[Sequence[Any]] = None
    num_examples: int = 0
    num_records: Optional[int] = None
    data: Any = None


@dataclasses.dataclass
class PredictOutcome:
    """What a task made of one split's model outputs.

    Attributes:
      files: file name -> path of each file written.
      results: scores, when the split could be scored (None otherwise).
      results_file: the file name the driver writes `results` to (`eval_results.txt`, `test_results.txt`).
      decoded: the task's decoded predictions (e.g. answers by question id, labels per word).
    """

    files: Dict[str, str] = dataclasses.field(default_factory=dict)
    results: Optional[Dict[str, float]] = None
    results_file: Optional[str] = None
    decoded: Any = None


class Task(abc.ABC):
    """A task; see the module docstring for what a subclass provides.

    Args:
      config: an instance of the task's `config_type`.

    Class attributes:
      name: the registry name (`classification`, `squad`, `ner`, `multiple_choice`, ...).
      config_type: the task's `TaskConfig` subclass.
      modes: the `TaskConfig` modes the task has (the driver refuses the others with one line).
      head_variables: the checkpoint names of the task's head: new (randomly initialized) when fine-tuning
        starts from a pretrained checkpoint, required in a checkpoint used to predict or export.
      head_name: what error messages call the head (`classifier`, `SQuAD`, ...).
      output_keys: the model outputs prediction collects.
      sequence_outputs: outputs with a sequence axis (axis 1) -> the value they are padded with to
        `max_seq_length`, so that batches of different lengths stack.
      shuffle_buffer_size: records in the training shuffle buffer.
      feature_files: split -> the file name of its cached features in `output_dir`.
      min_seq_length: the smallest `max_seq_length` that holds an example (`[CLS] a [SEP] b [SEP]`: 3).
      has_export: whether `export` writes a SavedModel (`--export_dir`).
      uses_output_dir: the run owns `output_dir` (checkpoints, cached features, results); False for a task
        that only writes its predictions to a file of its own (feature extraction).
      streams_predictions: `predict_stream` converts, runs and writes the test split batch by batch (no
        feature file, constant memory) instead of `predict` receiving every output at once.
      monitor_split: `(split, mode flag)`: what `--eval_every_steps` evaluates (`monitor_results`) and the
        mode that reads it: the dev split (`do_eval`), or SQuAD's predict file with answers (`do_predict`).
    """

    name: ClassVar[str]
    config_type: ClassVar[Type[TaskConfig]]
    modes: ClassVar[Tuple[str, ...]] = ("do_train", "do_eval", "do_predict")
    head_variables: ClassVar[Tuple[str, ...]] = ()
    head_name: ClassVar[str] = "task"
    output_keys: ClassVar[Tuple[str, ...]] = ("logits",)
    sequence_outputs: ClassVar[Mapping[str, float]] = {}
    shuffle_buffer_size: ClassVar[int] = 100
    feature_files: ClassVar[Mapping[str, str]] = FEATURE_FILES
    min_seq_length: ClassVar[int] = 3
    has_export: ClassVar[bool] = True
    uses_output_dir: ClassVar[bool] = True
    streams_predictions: ClassVar[bool] = False
    monitor_split: ClassVar[Tuple[str, str]] = ("dev", "do_eval")

    def __init__(self, config: TaskConfig):
        if not isinstance(config, self.config_type):
            raise TypeError(f"{type(self).__name__} needs a {self.config_type.__name__}, got {type(config).__name__}")
        self.config = config
        self.tokenizer = None  # the `FullTokenizer` `read_inputs` receives, for `write_records`

    # -- identity and checks --------------------------------------------------------------------------
    @property
    def run_name(self) -> str:
        """The name recorded in `output_dir` (a folder holding another task's run is refused)."""
        return self.name

    def check_config(self) -> None:
        """Checks the task's own settings (the shared ones are checked by the driver); raises InputError."""

    def pad_inference_to_max_length(self) -> bool:
        """Whether evaluation and prediction batches keep `max_seq_length` (default: `pad_to_max_length`)."""
        return self.config.pad_to_max_length

    # -- inputs and features --------------------------------------------------------------------------
    @abc.abstractmethod
    def read_inputs(self, tokenizer) -> Dict[str, Split]:
        """Reads and converts every split the modes need (`train`, `dev`, `test`), before anything is
        written; raises InputError naming the file and line of any problem."""

    def record_layout(self, split: Split, training: bool):
        """The `bert_tf.training.datasets.RecordLayout` of `split`'s records (with labels when `training`)."""
        raise NotImplementedError(f"{type(self).__name__} has no TFRecord layout")

    def write_records(self, split: Split, path: str, num_padding: int) -> int:
        """Writes `split`'s records to `path`, then `num_padding` padding records; returns the count."""
        raise NotImplementedError(f"{type(self).__name__} writes no TFRecords")

    def feature_settings(self) -> Dict[str, Any]:
        """The task's settings that shape its records besides `max_seq_length` and casing (cache key)."""
        return {}

    def write_run_files(self, write_dir: str) -> None:
        """Writes what later runs of the same `output_dir` read back (e.g. the label map); when training."""

    def run_folders(self) -> List[str]:
        """Where the files of `write_run_files` are read back from without training: `output_dir`, then the
        folder of `init_checkpoint` (a fine-tuning run's `output_dir`, or a checkpoint in one)."""
        from bert_tf import files

        folders = [self.config.options.output_dir]
        init_checkpoint = self.config.model.init_checkpoint
        if init_checkpoint:
            is_folder = files.tf_gfile().isdir(init_checkpoint)
            folders.append(init_checkpoint if is_folder else os.path.dirname(init_checkpoint))
        return [folder for folder in folders if folder]

    # -- model ----------------------------------------------------------------------------------------
    @abc.abstractmethod
    def build_model(self, bert_config, dtype_policy):
        """The task's Keras model (its variable paths are the checkpoint names)."""

    def loss(self, outputs, labels, features):
        """Per-example losses [B] (averaged over the global batch), this replica's scalar mean, or a
        `bert_tf.training.train_step.WeightedLoss` (a mean over a varying number of units, e.g. tokens)."""
        raise NotImplementedError(f"{type(self).__name__} does not train")

    # -- outputs --------------------------------------------------------------------------------------
    def evaluate(self, split: Split, prediction, global_step: int, write_dir: str) -> Dict[str, float]:
        """The `eval_results.txt` values of the dev split's `PredictResult` (writing the task's own files)."""
        raise NotImplementedError(f"{type(self).__name__} does not evaluate")

    def monitor_results(self, split: Split, prediction, global_step: int, write_dir: str) -> Dict[str, float]:
        """The scores `--eval_every_steps` and `--keep_best` follow: `evaluate`'s of the `monitor_split`."""
        return self.evaluate(split, prediction, global_step, write_dir)

    def predict(self, split: Split, prediction, global_step: int, write_dir: str) -> PredictOutcome:
        """Writes the test split's prediction files from its `PredictResult`."""
        raise NotImplementedError(f"{type(self).__name__} streams its predictions")

    def predict_stream(self, model, split: Split) -> PredictOutcome:
        """With `streams_predictions`: converts, runs `model` on and writes the test split, batch by batch."""
        raise NotImplementedError(f"{type(self).__name__} does not stream its predictions")

    def prepare_export(self) -> None:
        """Sets up what an export from a checkpoint needs without reading data (e.g. the label map)."""

    def export(self, model, export_dir: str, **serving_options) -> str:
        """Exports `model` as a SavedModel under `export_dir`; returns the version folder.

        `serving_options`: `serving_dtype` (`float32`, `mixed_bfloat16`) and, where the task offers it,
        `jit_compile`; an option the task does not offer raises InputError.
        """
        raise NotImplementedError(f"{type(self).__name__} has no SavedModel export")


# ------------------------------------------------------------------------------------------------ registry
# Registered name -> the module that defines (and registers) the task, imported on first use.
TASK_MODULES = {
    "classification": "bert_tf.tasks.classification.task",
    "feature_extraction": "bert_tf.tasks.feature_extraction.task",
    "squad": "bert_tf.tasks.squad.task",
    "ner": "bert_tf.tasks.ner.task",
    "multiple_choice": "bert_tf.tasks.multiple_choice.task",
    "embedding": "bert_tf.tasks.embedding.task",
}
ALIASES = {"swag": "multiple_choice"}
_REGISTRY: Dict[str, Type[Task]] = {}


def register(task_class: Type[Task]) -> Type[Task]:
    """Class decorator: registers a `Task` subclass under its `name`."""
    _REGISTRY[task_class.name] = task_class
    return task_class


def get_task(name: str) -> Type[Task]:
    """The task class registered as `name` (any case; `swag` is `multiple_choice`).

    Raises:
      InputError: no such task.
    """
    key = ALIASES.get(name.lower(), name.lower())
    if key not in _REGISTRY and key in TASK_MODULES:
        importlib.import_module(TASK_MODULES[key])
    if key not in _REGISTRY:
        raise InputError(f"unknown task {name!r}; tasks: {', '.join(sorted(set(TASK_MODULES) | set(ALIASES)))}")
    return _REGISTRY[key]


def task_names() -> Sequence[str]:
    """Every registered name and alias."""
    return sorted(set(TASK_MODULES) | set(ALIASES) | set(_REGISTRY))
