"""The training loop shared by the run scripts (run_classifier, run_pretraining, run_squad, run_ner).

A `Trainer` builds a model and the original optimizer under a `tf.distribute` strategy, starts from the newest
checkpoint in `output_dir` (model, Adam slots and `global_step`: a re-run of an interrupted command continues
where it stopped) or else from an `init_checkpoint`, and runs steps until `num_train_steps`, writing
`model.ckpt-<step>` checkpoints in the original format, TensorBoard scalars and a progress bar::

    trainer = Trainer(TrainerConfig(output_dir="out", num_train_steps=1000, init_checkpoint=".../bert_model.ckpt",
                                    expected_missing=("output_weights", "output_bias")),
                      model_fn=lambda dtype: BertClassifier(config, 2, dtype=dtype),
                      optimizer_config=OptimizerConfig(learning_rate=2e-5, num_train_steps=1000, num_warmup_steps=100),
                      loss_fn=lambda outputs, labels, features: per_example_cross_entropy(outputs["logits"], labels))
    result = trainer.train(dataset)          # dataset yields (features dict, labels), global batches
    outputs = predict(trainer.model, eval_dataset, strategy=trainer.strategy)

One step (per replica, inside `strategy.run`, in a `tf.function`, XLA-compiled with `use_xla`): forward pass with
`training=True`, the loss averaged over the *global* batch (so N replicas make the same update as one device
with the whole batch), gradients (loss-scaled for mixed_float16), and the optimizer update, whose global-norm
clipping happens after the cross-replica sum. With `num_accumulation_steps` N > 1 a step runs N micro-batches,
accumulating their gradients, and applies their mean once: `global_step` counts updates.

Batches may differ in sequence length (per-batch padding): the step function takes the dataset *iterator*, whose
element spec has `None` dimensions, so it is traced once (XLA still compiles once per distinct shape).
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import keras
import numpy as np
import tensorflow as tf
from absl import logging
from tensorflow.core.framework import summary_pb2

from bert_tf import checkpoint as checkpoint_io
from bert_tf.checkpoint import CheckpointError
from bert_tf.training import optimization, precision, strategies
from bert_tf.training.progress import ProgressReporter

CHECKPOINT_BASENAME = "model.ckpt"

# loss_fn(model outputs, labels, features) -> per-example losses [B] or a scalar (the mean over the local batch).
LossFn = Callable[[Mapping[str, tf.Tensor], Any, Mapping[str, tf.Tensor]], tf.Tensor]
# model_fn(dtype policy) -> a built Keras model whose variable paths are the checkpoint names.
ModelFn = Callable[[keras.DTypePolicy], keras.Model]


class TrainingError(RuntimeError):
    """Training cannot go on (e.g. the loss became NaN)."""


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
        """Raises ValueError naming the first invalid field."""
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
class RestoreInfo:
    """Where a model's weights came from.

    Attributes:
      source: "output_dir" (resumed), "init_checkpoint" or "none" (random initialization).
      checkpoint: the checkpoint prefix read, or None.
      global_step: the step training continues from (0 unless resumed).
      report: the `bert_tf.checkpoint.LoadReport`, or None.
    """

    source: str
    checkpoint: Optional[str]
    global_step: int
    report: Optional[checkpoint_io.LoadReport] = None


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


# ------------------------------------------------------------------------------------------------------------
# Restoring
# ------------------------------------------------------------------------------------------------------------


def check_output_dir_checkpoint(model, output_dir: str) -> Optional[str]:
    """The newest checkpoint in `output_dir` if it fits `model`; None if there is none.

    Raises:
      CheckpointError: one line naming output_dir, the checkpoint and the first 3 mismatching variables, when
        the checkpoint was written for a model of another shape (another bert_config.json or task).
    """
    latest = checkpoint_io.latest_checkpoint(output_dir) if tf.io.gfile.isdir(output_dir) else None
    if latest is None:
        return None
    problems = checkpoint_io.checkpoint_mismatches(model, latest)
    if problems:
        shown = 3
        more = f" (and {len(problems) - shown} more)" if len(problems) > shown else ""
        raise CheckpointError(
            f"output_dir {output_dir} holds checkpoint {os.path.basename(latest)} of another model: "
            f"{'; '.join(problems[:shown])}{more}; use a new output_dir, or delete its checkpoints to start over"
        )
    return latest


def restore_or_initialize(model, output_dir: Optional[str], init_checkpoint: Optional[str] = None,
                          expected_missing: Sequence[str] = (), optimizer=None) -> RestoreInfo:
    """Loads the newest checkpoint of `output_dir` (with the optimizer's slots and step), else `init_checkpoint`.

    Like the original Estimator, a checkpoint in `output_dir` wins over `init_checkpoint`. Call in the
    cross-replica context (inside `strategy.scope()` or outside any strategy), after building the optimizer.

    Raises:
      CheckpointError: a checkpoint that does not fit the model, or an unreadable `init_checkpoint`.
    """
    latest = check_output_dir_checkpoint(model, output_dir) if output_dir else None
    if latest is not None:
        report = checkpoint_io.load_checkpoint(model, latest, optimizer=optimizer)
        step = report.global_step or 0
        if optimizer is not None:
            expected_slots = len(optimizer.slot_variables_by_name())
            if report.optimizer_slots_restored < expected_slots:
                logging.warning("%s has %d of %d optimizer slots; the others start at zero", latest,
                                report.optimizer_slots_restored, expected_slots)
            if report.global_step is None:
                logging.warning("%s has no global_step; continuing from step 0", latest)
        logging.info("Resuming from %s (global_step %d)", latest, step)
        return RestoreInfo("output_dir", latest, step, report)
    if init_checkpoint:
        report = checkpoint_io.load_checkpoint(model, init_checkpoint, expected_missing=expected_missing)
        logging.info("Initialized from %s: %s", report.checkpoint, report.summary())
        return RestoreInfo("init_checkpoint", report.checkpoint, 0, report)
    logging.warning("No checkpoint in %s and no init_checkpoint: the model starts from random weights", output_dir)
    return RestoreInfo("none", None, 0, None)


# ------------------------------------------------------------------------------------------------------------
# Loss helpers
# ------------------------------------------------------------------------------------------------------------


def _replica_mean_loss(loss: tf.Tensor) -> tf.Tensor:
    """This replica's share of the global-batch mean: per-example [B] -> sum / global batch; scalar -> / replicas."""
    loss = tf.cast(loss, tf.float32)
    if loss.shape.rank == 0:
        return loss / tf.cast(tf.distribute.get_replica_context().num_replicas_in_sync, tf.float32)
    if loss.shape.rank != 1:
        raise ValueError(f"loss_fn must return per-example losses [batch] or a scalar, got shape {loss.shape}")
    return tf.nn.compute_average_loss(loss)


def _per_replica_function(function, jit_compile: bool):
    """`function` as one `tf.function` per replica device, so each traces with its own variable copies."""
    compiled = {}

    def call(*args):
        context = tf.distribute.get_replica_context()
        key = repr(getattr(context, "devices", None)) if context is not None else ""
        if key not in compiled:
            compiled[key] = tf.function(function, jit_compile=jit_compile)
        return compiled[key](*args)

    return call


def _batch_size(features) -> tf.Tensor:
    first = tf.nest.flatten(features)[0]
    return tf.cast(tf.shape(first)[0], tf.int64)


def _split_element(element) -> Tuple[Any, Any]:
    """A dataset element -> (features, labels); labels is None for a features-only dataset."""
    if isinstance(element, (tuple, list)):
        if len(element) != 2:
            raise ValueError(f"dataset elements must be (features, labels) or features, got {len(element)} parts")
        return element[0], element[1]
    return element, None


def _scalar_metadata() -> bytes:
    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
    return metadata.SerializeToString()


def write_scalars(writer, step: int, scalars: Mapping[str, Optional[float]]) -> None:
    """Writes TensorBoard scalar summaries (None values skipped) without needing the tensorboard package."""
    metadata = _scalar_metadata()
    with writer.as_default():
        for tag, value in scalars.items():
            if value is not None:
                tf.summary.write(tag, tf.constant(float(value), tf.float32), step=int(step), metadata=metadata)
    writer.flush()


# ------------------------------------------------------------------------------------------------------------
# Trainer
# ------------------------------------------------------------------------------------------------------------


class Trainer:
    """Builds, restores and trains a model under a `tf.distribute` strategy.

    Args:
      config: a TrainerConfig.
      model_fn: called once as `model_fn(dtype_policy)` inside `strategy.scope()`; returns the model
        (e.g. `lambda dtype: BertClassifier(bert_config, num_labels, dtype=dtype)`). The model is called as
        `model(features, training=True)` and returns a dict of outputs.
      optimizer_config: an `optimization.OptimizerConfig` (the original AdamWeightDecay by default), or a
        function returning an optimizer (called inside the scope).
      loss_fn: `loss_fn(outputs, labels, features)` -> per-example losses [B] (averaged over the global
        batch) or a scalar (this replica's mean loss; averaged over replicas).
      strategy: a `tf.distribute.Strategy`; default: `create_strategy("one_device")`.
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
        return self.model is not None

    @property
    def inner_optimizer(self):
        """The AdamWeightDecay/Lamb itself (unwrapped from loss scaling)."""
        return getattr(self.optimizer, "inner_optimizer", self.optimizer)

    @property
    def global_step(self) -> int:
        return int(self.inner_optimizer.iterations.numpy()) if self.optimizer is not None else 0

    def build(self) -> RestoreInfo:
        """Creates the model and optimizer inside the strategy's scope and restores their state.

        Checks the newest checkpoint of output_dir against the model *before* anything is written.

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
            if isinstance(self.optimizer_config, optimization.OptimizerConfig):
                optimizer = optimization.create_optimizer(self.optimizer_config)
            else:
                optimizer = self.optimizer_config()
            optimizer.build(model.trainable_variables)
            optimizer = precision.wrap_optimizer(optimizer, config.dtype)
            if not optimizer.built:
                optimizer.build(model.trainable_variables)
            if config.num_accumulation_steps > 1:
                self.accumulator = optimization.GradientAccumulator(model.trainable_variables)
            self.restore_info = restore_or_initialize(
                model, config.output_dir, config.init_checkpoint, config.expected_missing, optimizer=optimizer)
        self.model, self.optimizer = model, optimizer
        return self.restore_info

    # -- the step ---------------------------------------------------------------------------------------

    def _forward_backward(self, features, labels):
        """Replica context: (this replica's share of the mean loss, gradients of the (scaled) loss)."""
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            outputs = self.model(features, training=True)
            loss = _replica_mean_loss(self.loss_fn(outputs, labels, features))
            scaled_loss = self.optimizer.scale_loss(loss) if precision.uses_loss_scaling(self.optimizer) else loss
        gradients = tape.gradient(scaled_loss, variables)
        return loss, gradients

    def _make_train_function(self):
        strategy = self.strategy
        variables = self.model.trainable_variables
        num_accumulation_steps = self.config.num_accumulation_steps
        # XLA: one device compiles the whole replica step, update included. With several replicas the
        # update's cross-device all-reduce cannot be inside an XLA cluster, so each replica compiles only
        # its forward and backward pass (one compiled function per replica device).
        compile_update = self.config.use_xla and strategy.num_replicas_in_sync == 1
        if self.config.use_xla and not compile_update:
            forward_backward = _per_replica_function(self._forward_backward, jit_compile=True)
        else:
            forward_backward = self._forward_backward

        def train_replica(features, labels):
            loss, gradients = forward_backward(features, labels)
            self.optimizer.apply(gradients, variables)
            return loss, _batch_size(features)

        def accumulate_replica(features, labels):
            loss, gradients = forward_backward(features, labels)
            self.accumulator.accumulate(gradients)
            return loss, _batch_size(features)

        def apply_replica():
            self.optimizer.apply(self.accumulator.mean_gradients(), variables)
            self.accumulator.reset()

        train_replica = tf.function(train_replica, jit_compile=compile_update)
        accumulate_replica = tf.function(accumulate_replica, jit_compile=compile_update)
        apply_replica = tf.function(apply_replica, jit_compile=compile_update)

        def reduce_sum(value):
            return strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)

        def one_step(iterator):
            if num_accumulation_steps == 1:
                features, labels = _split_element(next(iterator))
                loss, examples = strategy.run(train_replica, args=(features, labels))
                return reduce_sum(loss), reduce_sum(examples)
            loss_sum = tf.constant(0.0)
            examples_sum = tf.constant(0, tf.int64)
            for _ in tf.range(num_accumulation_steps):
                features, labels = _split_element(next(iterator))
                loss, examples = strategy.run(accumulate_replica, args=(features, labels))
                loss_sum += reduce_sum(loss)
                examples_sum += reduce_sum(examples)
            strategy.run(apply_replica)
            return loss_sum / num_accumulation_steps, examples_sum

        @tf.function
        def train_steps(iterator, num_steps):
            """Runs `num_steps` steps; returns (mean loss, examples seen)."""
            if self.config.steps_per_loop == 1:
                return one_step(iterator)
            loss_sum = tf.constant(0.0)
            examples_sum = tf.constant(0, tf.int64)
            for _ in tf.range(num_steps):
                loss, examples = one_step(iterator)
                loss_sum += loss
                examples_sum += examples
            return loss_sum / tf.cast(num_steps, tf.float32), examples_sum

        return train_steps

    def _learning_rate(self, step: int) -> Optional[float]:
        """The learning rate used by the update that made `step` (schedule at step - 1)."""
        learning_rate = getattr(self.inner_optimizer, "_learning_rate", None)  # a schedule or a variable
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

    # -- the loop ---------------------------------------------------------------------------------------

    def _distribute(self, dataset):
        if callable(dataset) and not isinstance(dataset, tf.data.Dataset):
            return self.strategy.distribute_datasets_from_function(dataset)
        return self.strategy.experimental_distribute_dataset(dataset)

    def train(self, dataset: Union[tf.data.Dataset, Callable[[tf.distribute.InputContext], tf.data.Dataset]]
              ) -> TrainResult:
        """Trains until `num_train_steps` (resuming from output_dir's newest checkpoint if there is one).

        Args:
          dataset: yields (features dict, labels) global batches (micro-batches with accumulation) and must
            not end before training does (repeat it); or a function of a `tf.distribute.InputContext`
            returning the per-replica dataset (`strategy.distribute_datasets_from_function`).

        Returns:
          A TrainResult. A checkpoint is written every save_checkpoints_steps and at the end. A resumed run
          reads the dataset from its beginning again (as the original Estimator's input_fn did).

        Raises:
          CheckpointError: see `build`. TrainingError: the loss is not finite, or the loss scale kept
            skipping updates.
        """
        self.build()
        config = self.config
        total_steps = int(config.num_train_steps)
        start_step = self.global_step
        tf.io.gfile.makedirs(config.output_dir)
        latest = checkpoint_io.latest_checkpoint(config.output_dir)
        if start_step >= total_steps:
            logging.info("global_step %d already reached num_train_steps %d: nothing to train", start_step,
                         total_steps)
            return TrainResult(start_step, start_step, 0, [], latest, 0.0, 0.0)

        if self._train_function is None:
            self._train_function = self._make_train_function()
        iterator = iter(self._distribute(dataset))
        chief = strategies.is_chief(self.strategy)
        writer = tf.summary.create_file_writer(config.output_dir) if (chief and config.write_summaries) else None
        progress = ProgressReporter(total_steps, start_step, config.log_every_steps, use_bar=config.progress_bar)
        uses_loss_scaling = precision.uses_loss_scaling(self.optimizer)

        step = start_step
        last_saved = start_step if latest is not None and start_step > 0 else None
        losses: List[float] = []
        steps_without_update = 0
        timed_seconds, timed_examples, all_seconds, all_examples = 0.0, 0, 0.0, 0
        window_examples, window_start = 0, time.perf_counter()
        first_call = True
        try:
            while step < total_steps:
                num_steps = self._steps_in_next_call(step)
                call_start = time.perf_counter()
                loss_tensor, examples_tensor = self._train_function(iterator, tf.constant(num_steps, tf.int32))
                loss = float(loss_tensor.numpy())
                examples = int(examples_tensor.numpy())
                previous_step, step = step, self.global_step
                seconds = time.perf_counter() - call_start
                all_seconds += seconds
                all_examples += examples
                if not first_call:
                    timed_seconds += seconds
                    timed_examples += examples
                first_call = False
                losses.append(loss)

                if not math.isfinite(loss) and not uses_loss_scaling:
                    raise TrainingError(f"the loss became {loss} at step {step}; lower the learning rate or "
                                        "check the data")
                steps_without_update = steps_without_update + 1 if step == previous_step else 0
                if steps_without_update >= 100:
                    raise TrainingError(f"no update for {steps_without_update} steps at step {step}: the "
                                        "gradients are not finite (loss scaling keeps skipping)")

                window_examples += examples
                now = time.perf_counter()
                examples_per_second = window_examples / max(1e-9, now - window_start)
                learning_rate = self._learning_rate(step)
                progress.update(step, loss, examples_per_second, learning_rate)
                if step // config.log_every_steps != previous_step // config.log_every_steps or step >= total_steps:
                    if writer is not None:
                        scalars = {"loss": loss, "learning_rate": learning_rate,
                                   "examples_per_second": examples_per_second}
                        write_scalars(writer, step, scalars)
                    window_examples, window_start = 0, now
                if step != last_saved and (step // config.save_checkpoints_steps
                                           != previous_step // config.save_checkpoints_steps):
                    saved = self.save()
                    latest, last_saved = saved or latest, step
        finally:
            progress.close()
            if writer is not None:
                writer.close()
        if step != last_saved:
            latest = self.save() or latest
        if timed_examples == 0:  # a single call: count it although it includes tracing
            timed_seconds, timed_examples = all_seconds, all_examples
        throughput = timed_examples / timed_seconds if timed_seconds > 0 else 0.0
        return TrainResult(step, start_step, step - start_step, losses, latest, throughput, all_seconds)

    def _steps_in_next_call(self, step: int) -> int:
        """Steps for the next call: steps_per_loop, shortened to stop at the next checkpoint and at the end."""
        steps = self.config.steps_per_loop
        if steps == 1:
            return 1
        next_save = (step // self.config.save_checkpoints_steps + 1) * self.config.save_checkpoints_steps
        return max(1, min(steps, next_save - step, self.config.num_train_steps - step))


# ------------------------------------------------------------------------------------------------------------
# Inference
# ------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class PredictResult:
    """Outputs of `predict`, one row per example in dataset order.

    Attributes:
      outputs: output name -> array [N, ...] (numpy, the model's dtype; logits are float32).
      labels: the dataset's labels [N] (None for a features-only dataset).
      features: every rank-1 feature (e.g. `is_real_example` [N]).
      batch_sizes: examples per dataset batch, in order.
    """

    outputs: Dict[str, np.ndarray]
    labels: Optional[np.ndarray]
    features: Dict[str, np.ndarray]
    batch_sizes: List[int]


def predict(model, dataset: tf.data.Dataset, strategy: Optional[tf.distribute.Strategy] = None,
            output_keys: Sequence[str] = ("logits",), use_xla: bool = False) -> PredictResult:
    """Runs `model(features, training=False)` over `dataset` under `strategy` and collects numpy outputs.

    Args:
      model: a model built under `strategy` (or with no strategy), returning a dict of outputs.
      dataset: a finite dataset of (features dict, labels) or features dicts, global batches; batches may
        differ in sequence length.
      strategy: default: the current (default) strategy.
      output_keys: which outputs to return.
      use_xla: compile the forward pass with XLA (once per distinct batch shape).
    """
    strategy = strategy or tf.distribute.get_strategy()
    output_keys = tuple(output_keys)

    def replica_fn(element):
        features, labels = _split_element(element)
        outputs = model(features, training=False)
        missing = [key for key in output_keys if key not in outputs]
        if missing:
            raise KeyError(f"model outputs have no {missing}; available: {sorted(outputs)}")
        vector_features = {name: value for name, value in features.items() if value.shape.rank == 1}
        result = {"outputs": {key: outputs[key] for key in output_keys}, "features": vector_features}
        if labels is not None:
            result["labels"] = labels
        return result

    replica_fn = tf.function(replica_fn, jit_compile=use_xla, reduce_retracing=True)

    @tf.function(reduce_retracing=True)
    def step(element):
        return strategy.run(replica_fn, args=(element,))

    collected: Dict[str, list] = {}
    batch_sizes: List[int] = []
    for element in strategy.experimental_distribute_dataset(dataset):
        result = step(element)
        flat = _flatten_dict(result)
        batch_rows = None
        for name, value in flat.items():
            parts = [np.asarray(part) for part in strategy.experimental_local_results(value)]
            array = np.concatenate(parts, axis=0) if parts[0].ndim else np.stack(parts)
            collected.setdefault(name, []).append(array)
            batch_rows = array.shape[0] if batch_rows is None else batch_rows
        batch_sizes.append(int(batch_rows or 0))
    arrays = {name: np.concatenate(parts, axis=0) for name, parts in collected.items()}
    outputs = {key: arrays.pop(f"outputs/{key}") for key in output_keys if f"outputs/{key}" in arrays}
    labels = arrays.pop("labels", None)
    features = {name[len("features/"):]: value for name, value in arrays.items() if name.startswith("features/")}
    return PredictResult(outputs=outputs, labels=labels, features=features, batch_sizes=batch_sizes)


def _flatten_dict(nested: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    flat = {}
    for key, value in nested.items():
        if isinstance(value, Mapping):
            flat.update(_flatten_dict(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
