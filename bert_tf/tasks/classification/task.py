"""GLUE classification on the Task protocol: the library behind `run_classifier.py`.

Does what the original `run_classifier.py` does, with the same outputs in `output_dir`:

* `train.tf_record`, `eval.tf_record`, `predict.tf_record`: the features (original names and types), written
  once and reused while the data, vocabulary and settings are unchanged (`bert_tf.tasks.feature_cache`);
* `model.ckpt-<step>` checkpoints (original format: `bert/*`, `output_weights`, `output_bias`, Adam slots,
  `global_step`) and the `checkpoint` state file; TensorBoard events;
* `eval_results.txt`: `key = value` lines sorted by key: `eval_accuracy`, `eval_loss`, `global_step`, `loss`
  and the task's GLUE metrics (`eval_f1` for MRPC/QQP, `eval_mcc` for CoLA, `eval_pearson`/`eval_spearman`
  for STS-B; regression tasks have no `eval_accuracy`);
* `test_results.tsv`: one line per prediction example, the class probabilities separated by tabs, no
  header (for regression, the predicted score).

With `long_documents="windows"` a text longer than the model is read in overlapping windows instead of being
truncated, and its windows' logits are combined per document (`windows`).

Training: softmax cross-entropy averaged over the batch (regression: mean squared error), the original
AdamWeightDecay with warmup and linear decay, `num_train_steps = int(len(train) / train_batch_size *
num_train_epochs)`, `num_warmup_steps = int(num_train_steps * warmup_proportion)`. Evaluation and prediction
without training use `output_dir`'s newest checkpoint, else an `init_checkpoint` that holds the classifier
(`bert_tf.tasks.driver`).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from bert_tf.errors import InputError
from bert_tf.modeling import BertClassifier
from bert_tf.tasks.base import PredictOutcome, Split, Task, TaskConfig, register
from bert_tf.tasks.classification import examples as glue
from bert_tf.tasks.classification import features as classifier_features
from bert_tf.tasks.classification import metrics, predictions, user_files, windows

CLASSIFIER_HEAD = ("output_weights", "output_bias")
_READERS = {"train": "get_train_examples", "dev": "get_dev_examples", "test": "get_test_examples"}


@dataclasses.dataclass(kw_only=True)
class ClassifierConfig(TaskConfig):
    """The settings of one `run_classifier.py` run (`TaskConfig`'s and these).

    Attributes:
      task_name: a GLUE task (any case: `MRPC`, `sst-2`, ...), or `csv`, `tsv`, `jsonl` for your own files
        (`user_files`).
      data_dir: the task's folder of data files.
      train_file, eval_file, predict_file: your own files by name (instead of `<data_dir>/train.<ext>`, ...).
      text_a_column, text_b_column, label_column: your files' columns: header names or 0-based indexes.
      header: CSV/TSV: the first row is a header (True), is not (False), or detect (None).
      quoting: CSV/TSV: how quotes are read, `auto`, `csv` or `none` (`user_files`).
      label_list: the labels in id order (default: the training file's, sorted).
      regression: one float label (MSE loss, Pearson and Spearman).
      multi_label: several labels per row (sigmoid cross-entropy; micro/macro F1); split on `label_delimiter`.
        A trained head's bias starts at the training labels' log-odds (`metrics.label_log_odds`).
      threshold: a multi-label prediction holds the labels of at least this probability.
      long_documents: `truncate` (the original) or `windows` (`bert_tf.tasks.classification.windows`).
      doc_stride: windows: word pieces between the starts of a document's windows (None: half a window).
      window_pooling: windows: a document's logits are its windows' `mean` or element-wise `max`.
    """

    task_name: Optional[str] = None
    data_dir: Optional[str] = None
    train_file: Optional[str] = None
    eval_file: Optional[str] = None
    predict_file: Optional[str] = None
    text_a_column: Optional[user_files.Column] = "text_a"
    text_b_column: Optional[user_files.Column] = None
    label_column: Optional[user_files.Column] = "label"
    header: Optional[bool] = None
    quoting: str = "auto"
    label_list: Optional[Sequence[str]] = None
    regression: bool = False
    multi_label: bool = False
    label_delimiter: str = ","
    threshold: float = 0.5
    long_documents: str = "truncate"
    doc_stride: Optional[int] = None
    window_pooling: str = "mean"

    def uses_own_files(self) -> bool:
        """Whether `task_name` is one of your own file formats rather than a GLUE task."""
        return str(self.task_name or "").lower() in user_files.FORMATS


@register
class ClassificationTask(Task):
    """Sentence (pair) classification, regression and multi-label classification: the GLUE tasks
    (`glue.PROCESSORS`) and your own CSV, TSV or JSON-lines files (`user_files`)."""

    name = "classification"
    config_type = ClassifierConfig
    head_variables = CLASSIFIER_HEAD
    head_name = "classifier"

    def __init__(self, config: ClassifierConfig):
        super().__init__(config)
        self.processor: Optional[glue.DataProcessor] = None
        self.initial_output_bias: Optional[np.ndarray] = None  # multi-label: the training labels' log-odds

    @property
    def run_name(self) -> str:
        return f"classification/{self._processor().task_name}"

    def _processor(self) -> glue.DataProcessor:
        if self.processor is None:
            config = self.config
            if config.uses_own_files():
                spec = user_files.ColumnSpec(config.text_a_column, config.text_b_column, config.label_column,
                                             config.header, config.quoting)
                kind = user_files.LabelKind(config.regression, config.multi_label, config.label_delimiter)
                split_files = {"train": config.train_file, "dev": config.eval_file, "test": config.predict_file}
                self.processor = user_files.UserFilesProcessor(config.task_name.lower(), spec, kind, split_files,
                                                               config.label_list or ())
            else:
                try:
                    self.processor = glue.get_processor(config.task_name or "")
                except ValueError as error:
                    raise InputError(f"{error}; or csv, tsv, jsonl for your own files") from None
        return self.processor

    def _multi_label(self) -> bool:
        return getattr(self._processor(), "is_multi_label", False)

    def check_config(self) -> None:
        config = self.config
        if not config.task_name:
            raise InputError("--task_name is required")
        if not config.uses_own_files():
            if not config.data_dir:
                raise InputError("--data_dir is required")
            for name in ("train_file", "eval_file", "predict_file", "label_list"):
                if getattr(config, name):
                    raise InputError(f"--{name} is for your own files (--task=csv, tsv or jsonl), not a GLUE task")
            if config.regression or config.multi_label:
                raise InputError("--regression and --multi_label are for your own files; a GLUE task has its own")
        if not 0.0 < config.threshold < 1.0:
            raise InputError(f"--threshold must be between 0 and 1, got {config.threshold}")
        windows.check_settings(config.long_documents, config.doc_stride, config.window_pooling)
        self._processor()

    @property
    def _windowed(self) -> bool:
        return self.config.long_documents == "windows"

    def prepare_export(self) -> None:
        self._resolve_labels(None)

    def _resolve_labels(self, train: Optional[Split]) -> None:
        """Your own files' label list: `--label_list`, else the training file's (sorted), else the
        `label_list.txt` of `output_dir` or of `init_checkpoint`'s folder. GLUE tasks have theirs."""
        processor = self._processor()
        if not isinstance(processor, user_files.UserFilesProcessor) or processor.is_regression or processor.labels:
            return
        if train is not None:
            processor.set_labels(user_files.label_list_from(train.examples, processor.kind))
            return
        found = user_files.read_label_list(self.run_folders())
        if found is None:
            raise InputError(f"no {user_files.LABEL_LIST_FILE} in --output_dir (or next to --init_checkpoint): "
                             "give --label_list, or run with --do_train first, it writes the label list")
        processor.set_labels(found[1])

    def write_run_files(self, write_dir: str) -> None:
        processor = self._processor()
        if isinstance(processor, user_files.UserFilesProcessor) and not processor.is_regression:
            user_files.write_label_list(write_dir, processor.get_labels())

    # -- inputs and features --------------------------------------------------------------------------
    def read_inputs(self, tokenizer) -> Dict[str, Split]:
        self.tokenizer = tokenizer
        config, processor = self.config, self._processor()
        modes = {"train": config.do_train, "dev": config.do_eval, "test": config.do_predict}
        splits = {}
        for name in ("train", "dev", "test"):
            if name == "dev":  # your own files' labels come from the training file
                self._resolve_labels(splits.get("train"))
            if not modes[name]:
                continue
            try:
                examples = getattr(processor, _READERS[name])(config.data_dir)
            except (ValueError, OSError, NotImplementedError) as error:
                raise InputError(str(error)) from None
            split = Split(name, [processor.split_path(config.data_dir, name)], examples,
                          num_examples=len(examples), num_records=len(examples))
            if self._windowed:  # every window is a record, and a training example
                split.features = windows.split_into_windows(examples, tokenizer, config.max_seq_length,
                                                            config.doc_stride, name)
                split.num_records = len(split.features.windows)
                if name == "train":
                    split.num_examples = split.num_records
            splits[name] = split
        if self._multi_label() and "train" in splits:
            labels = processor.get_labels()
            multi_hot = [[label in example.label for label in labels] for example in splits["train"].examples]
            self.initial_output_bias = metrics.label_log_odds(np.array(multi_hot).reshape(-1, len(labels)))
        return splits

    def record_layout(self, split: Split, training: bool):
        processor = self._processor()
        return classifier_features.record_layout(self.config.max_seq_length, processor.is_regression,
                                                 processor.num_labels if self._multi_label() else 0,
                                                 window_weights=self._windowed)

    def write_records(self, split: Split, path: str, num_padding: int) -> int:
        processor = self._processor()
        if self._windowed:
            return classifier_features.write_features_tfrecord(
                windows.window_features(split.examples, split.features, processor.get_labels(),
                                        self.config.max_seq_length, self.tokenizer, num_padding,
                                        processor.is_regression, self._multi_label()),
                path, is_regression=processor.is_regression or self._multi_label())
        records = list(split.examples) + [classifier_features.PaddingInputExample()] * num_padding
        return classifier_features.file_based_convert_examples_to_features(
            records, processor.get_labels(), self.config.max_seq_length, self.tokenizer, path,
            is_regression=processor.is_regression, multi_label=self._multi_label())

    def feature_settings(self):
        settings = {"labels": [str(label) for label in self._processor().get_labels()],
                    "multi_label": self._multi_label()}
        if self.config.uses_own_files():
            settings["columns"] = user_files.describe_columns(self._processor().spec)
        if self._windowed:
            settings["windows"] = {"doc_stride": self.config.doc_stride, "weights": "per document"}
        return settings

    # -- model ----------------------------------------------------------------------------------------
    def build_model(self, bert_config, dtype_policy):
        """The classifier; a multi-label one being trained starts its `output_bias` at the training labels'
        log-odds (a checkpoint that holds the head replaces it)."""
        model = BertClassifier(bert_config, self._processor().num_labels, dtype=dtype_policy)
        if self.initial_output_bias is not None:
            model.classifier.output_bias.assign(self.initial_output_bias)
        return model

    def loss(self, outputs, labels, features):
        """Per-example losses [B]: softmax cross-entropy of `logits` (regression: squared error of logit 0;
        multi-label: sigmoid cross-entropy averaged over the labels); a long document's windows weighted
        (`windows.window_weights`)."""
        losses = self._unweighted_loss(outputs, labels)
        if self._windowed:
            losses *= tf.cast(features["window_weight"], losses.dtype)
        return losses

    def _unweighted_loss(self, outputs, labels):
        if self._multi_label():
            losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(labels, tf.float32),
                                                             logits=outputs["logits"])
            return tf.reduce_mean(losses, axis=-1)
        if self._processor().is_regression:
            return tf.square(outputs["logits"][:, 0] - tf.cast(labels, tf.float32))
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32),
                                                              logits=outputs["logits"])

    # -- outputs --------------------------------------------------------------------------------------
    def evaluate(self, split: Split, prediction, global_step: int, write_dir: str) -> Dict[str, float]:
        processor = self._processor()
        if self._windowed:  # scored per document
            first = windows.first_windows(split.features.document_index, len(split.examples))
            return metrics.eval_results(processor, self._document_logits(split, prediction),
                                        prediction.labels[first], [len(split.examples)], global_step,
                                        self.config.threshold)
        return metrics.eval_results_from_predictions(processor, prediction, global_step, self.config.threshold)

    def _document_logits(self, split: Split, prediction) -> np.ndarray:
        """float32 [documents, K]: each document's windows' logits, pooled (`window_pooling`)."""
        document_index = split.features.document_index
        return windows.pool_logits(prediction.outputs["logits"][:len(document_index)], document_index,
                                   len(split.examples), self.config.window_pooling)

    def predict(self, split: Split, prediction, global_step: int, write_dir: str) -> PredictOutcome:
        if self._windowed:
            logits = self._document_logits(split, prediction)
        else:
            logits = prediction.outputs["logits"][:len(split.examples)]
        path = os.path.join(write_dir, predictions.TEST_RESULTS_FILE)
        predictions.write_test_results(path, logits, self._processor().is_regression, self._multi_label())
        return PredictOutcome(files={predictions.TEST_RESULTS_FILE: path}, decoded=logits)

    def export(self, model, export_dir: str, **serving_options) -> str:
        """`bert_tf.serving.classifier.export_classifier` with the task's labels and inputs (`text_a`, and
        `text_b` for pair tasks); `serving_options`: `serving_dtype`, `jit_compile`, padding options."""
        from bert_tf.serving.classifier import export_classifier  # TensorFlow Text: only to export

        processor, config = self._processor(), self.config
        return export_classifier(model, config.model.vocab_file, config.model.do_lower_case, config.max_seq_length,
                                 label_list=processor.get_labels(), export_dir=export_dir,
                                 is_regression=processor.is_regression, is_pair_task=is_pair_task(processor),
                                 multi_label_threshold=self.config.threshold if self._multi_label() else None,
                                 long_documents=self._windowed, doc_stride=config.doc_stride,
                                 window_pooling=config.window_pooling, **serving_options)


def is_pair_task(processor: glue.DataProcessor) -> bool:
    """Whether a processor's examples have a `text_b` (MRPC: yes, SST-2: no; your files: a text_b column)."""
    if isinstance(processor, user_files.UserFilesProcessor):
        return processor.has_text_b
    return any(layout.text_b_column is not None for layout in processor.split_layouts.values())
