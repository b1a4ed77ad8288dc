"""The step function of `bert_tf.training.trainer.Trainer`: forward, backward and update, under a strategy.

`make_train_function` returns a `tf.function` `train_steps(iterator, num_steps) -> (mean loss, examples)` that
runs `num_steps` optimizer updates from a distributed dataset iterator. Per replica, inside `strategy.run`:
the forward pass with `training=True`, the loss averaged over the *global* batch (N replicas make the same
update as one device with the whole batch), gradients (of the scaled loss under loss scaling) and the update.
With `num_accumulation_steps` N > 1 an update takes N micro-batches, whose gradients a `GradientAccumulator`
averages.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, NamedTuple, Tuple

import tensorflow as tf

from bert_tf.training import precision, strategies
from bert_tf.training.predict import split_element


class WeightedLoss(NamedTuple):
    """A `loss_fn` result that is a mean over a number of units of the global batch that varies from batch to
    batch (NER: the labelled tokens).

    Attributes:
      loss: float32 scalar, what a scalar `loss_fn` returns: this replica's loss, averaged over replicas
        into the global mean (a replica whose sum covers part of the units scales it by the replicas).
      weight: float32 scalar, the units the global mean is over (summed over replicas). Gradient
        accumulation weights each micro-batch by it, so N micro-batches make the update of their union.
    """

    loss: tf.Tensor
    weight: tf.Tensor


# loss_fn(model outputs, labels, features) -> per-example losses [B], a scalar (the mean over the local batch)
# or a WeightedLoss.
LossFn = Callable[[Mapping[str, tf.Tensor], Any, Mapping[str, tf.Tensor]], Any]


def replica_mean_loss(loss, global_batch_size=None) -> tf.Tensor:
    """This replica's share of the global-batch mean: per-example [B] -> sum / global batch; a scalar or a
    `WeightedLoss` -> / replicas."""
    return replica_loss_and_weight(loss, global_batch_size)[0]


def replica_loss_and_weight(loss, global_batch_size=None) -> Tuple[tf.Tensor, tf.Tensor]:
    """`(this replica's share of the global-batch mean, the mean's weight)`, both float32 scalars.

    The weight is what gradient accumulation weights a micro-batch by: the global batch's examples for
    per-example losses, a `WeightedLoss`'s weight, 1 for a scalar (a mean of micro-batch means).

    Args:
      loss: per-example losses [B], this replica's mean loss, or a `WeightedLoss`.
      global_batch_size: the examples of all replicas together (`global_batch_size`); None: B x replicas.

    Raises:
      ValueError: a loss of rank 2 or more.
    """
    num_replicas = tf.cast(tf.distribute.get_replica_context().num_replicas_in_sync, tf.float32)
    if isinstance(loss, WeightedLoss):
        return tf.cast(loss.loss, tf.float32) / num_replicas, tf.cast(loss.weight, tf.float32)
    loss = tf.cast(loss, tf.float32)
    if loss.shape.rank == 0:
        return loss / num_replicas, tf.constant(1.0)
    if loss.shape.rank != 1:
        raise ValueError(f"loss_fn must return per-example losses [batch] or a scalar, got shape {loss.shape}")
    if global_batch_size is None:
        global_batch_size = tf.cast(tf.shape(loss)[0], tf.float32) * num_replicas
    global_batch_size = tf.cast(global_batch_size, tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum(loss), global_batch_size), global_batch_size


def per_replica_function(function: Callable, jit_compile: bool) -> Callable:
    """`function` as one `tf.function` per replica device, so each traces with its own variable copies."""
    compiled = {}

    def call(*args):
        key = strategies.replica_device_key()
        if key not in compiled:
            compiled[key] = tf.function(function, jit_compile=jit_compile)
        return compiled[key](*args)

    return call


def batch_size(features) -> tf.Tensor:
    """The number of examples in a batch of features (the first dimension of its first tensor), int64."""
    first = tf.nest.flatten(features)[0]
    return tf.cast(tf.shape(first)[0], tf.int64)


def global_batch_size(features) -> tf.Tensor:
    """The examples of a step on all replicas together (float32; the sum over replicas of `batch_size`).

    Replicas may hold unequal slices of a global batch (`bert_tf.training.sharding`), so the global batch is
    summed rather than taken as the local batch times the replicas. Call in the replica context, outside XLA.
    """
    rows = tf.cast(batch_size(features), tf.float32)
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return rows
    return context.all_reduce(tf.distribute.ReduceOp.SUM, rows)


def make_forward_backward(model, optimizer, loss_fn: LossFn) -> Callable:
    """`forward_backward(features, labels, global_rows)` -> (this replica's share of the mean loss, gradients,
    the loss's weight (`replica_loss_and_weight`)).

    Runs in the replica context; `global_rows` is the step's `global_batch_size`. Under loss scaling the
    gradients are those of the scaled loss (the optimizer unscales them).
    """

    def forward_backward(features, labels, global_rows):
        variables = model.trainable_variables
        with tf.GradientTape() as tape:
            outputs = model(features, training=True)
            loss, weight = replica_loss_and_weight(loss_fn(outputs, labels, features), global_rows)
            scaled_loss = optimizer.scale_loss(loss) if precision.uses_loss_scaling(optimizer) else loss
        gradients = tape.gradient(scaled_loss, variables)
        return loss, gradients, tf.stop_gradient(weight)

    return forward_backward


def make_train_function(model, optimizer, loss_fn: LossFn, strategy: tf.distribute.Strategy, accumulator=None,
                        use_xla: bool = False, num_accumulation_steps: int = 1, steps_per_loop: int = 1):
    """The step function: a `tf.function` `train_steps(iterator, num_steps)` -> (mean loss, examples seen).

    Args:
      model: the model, built under `strategy`; called as `model(features, training=True)`.
      optimizer: the built optimizer `apply` is called on (a `LossScaleOptimizer` under loss scaling).
      loss_fn: `loss_fn(outputs, labels, features)` -> per-example losses [B] or this replica's mean loss.
      strategy: the `tf.distribute.Strategy` the model and optimizer were built under.
      accumulator: a `GradientAccumulator` of the model's trainable variables; needed when
        `num_accumulation_steps` > 1.
      use_xla: compile the replica step with XLA.
      num_accumulation_steps: micro-batches (elements of the iterator) per update.
      steps_per_loop: 1: every call makes one update (`num_steps` is ignored); else `num_steps` updates.

    Returns:
      The `tf.function`; its loss is the mean over the call's updates and micro-batches, its examples the sum.
    """
    variables = model.trainable_variables
    forward_backward = make_forward_backward(model, optimizer, loss_fn)
    # XLA: one device compiles the whole replica step, update included. With several replicas the
    # update's cross-device all-reduce cannot be inside an XLA cluster, so each replica compiles only
    # its forward and backward pass (one compiled function per replica device).
    compile_update = use_xla and strategy.num_replicas_in_sync == 1
    if use_xla and not compile_update:
        forward_backward = per_replica_function(forward_backward, jit_compile=True)

    def train_replica(features, labels):
        loss, gradients, _ = forward_backward(features, labels, global_batch_size(features))
        optimizer.apply(gradients, variables)
        return loss, batch_size(features)

    def accumulate_replica(features, labels):
        loss, gradients, weight = forward_backward(features, labels, global_batch_size(features))
        accumulator.accumulate(gradients, weight)
        return loss, batch_size(features)

    def apply_replica():
        optimizer.apply(accumulator.mean_gradients(), variables)
        accumulator.reset()

    train_replica = tf.function(train_replica, jit_compile=compile_update)
    accumulate_replica = tf.function(accumulate_replica, jit_compile=compile_update)
    apply_replica = tf.function(apply_replica, jit_compile=compile_update)

    def reduce_sum(value):
        return strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)

    def one_step(iterator):
        if num_accumulation_steps == 1:
            features, labels = split_element(next(iterator))
            loss, examples = strategy.run(train_replica, args=(features, labels))
            return reduce_sum(loss), reduce_sum(examples)
        loss_sum = tf.constant(0.0)
        examples_sum = tf.constant(0, tf.int64)
        for _ in tf.range(num_accumulation_steps):
            features, labels = split_element(next(iterator))
            loss, examples = strategy.run(accumulate_replica, args=(features, labels))
            loss_sum += reduce_sum(loss)
            examples_sum += reduce_sum(examples)
        strategy.run(apply_replica)
        return loss_sum / num_accumulation_steps, examples_sum

    @tf.function
    def train_steps(iterator, num_steps):
        """Runs `num_steps` steps; returns (mean loss, examples seen)."""
        if steps_per_loop == 1:
            return one_step(iterator)
        loss_sum = tf.constant(0.0)
        examples_sum = tf.constant(0, tf.int64)
        for _ in tf.range(num_steps):
            loss, examples = one_step(iterator)
            loss_sum += loss
            examples_sum += examples
        return loss_sum / tf.cast(num_steps, tf.float32), examples_sum

    return train_steps
