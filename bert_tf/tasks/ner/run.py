"""Named-entity recognition on CoNLL files: the library behind `run_ner.py`.

Reads `train.txt`, `dev.txt` (or `valid.txt`) and `test.txt` of `data_dir` (CoNLL-2003 layout; `predict_file`
for any other file to tag) and writes in `output_dir`:

* `label_map.json`: the training labels and their ids (`examples`); runs without `do_train` read it back
  (from `output_dir`, else from the folder of `init_checkpoint`);
* `train.tf_record`, `eval.tf_record`, `predict.tf_record`: the windows (`features`), reused while the data,
  vocabulary and settings are unchanged (`bert_tf.tasks.feature_cache`);
* `model.ckpt-<step>` checkpoints (`bert/*`, `cls/ner/output_weights`, `cls/ner/output_bias`, Adam slots,
  `global_step`) and TensorBoard events;
* `eval_results.txt`: `eval_precision`, `eval_recall`, `eval_f1` (entity level, conlleval: `metrics`),
  `eval_accuracy` (words), `eval_loss` (mean cross-entropy per word), `global_step`, and
  `eval_precision_<TYPE>`, `eval_recall_<TYPE>`, `eval_f1_<TYPE>` per entity type; `eval_predictions.txt`;
* `test_predictions.txt`: `word gold predicted` per line (`word predicted` for an untagged file), a blank
  line after each sentence, `-DOCSTART-` lines kept: conlleval's input; `test_results.txt`: the same
  metrics as `test_*` when the file has tags.

Training: cross-entropy averaged over the words of the batch (first word pieces), the original
AdamWeightDecay with warmup and linear decay; `num_train_steps = int(windows / train_batch_size *
num_train_epochs)`. A re-run resumes from the newest checkpoint in `output_dir`. Without `do_train`, the
model is `output_dir`'s newest checkpoint, else `init_checkpoint`, which must hold a fine-tuned `cls/ner/`
head (an error otherwise: an untrained head would tag at random).

Every input is read and checked before `output_dir` is touched; problems are a `UserError` with one line.
"""
from __future__ import annotations

import collections
import dataclasses
import os
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import files
from bert_tf.checkpoint import latest_checkpoint, list_checkpoint
from bert_tf.errors import InputError
from bert_tf.modeling.token_classification import NER_HEAD_VARIABLES, BertTokenClassifier
from bert_tf.tasks import feature_cache
from bert_tf.tasks.ner import dataset as ner_dataset
from bert_tf.tasks.ner import examples, export, metrics
from bert_tf.tasks.ner import features as ner_features
from bert_tf.training import optimization, precision, strategies, workspace
from bert_tf.training.predict import predict
from bert_tf.training.restore import restore_or_initialize
from bert_tf.training.run_options import FineTuningOptions, ModelFiles, RunOptions, load_bert_config, load_tokenizer
from bert_tf.training.trainer import Trainer, TrainResult

TASK_NAME = "ner"
TRAIN_FILE = "train.txt"
DEV_FILES = ("dev.txt", "valid.txt")
TEST_FILE = "test.txt"
EVAL_PREDICTIONS_FILE = "eval_predictions.txt"
TEST_PREDICTIONS_FILE = "test_predictions.txt"
TEST_RESULTS_FILE = "test_results.txt"
_FEATURE_FILES = {"train": "train.tf_record", "dev": "eval.tf_record", "test": "predict.tf_record"}


@dataclasses.dataclass
class NerConfig:
    """The settings of one `run_ner.py` run.

    Attributes:
      data_dir: the folder of `train.txt`, `dev.txt`/`valid.txt`, `test.txt` (not needed to predict a
        `predict_file` alone).
      model: the model files (`--bert_dir` or the original flags).
      options: output folder, strategy, dtype, checkpoint cadence, export (shared by every script).
      recipe: batch sizes, learning rate, epochs, warmup.
      max_seq_length: word pieces per window, `[CLS]` and `[SEP]` included.
      do_train, do_eval, do_predict: train on train.txt, evaluate on the dev file, tag the test file.
      predict_file: the CoNLL file `do_predict` tags instead of `data_dir/test.txt`.
      window_stride: word pieces between the starts of a long sentence's windows (default: half a window).
      pad_to_max_length: pad every batch to max_seq_length instead of its longest window (always on TPUs).
      group_by_length: train on batches of similar-length windows (`bert_tf.training.batching`); on by
        default (about twice as fast; NER has no original script whose random batches to keep).
    """

    data_dir: Optional[str]
    model: ModelFiles
    options: RunOptions
    recipe: FineTuningOptions = dataclasses.field(default_factory=FineTuningOptions)
    max_seq_length: int = 128
    do_train: bool = False
    do_eval: bool = False
    do_predict: bool = False
    predict_file: Optional[str] = None
    window_stride: Optional[int] = None
    pad_to_max_length: bool = False
    group_by_length: bool = True


@dataclasses.dataclass
class NerResult:
    """What `run` produced.

    Attributes:
      label_list: the labels in id order.
      train: the TrainResult (None without do_train).
      num_train_steps: the training length used (None without do_train).
      eval_results: the eval_results.txt values (None without do_eval).
      test_results: the test_results.txt values (None without do_predict or for an untagged file).
      test_predictions_file: the path of test_predictions.txt (None without do_predict).
      export_path: the SavedModel folder (None without export_dir).
    """

    label_list: List[str]
    train: Optional[TrainResult] = None
    num_train_steps: Optional[int] = None
    eval_results: Optional[Dict[str, float]] = None
    test_results: Optional[Dict[str, float]] = None
    test_predictions_file: Optional[str] = None
    export_path: Optional[str] = None


@dataclasses.dataclass
class _Split:
    """One data file, parsed and converted to windows."""

    name: str
    conll: examples.ConllFile
    features: ner_features.NerFeatures


# ------------------------------------------------------------------------------------------------------ checks
def check_config(config: NerConfig) -> None:
    """Raises InputError naming the first missing or invalid flag."""
    if not (config.do_train or config.do_eval or config.do_predict):
        raise InputError("At least one of `do_train`, `do_eval` or `do_predict' must be True.")
    if not config.data_dir and (config.do_train or config.do_eval or not config.predict_file):
        raise InputError("--data_dir is required")
    if config.data_dir and not files._gfile().isdir(config.data_dir):
        raise InputError(f"--data_dir {config.data_dir} is not a folder")
    config.options.validate()
    config.recipe.validate(config.do_train)
    _require_int("max_seq_length", config.max_seq_length, 3)  # [CLS] word [SEP]
    if config.window_stride is not None:
        _require_int("window_stride", config.window_stride, 1)


def _require_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"--{name} must be an integer >= {minimum}, got {value!r}")


def data_files(config: NerConfig) -> Dict[str, str]:
    """The CoNLL file of each requested split (`train`, `dev`, `test`).

    Raises:
      InputError: a needed file does not exist (naming the folder and the names looked for).
    """
    gfile = files._gfile()
    paths = {}
    if config.do_train:
        paths["train"] = os.path.join(config.data_dir, TRAIN_FILE)
    if config.do_eval:
        candidates = [os.path.join(config.data_dir, name) for name in DEV_FILES]
        paths["dev"] = next((path for path in candidates if gfile.exists(path)), candidates[0])
    if config.do_predict:
        paths["test"] = config.predict_file or os.path.join(config.data_dir, TEST_FILE)
    for split, path in paths.items():
        if not gfile.exists(path):
            wanted = " or ".join(DEV_FILES) if split == "dev" else os.path.basename(path)
            where = "--predict_file" if split == "test" and config.predict_file else f"--data_dir {config.data_dir}"
            raise InputError(f"{where}: no {wanted} ({path} does not exist)")
    return paths


def _label_map_folders(config: NerConfig) -> List[Optional[str]]:
    init_checkpoint = config.model.init_checkpoint
    init_folder = None
    if init_checkpoint:
        init_folder = init_checkpoint if files._gfile().isdir(init_checkpoint) else os.path.dirname(init_checkpoint)
    return [config.options.output_dir, init_folder]


def resolve_label_list(config: NerConfig, train: Optional[examples.ConllFile]) -> List[str]:
    """The labels: from the training file when training, else from a saved `label_map.json`.

    Raises:
      InputError: no label map to read; or `output_dir` holds checkpoints trained on other labels.
    """
    output_dir = config.options.output_dir
    if train is not None:
        label_list = examples.label_list_from_training(train)
        saved = examples.find_label_map([output_dir])
        if saved and examples.read_label_map(saved) != label_list and latest_checkpoint(output_dir):
            raise InputError(f"{saved} lists other labels than {train.path} ({', '.join(label_list)}), and "
                             f"{output_dir} holds checkpoints trained on them: use a new --output_dir")
        return label_list
    path = examples.find_label_map(_label_map_folders(config))
    if path is None:
        raise InputError(f"no {examples.LABEL_MAP_FILE} in --output_dir {output_dir} (or next to "
                         "--init_checkpoint): run with --do_train first, it writes the label map")
    logging.info("Labels from %s", path)
    return examples.read_label_map(path)


def _read_split(name: str, path: str, label_list: Optional[Sequence[str]], tokenizer, config: NerConfig,
                conll: Optional[examples.ConllFile] = None) -> _Split:
    conll = conll or examples.read_conll_file(path, require_tags=name != "test")
    if conll.tagged:
        examples.check_labels(conll, label_list)
    features = ner_features.convert_file(conll, label_list, tokenizer, config.max_seq_length, config.window_stride)
    logging.info("%s: %d sentences, %d words, %d windows", path, features.num_sentences, features.num_words,
                 len(features.windows))
    return _Split(name, conll, features)


# ---------------------------------------------------------------------------------------------- feature files
def _feature_file(config: NerConfig, split: _Split, label_list: Sequence[str], num_padding: int,
                  write_dir: str) -> str:
    """Writes (or reuses) `write_dir/<train|eval|predict>.tf_record` for a split; returns its path."""
    path = os.path.join(write_dir, _FEATURE_FILES[split.name])
    windows = split.features.windows
    num_records = len(windows) + num_padding
    settings = {"task": TASK_NAME, "do_lower_case": bool(config.model.do_lower_case),
                "max_seq_length": int(config.max_seq_length), "window_stride": config.window_stride,
                "labels": list(label_list), "num_records": num_records}
    key = feature_cache.cache_key([split.conll.path], config.model.vocab_file, settings)
    return feature_cache.cached_tfrecord(
        path, key,
        lambda temporary: ner_features.write_windows(windows, temporary, config.max_seq_length, num_padding),
        lambda existing: ner_features.check_tfrecord(existing, config.max_seq_length, num_records))


def _padding_for(num_windows: int, batch_size: int, on_tpu: bool) -> int:
    return -num_windows % batch_size if on_tpu else 0


# ------------------------------------------------------------------------------------------ loss and decoding
def token_classification_loss(outputs, labels, features) -> tf.Tensor:
    """Mean softmax cross-entropy over the labeled positions (label id >= 0) of the global batch.

    Returns this replica's scalar, scaled so that the trainer's mean over replicas is the mean over every
    labeled position of the global batch: replicas hold different numbers of labeled positions, so each
    divides its sum by the global count (summed across replicas), as one device with the whole batch does.
    """
    del features
    labels = tf.cast(labels, tf.int32)
    weights = tf.cast(labels >= 0, tf.float32)
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0), logits=outputs["logits"])
    count = tf.reduce_sum(weights)
    context = tf.distribute.get_replica_context()
    num_replicas = context.num_replicas_in_sync if context is not None else 1
    if num_replicas > 1:
        count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
    return tf.reduce_sum(losses * weights) / tf.maximum(count, 1.0) * num_replicas


def decode(split: _Split, logits: np.ndarray, label_list: Sequence[str]) -> List[List[str]]:
    """Each word's predicted label: the argmax at its first piece in its window (`O` for a word without pieces).

    Args:
      split: the file and its windows.
      logits: float32 [num windows (or more: padding), max_seq_length, num_labels], in window order.
      label_list: the labels in id order.

    Returns:
      Per sentence, one IOB2 label per word.
    """
    predicted = [[examples.OUTSIDE] * len(sentence.words) for sentence in split.conll.sentences]
    best = logits.argmax(axis=-1)
    for row, window in enumerate(split.features.windows):
        sentence = predicted[window.sentence_index]
        for position, word_index in zip(window.positions, window.word_indices):
            sentence[word_index] = label_list[best[row, position]]
    return predicted


def mean_word_loss(split: _Split, logits: np.ndarray) -> float:
    """The mean cross-entropy over the words that have pieces (what training minimizes), float64."""
    rows, positions, label_ids = [], [], []
    for row, window in enumerate(split.features.windows):
        rows.extend([row] * len(window.positions))
        positions.extend(window.positions)
        label_ids.extend(window.label_ids)
    if not rows:
        return 0.0
    word_logits = logits[np.array(rows), np.array(positions)].astype(np.float64)
    shifted = word_logits - word_logits.max(axis=1, keepdims=True)
    log_normalizer = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_normalizer - shifted[np.arange(len(rows)), np.array(label_ids)]))


def prediction_lines(conll: examples.ConllFile, predicted: Sequence[Sequence[str]]) -> Iterator[str]:
    """conlleval's input: `word gold predicted` lines (`word predicted` untagged), a blank line after each
    sentence, `-DOCSTART-` lines (with `O` tags) where the file has them."""
    docstarts = collections.Counter(conll.docstarts)
    docstart_line = f"{examples.DOCSTART} O O\n\n" if conll.tagged else f"{examples.DOCSTART} O\n\n"
    for index, sentence in enumerate(conll.sentences):
        yield docstart_line * docstarts[index]
        gold = sentence.tags if conll.tagged else [None] * len(sentence.words)
        for word, gold_tag, predicted_tag in zip(sentence.words, gold, predicted[index]):
            yield f"{word} {gold_tag} {predicted_tag}\n" if conll.tagged else f"{word} {predicted_tag}\n"
        yield "\n"
    yield docstart_line * docstarts[len(conll.sentences)]


def write_predictions(path: str, conll: examples.ConllFile, predicted: Sequence[Sequence[str]]) -> None:
    """Writes `prediction_lines` to `path` atomically."""
    with files.atomic_writer(path) as writer:
        for text in prediction_lines(conll, predicted):
            writer.write(text)


def _scores(split: _Split, predicted: Sequence[Sequence[str]], prefix: str) -> Dict[str, float]:
    gold = [sentence.labels for sentence in split.conll.sentences]
    return metrics.score_entities(gold, predicted).as_results(prefix)


def restore_fine_tuned(config: NerConfig, model_fn, strategy) -> Tuple[BertTokenClassifier, int]:
    """The model to evaluate or predict with, without training: `output_dir`'s newest checkpoint, else
    `init_checkpoint`, which must hold a fine-tuned `cls/ner/` head (an untrained head would tag at random).

    Returns:
      (the model, built under `strategy`, its `global_step`).

    Raises:
      InputError: neither checkpoint has the `cls/ner/` head. CheckpointError: a checkpoint of another model.
    """
    output_dir, init_checkpoint = config.options.output_dir, config.model.init_checkpoint
    if not (files._gfile().isdir(output_dir) and latest_checkpoint(output_dir)):
        if not init_checkpoint or NER_HEAD_VARIABLES[0] not in list_checkpoint(init_checkpoint):
            raise InputError(f"without --do_train, a checkpoint fine-tuned by run_ner.py is needed: --output_dir "
                             f"{output_dir} holds none and --init_checkpoint {init_checkpoint} has no "
                             f"{NER_HEAD_VARIABLES[0]}")
    with strategy.scope():
        model = model_fn(precision.dtype_policy(config.options.dtype))
        info = restore_or_initialize(model, output_dir, init_checkpoint)
    logging.info("Evaluating/predicting with %s (global_step %d)", info.checkpoint, info.global_step)
    return model, info.global_step


# ------------------------------------------------------------------------------------------------------ the run
def run(config: NerConfig) -> NerResult:
    """Trains, evaluates and/or tags CoNLL files; see the module docstring.

    Raises:
      UserError (InputError, CheckpointError, TrainingError): bad flags, data or checkpoints (nothing in
        output_dir was changed), or a loss that became NaN.
    """
    check_config(config)
    export.check_export(config)
    options, recipe = config.options, config.recipe
    bert_config = load_bert_config(config.model.bert_config_file, config.max_seq_length)
    tokenizer = load_tokenizer(config.model, bert_config)

    # Read (and so validate) every input before output_dir is touched.
    paths = data_files(config)
    train_conll = examples.read_conll_file(paths["train"]) if config.do_train else None
    label_list = resolve_label_list(config, train_conll)
    splits = {name: _read_split(name, path, label_list, tokenizer, config,
                                train_conll if name == "train" else None) for name, path in paths.items()}
    result = NerResult(label_list=label_list)
    num_warmup_steps = None
    if config.do_train:
        result.num_train_steps, num_warmup_steps = recipe.schedule(
            len(splits["train"].features.windows), options.max_train_steps)
    strategy = options.create_strategy()
    on_tpu = strategies.is_tpu_strategy(strategy)

    def model_fn(dtype_policy):
        return BertTokenClassifier(bert_config, len(label_list), dtype=dtype_policy)

    if config.do_train:
        trainer = Trainer(
            options.trainer_config(result.num_train_steps, config.model.init_checkpoint, NER_HEAD_VARIABLES,
                                   on_tpu=on_tpu),
            model_fn=model_fn,
            optimizer_config=optimization.OptimizerConfig(
                learning_rate=recipe.learning_rate, num_train_steps=result.num_train_steps,
                num_warmup_steps=num_warmup_steps),
            loss_fn=token_classification_loss,
            strategy=strategy,
        )
        trainer.build()  # raises CheckpointError for an output_dir checkpoint of another model
        model = trainer.model
    else:
        model, global_step = restore_fine_tuned(config, model_fn, strategy)

    chief = strategies.is_chief(strategy)
    # write_dir: output_dir, or a temporary folder on the other workers of a multi-worker run.
    with workspace.claim_output_dir(options.output_dir, TASK_NAME, chief=chief) as write_dir:
        if config.do_train:
            examples.write_label_map(write_dir, label_list)
            split = splits["train"]
            train_file = _feature_file(config, split, label_list, 0, write_dir)
            logging.info("***** Running training *****")
            logging.info("  Num sentences = %d (%d windows)", split.features.num_sentences,
                         len(split.features.windows))
            logging.info("  Batch size = %d", recipe.train_batch_size)
            logging.info("  Num steps = %d", result.num_train_steps)
            result.train = trainer.train(ner_dataset.training_dataset(
                train_file, config.max_seq_length, recipe.train_batch_size,
                pad_to_max_length=config.pad_to_max_length or on_tpu, group_by_length=config.group_by_length,
                seed=options.seed, drop_remainder=on_tpu))
            global_step = trainer.global_step

        def infer(split: _Split, batch_size: int) -> np.ndarray:
            """The logits [windows, max_seq_length, labels] of a split's windows."""
            num_padding = _padding_for(len(split.features.windows), batch_size, on_tpu)
            feature_file = _feature_file(config, split, label_list, num_padding, write_dir)
            logging.info("***** Running %s on %s *****", "evaluation" if split.name == "dev" else "prediction",
                         split.conll.path)
            logging.info("  Num windows = %d, batch size = %d", len(split.features.windows), batch_size)
            dataset = ner_dataset.make_dataset(feature_file, config.max_seq_length, batch_size, is_training=False,
                                               pad_to_max_length=config.pad_to_max_length or on_tpu,
                                               drop_remainder=on_tpu)
            prediction = predict(ner_dataset.pad_logits(model, config.max_seq_length), dataset, strategy=strategy)
            return prediction.outputs["logits"][:len(split.features.windows)]

        if config.do_eval:
            result.eval_results = _evaluate(splits["dev"], infer(splits["dev"], recipe.eval_batch_size),
                                            label_list, global_step, write_dir)
        if config.do_predict:
            _predict(splits["test"], infer(splits["test"], recipe.predict_batch_size), label_list,
                     global_step, result, write_dir)
        if options.export_dir:
            export_dir = options.export_dir if chief else os.path.join(write_dir, "export")
            result.export_path = export.export_model(model, config, export_dir, label_list)
        return result


def _evaluate(split: _Split, logits: np.ndarray, label_list: Sequence[str], global_step: int,
              output_dir: str) -> Dict[str, float]:
    """Scores the dev file; writes `eval_results.txt` and `eval_predictions.txt` into `output_dir`; returns
    the results."""
    predicted = decode(split, logits, label_list)
    results = _scores(split, predicted, "eval")
    results.update(eval_loss=mean_word_loss(split, logits), global_step=int(global_step))
    write_predictions(os.path.join(output_dir, EVAL_PREDICTIONS_FILE), split.conll, predicted)
    files.write_eval_results(os.path.join(output_dir, files.EVAL_RESULTS_FILE), results)
    logging.info("***** Eval results *****")
    for key in sorted(results):
        logging.info("  %s = %s", key, results[key])
    return results


def _predict(split: _Split, logits: np.ndarray, label_list: Sequence[str], global_step: int,
             result: NerResult, output_dir: str) -> None:
    """Writes `test_predictions.txt` (and `test_results.txt` for a tagged file) into `output_dir`; records
    them in `result`."""
    predicted = decode(split, logits, label_list)
    result.test_predictions_file = os.path.join(output_dir, TEST_PREDICTIONS_FILE)
    write_predictions(result.test_predictions_file, split.conll, predicted)
    if split.conll.tagged:
        result.test_results = _scores(split, predicted, "test")
        result.test_results["global_step"] = int(global_step)
        files.write_eval_results(os.path.join(output_dir, TEST_RESULTS_FILE), result.test_results)
        logging.info("Test F1 = %.4f (%s)", result.test_results["test_f1"], split.conll.path)
