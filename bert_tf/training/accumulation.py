"""Gradient accumulation (`--num_accumulation_steps`): the (weighted) mean gradient of several micro-batches."""
from __future__ import annotations

from typing import Sequence

import tensorflow as tf

from bert_tf.training.optimizers import variable_checkpoint_name


class GradientAccumulator:
    """Replica-local float32 sums of gradients over several micro-batches (`--num_accumulation_steps`).

    Construct it (eagerly) inside `strategy.scope()` when distributed. Its variables are replica-local
    (`ON_READ`), so inside `strategy.run` each replica adds and reads only its own gradients, and the
    optimizer then sums the replicas' means once per update. Typical use, in `tf.function`s run per replica:

        accumulator.accumulate(tape.gradient(loss, model.trainable_variables))   # every micro-batch
        ...
        optimizer.apply(accumulator.mean_gradients(), model.trainable_variables)  # every N micro-batches
        accumulator.reset()

    With a per-micro-batch mean loss, the mean of N micro-batch gradients is the gradient of the mean loss
    over the N micro-batches, so the update equals one update with an N times larger batch. A loss that is a
    mean over a varying number of units (NER: labelled tokens) passes that number as each micro-batch's
    `weight`: the weighted mean of the micro-batch gradients is the gradient of the mean over all units.

    Args:
        trainable_variables: the variables whose gradients are accumulated, in the order gradients come.
        name: prefix of the accumulator variable names.
    """

    def __init__(self, trainable_variables: Sequence, name: str = "gradient_accumulator"):
        self._variable_names = [variable_checkpoint_name(variable) for variable in trainable_variables]
        self._sums = [
            tf.Variable(
                tf.zeros(tuple(variable.shape), dtype=tf.float32),
                trainable=False,
                name=f"{name}/{index}",
                synchronization=tf.VariableSynchronization.ON_READ,
                aggregation=tf.VariableAggregation.SUM,
            )
            for index, variable in enumerate(trainable_variables)
        ]
        self._count = _replica_local_scalar(tf.constant(0, dtype=tf.int64), f"{name}/count")
        self._weight = _replica_local_scalar(tf.constant(0.0, dtype=tf.float32), f"{name}/weight")

    @property
    def step(self) -> tf.Tensor:
        """Number of gradient lists accumulated since the last reset (int64 scalar)."""
        return self._count.read_value()

    @property
    def variables(self) -> list[tf.Variable]:
        return [*self._sums, self._count, self._weight]

    def accumulate(self, gradients: Sequence, weight=1.0) -> None:
        """Adds one list of gradients (same order as the variables; `None` entries add nothing), times
        `weight` (a float32 scalar, the same on every replica: the units the micro-batch's mean loss is over)."""
        if len(gradients) != len(self._sums):
            raise ValueError(
                f"GradientAccumulator.accumulate: got {len(gradients)} gradients for {len(self._sums)} variables"
            )
        for gradient, gradient_sum in zip(gradients, self._sums):
            if gradient is None:
                continue
            if isinstance(gradient, tf.IndexedSlices):
                gradient = tf.convert_to_tensor(gradient)
            gradient_sum.assign_add(tf.cast(gradient, tf.float32) * weight)
        self._count.assign_add(1)
        self._weight.assign_add(weight)

    def mean_gradients(self) -> list[tf.Tensor]:
        """The accumulated sums divided by the accumulated weight (the number of lists when every weight is
        1): float32, variable shapes. Zeros if nothing was accumulated. In a replica context these are the
        replica's own means."""
        weight = self._weight.read_value()
        weight = tf.where(weight > 0.0, weight, tf.ones_like(weight))
        return [gradient_sum.read_value() / weight for gradient_sum in self._sums]

    def reset(self) -> None:
        """Sets all sums and the count to zero."""
        for gradient_sum in self._sums:
            gradient_sum.assign(tf.zeros(gradient_sum.shape, dtype=tf.float32))
        self._count.assign(tf.constant(0, dtype=tf.int64))
        self._weight.assign(tf.constant(0.0, dtype=tf.float32))


def _replica_local_scalar(initial_value: tf.Tensor, name: str) -> tf.Variable:
    """A non-trainable scalar that each replica keeps for itself (read: the first replica's)."""
    return tf.Variable(initial_value, trainable=False, name=name,
                       synchronization=tf.VariableSynchronization.ON_READ,
                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
