"""GLUE fine-tuning, evaluation and prediction: the library behind `run_classifier.py`.

Does what the original `run_classifier.py` does, with the same outputs in `output_dir`:

* `train.tf_record`, `eval.tf_record`, `predict.tf_record`: the features (original names and types), written
  once and reused while the data, vocabulary, casing and max_seq_length are unchanged (recorded next to
  each file in `<name>.meta.json`);
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
untrained classifier, as the original Estimator does).

Bad input raises `InputError` (or `CheckpointError`) with a one-line message before anything in
`output_dir` is written.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import uuid
from typing import Dict, List, Optional, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import tokenization
from bert_tf.checkpoint import CheckpointError, resolve_checkpoint
from bert_tf.config import BertConfig
from bert_tf.tasks.classification import features as classifier_features
from bert_tf.tasks.classification import examples as glue
from bert_tf.training import length_grouping
from bert_tf.tasks.classification import metrics
from bert_tf.modeling import BertClassifier
from bert_tf.training import loop, optimization, precision, strategies

CLASSIFIER_HEAD = ("output_weights", "output_bias")
EVAL_RESULTS_FILE = "eval_results.txt"
TEST_RESULTS_FILE = "test_results.tsv"
_FEATURE_FILES = {"train": "train.tf_record", "dev": "eval.tf_record", "test": "predict.tf_record"}
_META_SUFFIX = ".meta.json"
_META_FORMAT = 1
_GROUP_WINDOW_BATCHES = 8


class InputError(ValueError):
    """Bad flags or data: reported as one line, without a traceback, by run_classifier.py."""


@dataclasses.dataclass
class ClassifierConfig:
    """The settings of one run; field names are the original run_classifier.py flags.

    Attributes (beyond the original flags):
      keep_checkpoint_max: newest checkpoints kept in output_dir.
      strategy, tpu_address: see `bert_tf.training.strategies.create_strategy`.
      use_xla: compile the training step with XLA.
      dtype: "float32", "mixed_float16" or "mixed_bfloat16".
      pad_to_max_length: pad every batch to max_seq_length instead of its longest example (multiple of 8).
      group_by_length: training batches of similar-length examples (see `bert_tf.training.length_grouping`).
      seed: seeds initialization, dropout and shuffling (None: random).
      export_dir: after the run, export a SavedModel for TF Serving there (`bert_tf.serving`).
      max_train_steps: stop (and end the learning-rate schedule) after at most this many steps.
      log_every_steps: TensorBoard / log-line interval.
      progress_bar: None: only on a terminal.
    """

    task_name: str
    data_dir: str
    output_dir: str
    bert_config_file: str
    vocab_file: str
    init_checkpoint: Optional[str] = None
    do_lower_case: bool = True
    max_seq_length: int = 128
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    train_batch_size: int = 32
    eval_batch_size: int = 8
    predict_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_epochs: float = 3.0
    warmup_proportion: float = 0.1
    save_checkpoints_steps: int = 1000
    iterations_per_loop: int = 1000
    keep_checkpoint_max: int = 5
    strategy: str = strategies.DEFAULT_STRATEGY
    tpu_address: Optional[str] = None
    use_xla: bool = False
    dtype: str = "float32"
    pad_to_max_length: bool = False
    group_by_length: bool = False
    seed: Optional[int] = None
    export_dir: Optional[str] = None
    max_train_steps: Optional[int] = None
    log_every_steps: int = 100
    progress_bar: Optional[bool] = None


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

    train: Optional[loop.TrainResult] = None
    eval_results: Optional[Dict[str, float]] = None
    test_results_file: Optional[str] = None
    export_path: Optional[str] = None
    num_train_steps: Optional[int] = None


# ------------------------------------------------------------------------------------------------------------
# Flags -> config helpers
# ------------------------------------------------------------------------------------------------------------


def bert_dir_files(bert_dir: str, names: Sequence[str] = ("bert_config_file", "vocab_file", "init_checkpoint")
                   ) -> Dict[str, str]:
    """The files of a released model folder for the flags in `names`.

    `bert_config_file` -> `<bert_dir>/bert_config.json`, `vocab_file` -> `<bert_dir>/vocab.txt`,
    `init_checkpoint` -> the folder's checkpoint (`bert_model.ckpt` in a released folder).

    Raises:
      InputError: the folder, or one of the requested files, is missing.
    """
    if not tf.io.gfile.isdir(bert_dir):
        raise InputError(f"--bert_dir {bert_dir} is not a folder")
    file_names = {"bert_config_file": "bert_config.json", "vocab_file": "vocab.txt"}
    files = {}
    for name in names:
        if name == "init_checkpoint":
            try:
                files[name] = resolve_checkpoint(bert_dir)
            except CheckpointError as error:
                raise InputError(f"--bert_dir: {error}") from None
            continue
        path = os.path.join(bert_dir, file_names[name])
        if not tf.io.gfile.exists(path):
            raise InputError(f"--bert_dir {bert_dir} has no {file_names[name]} (needed for --{name})")
        files[name] = path
    return files


def num_train_steps_for(num_examples: int, train_batch_size: int, num_train_epochs: float) -> int:
    """The original's `int(len(train_examples) / train_batch_size * num_train_epochs)`."""
    return int(num_examples / train_batch_size * num_train_epochs)


# ------------------------------------------------------------------------------------------------------------
# Checks
# ------------------------------------------------------------------------------------------------------------


def _check_config(config: ClassifierConfig) -> None:
    if not (config.do_train or config.do_eval or config.do_predict):
        raise InputError("At least one of `do_train`, `do_eval` or `do_predict' must be True.")
    for name in ("task_name", "data_dir", "output_dir"):
        if not getattr(config, name):
            raise InputError(f"--{name} is required")
    for name in ("bert_config_file", "vocab_file"):
        if not getattr(config, name):
            raise InputError(f"--{name} is required (or --bert_dir, a released model folder)")
    for name in ("max_seq_length", "train_batch_size", "eval_batch_size", "predict_batch_size",
                 "save_checkpoints_steps", "iterations_per_loop", "log_every_steps"):
        value = getattr(config, name)
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise InputError(f"--{name} must be a positive integer, got {value!r}")
    if config.max_seq_length < 3:
        raise InputError(f"--max_seq_length must be at least 3 ([CLS] x [SEP]), got {config.max_seq_length}")
    if config.do_train:
        if not config.learning_rate > 0:
            raise InputError(f"--learning_rate must be > 0, got {config.learning_rate}")
        if not config.num_train_epochs > 0:
            raise InputError(f"--num_train_epochs must be > 0, got {config.num_train_epochs}")
        if not 0 <= config.warmup_proportion <= 1:
            raise InputError(f"--warmup_proportion must be in [0, 1], got {config.warmup_proportion}")
    if config.keep_checkpoint_max is not None and config.keep_checkpoint_max < 0:
        raise InputError(f"--keep_checkpoint_max must be >= 0, got {config.keep_checkpoint_max}")
    if config.max_train_steps is not None and config.max_train_steps < 1:
        raise InputError(f"--max_train_steps must be >= 1, got {config.max_train_steps}")
    try:
        precision.canonical_dtype(config.dtype)
    except ValueError as error:
        raise InputError(str(error)) from None
    if str(config.strategy).strip().lower().replace("-", "_") not in strategies.STRATEGY_NAMES:
        raise InputError(f"unknown --strategy {config.strategy!r}; "
                         f"choose one of {', '.join(strategies.STRATEGY_NAMES)}")


def _load_bert_config(config: ClassifierConfig) -> BertConfig:
    try:
        bert_config = BertConfig.from_json_file(config.bert_config_file)
    except (ValueError, OSError) as error:
        raise InputError(str(error)) from None
    if config.max_seq_length > bert_config.max_position_embeddings:
        raise InputError(
            "Cannot use sequence length %d because the BERT model was only trained up to sequence length %d"
            % (config.max_seq_length, bert_config.max_position_embeddings))
    return bert_config


def _read_examples(processor: glue.DataProcessor, data_dir: str, split: str) -> List[glue.InputExample]:
    readers = {"train": processor.get_train_examples, "dev": processor.get_dev_examples,
               "test": processor.get_test_examples}
    try:
        return readers[split](data_dir)
    except (ValueError, OSError, NotImplementedError) as error:
        raise InputError(str(error)) from None


# ------------------------------------------------------------------------------------------------------------
# Feature files (cached in output_dir)
# ------------------------------------------------------------------------------------------------------------


def _file_fingerprint(path: str) -> Dict[str, int]:
    stat = tf.io.gfile.stat(path)
    return {"size": int(stat.length), "mtime_ns": int(stat.mtime_nsec)}


def _vocab_digest(vocab_file: str) -> str:
    with tf.io.gfile.GFile(vocab_file, "rb") as reader:
        return hashlib.sha256(reader.read()).hexdigest()


def _atomic_write_text(path: str, text: str) -> None:
    temporary = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with tf.io.gfile.GFile(temporary, "w") as writer:
        writer.write(text)
    tf.io.gfile.rename(temporary, path, overwrite=True)


def _feature_file(config: ClassifierConfig, processor: glue.DataProcessor, tokenizer, examples: Sequence,
                  split: str, vocab_digest: str, padded_count: int) -> str:
    """Writes (or reuses) `output_dir/<train|eval|predict>.tf_record` for `examples`; returns its path."""
    path = os.path.join(config.output_dir, _FEATURE_FILES[split])
    meta_path = path + _META_SUFFIX
    data_file = processor.split_path(config.data_dir, split)
    meta = {
        "format": _META_FORMAT,
        "task": processor.task_name,
        "data_file": os.path.abspath(data_file) if "://" not in data_file else data_file,
        "data_file_stat": _file_fingerprint(data_file),
        "vocab_sha256": vocab_digest,
        "do_lower_case": bool(config.do_lower_case),
        "max_seq_length": int(config.max_seq_length),
        "labels": [str(label) for label in processor.get_labels()],
        "num_examples": len(examples),
        "num_records": int(padded_count),
    }
    if tf.io.gfile.exists(path) and tf.io.gfile.exists(meta_path):
        try:
            with tf.io.gfile.GFile(meta_path, "r") as reader:
                if json.load(reader) == meta:
                    classifier_features.check_tfrecord_features(path, config.max_seq_length, processor.is_regression)
                    logging.info("Reusing %s (%d examples)", path, len(examples))
                    return path
        except (ValueError, OSError) as error:
            logging.info("Rewriting %s: %s", path, error)
    records = list(examples) + [classifier_features.PaddingInputExample()] * (padded_count - len(examples))
    count = classifier_features.file_based_convert_examples_to_features(
        records, processor.get_labels(), config.max_seq_length, tokenizer, path,
        is_regression=processor.is_regression)
    _atomic_write_text(meta_path, json.dumps(meta, indent=1, sort_keys=True) + "\n")
    logging.info("Wrote %d records to %s", count, path)
    return path


def _padded_count(num_examples: int, batch_size: int, pad: bool) -> int:
    if not pad:
        return num_examples
    return -(-num_examples // batch_size) * batch_size


# ------------------------------------------------------------------------------------------------------------
# Losses and metrics
# ------------------------------------------------------------------------------------------------------------


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


def _per_example_losses(logits: np.ndarray, labels: np.ndarray, is_regression: bool) -> np.ndarray:
    logits = logits.astype(np.float64)
    if is_regression:
        return np.square(logits[:, 0] - labels.astype(np.float64))
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_normalizer = np.log(np.exp(shifted).sum(axis=1))
    return log_normalizer - shifted[np.arange(len(labels)), labels.astype(np.int64)]


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float32) - logits.max(axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def eval_results_from_predictions(task_name: str, prediction: loop.PredictResult, is_regression: bool,
                                  global_step: int) -> Dict[str, float]:
    """The eval_results.txt values.

    `eval_loss` is the mean per-example loss over real examples; `loss` the mean of the batch-mean losses
    (the Estimator's `loss`); the metrics (`glue_metrics`) use real examples only.
    """
    logits = prediction.outputs["logits"]
    labels = prediction.labels
    real = prediction.features.get("is_real_example", np.ones(len(labels), np.float32)) > 0
    losses = _per_example_losses(logits, labels, is_regression)
    batch_means, start = [], 0
    for size in prediction.batch_sizes:
        if size:
            batch_means.append(float(np.mean(losses[start:start + size])))
        start += size
    results = dict(metrics.glue_metrics(task_name, logits[real], labels[real]))
    results["eval_loss"] = float(np.mean(losses[real]))
    results["loss"] = float(np.mean(batch_means))
    results["global_step"] = int(global_step)
    return results


def write_eval_results(path: str, results: Dict[str, float]) -> None:
    """`key = value` lines sorted by key (the original's format), written to a temporary name then renamed."""
    _atomic_write_text(path, "".join(f"{key} = {results[key]}\n" for key in sorted(results)))


def write_test_results(path: str, logits: np.ndarray, is_regression: bool) -> None:
    """One tab-separated line of class probabilities per example (regression: the score), no header."""
    if is_regression:
        lines = [str(np.float32(row[0])) + "\n" for row in logits]
    else:
        lines = ["\t".join(str(probability) for probability in row) + "\n" for row in _softmax(logits)]
    _atomic_write_text(path, "".join(lines))


# ------------------------------------------------------------------------------------------------------------
# Datasets
# ------------------------------------------------------------------------------------------------------------


def _training_dataset(path: str, config: ClassifierConfig, is_regression: bool, on_tpu: bool) -> tf.data.Dataset:
    pad_to_max_length = config.pad_to_max_length or on_tpu
    if not config.group_by_length or pad_to_max_length:
        return classifier_features.make_classifier_dataset(
            path, config.max_seq_length, config.train_batch_size, is_training=True, is_regression=is_regression,
            pad_to_max_length=pad_to_max_length, seed=config.seed, drop_remainder=on_tpu)
    window = config.train_batch_size * _GROUP_WINDOW_BATCHES
    classifier_features.check_tfrecord_features(path, config.max_seq_length, is_regression)
    windows = tf.data.TFRecordDataset(path).repeat().shuffle(100, seed=config.seed)
    windows = windows.batch(window, drop_remainder=True).map(
        classifier_features.make_parse_batch_fn(config.max_seq_length, is_regression, pad_to_max_length=True),
        num_parallel_calls=tf.data.AUTOTUNE)
    batches = length_grouping.group_windows_by_length(windows, config.train_batch_size, seed=config.seed)
    return batches.prefetch(tf.data.AUTOTUNE)


def _inference_dataset(path: str, config: ClassifierConfig, batch_size: int, is_regression: bool,
                       on_tpu: bool) -> tf.data.Dataset:
    return classifier_features.make_classifier_dataset(
        path, config.max_seq_length, batch_size, is_training=False, is_regression=is_regression,
        pad_to_max_length=config.pad_to_max_length or on_tpu, drop_remainder=on_tpu)


# ------------------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------------------


def run(config: ClassifierConfig) -> ClassifierResult:
    """Trains, evaluates and/or predicts as the original run_classifier.py; see the module docstring.

    Raises:
      InputError, CheckpointError: bad flags, data or checkpoints (nothing in output_dir was changed).
      loop.TrainingError: the loss became NaN.
    """
    _check_config(config)
    bert_config = _load_bert_config(config)
    try:
        tokenization.validate_case_matches_checkpoint(config.do_lower_case, config.init_checkpoint)
        processor = glue.get_processor(config.task_name)
    except ValueError as error:
        raise InputError(str(error)) from None
    if not tf.io.gfile.exists(config.vocab_file):
        raise InputError(f"vocab file not found: {config.vocab_file}")
    try:
        tokenizer = tokenization.FullTokenizer(config.vocab_file, config.do_lower_case)
    except (ValueError, OSError) as error:
        raise InputError(f"cannot read vocab file {config.vocab_file}: {error}") from None
    label_list = processor.get_labels()
    is_regression = processor.is_regression

    # Read (and so validate) every input before output_dir is touched.
    train_examples = _read_examples(processor, config.data_dir, "train") if config.do_train else None
    eval_examples = _read_examples(processor, config.data_dir, "dev") if config.do_eval else None
    predict_examples = _read_examples(processor, config.data_dir, "test") if config.do_predict else None

    num_train_steps = num_warmup_steps = None
    if config.do_train:
        num_train_steps = num_train_steps_for(len(train_examples), config.train_batch_size, config.num_train_epochs)
        if config.max_train_steps is not None:
            num_train_steps = min(num_train_steps, config.max_train_steps)
        if num_train_steps < 1:
            raise InputError(
                f"{len(train_examples)} training examples / train_batch_size {config.train_batch_size} * "
                f"num_train_epochs {config.num_train_epochs} gives 0 training steps")
        num_warmup_steps = int(num_train_steps * config.warmup_proportion)

    try:
        strategy = strategies.create_strategy(config.strategy, config.tpu_address)
    except ValueError as error:
        raise InputError(str(error)) from None
    on_tpu = strategies.is_tpu_strategy(strategy)
    num_labels = len(label_list)

    def model_fn(dtype_policy):
        return BertClassifier(bert_config, num_labels, dtype=dtype_policy)

    tf.io.gfile.makedirs(config.output_dir)
    result = ClassifierResult(num_train_steps=num_train_steps)
    trainer = None
    if config.do_train:
        trainer = loop.Trainer(
            loop.TrainerConfig(
                output_dir=config.output_dir,
                num_train_steps=num_train_steps,
                save_checkpoints_steps=config.save_checkpoints_steps,
                keep_checkpoint_max=config.keep_checkpoint_max,
                log_every_steps=config.log_every_steps,
                use_xla=config.use_xla,
                steps_per_loop=config.iterations_per_loop if on_tpu else 1,
                dtype=config.dtype,
                init_checkpoint=config.init_checkpoint,
                expected_missing=CLASSIFIER_HEAD,
                seed=config.seed,
                progress_bar=config.progress_bar,
            ),
            model_fn=model_fn,
            optimizer_config=optimization.OptimizerConfig(
                learning_rate=config.learning_rate, num_train_steps=num_train_steps,
                num_warmup_steps=num_warmup_steps),
            loss_fn=make_loss_fn(is_regression),
            strategy=strategy,
        )
        trainer.build()  # raises CheckpointError for an output_dir checkpoint of another model
        model, global_step = trainer.model, trainer.global_step
    else:
        with strategy.scope():
            model = model_fn(precision.dtype_policy(config.dtype))
            info = loop.restore_or_initialize(model, config.output_dir, config.init_checkpoint, CLASSIFIER_HEAD)
        global_step = info.global_step
        if info.source != "output_dir":
            logging.warning("No checkpoint in %s: evaluating/predicting with an untrained classifier layer",
                            config.output_dir)

    vocab_digest = _vocab_digest(config.vocab_file)
    if config.do_train:
        train_file = _feature_file(config, processor, tokenizer, train_examples, "train", vocab_digest,
                                   len(train_examples))
        logging.info("***** Running training *****")
        logging.info("  Num examples = %d", len(train_examples))
        logging.info("  Batch size = %d", config.train_batch_size)
        logging.info("  Num steps = %d", num_train_steps)
        result.train = trainer.train(_training_dataset(train_file, config, is_regression, on_tpu))
        global_step = trainer.global_step

    def run_inference(title, examples, split, batch_size):
        """Caches `examples` as `<split>` features (padded to whole batches on TPUs) and predicts them."""
        padded = _padded_count(len(examples), batch_size, on_tpu)
        feature_file = _feature_file(config, processor, tokenizer, examples, split, vocab_digest, padded)
        logging.info("***** Running %s *****", title)
        logging.info("  Num examples = %d (%d actual, %d padding)", padded, len(examples), padded - len(examples))
        logging.info("  Batch size = %d", batch_size)
        return loop.predict(model, _inference_dataset(feature_file, config, batch_size, is_regression, on_tpu),
                            strategy=strategy)

    if config.do_eval:
        prediction = run_inference("evaluation", eval_examples, "dev", config.eval_batch_size)
        result.eval_results = eval_results_from_predictions(processor.task_name, prediction, is_regression,
                                                            global_step)
        write_eval_results(os.path.join(config.output_dir, EVAL_RESULTS_FILE), result.eval_results)
        logging.info("***** Eval results *****")
        for key in sorted(result.eval_results):
            logging.info("  %s = %s", key, result.eval_results[key])

    if config.do_predict:
        prediction = run_inference("prediction", predict_examples, "test", config.predict_batch_size)
        logits = prediction.outputs["logits"][:len(predict_examples)]
        result.test_results_file = os.path.join(config.output_dir, TEST_RESULTS_FILE)
        write_test_results(result.test_results_file, logits, is_regression)

    if config.export_dir:
        result.export_path = export_model(model, processor, config)
    return result


def export_model(model, processor: glue.DataProcessor, config: ClassifierConfig) -> str:
    """Exports `model` for TF Serving with `bert_tf.serving.export_for_task`; returns the version folder."""
    from bert_tf import serving  # noqa: imported late: only needed with --export_dir

    try:
        path = serving.export_for_task(model, processor, config.vocab_file, config.do_lower_case,
                                       config.max_seq_length, config.export_dir)
    except ValueError as error:
        raise InputError(f"--export_dir: {error}") from None
    logging.info("Exported the SavedModel to %s", path)
    return path
