"""SQuAD 1.1 / 2.0 fine-tuning and prediction: the library behind `run_squad.py`.

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
steps. A re-run resumes from output_dir's newest checkpoint.

Training batches are padded only to their longest window, rounded up to a multiple of 8 (the training
softmax then runs over fewer padding positions than the original's; `--pad_to_max_length` pads to
`max_seq_length`). Prediction batches are padded to `max_seq_length`, as the original: it ranks every
position of a window for its n-best lists, padding included, and a padding position it ranks among a
window's `n_best_size` best takes that slot, so only full-length logits reproduce its n-best lists
exactly. `predict_pad_to_longest` (`--predict_pad_to_longest`) pads prediction batches to their longest
window too, about twice as fast at 384: the n-best lists can then gain low-probability entries (on the
shared references: `predictions.json` and `null_odds.json` identical, 7 of 188 n-best lists longer by a
low-probability span).

Prediction uses the model just trained, else output_dir's newest checkpoint, else `--init_checkpoint`,
which must hold the `cls/squad/*` head (a pretrained `bert_model.ckpt` alone is refused).

Every input (flags, model files, json files, checkpoints) is read and checked before `output_dir` is
touched; a problem raises `bert_tf.errors.UserError` with one line.
"""
from __future__ import annotations

import dataclasses
import os
import random
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import checkpoint as checkpoint_io
from bert_tf import files
from bert_tf.errors import InputError
from bert_tf.modeling.question_answering import SQUAD_HEAD_VARIABLES, BertQuestionAnswering
from bert_tf.tasks import feature_cache
from bert_tf.tasks.squad import dataset as squad_dataset
from bert_tf.tasks.squad import evaluation, export, postprocess
from bert_tf.tasks.squad.examples import SquadExample, SquadFile, read_squad_file, squad_examples
from bert_tf.tasks.squad.features import SquadFeatures, convert_examples_to_features, write_features
from bert_tf.training import optimization, precision, restore, strategies, workspace
from bert_tf.training.predict import predict
from bert_tf.training.run_options import FineTuningOptions, ModelFiles, RunOptions, load_bert_config, load_tokenizer
from bert_tf.training.trainer import Trainer, TrainResult

HEAD_PATTERNS = ("cls/squad/.*",)
TASK_NAME = "squad"
TRAIN_FEATURES_FILE = "train.tf_record"
PREDICT_FEATURES_FILE = "eval.tf_record"
_SHUFFLE_SEED = 12345  # the original pre-shuffles the training examples with random.Random(12345)
_FEATURES_FORMAT = "squad-1"


@dataclasses.dataclass
class SquadConfig:
    """One run; field names are the original run_squad.py flags.

    Attributes:
      model: the model files (`--bert_dir` or the original flags): config, vocabulary, checkpoint, casing.
      options: output folder, strategy, dtype, checkpoint cadence, export (shared by every script).
      recipe: batch sizes, learning rate, epochs, warmup.
      train_file, predict_file: SQuAD json files.
      do_train, do_predict: what to run.
      max_seq_length, doc_stride, max_query_length: the windows (see `features`).
      n_best_size, max_answer_length: post-processing (see `postprocess`).
      version_2_with_negative: SQuAD 2.0 (unanswerable questions, null odds).
      null_score_diff_threshold: answer "" when null score - best non-null score exceeds this.
      verbose_logging: log every skipped training answer and answer-projection failure.
      pad_to_max_length: pad every batch to max_seq_length instead of its longest window (always on TPUs).
      group_by_length: train on batches of similar-length windows (`bert_tf.training.batching`).
      predict_pad_to_longest: pad prediction batches to their longest window too (faster). By default
        prediction pads to max_seq_length: the original ranks all max_seq_length positions of a window,
        padding included, and padding positions can take n-best slots, so only full-length logits
        reproduce its n-best lists exactly.
    """

    model: ModelFiles
    options: RunOptions
    recipe: FineTuningOptions = dataclasses.field(default_factory=FineTuningOptions)
    train_file: Optional[str] = None
    predict_file: Optional[str] = None
    do_train: bool = False
    do_predict: bool = False
    max_seq_length: int = 384
    doc_stride: int = 128
    max_query_length: int = 64
    n_best_size: int = 20
    max_answer_length: int = 30
    version_2_with_negative: bool = False
    null_score_diff_threshold: float = 0.0
    verbose_logging: bool = False
    pad_to_max_length: bool = False
    group_by_length: bool = False
    predict_pad_to_longest: bool = False


@dataclasses.dataclass
class SquadResult:
    """What `run` produced.

    Attributes:
      train: the `TrainResult` (None without do_train).
      num_train_steps: the training length used (None without do_train).
      predictions: the `postprocess.Predictions` (None without do_predict).
      output_files: file name -> path of the prediction files written.
      eval_results: the eval_results.txt figures (None when not scored).
      export_path: the SavedModel folder (None without export_dir).
    """

    train: Optional[TrainResult] = None
    num_train_steps: Optional[int] = None
    predictions: Optional[postprocess.Predictions] = None
    output_files: Dict[str, str] = dataclasses.field(default_factory=dict)
    eval_results: Optional[Dict[str, float]] = None
    export_path: Optional[str] = None


# ------------------------------------------------------------------------------------------------ checks
def validate_config(config: SquadConfig) -> None:
    """The original `validate_flags_or_throw` and this project's checks; raises InputError naming the flag."""
    if not config.do_train and not config.do_predict:
        raise InputError("At least one of `do_train` or `do_predict` must be True.")
    if config.do_train and not config.train_file:
        raise InputError("If `do_train` is True, then `train_file` must be specified.")
    if config.do_predict and not config.predict_file:
        raise InputError("If `do_predict` is True, then `predict_file` must be specified.")
    config.options.validate()
    config.recipe.validate(config.do_train)
    for name in ("max_seq_length", "doc_stride", "max_query_length", "n_best_size", "max_answer_length"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"--{name} must be a positive integer, got {value!r}")
    if config.max_seq_length <= config.max_query_length + 3:
        raise InputError(f"The max_seq_length ({config.max_seq_length}) must be greater than max_query_length "
                         f"({config.max_query_length}) + 3")
    export.check_export(config)


def _require_head(checkpoint_path: str, flag: str) -> None:
    """Raises InputError when a checkpoint for prediction has no `cls/squad/*` head."""
    names = checkpoint_io.list_checkpoint(checkpoint_path)
    missing = [name for name in SQUAD_HEAD_VARIABLES if name not in names]
    if missing:
        raise InputError(
            f"{flag} {checkpoint_path} has no SQuAD head ({', '.join(missing)}): it is not a SQuAD fine-tuned "
            "checkpoint, and predicting with a random head gives random answers; add --do_train, or pass the "
            "output_dir (or a checkpoint) of a SQuAD training run as --init_checkpoint")


# ------------------------------------------------------------------------------------------------ inputs
@dataclasses.dataclass
class _PredictInputs:
    squad_file: SquadFile
    examples: List[SquadExample]
    features: List[SquadFeatures]


def _read_training_examples(config: SquadConfig) -> List[SquadExample]:
    squad_file = read_squad_file(config.train_file, "train_file")
    examples, _ = squad_examples(squad_file, is_training=True, version_2_with_negative=config.version_2_with_negative,
                                 verbose_logging=config.verbose_logging)
    if not examples:
        raise InputError(f"{config.train_file}: no training question left (every answer was skipped)")
    random.Random(_SHUFFLE_SEED).shuffle(examples)
    return examples


def _read_predict_inputs(config: SquadConfig, tokenizer) -> _PredictInputs:
    squad_file = read_squad_file(config.predict_file, "predict_file")
    examples, _ = squad_examples(squad_file, is_training=False)
    if not examples:
        raise InputError(f"{config.predict_file}: no questions")
    features = list(convert_examples_to_features(examples, tokenizer, config.max_seq_length, config.doc_stride,
                                                 config.max_query_length, is_training=False))
    return _PredictInputs(squad_file, examples, features)


def _feature_file(config: SquadConfig, name: str, data_file: str, is_training: bool, write, write_dir: str) -> str:
    """`write_dir/<name>` written by `write(path) -> count` unless a cache of the same inputs is there."""
    settings = {"format": _FEATURES_FORMAT, "is_training": is_training, "max_seq_length": config.max_seq_length,
                "doc_stride": config.doc_stride, "max_query_length": config.max_query_length,
                "do_lower_case": config.model.do_lower_case,
                "version_2_with_negative": config.version_2_with_negative}
    key = feature_cache.cache_key([data_file], config.model.vocab_file, settings)
    path = os.path.join(write_dir, name)
    return feature_cache.cached_tfrecord(
        path, key, write, check=lambda existing: squad_dataset.check_tfrecord(existing, config.max_seq_length,
                                                                                is_training))


# ------------------------------------------------------------------------------------------------ model
def squad_loss(outputs, labels, features) -> tf.Tensor:
    """Per-window loss [B]: the mean of the start and end softmax cross-entropies (the original's)."""
    del features
    start_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels["start_positions"],
                                                                logits=outputs["start_logits"])
    end_loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels["end_positions"],
                                                              logits=outputs["end_logits"])
    return (start_loss + end_loss) / 2.0


def _prediction_model(config: SquadConfig, model_fn, strategy):
    """The model for predict-only runs: output_dir's newest checkpoint, else `--init_checkpoint` (with head)."""
    options = config.options
    with strategy.scope():
        model = model_fn(precision.dtype_policy(options.dtype))
        latest = restore.check_output_dir_checkpoint(model, options.output_dir)
        if latest is None:
            if not config.model.init_checkpoint:
                raise InputError("--do_predict without --do_train needs a SQuAD fine-tuned checkpoint: give "
                                 "--init_checkpoint, or an --output_dir holding one")
            _require_head(config.model.init_checkpoint, "--init_checkpoint")
        info = restore.restore_or_initialize(model, options.output_dir, config.model.init_checkpoint)
    logging.info("Predicting with %s (global_step %d)", info.checkpoint, info.global_step)
    return model


def _predict_results(model, config: SquadConfig, feature_file: str, strategy,
                     on_tpu: bool) -> List[postprocess.RawResult]:
    """Runs `model` over the prediction windows; returns their logits, each float32 [max_seq_length]."""
    max_seq_length = config.max_seq_length

    def full_length_model(features, training=False):
        start_logits, end_logits = squad_dataset.pad_logits(model(features, training=training), max_seq_length)
        return {"start_logits": start_logits, "end_logits": end_logits}

    dataset = squad_dataset.make_dataset(feature_file, max_seq_length, config.recipe.predict_batch_size,
                                         is_training=False,
                                         pad_to_max_length=(config.pad_to_max_length or on_tpu
                                                            or not config.predict_pad_to_longest))
    prediction = predict(full_length_model, dataset, strategy=strategy, output_keys=("start_logits", "end_logits"))
    unique_ids = prediction.features["unique_ids"]
    return [postprocess.RawResult(int(unique_id), start, end) for unique_id, start, end in
            zip(unique_ids, prediction.outputs["start_logits"], prediction.outputs["end_logits"])]


def _eval_results(config: SquadConfig, squad_file: SquadFile,
                  predictions: postprocess.Predictions) -> Optional[Dict[str, float]]:
    """The official figures for a predict file with answers; None when it cannot be scored."""
    if not squad_file.has_answers():
        logging.info("%s holds no answers: no eval_results.txt", squad_file.path)
        return None
    if not config.version_2_with_negative and any(not qa["answers"] for _, qa in squad_file.questions()):
        logging.warning("%s has questions without answers but --version_2_with_negative is false: not scored "
                        "(evaluate-v1.1.py cannot score them either)", squad_file.path)
        return None
    return evaluation.evaluate(squad_file.articles, predictions.answers, config.version_2_with_negative,
                               predictions.null_odds if config.version_2_with_negative else None)


# ------------------------------------------------------------------------------------------------ the run
def run(config: SquadConfig) -> SquadResult:
    """Trains and/or predicts as the original run_squad.py; see the module docstring.

    Args:
      config: the run's `SquadConfig`.

    Returns:
      A `SquadResult`.

    Raises:
      bert_tf.errors.UserError (InputError, CheckpointError, TrainingError): one line; when raised before
        training or prediction starts, nothing in output_dir was written.
    """
    validate_config(config)
    options = config.options
    bert_config = load_bert_config(config.model.bert_config_file, config.max_seq_length)
    tokenizer = load_tokenizer(config.model, bert_config)

    # Read and check every input (files, checkpoints) before output_dir is touched.
    train_examples = _read_training_examples(config) if config.do_train else None
    predict_inputs = _read_predict_inputs(config, tokenizer) if config.do_predict else None
    strategy = options.create_strategy()
    on_tpu = strategies.is_tpu_strategy(strategy)

    def model_fn(dtype_policy):
        return BertQuestionAnswering(bert_config, dtype=dtype_policy)

    result = SquadResult()
    trainer = None
    if config.do_train:
        result.num_train_steps, num_warmup_steps = config.recipe.schedule(len(train_examples),
                                                                           options.max_train_steps)
        trainer = Trainer(
            options.trainer_config(result.num_train_steps, config.model.init_checkpoint,
                                   expected_missing=HEAD_PATTERNS, on_tpu=on_tpu),
            model_fn=model_fn,
            optimizer_config=optimization.OptimizerConfig(learning_rate=config.recipe.learning_rate,
                                                          num_train_steps=result.num_train_steps,
                                                          num_warmup_steps=num_warmup_steps),
            loss_fn=squad_loss,
            strategy=strategy)
        trainer.build()  # checks output_dir's checkpoint and init_checkpoint against the model
        model = trainer.model
    else:
        model = _prediction_model(config, model_fn, strategy)

    chief = strategies.is_chief(strategy)
    # write_dir: output_dir, or a temporary folder on the other workers of a multi-worker run.
    with workspace.claim_output_dir(options.output_dir, TASK_NAME, chief=chief) as write_dir:
        if config.do_train:
            result.train = _train(config, trainer, tokenizer, train_examples, on_tpu, write_dir)
        if config.do_predict:
            _predict(config, model, predict_inputs, strategy, on_tpu, result, write_dir)
        if options.export_dir:
            export_dir = options.export_dir if chief else os.path.join(write_dir, "export")
            result.export_path = export.export_model(model, config, export_dir)
    return result


def _train(config: SquadConfig, trainer: Trainer, tokenizer, train_examples: List[SquadExample],
           on_tpu: bool, write_dir: str) -> TrainResult:
    """Writes (or reuses) `train.tf_record` and trains on it."""
    def write_train_features(path):
        return write_features(convert_examples_to_features(
            train_examples, tokenizer, config.max_seq_length, config.doc_stride, config.max_query_length,
            is_training=True), path, is_training=True)

    train_file = _feature_file(config, TRAIN_FEATURES_FILE, config.train_file, True, write_train_features,
                               write_dir)
    logging.info("***** Running training *****")
    logging.info("  Num orig examples = %d", len(train_examples))
    logging.info("  Batch size = %d", config.recipe.train_batch_size)
    logging.info("  Num steps = %d", trainer.config.num_train_steps)
    dataset = squad_dataset.training_dataset(
        train_file, config.max_seq_length, config.recipe.train_batch_size,
        pad_to_max_length=config.pad_to_max_length or on_tpu, group_by_length=config.group_by_length,
        seed=config.options.seed, drop_remainder=on_tpu)
    return trainer.train(dataset)


def _predict(config: SquadConfig, model, inputs: _PredictInputs, strategy, on_tpu: bool,
             result: SquadResult, write_dir: str) -> None:
    """Writes (or reuses) `eval.tf_record`, predicts, writes the prediction files and `eval_results.txt`
    into `write_dir` (`output_dir`, or a temporary folder on the other workers of a multi-worker run)."""
    output_dir = write_dir
    feature_file = _feature_file(config, PREDICT_FEATURES_FILE, config.predict_file, False,
                                 lambda path: write_features(inputs.features, path, is_training=False), write_dir)
    logging.info("***** Running predictions *****")
    logging.info("  Num orig examples = %d", len(inputs.examples))
    logging.info("  Num split examples = %d", len(inputs.features))
    logging.info("  Batch size = %d", config.recipe.predict_batch_size)
    raw_results = _predict_results(model, config, feature_file, strategy, on_tpu)
    result.predictions = postprocess.compute_predictions(
        inputs.examples, inputs.features, raw_results, config.n_best_size, config.max_answer_length,
        config.model.do_lower_case, config.version_2_with_negative, config.null_score_diff_threshold,
        config.verbose_logging)
    result.output_files = postprocess.write_prediction_files(result.predictions, output_dir,
                                                             config.version_2_with_negative)
    result.eval_results = _eval_results(config, inputs.squad_file, result.predictions)
    if result.eval_results is not None:
        path = os.path.join(output_dir, files.EVAL_RESULTS_FILE)
        files.write_eval_results(path, result.eval_results)
        result.output_files[files.EVAL_RESULTS_FILE] = path
        logging.info("***** Eval results *****")
        for key in sorted(result.eval_results):
            logging.info("  %s = %s", key, result.eval_results[key])
