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

Training: softmax cross-entropy averaged over the batch (regression: mean squared error), the original
AdamWeightDecay with warmup and linear decay, `num_train_steps = int(len(train) / train_batch_size *
num_train_epochs)`, `num_warmup_steps = int(num_train_steps * warmup_proportion)`. Evaluation and prediction
without training use `output_dir`'s newest checkpoint, else an `init_checkpoint` that holds the classifier
(`bert_tf.tasks.driver`).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, Optional

import tensorflow as tf

from bert_tf.errors import InputError
from bert_tf.modeling import BertClassifier
from bert_tf.tasks.base import PredictOutcome, Split, Task, TaskConfig, register
from bert_tf.tasks.classification import examples as glue
from bert_tf.tasks.classification import features as classifier_features
from bert_tf.tasks.classification import metrics, predictions

CLASSIFIER_HEAD = ("output_weights", "output_bias")
_READERS = {"train": "get_train_examples", "dev": "get_dev_examples", "test": "get_test_examples"}


@dataclasses.dataclass(kw_only=True)
class ClassifierConfig(TaskConfig):
    """The settings of one `run_classifier.py` run (`TaskConfig`'s and these).

    Attributes:
      task_name: a GLUE task (any case: `MRPC`, `sst-2`, ...).
      data_dir: the task's folder of `.tsv` files.
    """

    task_name: Optional[str] = None
    data_dir: Optional[str] = None


@register
class ClassificationTask(Task):
    """Sentence (pair) classification and regression of the GLUE tasks (`glue.PROCESSORS`)."""

    name = "classification"
    config_type = ClassifierConfig
    head_variables = CLASSIFIER_HEAD
    head_name = "classifier"

    def __init__(self, config: ClassifierConfig):
        super().__init__(config)
        self.processor: Optional[glue.DataProcessor] = None
        self.tokenizer = None

    @property
    def run_name(self) -> str:
        return f"classification/{self._processor().task_name}"

    def _processor(self) -> glue.DataProcessor:
        if self.processor is None:
            try:
                self.processor = glue.get_processor(self.config.task_name or "")
            except ValueError as error:
                raise InputError(str(error)) from None
        return self.processor

    def check_config(self) -> None:
        for name in ("task_name", "data_dir"):
            if not getattr(self.config, name):
                raise InputError(f"--{name} is required")
        self._processor()

    def prepare_export(self) -> None:
        self._processor()

    # -- inputs and features --------------------------------------------------------------------------
    def read_inputs(self, tokenizer) -> Dict[str, Split]:
        self.tokenizer = tokenizer
        config, processor = self.config, self._processor()
        modes = {"train": config.do_train, "dev": config.do_eval, "test": config.do_predict}
        splits = {}
        for name in (name for name, wanted in modes.items() if wanted):
            try:
                examples = getattr(processor, _READERS[name])(config.data_dir)
            except (ValueError, OSError, NotImplementedError) as error:
                raise InputError(str(error)) from None
            splits[name] = Split(name, [processor.split_path(config.data_dir, name)], examples,
                                 num_examples=len(examples), num_records=len(examples))
        return splits

    def record_layout(self, split: Split, training: bool):
        return classifier_features.record_layout(self.config.max_seq_length, self._processor().is_regression)

    def write_records(self, split: Split, path: str, num_padding: int) -> int:
        processor = self._processor()
        records = list(split.examples) + [classifier_features.PaddingInputExample()] * num_padding
        return classifier_features.file_based_convert_examples_to_features(
            records, processor.get_labels(), self.config.max_seq_length, self.tokenizer, path,
            is_regression=processor.is_regression)

    def feature_settings(self):
        return {"labels": [str(label) for label in self._processor().get_labels()]}

    # -- model ----------------------------------------------------------------------------------------
    def build_model(self, bert_config, dtype_policy):
        return BertClassifier(bert_config, self._processor().num_labels, dtype=dtype_policy)

    def loss(self, outputs, labels, features):
        """Per-example losses [B]: softmax cross-entropy of `logits` (regression: squared error of logit 0)."""
        del features
        if self._processor().is_regression:
            return tf.square(outputs["logits"][:, 0] - tf.cast(labels, tf.float32))
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32),
                                                              logits=outputs["logits"])

    # -- outputs --------------------------------------------------------------------------------------
    def evaluate(self, split: Split, prediction, global_step: int, write_dir: str) -> Dict[str, float]:
        processor = self._processor()
        return metrics.eval_results_from_predictions(processor.task_name, prediction, processor.is_regression,
                                                     global_step)

    def predict(self, split: Split, prediction, global_step: int, write_dir: str) -> PredictOutcome:
        logits = prediction.outputs["logits"][:len(split.examples)]
        path = os.path.join(write_dir, predictions.TEST_RESULTS_FILE)
        predictions.write_test_results(path, logits, self._processor().is_regression)
        return PredictOutcome(files={predictions.TEST_RESULTS_FILE: path}, decoded=logits)

    def export(self, model, export_dir: str, **serving_options) -> str:
        """`bert_tf.serving.classifier.export_classifier` with the task's labels and inputs (`text_a`, and
        `text_b` for pair tasks); `serving_options`: `serving_dtype`, `jit_compile`, padding options."""
        from bert_tf.serving.classifier import export_classifier  # TensorFlow Text: only to export

        processor, config = self._processor(), self.config
        return export_classifier(model, config.model.vocab_file, config.model.do_lower_case, config.max_seq_length,
                                 label_list=processor.get_labels(), export_dir=export_dir,
                                 is_regression=processor.is_regression, is_pair_task=is_pair_task(processor),
                                 **serving_options)


def is_pair_task(processor: glue.DataProcessor) -> bool:
    """Whether a processor's examples have a `text_b` (MRPC: yes, SST-2: no)."""
    return any(layout.text_b_column is not None for layout in processor.split_layouts.values())
