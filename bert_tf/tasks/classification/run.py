"""GLUE fine-tuning, evaluation and prediction: the library behind `run_classifier.py`.

Does what the original `run_classifier.py` does, with the same outputs in `output_dir`:

* `train.tf_record`, `eval.tf_record`, `predict.tf_record`: the features (original names and types), written
  once and reused while the data, vocabulary and settings are unchanged (`bert_tf.tasks.feature_cache`:
  keyed on content digests, next to each file in `<name>.meta.json`);
* `model.ckpt-<step>` checkpoints (original format: `bert/*`, `output_weights`, `output_bias`, Adam slots,
  `global_step`) and the `checkpoint` state file; TensorBoard events;
* `eval_results.txt`: `key = value` lines sorted by key: `eval_accuracy`, `eval_loss`, `global_step`, `loss`
  and the task's GLUE metrics (`eval_f1` for MRPC/QQP, `eval_mcc` for CoLA, `eval_pearson`/`eval_spearman`
  for STS-B; regression tasks have no `eval_accuracy`);
* `test_results.tsv`: one line per prediction example, the class probabilities separated by tabs, no
  header (for regression, the predicted score).

Training: softmax cross-entropy averaged over the batch (regression: mean squared error), the original
AdamWeightDecay with warmup and linear decay, `num_train_steps = int(len(train) / train_batch_size *
num_train_epochs)`, `num_warmup_steps = int(num_train_steps * warmup_proportion)`. Re-running a command
whose training was interrupted resumes from the newest checkpoint in `output_dir`. Evaluation and prediction
use the model just trained, else the newest checkpoint in `output_dir`, else `init_checkpoint` (with an
untrained classifier, as the original Estimator does: logged as a warning).

Bad input raises a `bert_tf.errors.UserError` with a one-line message before anything in `output_dir` is
written.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import files
from bert_tf.errors import InputError
from bert_tf.modeling import BertClassifier
from bert_tf.tasks import feature_cache
from bert_tf.tasks.classification import dataset as classifier_dataset
from bert_tf.tasks.classification import examples as glue
from bert_tf.tasks.classification import features as classifier_features
from bert_tf.tasks.classification import metrics
from bert_tf.training import optimization, precision, sharding, strategies, workspace
from bert_tf.training.predict import predict
from bert_tf.training.restore import restore_or_initialize
from bert_tf.training.run_options import FineTuningOptions, ModelFiles, RunOptions, load_bert_config, load_tokenizer
from bert_tf.training.trainer import Trainer, TrainResult

CLASSIFIER_HEAD = ("output_weights", "output_bias")
TEST_RESULTS_FILE = "test_results.tsv"
_FEATURE_FILES = {"train": "train.tf_record", "dev": "eval.tf_record", "test": "predict.tf_record"}


@dataclasses.dataclass
class ClassifierConfig:
    """The settings of one `run_classifier.py` run.

    Attributes:
      task_name: a GLUE task (any case: `MRPC`, `sst-2`, ...).
      data_dir: the task's folder of `.tsv` files.
      model: the model files (`--bert_dir` or the original flags).
      options: output folder, strategy, dtype, checkpoint cadence, export (shared by every script).
      recipe: batch sizes, learning rate, epochs, warmup.
      max_seq_length: pairs are truncated (and batches padded at most) to this many word pieces.
      do_train, do_eval, do_predict: the original's three modes.
      pad_to_max_length: pad every batch to max_seq_length instead of its longest example (multiple of 8).
      group_by_length: training batches of similar-length examples (`bert_tf.training.batching`).
    """

    task_name: str
    data_dir: str
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
class ClassifierResult:
    """What `run` produced.

    Attributes:
      train: the TrainResult (None without do_train).
      eval_results: the eval_results.txt values (None without do_eval).
      test_results_file: path of test_results.tsv (None without do_predict).
      export_path: the SavedModel version folder (None without export_dir).
      num_train_steps: the training length used.
    """

    train: Optional[TrainResult] = None
    eval_results: Optional[Dict[str, float]] = None
    test_results_file: Optional[str] = None
    export_path: Optional[str] = None
    num_train_steps: Optional[int] = None


# ------------------------------------------------------------------------------------------------------ checks
def check_config(config: ClassifierConfig) -> None:
    """Raises InputError naming the first missing or invalid flag."""
    if not (config.do_train or config.do_eval or config.do_predict):
        raise InputError("At least one of `do_train`, `do_eval` or `do_predict' must be True.")
    for name in ("task_name", "data_dir"):
        if not getattr(config, name):
            raise InputError(f"--{name} is required")
    config.options.validate()
    config.recipe.validate(config.do_train)
    if isinstance(config.max_seq_length, bool) or not isinstance(config.max_seq_length, (int, np.integer)) \
            or config.max_seq_length < 3:
        raise InputError(f"--max_seq_length must be at least 3 ([CLS] x [SEP]), got {config.max_seq_length!r}")


def _read_examples(processor: glue.DataProcessor, data_dir: str, split: str) -> List[glue.InputExample]:
    readers = {"train": processor.get_train_examples, "dev": processor.get_dev_examples,
               "test": processor.get_test_examples}
    try:
        return readers[split](data_dir)
    except (ValueError, OSError, NotImplementedError) as error:
        raise InputError(str(error)) from None


# ---------------------------------------------------------------------------------------------- feature files
def _feature_file(config: ClassifierConfig, processor: glue.DataProcessor, tokenizer, examples: Sequence,
                  split: str, padded_count: int, folder: str) -> str:
    """Writes (or reuses) `<folder>/<train|eval|predict>.tf_record` for `examples`; returns its path."""
    path = os.path.join(folder, _FEATURE_FILES[split])
    settings = {
        "task": processor.task_name,
        "do_lower_case": bool(config.model.do_lower_case),
        "max_seq_length": int(config.max_seq_length),
        "labels": [str(label) for label in processor.get_labels()],
        "num_examples": len(examples),
        "num_records": int(padded_count),
    }
    key = feature_cache.cache_key([processor.split_path(config.data_dir, split)], config.model.vocab_file, settings)

    def write(temporary_path: str) -> int:
        records = list(examples) + [classifier_features.PaddingInputExample()] * (padded_count - len(examples))
        return classifier_features.file_based_convert_examples_to_features(
            records, processor.get_labels(), config.max_seq_length, tokenizer, temporary_path,
            is_regression=processor.is_regression)

    def check(existing_path: str) -> None:
        classifier_dataset.check_tfrecord_features(existing_path, config.max_seq_length, processor.is_regression)

    return feature_cache.cached_tfrecord(path, key, write, check)


def _padded_count(num_examples: int, batch_size: int, pad: bool) -> int:
    if not pad:
        return num_examples
    return -(-num_examples // batch_size) * batch_size


# ------------------------------------------------------------------------------------------------------ losses
def make_loss_fn(is_regression: bool):
    """Per-example losses [B]: softmax cross-entropy of `logits` (regression: squared error of logit 0)."""

    def classification_loss(outputs, labels, features):
        del features
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32),
                                                              logits=outputs["logits"])

    def regression_loss(outputs, labels, features):
        del features
        return tf.square(outputs["logits"][:, 0] - tf.cast(labels, tf.float32))

    return regression_loss if is_regression else classification_loss


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def write_test_results(path: str, logits: np.ndarray, is_regression: bool) -> None:
    """One tab-separated line of class probabilities per example (regression: the score), no header."""
    if is_regression:
        lines = [str(np.float32(row[0])) + "\n" for row in logits]
    else:
        lines = ["\t".join(str(probability) for probability in row) + "\n" for row in _softmax(logits)]
    files.atomic_write_text(path, "".join(lines))


# ------------------------------------------------------------------------------------------------------ the run
def run(config: ClassifierConfig) -> ClassifierResult:
    """Trains, evaluates and/or predicts as the original run_classifier.py; see the module docstring.

    Raises:
      UserError (InputError, CheckpointError, TrainingError): bad flags, data or checkpoints (nothing in
        output_dir was changed), or a loss that became NaN.
    """
    check_config(config)
    options, recipe = config.options, config.recipe
    bert_config = load_bert_config(config.model.bert_config_file, config.max_seq_length)
    tokenizer = load_tokenizer(config.model, bert_config)
    try:
        processor = glue.get_processor(config.task_name)
    except ValueError as error:
        raise InputError(str(error)) from None
    is_regression = processor.is_regression

    # Read (and so validate) every input before output_dir is touched.
    train_examples = _read_examples(processor, config.data_dir, "train") if config.do_train else None
    eval_examples = _read_examples(processor, config.data_dir, "dev") if config.do_eval else None
    predict_examples = _read_examples(processor, config.data_dir, "test") if config.do_predict else None

    num_train_steps = num_warmup_steps = None
    if config.do_train:
        num_train_steps, num_warmup_steps = recipe.schedule(len(train_examples), options.max_train_steps)

    strategy = options.create_strategy()
    on_tpu = strategies.is_tpu_strategy(strategy)
    num_labels = len(processor.get_labels())

    def model_fn(dtype_policy):
        return BertClassifier(bert_config, num_labels, dtype=dtype_policy)

    task = f"classification/{processor.task_name}"
    chief = strategies.is_chief(strategy)
    # write_dir: output_dir, or a temporary folder on the other workers of a multi-worker run.
    with workspace.claim_output_dir(options.output_dir, task, chief=chief) as write_dir:
        result = ClassifierResult(num_train_steps=num_train_steps)
        if config.do_train:
            trainer = Trainer(
                options.trainer_config(num_train_steps, config.model.init_checkpoint, CLASSIFIER_HEAD, on_tpu=on_tpu),
                model_fn=model_fn,
                optimizer_config=optimization.OptimizerConfig(
                    learning_rate=recipe.learning_rate, num_train_steps=num_train_steps,
                    num_warmup_steps=num_warmup_steps),
                loss_fn=make_loss_fn(is_regression),
                strategy=strategy,
            )
            trainer.build()  # raises CheckpointError for an output_dir checkpoint of another model
            train_file = _feature_file(config, processor, tokenizer, train_examples, "train", len(train_examples),
                                       write_dir)
            logging.info("***** Running training *****")
            logging.info("  Num examples = %d", len(train_examples))
            logging.info("  Batch size = %s", sharding.describe_batch(strategy, recipe.train_batch_size))
            logging.info("  Num steps = %d", num_train_steps)
            result.train = trainer.train(classifier_dataset.training_dataset(
                train_file, config.max_seq_length, recipe.train_batch_size, is_regression,
                pad_to_max_length=config.pad_to_max_length or on_tpu, group_by_length=config.group_by_length,
                seed=options.seed, drop_remainder=on_tpu))
            model, global_step = trainer.model, trainer.global_step
        else:
            if options.seed is not None:  # an untrained head starts from the same weights every time
                keras.utils.set_random_seed(options.seed)
            with strategy.scope():
                model = model_fn(precision.dtype_policy(options.dtype))
                info = restore_or_initialize(model, options.output_dir, config.model.init_checkpoint,
                                             CLASSIFIER_HEAD)
            global_step = info.global_step
            if info.report is not None and info.report.initialized:
                logging.warning("%s has no %s: evaluating/predicting with an untrained classifier layer",
                                info.checkpoint, ", ".join(info.report.initialized))

        def run_inference(title, examples, split, batch_size):
            """Caches `examples` as `<split>` features (padded to whole batches on TPUs) and predicts them."""
            padded = _padded_count(len(examples), batch_size, on_tpu)
            feature_file = _feature_file(config, processor, tokenizer, examples, split, padded, write_dir)
            logging.info("***** Running %s *****", title)
            logging.info("  Num examples = %d (%d actual, %d padding)", padded, len(examples), padded - len(examples))
            logging.info("  Batch size = %s", sharding.describe_batch(strategy, batch_size))
            dataset = classifier_dataset.make_classifier_dataset(
                feature_file, config.max_seq_length, batch_size, is_training=False, is_regression=is_regression,
                pad_to_max_length=config.pad_to_max_length or on_tpu, drop_remainder=on_tpu)
            return predict(model, dataset, strategy=strategy, title=title)

        if config.do_eval:
            prediction = run_inference("evaluation", eval_examples, "dev", recipe.eval_batch_size)
            result.eval_results = metrics.eval_results_from_predictions(processor.task_name, prediction,
                                                                        is_regression, global_step)
            files.write_eval_results(os.path.join(write_dir, files.EVAL_RESULTS_FILE), result.eval_results)
            logging.info("***** Eval results *****")
            for key in sorted(result.eval_results):
                logging.info("  %s = %s", key, result.eval_results[key])

        if config.do_predict:
            prediction = run_inference("prediction", predict_examples, "test", recipe.predict_batch_size)
            logits = prediction.outputs["logits"][:len(predict_examples)]
            result.test_results_file = os.path.join(write_dir, TEST_RESULTS_FILE)
            write_test_results(result.test_results_file, logits, is_regression)

        if options.export_dir:  # every worker exports (saving may synchronize them); only the chief's stays
            export_dir = options.export_dir if chief else os.path.join(write_dir, "export")
            result.export_path = export_model(model, processor, config, export_dir)
        return result


def export_model(model, processor: glue.DataProcessor, config: ClassifierConfig,
                 export_dir: Optional[str] = None) -> str:
    """Exports `model` for TF Serving with `bert_tf.serving.export_for_task` under `export_dir` (default:
    `--export_dir`); returns the version folder."""
    from bert_tf import serving  # imported late: only needed with --export_dir

    try:
        path = serving.export_for_task(model, processor, config.model.vocab_file, config.model.do_lower_case,
                                       config.max_seq_length, export_dir or config.options.export_dir)
    except ValueError as error:
        raise InputError(f"--export_dir: {error}") from None
    logging.info("Exported the SavedModel to %s", path)
    return path
