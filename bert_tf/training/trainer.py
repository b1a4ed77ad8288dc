"""The training loop shared by the run scripts (run_classifier, run_pretraining, run_squad, run_ner).

A `Trainer` builds a model and the original optimizer under a `tf.distribute` strategy, starts from the newest
checkpoint in `output_dir` or else from an `init_checkpoint` (see `bert_tf.training.restore`), and runs steps
until `num_train_steps`, writing `model.ckpt-<step>` checkpoints in the original format, TensorBoard scalars
and a progress bar (see `bert_tf.training.summaries`):

    trainer = Trainer(
        TrainerConfig(output_dir="out", num_train_steps=1000, init_checkpoint=".../bert_model.ckpt",
                      expected_missing=("output_weights", "output_bias")),
        model_fn=lambda dtype: BertClassifier(config, 2, dtype=dtype),
        optimizer_config=OptimizerConfig(learning_rate=2e-5, num_train_steps=1000, num_warmup_steps=100),
        loss_fn=lambda outputs, labels, features: tf.nn.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=outputs["logits"]))
    result = trainer.train(dataset)          # dataset yields (features dict, labels), global batches
    outputs = predict(trainer.model, eval_dataset, strategy=trainer.strategy)   # bert_tf.training.predict

One step (per replica, inside `strategy.run`, in a `tf.function`, XLA-compiled with `use_xla`): forward pass with
`training=True`, the loss averaged over the *global* batch (so N replicas make the same update as one device
with the whole batch), gradients (loss-scaled for mixed_float16), and the optimizer update, whose global-norm
clipping happens after the cross-replica sum. With `num_accumulation_steps` N > 1 a step runs N micro-batches,
accumulating their gradients, and applies their mean once: `global_step` counts updates.

Batches may differ in sequence length (per-batch padding): the step function takes the dataset *iterator*, whose
element spec has `None` dimensions, so it is traced once (XLA still compiles once per distinct shape).

Under several replicas or workers (`--strategy=mirrored`, `multi_worker_mirrored`) each replica gets its slice of
every global batch (`bert_tf.training.sharding`): N workers running the same command with `TF_CONFIG` end with
the weights one process gets with the same global batch and seed. Only the chief writes checkpoints and
summaries; every worker resumes from the chief's newest checkpoint in the shared `output_dir`, and continues the
input where the steps before left it, so an interrupted and restarted run ends as an uninterrupted one does.
"""
from __future__ import annotations

import dataclasses
import math
import os
import re
import time
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import checkpoint as checkpoint_io
from bert_tf.errors import TrainingError
from bert_tf.training import keras_overrides, optimization, precision, sharding, strategies
from bert_tf.training.evaluation import EvalMonitor
from bert_tf.training.restore import RestoreInfo, restore_or_initialize
from bert_tf.training.summaries import ThroughputTimer, TrainingReporter
from bert_tf.training.train_step import LossFn, make_train_function

CHECKPOINT_BASENAME = "model.ckpt"
# Consecutive calls without an optimizer update (loss scaling skipping non-finite gradients) that stop training.
MAX_STEPS_WITHOUT_UPDATE = 100

# model_fn(dtype policy) -> a built Keras model whose variable paths are the checkpoint names.
ModelFn = Callable[[keras.DTypePolicy], keras.Model]


@dataclasses.dataclass
class TrainerConfig:
    """How a `Trainer` trains.

    Attributes:
      output_dir: checkpoints (`model.ckpt-<step>`), the `checkpoint` state file and TensorBoard events.
      num_train_steps: the global step (number of optimizer updates) training stops at.
      save_checkpoints_steps: write a checkpoint every this many steps (and always at the end).
      keep_checkpoint_max: keep the newest this many checkpoints (0 or None: keep all).
      log_every_steps: TensorBoard scalars, and log lines when stderr is not a terminal, every this many steps.
      use_xla: compile the step with XLA (`jit_compile=True`).
      num_accumulation_steps: micro-batches per update (gradient accumulation); the dataset yields micro-batches.
      steps_per_loop: steps run inside one `tf.function` call (fewer host round trips, e.g. on TPUs); the
        progress bar then moves by this many steps.
      dtype: "float32", "mixed_float16" or "mixed_bfloat16" (see `bert_tf.training.precision`).
      init_checkpoint: a pretrained checkpoint to start from when `output_dir` holds none.
      expected_missing: regular expressions of model variables absent from `init_checkpoint` (new heads).
      seed: seeds Python, numpy and TensorFlow (model initialization, dropout) when not None.
      progress_bar: draw a bar on stderr; None: only when stderr is a terminal.
      write_summaries: write TensorBoard scalars (loss, learning_rate, examples_per_second) to output_dir.
    """

    output_dir: str
    num_train_steps: int
    save_checkpoints_steps: int = 1000
    keep_checkpoint_max: Optional[int] = 5
    log_every_steps: int = 100
    use_xla: bool = False
    num_accumulation_steps: int = 1
    steps_per_loop: int = 1
    dtype: str = "float32"
    init_checkpoint: Optional[str] = None
    expected_missing: Sequence[str] = ()
    seed: Optional[int] = None
    progress_bar: Optional[bool] = None
    write_summaries: bool = True

    def validate(self) -> None:
        """Checks every field.

        Raises:
          ValueError: names the first invalid field.
        """
        if not self.output_dir:
            raise ValueError("TrainerConfig.output_dir is required")
        for name in ("num_train_steps", "save_checkpoints_steps", "log_every_steps", "num_accumulation_steps",
                     "steps_per_loop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"TrainerConfig.{name} must be an integer >= 1, got {value!r}")
        if self.keep_checkpoint_max is not None and self.keep_checkpoint_max < 0:
            raise ValueError(f"TrainerConfig.keep_checkpoint_max must be >= 0, got {self.keep_checkpoint_max}")
        precision.canonical_dtype(self.dtype)


@dataclasses.dataclass
class TrainResult:
    """What `Trainer.train` did.

    Attributes:
      global_step: the step reached (num_train_steps unless interrupted by an exception).
      initial_step: the step this call started from (non-zero when resumed).
      steps_run: optimizer updates made by this call.
      losses: the loss of each `tf.function` call of this run (one per step with steps_per_loop=1;
        the mean over the loop otherwise), float.
      last_checkpoint: prefix of the newest checkpoint written (or found), or None.
      examples_per_second: training throughput of this call, leaving out the first call (tracing).
      train_seconds: wall time of the steps of this call.
    """

    global_step: int
    initial_step: int
    steps_run: int
    losses: List[float]
    last_checkpoint: Optional[str]
    examples_per_second: float
    train_seconds: float

    @property
    def loss(self) -> Optional[float]:
        """The last reported loss, or None when no step ran."""
        return self.losses[-1] if self.losses else None


class TrainingGuard:
    """Stops a run that cannot go on: a non-finite loss, or too many calls without an optimizer update.

    Args:
      check_loss: raise on a non-finite loss. Off under loss scaling, whose optimizer skips such steps
        itself (and then the no-update count catches a scale that keeps skipping).
      max_steps_without_update: consecutive calls that did not move `global_step` before raising.
    """

    def __init__(self, check_loss: bool, max_steps_without_update: int = MAX_STEPS_WITHOUT_UPDATE):
        self.check_loss = check_loss
        self.max_steps_without_update = max_steps_without_update
        self._steps_without_update = 0

    def check(self, loss: float, previous_step: int, step: int) -> None:
        """Checks one call of the step function, which moved training from `previous_step` to `step`.

        Raises:
          TrainingError: the loss is not finite, or the last `max_steps_without_update` calls made no update.
        """
        if self.check_loss and not math.isfinite(loss):
            raise TrainingError(f"the loss became {loss} at step {step}; lower the learning rate or check the data")
        self._steps_without_update = self._steps_without_update + 1 if step == previous_step else 0
        if self._steps_without_update >= self.max_steps_without_update:
            raise TrainingError(f"no update for {self._steps_without_update} steps at step {step}: the "
                                "gradients are not finite (loss scaling keeps skipping)")


class CheckpointCadence:
    """When a run writes checkpoints: every `save_checkpoints_steps` steps and at the end, never twice a step.

    Args:
      save_checkpoints_steps: write a checkpoint each time the step crosses a multiple of this.
      start_step: the step the run starts from.
      latest: the newest checkpoint already in output_dir (None: none); a resumed run does not write its
        starting step again.
    """

    def __init__(self, save_checkpoints_steps: int, start_step: int, latest: Optional[str]):
        self.save_checkpoints_steps = save_checkpoints_steps
        self.latest = latest
        self._last_saved = start_step if latest is not None and start_step > 0 else None

    def due(self, previous_step: int, step: int) -> bool:
        """Whether the call that moved training from `previous_step` to `step` crossed a checkpoint step."""
        every = self.save_checkpoints_steps
        return step != self._last_saved and step // every != previous_step // every

    def is_saved(self, step: int) -> bool:
        """Whether `step` already has its checkpoint."""
        return step == self._last_saved

    def record(self, step: int, prefix: Optional[str]) -> None:
        """Notes the checkpoint written at `step` (`prefix` None off the chief, which writes nothing)."""
        self.latest, self._last_saved = prefix or self.latest, step

    def steps_in_next_call(self, step: int, steps_per_loop: int, num_train_steps: int,
                           eval_every_steps: Optional[int] = None) -> int:
        """Steps for the next call: `steps_per_loop`, shortened to stop at the next checkpoint, the next
        evaluation and the end."""
        if steps_per_loop == 1:
            return 1
        stops = [num_train_steps - step]
        for every in (self.save_checkpoints_steps, eval_every_steps):
            if every:
                stops.append((step // every + 1) * every - step)
        return max(1, min(steps_per_loop, *stops))


class Trainer:
    """Builds, restores and trains a model under a `tf.distribute` strategy.

    Args:
      config: a `TrainerConfig`.
      model_fn: called once as `model_fn(dtype_policy)` inside `strategy.scope()`; returns the model
        (e.g. `lambda dtype: BertClassifier(bert_config, num_labels, dtype=dtype)`). The model is called as
        `model(features, training=True)` and returns a dict of outputs.
      optimizer_config: an `optimization.OptimizerConfig` (the original AdamWeightDecay by default), or a
        function returning an optimizer (called inside the scope).
      loss_fn: `loss_fn(outputs, labels, features)` -> per-example losses [B] (averaged over the global
        batch) or a scalar (this replica's mean loss; averaged over replicas).
      strategy: a `tf.distribute.Strategy`; default: `create_strategy("one_device")`.

    Raises:
      ValueError: an invalid `config` (see `TrainerConfig.validate`).
    """

    def __init__(self, config: TrainerConfig, model_fn: ModelFn,
                 optimizer_config: Union[optimization.OptimizerConfig, Callable[[], Any]],
                 loss_fn: LossFn, strategy: Optional[tf.distribute.Strategy] = None):
        config.validate()
        self.config = config
        self.model_fn = model_fn
        self.optimizer_config = optimizer_config
        self.loss_fn = loss_fn
        self.strategy = strategy if strategy is not None else strategies.create_strategy("one_device")
        self.model = None
        self.optimizer = None  # what `apply` is called on (a LossScaleOptimizer for mixed_float16)
        self.accumulator = None
        self.restore_info: Optional[RestoreInfo] = None
        self._train_function = None

    # -- building ---------------------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        """Whether `build` has created the model and optimizer."""
        return self.model is not None

    @property
    def inner_optimizer(self):
        """The AdamWeightDecay/Lamb itself (unwrapped from loss scaling)."""
        return getattr(self.optimizer, "inner_optimizer", self.optimizer)

    @property
    def global_step(self) -> int:
        """The optimizer's update count (0 before `build`)."""
        return int(self.inner_optimizer.iterations.numpy()) if self.optimizer is not None else 0

    def build(self) -> RestoreInfo:
        """Creates the model and optimizer inside the strategy's scope and restores their state.

        Checks the newest checkpoint of output_dir against the model *before* anything is written.

        Returns:
          The `RestoreInfo` (the same one on later calls).

        Raises:
          CheckpointError: output_dir holds a checkpoint of another model, or init_checkpoint does not fit.
        """
        if self.built:
            return self.restore_info
        config = self.config
        if config.seed is not None:
            keras.utils.set_random_seed(config.seed)
        with self.strategy.scope():
            model = self.model_fn(precision.dtype_policy(config.dtype))
            optimizer = self._create_optimizer(model)
            if config.num_accumulation_steps > 1:
                self.accumulator = optimization.GradientAccumulator(model.trainable_variables)
            self.restore_info = restore_or_initialize(
                model, config.output_dir, config.init_checkpoint, config.expected_missing, optimizer=optimizer)
        self.model, self.optimizer = model, optimizer
        return self.restore_info

    def _create_optimizer(self, model):
        """The optimizer built on `model`'s trainable variables, wrapped for loss scaling when the dtype needs it."""
        if isinstance(self.optimizer_config, optimization.OptimizerConfig):
            optimizer = optimization.create_optimizer(self.optimizer_config)
        else:
            optimizer = self.optimizer_config()
        optimizer.build(model.trainable_variables)
        optimizer = precision.wrap_optimizer(optimizer, self.config.dtype)
        if not optimizer.built:
            optimizer.build(model.trainable_variables)
        return optimizer

    # -- steps and checkpoints --------------------------------------------------------------------------

    def _learning_rate(self, step: int) -> Optional[float]:
        """The learning rate used by the update that made `step` (schedule at step - 1); None if unknown."""
        learning_rate = keras_overrides.learning_rate_or_schedule(self.inner_optimizer)
        if learning_rate is None:
            return None
        try:
            if callable(learning_rate):
                return float(learning_rate(max(0, step - 1)))
            return float(np.asarray(learning_rate))
        except (TypeError, ValueError):
            return None

    def save(self) -> Optional[str]:
        """Writes `output_dir/model.ckpt-<global_step>` (model, Adam slots, global_step); None off the chief."""
        if not strategies.is_chief(self.strategy):
            return None
        step = self.global_step
        prefix = os.path.join(self.config.output_dir, f"{CHECKPOINT_BASENAME}-{step}")
        keep = self.config.keep_checkpoint_max or None
        checkpoint_io.save_checkpoint(self.model, prefix, optimizer=self.optimizer, global_step=step, max_to_keep=keep)
        logging.info("Saved checkpoint %s", prefix)
        return prefix

    def _distribute(self, dataset, start_step: int):
        """The dataset (or dataset function) distributed over the strategy's replicas, from `start_step` on.

        Each replica gets its slice of every global batch (`sharding.distribute_dataset`); a resumed run skips
        the batches the steps before it consumed, so that it sees the batches an uninterrupted run would.
        """
        skip_batches = start_step * self.config.num_accumulation_steps
        if skip_batches:
            logging.info("Resuming at step %d: skipping the %d batches its steps consumed", start_step, skip_batches)
        if self.strategy.num_replicas_in_sync > 1:
            logging.info("Each global batch is split over %d replicas on %d worker(s)",
                         self.strategy.num_replicas_in_sync, sharding.num_workers(self.strategy))
        return sharding.distribute_dataset(self.strategy, dataset, skip_batches)

    def _run_call(self, iterator, num_steps: int, timer: ThroughputTimer) -> Tuple[float, int, int]:
        """One timed call of the step function (`num_steps` updates); returns (mean loss, examples, global step)."""
        call_start = time.perf_counter()
        loss_tensor, examples_tensor = self._train_function(iterator, tf.constant(num_steps, tf.int32))
        loss = float(loss_tensor.numpy())
        examples = int(examples_tensor.numpy())
        step = self.global_step
        timer.add(time.perf_counter() - call_start, examples)
        return loss, examples, step

    def _run_call_or_explain(self, iterator, num_steps: int, timer: ThroughputTimer, step: int):
        """`_run_call`; a lost worker (a collective that cannot complete) becomes a TrainingError on what to do."""
        try:
            return self._run_call(iterator, num_steps, timer)
        except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError) as error:
            if sharding.num_workers(self.strategy) == 1:
                raise
            latest = checkpoint_io.latest_checkpoint(self.config.output_dir)
            reasons = [line.strip() for line in str(error.message).splitlines()
                       if re.search(r"peer|socket|connect|unavailable|down|deadline", line, re.IGNORECASE)]
            reason = f"{type(error).__name__}: {reasons[0][:100]}" if reasons else type(error).__name__
            raise TrainingError(
                f"lost a worker at step {step} ({reason}): start the same command again on every worker; they "
                f"resume from {latest or 'the start'}") from None

    # -- the loop ---------------------------------------------------------------------------------------

    def train(self, dataset: Union[tf.data.Dataset, Callable[[tf.distribute.InputContext], tf.data.Dataset]],
              monitor: Optional[EvalMonitor] = None) -> TrainResult:
        """Trains until `num_train_steps` (resuming from output_dir's newest checkpoint if there is one).

        A checkpoint is written every save_checkpoints_steps and at the end. A resumed run skips the batches
        of the steps already made (the original Estimator read the input from its beginning again), so that
        with a seeded input it trains on what an uninterrupted run would have.

        With a `monitor` (`bert_tf.training.evaluation.EvalMonitor`), every `monitor.every_steps` steps
        before the last a checkpoint is written and the model evaluated; training stops early when the
        monitor says so. A resumed run takes back the monitor's history first (and does not train when it
        had stopped early); the last step's evaluation is left to the caller (`EvalMonitor.final`).

        Args:
          dataset: yields (features dict, labels) global batches (micro-batches with accumulation) and must
            not end before training does (repeat it); or a function of a `tf.distribute.InputContext`
            returning the per-replica dataset (`strategy.distribute_datasets_from_function`).
          monitor: evaluations during training, or None.

        Returns:
          A `TrainResult`.

        Raises:
          CheckpointError: see `build`.
          TrainingError: the loss is not finite, or the loss scale kept skipping updates.
        """
        self.build()
        config = self.config
        start_step = step = self.global_step
        tf.io.gfile.makedirs(config.output_dir)
        cadence = CheckpointCadence(config.save_checkpoints_steps, start_step,
                                    checkpoint_io.latest_checkpoint(config.output_dir))
        if monitor is not None:
            monitor.resume(start_step)
            if monitor.stopped():
                logging.warning("%s holds a training that stopped early at step %d (%d evaluations without "
                                "improvement): nothing to train; to train afresh, give another --output_dir or "
                                "delete this one", config.output_dir, start_step,
                                monitor.evaluations_without_improvement)
                return TrainResult(start_step, start_step, 0, [], cadence.latest, 0.0, 0.0)
        if start_step >= config.num_train_steps:
            logging.warning("%s holds a finished training (global_step %d of num_train_steps %d): nothing to train; "
                            "to train afresh, give another --output_dir or delete this one", config.output_dir,
                            start_step, config.num_train_steps)
            return TrainResult(start_step, start_step, 0, [], cadence.latest, 0.0, 0.0)
        if monitor is not None and start_step > 0 and monitor.due(start_step - 1, start_step):
            monitor.evaluate(start_step)  # a run stopped between this step's checkpoint and its evaluation
            if monitor.stopped():
                return TrainResult(start_step, start_step, 0, [], cadence.latest, 0.0, 0.0)
        if self._train_function is None:
            self._train_function = make_train_function(
                self.model, self.optimizer, self.loss_fn, self.strategy, self.accumulator, config.use_xla,
                config.num_accumulation_steps, config.steps_per_loop)
        iterator = iter(self._distribute(dataset, start_step))
        guard = TrainingGuard(check_loss=not precision.uses_loss_scaling(self.optimizer))
        timer = ThroughputTimer()
        losses: List[float] = []
        summary_dir = config.output_dir if strategies.is_chief(self.strategy) and config.write_summaries else None
        eval_every_steps = monitor.every_steps if monitor is not None else None
        with TrainingReporter(config.num_train_steps, start_step, config.log_every_steps, summary_dir,
                              config.progress_bar) as reporter:
            if monitor is not None:
                monitor.log = reporter.message
            while step < config.num_train_steps:
                num_steps = cadence.steps_in_next_call(step, config.steps_per_loop, config.num_train_steps,
                                                       eval_every_steps)
                previous_step = step
                loss, examples, step = self._run_call_or_explain(iterator, num_steps, timer, step)
                losses.append(loss)
                guard.check(loss, previous_step, step)
                reporter.report(previous_step, step, loss, examples, self._learning_rate(step))
                evaluate = (monitor is not None and step < config.num_train_steps
                            and monitor.due(previous_step, step))
                if (cadence.due(previous_step, step) or evaluate) and not cadence.is_saved(step):
                    cadence.record(step, self.save())
                if evaluate:
                    monitor.evaluate(step)
                    if monitor.stopped():
                        break
        if not cadence.is_saved(step):
            cadence.record(step, self.save())
        return TrainResult(step, start_step, step - start_step, losses, cadence.latest, timer.examples_per_second,
                           timer.total_seconds)
