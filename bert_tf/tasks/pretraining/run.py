"""The library side of `run_pretraining.py`: masked-LM and next-sentence training and evaluation.

Reads the records of `create_pretraining_data.py` (this project's or the original's; `dataset`), trains
`BertPretrainingModel` with the original losses (`losses`) through the shared `Trainer`, and writes
`model.ckpt-<step>` checkpoints in the original format (with `cls/*` heads, Adam slots and `global_step`)
and `eval_results.txt` with the original keys. A checkpoint without the `cls/*` heads (a fine-tuned
encoder, say) starts them from scratch, as the original's `init_checkpoint` does (logged).
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Dict, Optional

import tensorflow as tf
from absl import logging

from bert_tf import files
from bert_tf.checkpoint import latest_checkpoint
from bert_tf.errors import InputError, tensorflow_error_text
from bert_tf.tasks.driver import write_results
from bert_tf.tasks.pretraining import dataset as pretraining_dataset
from bert_tf.tasks.pretraining import losses
from bert_tf.training.run_options import ModelFiles, RunOptions, load_bert_config

PRETRAINING_HEADS = ("cls/.*",)


@dataclasses.dataclass
class PretrainingConfig:
    """What `run_pretraining.py` does: the original flags plus the shared run options.

    Attributes:
      input_file: comma-separated files or globs of pretraining records.
      model: the model files (only `bert_config_file` and `init_checkpoint` are used; no vocabulary).
      options: output folder, strategy, dtype, checkpoint cadence (shared by every script).
      max_seq_length, max_predictions_per_seq: the records' shapes.
      do_train, do_eval: the original's modes.
      train_batch_size, eval_batch_size: global batch sizes.
      learning_rate, num_train_steps, num_warmup_steps: the original schedule.
      max_eval_steps: evaluation batches at most.
      optimizer: `adamw` (the original AdamWeightDecay) or `lamb`.
      num_accumulation_steps: batches of `train_batch_size` accumulated into one update.
      input_sharding: how several workers share the input: `example` (each its slice of the batches one
        process makes: the same weights for any number of workers), `file` (each its own files; needs at
        least as many files as workers) or `auto` (by file when possible).
    """

    input_file: str
    model: ModelFiles
    options: RunOptions
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    do_train: bool = False
    do_eval: bool = False
    train_batch_size: int = 32
    eval_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_steps: int = 100000
    num_warmup_steps: int = 10000
    max_eval_steps: int = 100
    optimizer: str = "adamw"
    num_accumulation_steps: int = 1
    input_sharding: str = "auto"


def check_config(config: PretrainingConfig) -> None:
    """Raises InputError naming the first missing or invalid flag."""
    if not (config.do_train or config.do_eval):
        raise InputError("at least one of --do_train or --do_eval must be True")
    if not config.input_file:
        raise InputError("--input_file is required")
    config.options.validate()
    if config.train_batch_size <= 0 or config.eval_batch_size <= 0:
        raise InputError("--train_batch_size and --eval_batch_size must be positive")
    if config.num_accumulation_steps < 1:
        raise InputError("--num_accumulation_steps must be at least 1")
    if config.do_train and config.num_train_steps <= 0:
        raise InputError("--num_train_steps must be positive with --do_train")


def _eval_statistics_model(model):
    """`model` wrapped to return `losses.eval_example_statistics` (what `predict` collects per example)."""

    def call(features, training=False):
        return losses.eval_example_statistics(model(features, training=training), features)

    return call


def evaluate(model, dataset: tf.data.Dataset, strategy: tf.distribute.Strategy, max_steps: Optional[int],
             global_step: int, use_xla: bool = False) -> Dict[str, float]:
    """Runs the model (training=False) over at most `max_steps` batches; returns eval_results.txt values."""
    from bert_tf.training.predict import predict

    if max_steps:
        dataset = dataset.take(max_steps)
    prediction = predict(_eval_statistics_model(model), dataset, strategy=strategy,
                         output_keys=losses.EVAL_STATISTICS, use_xla=use_xla, title="evaluation")
    return losses.eval_results(prediction.outputs, prediction.batch_sizes, global_step)


@contextlib.contextmanager
def _naming_corrupted_inputs(input_files, output_dir: str):
    """Turns TensorFlow's data-loss error (a truncated or corrupted record) into an InputError naming the files
    and the checkpoint a rerun would resume from (if any)."""
    try:
        yield
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
        if not isinstance(error, tf.errors.DataLossError) and "record" not in str(error.message).lower():
            raise
        message = (tensorflow_error_text(error.message).splitlines() or ["unreadable record"])[0]
        names = ", ".join(input_files[:3]) + (f" (and {len(input_files) - 3} more)" if len(input_files) > 3 else "")
        newest = latest_checkpoint(output_dir)
        kept = (f"the newest checkpoint, {os.path.basename(newest)}, is intact" if newest
                else "no checkpoint was written")
        raise InputError(f"--input_file: a record is truncated or corrupted in {names}: {message}; {kept}") from None


def run(config: PretrainingConfig) -> Dict[str, object]:
    """Trains and/or evaluates as the original run_pretraining.py; returns {'train': ..., 'eval': ...}.

    Raises:
      UserError: bad flags, records or checkpoints (one line, before anything is written).
    """
    from bert_tf.modeling import BertPretrainingModel
    from bert_tf.training import optimization, sharding, strategies, workspace
    from bert_tf.training.trainer import Trainer

    check_config(config)
    options = config.options
    bert_config = load_bert_config(config.model.bert_config_file, config.max_seq_length)
    input_files = files.expand_input_files(config.input_file)
    pretraining_dataset.check_input_files(input_files, config.max_seq_length, config.max_predictions_per_seq)
    strategy = options.create_strategy()
    on_tpu = strategies.is_tpu_strategy(strategy)
    if config.do_train:
        try:
            train_input = pretraining_dataset.training_input(
                input_files, config.max_seq_length, config.max_predictions_per_seq, config.train_batch_size,
                config.num_accumulation_steps, options.seed, config.input_sharding, sharding.num_workers(strategy))
        except ValueError as error:
            raise InputError(f"--input_sharding: {error}") from None

    # write_dir: output_dir, or a temporary folder on the other workers of a multi-worker run.
    with workspace.claim_output_dir(options.output_dir, "pretraining", chief=strategies.is_chief(strategy)) \
            as write_dir:
        trainer = Trainer(
            options.trainer_config(config.num_train_steps if config.do_train else 1, config.model.init_checkpoint,
                                   expected_missing=PRETRAINING_HEADS, on_tpu=on_tpu,
                                   num_accumulation_steps=config.num_accumulation_steps),
            model_fn=lambda dtype: BertPretrainingModel(bert_config, dtype=dtype),
            optimizer_config=optimization.OptimizerConfig(
                learning_rate=config.learning_rate,
                num_train_steps=config.num_train_steps,
                num_warmup_steps=config.num_warmup_steps,
                optimizer=config.optimizer,
            ),
            loss_fn=losses.per_example_total_loss,
            strategy=strategy,
        )
        restore_info = trainer.build()
        if restore_info.report is not None and restore_info.report.initialized:
            logging.warning("%s has no pretraining heads (%d variables under cls/): they start from scratch",
                            restore_info.checkpoint, len(restore_info.report.initialized))
        results: Dict[str, object] = {}
        if config.do_train:
            logging.info("Batch size = %s, input sharded by %s", sharding.describe_batch(
                strategy, config.train_batch_size), "file" if callable(train_input) else "example")
            with _naming_corrupted_inputs(input_files, config.options.output_dir):
                results["train"] = trainer.train(train_input)
        if config.do_eval:
            dataset = pretraining_dataset.make_pretraining_dataset(
                input_files, config.max_seq_length, config.max_predictions_per_seq, config.eval_batch_size,
                is_training=False, drop_remainder=on_tpu)
            with _naming_corrupted_inputs(input_files, config.options.output_dir):
                eval_results = evaluate(trainer.model, dataset, strategy, config.max_eval_steps,
                                        trainer.global_step, use_xla=options.use_xla)
            write_results(write_dir, files.EVAL_RESULTS_FILE, eval_results)
            results["eval"] = eval_results
        return results
