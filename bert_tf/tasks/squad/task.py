"""SQuAD 1.1 / 2.0 on the Task protocol: the library behind `run_squad.py`.

Does what the original `run_squad.py` does, with the same files in `output_dir`:

* `train.tf_record` (`--do_train`) and `eval.tf_record` (`--do_predict`): the windows, in the original
  layout, reused while the json file, vocabulary and window flags are unchanged (`<name>.meta.json`);
* `model.ckpt-<step>` checkpoints with the original names (`bert/*`, `cls/squad/output_weights`,
  `cls/squad/output_bias`, Adam slots, `global_step`), the `checkpoint` state file, TensorBoard events;
* `predictions.json`, `nbest_predictions.json` and for SQuAD 2.0 `null_odds.json`, formatted as the
  original's, which the official `evaluate-v1.1.py` / `evaluate-v2.0.py` read unchanged;
* `eval_results.txt` when the predict file holds answers: the official scripts' figures (`exact_match`,
  `f1`; for 2.0 also `exact`, `total`, `HasAns_*`, `NoAns_*`, `best_*` with `null_odds.json` as the
  no-answer odds).

Training: the examples are shuffled with `random.Random(12345)` as the original, then windows are read with
a shuffle buffer of 100; loss = mean of the start and end softmax cross-entropies; the original
AdamWeightDecay with warmup and linear decay over `int(len(examples) / train_batch_size * num_train_epochs)`
steps (examples, not windows, as the original).

Training batches are padded only to their longest window, rounded up to a multiple of 8 (the training
softmax then runs over fewer padding positions than the original's; `--pad_to_max_length` pads to
`max_seq_length`). Prediction batches are padded to `max_seq_length`, as the original: it ranks every
position of a window for its n-best lists, padding included, and a padding position it ranks among a
window's `n_best_size` best takes that slot, so only full-length logits reproduce its n-best lists
exactly. `predict_pad_to_longest` (`--predict_pad_to_longest`) pads prediction batches to their longest
window too, about twice as fast at 384: the n-best lists can then gain low-probability entries (on the
shared references: `predictions.json` and `null_odds.json` identical, 7 of 188 n-best lists longer by a
low-probability span).

Prediction without training uses `output_dir`'s newest checkpoint, else an `--init_checkpoint` holding the
`cls/squad/*` head (a pretrained `bert_model.ckpt` alone is refused; `bert_tf.tasks.driver`).
"""
from __future__ import annotations

import dataclasses
import random
from typing import Dict, Optional

import tensorflow as tf
from absl import logging

from bert_tf import files
from bert_tf.errors import InputError, require_int
from bert_tf.modeling.question_answering import SQUAD_HEAD_VARIABLES, BertQuestionAnswering
from bert_tf.tasks.base import PredictOutcome, Split, Task, TaskConfig, register
from bert_tf.tasks.squad import features as squad_features
from bert_tf.tasks.squad import metrics, predictions
from bert_tf.tasks.squad.examples import SquadFile, read_squad_file, squad_examples

_SHUFFLE_SEED = 12345  # the original pre-shuffles the training examples with random.Random(12345)
_FEATURES_FORMAT = "squad-1"
_WINDOW_FLAGS = ("max_seq_length", "doc_stride", "max_query_length", "n_best_size", "max_answer_length")


@dataclasses.dataclass(kw_only=True)
class SquadConfig(TaskConfig):
    """One run; field names are the original run_squad.py flags (`TaskConfig`'s and these).

    Attributes:
      train_file, predict_file: SQuAD json files.
      doc_stride, max_query_length: the windows (see `features`); `max_seq_length` defaults to 384.
      n_best_size, max_answer_length: post-processing (see `predictions`).
      version_2_with_negative: SQuAD 2.0 (unanswerable questions, null odds).
      null_score_diff_threshold: answer "" when null score - best non-null score exceeds this.
      verbose_logging: log every skipped training answer and answer-projection failure.
      predict_pad_to_longest: pad prediction batches to their longest window too (faster). By default
        prediction pads to max_seq_length: the original ranks all max_seq_length positions of a window,
        padding included, and padding positions can take n-best slots, so only full-length logits
        reproduce its n-best lists exactly.
    """

    max_seq_length: int = 384
    train_file: Optional[str] = None
    predict_file: Optional[str] = None
    doc_stride: int = 128
    max_query_length: int = 64
    n_best_size: int = 20
    max_answer_length: int = 30
    version_2_with_negative: bool = False
    null_score_diff_threshold: float = 0.0
    verbose_logging: bool = False
    predict_pad_to_longest: bool = False


def squad_loss(outputs, labels, features) -> tf.Tensor:
    """Per-window loss [B]: the mean of the start and end softmax cross-entropies (the original's)."""
    del features
    start_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels["start_positions"],
                                                                logits=outputs["start_logits"])
    end_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels["end_positions"],
                                                              logits=outputs["end_logits"])
    return (start_loss + end_loss) / 2.0


@register
class SquadTask(Task):
    """Extractive question answering: a span of the context per question (`predictions`)."""

    name = "squad"
    config_type = SquadConfig
    modes = ("do_train", "do_predict")  # --do_predict scores a predict file that holds answers
    head_variables = SQUAD_HEAD_VARIABLES
    head_name = "SQuAD"
    output_keys = ("start_logits", "end_logits")
    # Past every window's tokens: post-processing never picks them.
    sequence_outputs = {"start_logits": -1e30, "end_logits": -1e30}
    feature_files = {"train": "train.tf_record", "test": "eval.tf_record"}  # the original's names
    monitor_split = ("test", "do_predict")  # evaluation during training scores the predict file

    # -- checks ---------------------------------------------------------------------------------------
    def check_windows(self) -> None:
        """The window and post-processing flags (also what an export needs); raises InputError."""
        config = self.config
        for name in _WINDOW_FLAGS:
            require_int(f"--{name}", getattr(config, name))
        if config.max_seq_length <= config.max_query_length + 3:
            raise InputError(f"The max_seq_length ({config.max_seq_length}) must be greater than max_query_length "
                             f"({config.max_query_length}) + 3")

    def check_config(self) -> None:
        """The original `validate_flags_or_throw` and this project's checks."""
        config = self.config
        if config.do_train and not config.train_file:
            raise InputError("If `do_train` is True, then `train_file` must be specified.")
        if config.do_predict and not config.predict_file:
            raise InputError("If `do_predict` is True, then `predict_file` must be specified.")
        self.check_windows()

    def prepare_export(self) -> None:
        self.check_windows()

    def pad_inference_to_max_length(self) -> bool:
        return self.config.pad_to_max_length or not self.config.predict_pad_to_longest

    # -- inputs and features --------------------------------------------------------------------------
    def read_inputs(self, tokenizer) -> Dict[str, Split]:
        self.tokenizer = tokenizer
        config, splits = self.config, {}
        if config.do_train:
            squad_file = read_squad_file(config.train_file, "train_file")
            examples, _ = squad_examples(squad_file, is_training=True,
                                         version_2_with_negative=config.version_2_with_negative,
                                         verbose_logging=config.verbose_logging)
            if not examples:
                raise InputError(f"{config.train_file}: no training question left (every answer was skipped)")
            random.Random(_SHUFFLE_SEED).shuffle(examples)
            # Windows are made when the cache is stale (the schedule counts examples, as the original).
            splits["train"] = Split("train", [config.train_file], examples, num_examples=len(examples))
        if config.do_predict:
            squad_file = read_squad_file(config.predict_file, "predict_file")
            examples, _ = squad_examples(squad_file, is_training=False)
            if not examples:
                raise InputError(f"{config.predict_file}: no questions")
            windows = list(squad_features.convert_examples_to_features(
                examples, tokenizer, config.max_seq_length, config.doc_stride, config.max_query_length,
                is_training=False))
            splits["test"] = Split("test", [config.predict_file], examples, windows, num_examples=len(examples),
                                   num_records=len(windows), data=squad_file)
        return splits

    def record_layout(self, split: Split, training: bool):
        return squad_features.record_layout(self.config.max_seq_length, is_training=training)

    def write_records(self, split: Split, path: str, num_padding: int) -> int:
        config = self.config
        training = split.name == "train"
        windows = split.features
        if windows is None:
            windows = squad_features.convert_examples_to_features(
                split.examples, self.tokenizer, config.max_seq_length, config.doc_stride, config.max_query_length,
                is_training=training)
        padding = [squad_features.padding_feature(config.max_seq_length)] * num_padding
        return squad_features.write_features(list(windows) + padding, path, is_training=training)

    def feature_settings(self):
        config = self.config
        return {"format": _FEATURES_FORMAT, "doc_stride": config.doc_stride,
                "max_query_length": config.max_query_length,
                "version_2_with_negative": config.version_2_with_negative}

    # -- model ----------------------------------------------------------------------------------------
    def build_model(self, bert_config, dtype_policy):
        return BertQuestionAnswering(bert_config, dtype=dtype_policy)

    def loss(self, outputs, labels, features):
        return squad_loss(outputs, labels, features)

    # -- outputs --------------------------------------------------------------------------------------
    def predict(self, split: Split, prediction, global_step: int, write_dir: str) -> PredictOutcome:
        """`predictions.json`, `nbest_predictions.json` (2.0: `null_odds.json`), and the official scores
        when the predict file holds answers."""
        config = self.config
        count = len(split.features)
        raw_results = [predictions.RawResult(int(unique_id), start, end) for unique_id, start, end in zip(
            prediction.features["unique_ids"][:count], prediction.outputs["start_logits"][:count],
            prediction.outputs["end_logits"][:count])]
        answers = predictions.compute_predictions(
            split.examples, split.features, raw_results, config.n_best_size, config.max_answer_length,
            config.model.do_lower_case, config.version_2_with_negative, config.null_score_diff_threshold,
            config.verbose_logging)
        written = predictions.write_prediction_files(answers, write_dir, config.version_2_with_negative)
        return PredictOutcome(files=written, results=self._scores(split.data, answers),
                              results_file=files.EVAL_RESULTS_FILE, decoded=answers)

    def monitor_results(self, split: Split, prediction, global_step: int, write_dir: str) -> Dict[str, float]:
        """The official scores of the predict file (which must hold answers) for `--eval_every_steps`."""
        results = self.predict(split, prediction, global_step, write_dir).results
        if results is None:
            raise InputError(f"--eval_every_steps/--keep_best: {self.config.predict_file} cannot be scored "
                             "(it holds no answers)")
        return dict(results, global_step=int(global_step))

    def _scores(self, squad_file: SquadFile, answers) -> Optional[Dict[str, float]]:
        """The official figures for a predict file with answers; None when it cannot be scored."""
        version_2 = self.config.version_2_with_negative
        if not squad_file.has_answers():
            logging.info("%s holds no answers: no eval_results.txt", squad_file.path)
            return None
        if not version_2 and any(not qa["answers"] for _, qa in squad_file.questions()):
            logging.warning("%s has questions without answers but --version_2_with_negative is false: not scored "
                            "(evaluate-v1.1.py cannot score them either)", squad_file.path)
            return None
        return metrics.evaluate(squad_file.articles, answers.answers, version_2,
                                answers.null_odds if version_2 else None)

    def export(self, model, export_dir: str, **serving_options) -> str:
        """`bert_tf.serving.squad.export_squad` with the run's window and post-processing flags."""
        from bert_tf.serving.squad import export_squad  # TensorFlow Text: only to export

        if serving_options.pop("jit_compile", False):
            raise InputError("--serving_xla is for classifier exports; leave it out with --task_name=squad")
        config = self.config
        return export_squad(model, config.model.vocab_file, config.model.do_lower_case, export_dir,
                            **{name: getattr(config, name) for name in _WINDOW_FLAGS},
                            version_2_with_negative=config.version_2_with_negative,
                            null_score_diff_threshold=config.null_score_diff_threshold,
                            pad_to_max_length=config.pad_to_max_length, **serving_options)
