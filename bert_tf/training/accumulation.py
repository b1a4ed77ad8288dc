"""Gradient accumulation (`--num_accumulation_steps`): the mean gradient of several micro-batches."""
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
    over the N micro-batches, so the update equals one update with an N times larger batch.

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
        self._count = tf.Variable(
            tf.constant(0, dtype=tf.int64),
            trainable=False,
            name=f"{name}/count",
            synchronization=tf.VariableSynchronization.ON_READ,
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        )

    @property
    def step(self) -> tf.Tensor:
        """Number of gradient lists accumulated since the last reset (int64 scalar)."""
        return self._count.read_value()

    @property
    def variables(self) -> list[tf.Variable]:
        return [*self._sums, self._count]

    def accumulate(self, gradients: Sequence) -> None:
        """Adds one list of gradients (same order as the variables; `None` entries add nothing)."""
        if len(gradients) != len(self._sums):
            raise ValueError(
                f"GradientAccumulator.accumulate: got {len(gradients)} gradients for {len(self._sums)} variables"
            )
        for gradient, gradient_sum in zip(gradients, self._sums):
            if gradient is None:
                continue
            if isinstance(gradient, tf.IndexedSlices):
                gradient = tf.convert_to_tensor(gradient)
            gradient_sum.assign_add(tf.cast(gradient, tf.float32))
        self._count.assign_add(1)

    def mean_gradients(self) -> list[tf.Tensor]:
        """The accumulated sums divided by the number of accumulated lists (float32, variable shapes).

        Zeros if nothing was accumulated. In a replica context these are the replica's own means.
        """
        count = tf.cast(tf.maximum(self._count.read_value(), 1), tf.float32)
        return [gradient_sum.read_value() / count for gradient_sum in self._sums]

    def reset(self) -> None:
        """Sets all sums and the count to zero."""
        for gradient_sum in self._sums:
            gradient_sum.assign(tf.zeros(gradient_sum.shape, dtype=tf.float32))
        self._count.assign(tf.constant(0, dtype=tf.int64))
