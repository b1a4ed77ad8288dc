"""Multiple choice (SWAG, CommonsenseQA, OpenBookQA, ARC, ...) on the Task protocol: the library behind
`run_swag.py`.

Reads `train`, `val` (or `dev`) and `test` files of `data_dir` in SWAG's CSV or in JSON lines (`examples`)
and writes in `output_dir`:

* `train.tf_record`, `eval.tf_record`, `predict.tf_record`: each question's packed (context, choice) pairs
  (`features`), reused while the data, vocabulary and settings are unchanged;
* `model.ckpt-<step>` checkpoints in the released format (`bert/*`, `cls/multiple_choice/output_weights`
  [1, H], `cls/multiple_choice/output_bias` [1], Adam slots, `global_step`) and TensorBoard events;
* `eval_results.txt`: `eval_accuracy`, `eval_loss` (mean cross-entropy over the questions), `global_step`;
* `test_results.tsv`: one line per question, in input order, its choice probabilities separated by tabs.

Training: softmax cross-entropy across each question's choices (`BertMultipleChoice`: one logit per pair
from the pooled output), the original AdamWeightDecay with warmup and linear decay, `num_train_steps =
int(questions / train_batch_size * num_train_epochs)`; batches of similar-length questions by default
(no original script's random batches to keep). Without `do_train`, the model is `output_dir`'s newest
checkpoint, else an `init_checkpoint` holding the `cls/multiple_choice/` head (`bert_tf.tasks.driver`).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, Optional

import tensorflow as tf

from bert_tf import files
from bert_tf.errors import InputError
from bert_tf.modeling.multiple_choice import MULTIPLE_CHOICE_HEAD_VARIABLES, BertMultipleChoice
from bert_tf.tasks.base import PredictOutcome, Split, Task, TaskConfig, register
from bert_tf.tasks.multiple_choice import examples, metrics, predictions
from bert_tf.tasks.multiple_choice import features as choice_features


@dataclasses.dataclass(kw_only=True)
class MultipleChoiceConfig(TaskConfig):
    """The settings of one `run_swag.py` run (`TaskConfig`'s and these).

    Attributes:
      data_dir: the folder of the `train`, `val`/`dev` and `test` files (`examples.SPLIT_FILES`).
      group_by_length: on by default (faster; there is no original script whose random batches to keep).
    """

    data_dir: Optional[str] = None
    group_by_length: bool = True


@register
class MultipleChoiceTask(Task):
    """Pick the right one of a question's choices: each (context, choice) pair scored, softmax across them."""

    name = "multiple_choice"
    config_type = MultipleChoiceConfig
    head_variables = MULTIPLE_CHOICE_HEAD_VARIABLES
    head_name = "multiple-choice"

    def check_config(self) -> None:
        data_dir = self.config.data_dir
        if not data_dir:
            raise InputError("--data_dir is required: the folder of train, val (or dev) and test files")
        if not files.tf_gfile().isdir(data_dir):
            raise InputError(f"--data_dir {data_dir} is not a folder")

    # -- inputs and features --------------------------------------------------------------------------
    def read_inputs(self, tokenizer) -> Dict[str, Split]:
        self.tokenizer = tokenizer
        config = self.config
        modes = {"train": config.do_train, "dev": config.do_eval, "test": config.do_predict}
        splits = {}
        for name in (name for name, wanted in modes.items() if wanted):
            path = examples.find_split_file(config.data_dir, name)
            questions = examples.read_split(path, name, require_labels=name != "test")
            splits[name] = Split(name, [path], questions, num_examples=len(questions), num_records=len(questions),
                                 data=choice_features.num_choices(questions))
        return splits

    def record_layout(self, split: Split, training: bool):
        return choice_features.record_layout(split.data, self.config.max_seq_length)

    def write_records(self, split: Split, path: str, num_padding: int) -> int:
        return choice_features.write_features(choice_features.iter_features(
            split.examples, split.data, self.config.max_seq_length, self.tokenizer, num_padding), path)

    # -- model ----------------------------------------------------------------------------------------
    def build_model(self, bert_config, dtype_policy):
        return BertMultipleChoice(bert_config, dtype=dtype_policy)

    def loss(self, outputs, labels, features):
        """Per-question losses [B]: softmax cross-entropy across the question's choices."""
        del features
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32),
                                                              logits=outputs["logits"])

    # -- outputs --------------------------------------------------------------------------------------
    def evaluate(self, split: Split, prediction, global_step: int, write_dir: str) -> Dict[str, float]:
        logits = prediction.outputs["logits"][:len(split.examples)]
        return metrics.eval_results(logits, [example.label for example in split.examples], global_step)

    def predict(self, split: Split, prediction, global_step: int, write_dir: str) -> PredictOutcome:
        logits = prediction.outputs["logits"][:len(split.examples)]
        probabilities = predictions.choice_probabilities(logits, [len(example.choices) for example in split.examples])
        path = os.path.join(write_dir, predictions.TEST_RESULTS_FILE)
        predictions.write_test_results(path, probabilities)
        return PredictOutcome(files={predictions.TEST_RESULTS_FILE: path}, decoded=probabilities)

    def export(self, model, export_dir: str, **serving_options) -> str:
        """`bert_tf.serving.multiple_choice.export_multiple_choice`: `context` and `choices` in,
        `probabilities` and `choice` out."""
        from bert_tf.serving.multiple_choice import export_multiple_choice  # TensorFlow Text: only to export

        config = self.config
        return export_multiple_choice(model, config.model.vocab_file, config.model.do_lower_case, export_dir,
                                      max_seq_length=config.max_seq_length, **serving_options)
