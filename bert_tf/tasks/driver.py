"""The one driver: runs any `bert_tf.tasks.base.Task`, the same way for every task.

    result = driver.run(MultipleChoiceTask(config))

1. Checks the shared settings (`check_config`) and the task's own; reads the model files and every input
   split the modes need (`Task.read_inputs`): a problem raises a `UserError` before anything is written.
2. Creates the `tf.distribute` strategy; with `do_train`, builds the `Trainer` (resuming from `output_dir`'s
   newest checkpoint, else starting from `init_checkpoint` with a new head), else restores the model for
   prediction (`restore_for_prediction`: `output_dir`'s newest checkpoint, else an `init_checkpoint` that
   must hold the task's head -- a random head would give random answers).
3. Claims `output_dir` (`bert_tf.training.workspace`: one run at a time, one task per folder) and, in it,
   trains, evaluates (`eval_results.txt`), predicts (the task's files) and exports (`--export_dir`). Each
   split's features go through the one feature cache (`feature_file`); the other workers of a
   multi-worker run write to a temporary folder of their own.

`export_checkpoint` is `export_savedmodel.py`'s path: a fine-tuned checkpoint of any task to a SavedModel.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from typing import Any, Dict, Optional, Tuple

from absl import logging

from bert_tf import checkpoint as checkpoint_io
from bert_tf import files
from bert_tf.errors import InputError, require_int
from bert_tf.tasks import feature_cache
from bert_tf.tasks.base import Split, Task
from bert_tf.training import datasets, evaluation, optimization, precision, restore, sharding, strategies, workspace
from bert_tf.training.predict import PredictResult, padded_outputs, predict
from bert_tf.training.run_options import load_bert_config, load_tokenizer
from bert_tf.training.trainer import Trainer, TrainResult


@dataclasses.dataclass
class TaskResult:
    """What `run` produced.

    Attributes:
      train: the `TrainResult` (None without do_train).
      num_train_steps: the training length used (None without do_train).
      eval_results: the `eval_results.txt` values (None when nothing was evaluated).
      test_results: the scores of the predicted file, when it has answers and the task writes them apart
        from `eval_results.txt` (NER's `test_results.txt`).
      predictions: the task's decoded predictions of the test split (None without do_predict).
      output_files: file name -> path of every results and prediction file written.
      export_path: the SavedModel version folder (None without export_dir).
    """

    train: Optional[TrainResult] = None
    num_train_steps: Optional[int] = None
    eval_results: Optional[Dict[str, float]] = None
    test_results: Optional[Dict[str, float]] = None
    predictions: Any = None
    output_files: Dict[str, str] = dataclasses.field(default_factory=dict)
    export_path: Optional[str] = None


# ------------------------------------------------------------------------------------------------ checks
def check_config(task: Task) -> None:
    """The checks every task shares (modes, run options, recipe, `max_seq_length`, `export_dir`), then the
    task's own; raises InputError naming the first bad flag."""
    config = task.config
    requested = [mode for mode in ("do_train", "do_eval", "do_predict") if getattr(config, mode)]
    if not requested:
        raise InputError(f"At least one of {', '.join(f'`{mode}`' for mode in task.modes)} must be True.")
    for mode in requested:
        if mode not in task.modes:
            raise InputError(f"{task.name} has no --{mode}; its modes: {', '.join('--' + name for name in task.modes)}")
    config.options.validate()
    config.recipe.validate(config.do_train)
    # --keep_best alone without --do_train is fine: the run predicts with the kept best checkpoint.
    split_name, mode = task.monitor_split
    monitoring = [flag for flag in ("eval_every_steps", "keep_best", "early_stopping_patience")
                  if getattr(config.recipe, flag) is not None and (config.do_train or flag != "keep_best")]
    if monitoring and not (config.do_train and getattr(config, mode)):
        raise InputError(f"--{monitoring[0]} evaluates during training: it needs --do_train and --{mode} (the "
                         f"{'dev set' if split_name == 'dev' else 'file to score'})")
    require_int("--max_seq_length", config.max_seq_length, task.min_seq_length)  # [CLS] a [SEP] (b [SEP])
    task.check_config()
    if config.options.export_dir:
        if not task.has_export:
            raise InputError(f"--export_dir: {task.name} has no SavedModel export")
        from bert_tf.serving.export import check_export_dir  # TensorFlow Text is needed only to export

        check_export_dir(config.options.export_dir)


def require_head(task: Task, checkpoint: str, flag: str) -> None:
    """Raises InputError when `checkpoint` lacks the task's head (`Task.head_variables`).

    A pretrained `bert_model.ckpt` has none: predicting or exporting with a random head gives random
    answers, so it is refused instead.
    """
    names = checkpoint_io.list_checkpoint(checkpoint)
    missing = [name for name in task.head_variables if name not in names]
    if missing:
        raise InputError(
            f"{flag} {checkpoint} has no {task.head_name} head ({', '.join(missing)} missing): it is not a checkpoint "
            f"fine-tuned for {task.name}, and a random head gives random answers; add --do_train, or pass the "
            f"output_dir (or a checkpoint) of a {task.name} training run as {flag}")


# ------------------------------------------------------------------------------------------------ model
def make_trainer(task: Task, bert_config, strategy, num_train_steps: int, num_warmup_steps: int) -> Trainer:
    """The task's `Trainer`: its model and per-example loss, the original AdamWeightDecay schedule, a new
    head on a pretrained `init_checkpoint`."""
    config = task.config
    head = [re.escape(name) for name in task.head_variables]
    return Trainer(
        config.options.trainer_config(num_train_steps, config.model.init_checkpoint, expected_missing=head,
                                      on_tpu=strategies.is_tpu_strategy(strategy),
                                      num_accumulation_steps=config.recipe.num_accumulation_steps),
        model_fn=lambda dtype_policy: task.build_model(bert_config, dtype_policy),
        optimizer_config=optimization.OptimizerConfig(learning_rate=config.recipe.learning_rate,
                                                      num_train_steps=num_train_steps,
                                                      num_warmup_steps=num_warmup_steps),
        loss_fn=task.loss,
        strategy=strategy)


def restore_for_prediction(task: Task, bert_config, strategy) -> Tuple[Any, int]:
    """The model to evaluate or predict with, without training, and its `global_step`.

    `output_dir`'s newest checkpoint (with `--keep_best`, the one in `output_dir/best/` if there is one),
    else `init_checkpoint`, which must hold the task's head.

    Raises:
      InputError: neither holds a fine-tuned head. CheckpointError: a checkpoint of another model.
    """
    config = task.config
    output_dir = config.options.output_dir if task.uses_output_dir else None
    if output_dir and config.recipe.keep_best:
        best = os.path.join(output_dir, evaluation.BEST_FOLDER)
        if checkpoint_io.latest_checkpoint(best) is not None:
            output_dir = best
    init_checkpoint = config.model.init_checkpoint
    with strategy.scope():
        model = task.build_model(bert_config, precision.dtype_policy(config.options.dtype))
        if output_dir is None or restore.check_output_dir_checkpoint(model, output_dir) is None:
            if not init_checkpoint:
                raise InputError(f"without --do_train, a checkpoint fine-tuned for {task.name} is needed: "
                                 f"--output_dir {output_dir} holds none; give --init_checkpoint")
            require_head(task, init_checkpoint, "--init_checkpoint")
        info = restore.restore_or_initialize(model, output_dir, init_checkpoint)
    logging.info("Evaluating/predicting with %s (global_step %d)", info.checkpoint, info.global_step)
    return model, info.global_step


# ------------------------------------------------------------------------------------------------ the run
def run(task: Task) -> TaskResult:
    """Trains, evaluates, predicts and exports as `task.config` says; see the module docstring.

    Raises:
      UserError (InputError, CheckpointError, TrainingError): one line; when raised before training or
        prediction starts, nothing in `output_dir` was written.
    """
    check_config(task)
    config, options = task.config, task.config.options
    bert_config = load_bert_config(config.model.bert_config_file, config.max_seq_length)
    tokenizer = load_tokenizer(config.model, bert_config)
    splits = task.read_inputs(tokenizer)  # every input is read and checked before output_dir is touched
    described = {"train": "training file", "dev": "evaluation file", "test": "file to predict"}
    inputs = {described.get(split.name, split.name): split.source_files for split in splits.values()}
    inputs.update({"--vocab_file": config.model.vocab_file, "--bert_config_file": config.model.bert_config_file})
    with files.protected_inputs(inputs):  # no write of this run replaces one of them
        for name in [*task.feature_files.values(), files.EVAL_RESULTS_FILE]:
            files.check_not_an_input(os.path.join(options.output_dir, name), "--output_dir file")
        return _run_modes(task, bert_config, splits)


def _run_modes(task: Task, bert_config, splits: Dict[str, Split]) -> TaskResult:
    """`run` once the inputs are read: training, evaluation, prediction and export."""
    config, options = task.config, task.config.options
    result = TaskResult()
    strategy = options.create_strategy()
    trainer = None
    if config.do_train:
        result.num_train_steps, num_warmup_steps = config.recipe.schedule(splits["train"].num_examples,
                                                                           options.max_train_steps)
        trainer = make_trainer(task, bert_config, strategy, result.num_train_steps, num_warmup_steps)
        trainer.build()  # raises CheckpointError for an output_dir checkpoint of another model
        model, global_step = trainer.model, 0
    else:
        model, global_step = restore_for_prediction(task, bert_config, strategy)
    chief = strategies.is_chief(strategy)
    # write_dir: output_dir, or a temporary folder on the other workers of a multi-worker run.
    with _workspace(task, chief) as write_dir:
        steps = _Steps(task, strategy, write_dir)
        monitor = steps.eval_monitor(model, splits.get(task.monitor_split[0])) if config.do_train else None
        monitored = None
        if config.do_train:
            task.write_run_files(write_dir)
            result.train = steps.train(trainer, splits["train"], result.num_train_steps, monitor)
            global_step = trainer.global_step
        if monitor is not None:  # the last evaluation; with --keep_best, the best model and its results
            monitored = monitor.final(global_step)
            monitor.close()
        if config.do_eval:
            if monitored is not None and task.monitor_split[0] == "dev":
                result.eval_results = monitored
            else:
                result.eval_results = steps.evaluate(model, splits["dev"], global_step)
            result.output_files.update(write_results(write_dir, files.EVAL_RESULTS_FILE, result.eval_results))
        if config.do_predict and task.streams_predictions:
            steps.record_predictions(task.predict_stream(model, splits["test"]), result)
        elif config.do_predict:
            prediction = steps.infer(model, splits["test"], config.recipe.predict_batch_size, "prediction")
            steps.record_predictions(task.predict(splits["test"], prediction, global_step, write_dir), result)
        if options.export_dir:  # every worker exports (saving may synchronize them); only the chief's stays
            result.export_path = export_model(task, model, options.export_dir if chief
                                              else os.path.join(write_dir, "export"))
    return result


def _workspace(task: Task, chief: bool):
    """`workspace.claim_output_dir` for a task that owns `output_dir`; else just that folder."""
    output_dir = task.config.options.output_dir
    if task.uses_output_dir:
        return workspace.claim_output_dir(output_dir, task.run_name, chief=chief)
    files.tf_gfile().makedirs(output_dir)
    return contextlib.nullcontext(output_dir)


class _Steps:
    """The steps of one run inside its claimed folder: features, training, inference, results files."""

    def __init__(self, task: Task, strategy, write_dir: str):
        self.task = task
        self.config = task.config
        self.strategy = strategy
        self.on_tpu = strategies.is_tpu_strategy(strategy)
        self.write_dir = write_dir

    def train(self, trainer: Trainer, split: Split, num_train_steps: int,
              monitor: Optional[evaluation.EvalMonitor] = None) -> TrainResult:
        """Writes (or reuses) the training features and trains on them."""
        config = self.config
        recipe = config.recipe
        path = feature_file(self.task, split, self.write_dir)
        logging.info("***** Running training *****")
        logging.info("  Num examples = %d", split.num_examples)
        logging.info("  Batch size = %s", sharding.describe_batch(self.strategy, recipe.train_batch_size))
        if recipe.num_accumulation_steps > 1:
            logging.info("  Gradient accumulation = %d batches per update (%d examples)",
                         recipe.num_accumulation_steps, recipe.update_batch_size)
        logging.info("  Num steps = %d", num_train_steps)
        if monitor is not None and monitor.every_steps:
            logging.info("  Evaluating every %d steps%s", monitor.every_steps,
                         f", keeping the best {monitor.keep_best}" if monitor.keep_best else "")
        return trainer.train(datasets.training_dataset(
            path, self.task.record_layout(split, training=True), recipe.update_batch_size,
            self.task.shuffle_buffer_size, pad_to_max_length=config.pad_to_max_length or self.on_tpu,
            group_by_length=config.group_by_length, seed=config.options.seed, drop_remainder=self.on_tpu,
            num_micro_batches=recipe.num_accumulation_steps), monitor=monitor)

    def evaluate(self, model, split: Split, global_step: int) -> Dict[str, float]:
        """The task's `eval_results.txt` values of `model` on the dev split (writing the task's dev files)."""
        prediction = self.infer(model, split, self.config.recipe.eval_batch_size, "evaluation")
        return self.task.evaluate(split, prediction, global_step, self.write_dir)

    def eval_monitor(self, model, split: Optional[Split]) -> Optional[evaluation.EvalMonitor]:
        """The `EvalMonitor` of `--eval_every_steps` / `--keep_best` on the task's `monitor_split` (None
        without them)."""
        recipe = self.config.recipe
        if split is None or (recipe.eval_every_steps is None and recipe.keep_best is None):
            return None
        batch_size = recipe.eval_batch_size if split.name == "dev" else recipe.predict_batch_size

        def evaluate(step: int) -> Dict[str, float]:
            prediction = self.infer(model, split, batch_size, "evaluation")
            return self.task.monitor_results(split, prediction, step, self.write_dir)

        return evaluation.EvalMonitor(self.write_dir, recipe.eval_every_steps, evaluate, model,
                                      keep_best=recipe.keep_best, patience=recipe.early_stopping_patience)

    def infer(self, model, split: Split, batch_size: int, title: str) -> PredictResult:
        """Writes (or reuses) `split`'s features (padded to whole batches on TPUs) and runs the model on them."""
        task = self.task
        num_records = split.num_records
        num_padding = -num_records % batch_size if self.on_tpu and num_records is not None else 0
        path = feature_file(task, split, self.write_dir, num_padding)
        logging.info("***** Running %s *****", title)
        logging.info("  Num examples = %d (%s records, %d padding)", len(split.examples), num_records, num_padding)
        logging.info("  Batch size = %s", sharding.describe_batch(self.strategy, batch_size))
        dataset = datasets.inference_dataset(
            path, task.record_layout(split, training=False), batch_size,
            pad_to_max_length=task.pad_inference_to_max_length() or self.on_tpu, drop_remainder=self.on_tpu)
        if task.sequence_outputs:
            model = padded_outputs(model, self.config.max_seq_length, task.sequence_outputs)
        return predict(model, dataset, strategy=self.strategy, output_keys=task.output_keys, title=title)

    def record_predictions(self, predictions, result: TaskResult) -> None:
        """Keeps what `Task.predict` made in `result`, writing its scores (if any) to their file."""
        result.predictions = predictions.decoded
        result.output_files.update(predictions.files)
        if predictions.results is not None:
            name = predictions.results_file or files.EVAL_RESULTS_FILE
            result.output_files.update(write_results(self.write_dir, name, predictions.results))
            if name == files.EVAL_RESULTS_FILE:
                result.eval_results = predictions.results
            else:
                result.test_results = predictions.results


def write_results(write_dir: str, name: str, results: Dict[str, float]) -> Dict[str, str]:
    """Writes `results` as sorted `key = value` lines to `write_dir/name` (atomically) and logs them;
    returns `{name: path}`."""
    path = os.path.join(write_dir, name)
    files.write_eval_results(path, results)
    logging.info("***** %s *****", name)
    for key in sorted(results):
        logging.info("  %s = %s", key, results[key])
    return {name: path}


# ------------------------------------------------------------------------------------------- feature files
def feature_file(task: Task, split: Split, write_dir: str, num_padding: int = 0) -> str:
    """`write_dir/<train|eval|predict>.tf_record` for `split`, written unless a cache of the same inputs,
    vocabulary and settings is there (`bert_tf.tasks.feature_cache`); returns its path."""
    config = task.config
    path = os.path.join(write_dir, task.feature_files[split.name])
    settings = {"task": task.run_name, "split": split.name, "do_lower_case": bool(config.model.do_lower_case),
                "max_seq_length": int(config.max_seq_length), "num_records": split.num_records,
                "num_padding": int(num_padding), **task.feature_settings()}
    key = feature_cache.cache_key(list(split.source_files), config.model.vocab_file, settings)
    layout = task.record_layout(split, training=split.name == "train")
    expected = None if split.num_records is None else split.num_records + num_padding
    return feature_cache.cached_tfrecord(
        path, key, write=lambda temporary: task.write_records(split, temporary, num_padding),
        check=lambda existing: datasets.check_records(existing, layout, expected))


# ------------------------------------------------------------------------------------------------ export
def export_model(task: Task, model, export_dir: str, **serving_options) -> str:
    """`task.export` with a setting the export cannot serve reported as an InputError naming `--export_dir`."""
    try:
        path = task.export(model, export_dir, **serving_options)
    except ValueError as error:
        raise InputError(f"--export_dir: {error}") from None
    logging.info("Exported the SavedModel to %s", path)
    return path


def export_checkpoint(task: Task, export_dir: str, **serving_options) -> str:
    """`export_savedmodel.py`: the task's model loaded strictly from `init_checkpoint` (a fine-tuned
    checkpoint: its head included), exported under `export_dir`; returns the version folder.

    Raises:
      InputError: no checkpoint, a checkpoint without the task's head, settings the export cannot serve.
      CheckpointError: a checkpoint of another model.
    """
    config = task.config
    if not config.model.init_checkpoint:
        raise InputError("missing --init_checkpoint (the fine-tuned checkpoint or its run's --output_dir)")
    from bert_tf.serving.export import check_export_dir

    check_export_dir(export_dir)
    checkpoint = checkpoint_io.resolve_checkpoint(config.model.init_checkpoint)
    require_head(task, checkpoint, "--init_checkpoint")
    task.prepare_export()
    bert_config = load_bert_config(config.model.bert_config_file, config.max_seq_length)
    load_tokenizer(config.model, bert_config)  # the vocabulary fits the model and the casing
    model = task.build_model(bert_config, precision.dtype_policy("float32"))
    logging.info(checkpoint_io.load_checkpoint(model, checkpoint).summary())
    return export_model(task, model, export_dir, **serving_options)
