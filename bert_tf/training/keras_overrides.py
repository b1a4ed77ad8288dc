"""Every use and override of Keras optimizer internals in bert_tf, in one place.

Written against Keras 3.15 (3.15.1, TensorFlow 2.21, TensorFlow backend). `tests/training/test_keras_overrides.py`
checks each entry below against the installed Keras (the method still exists with the same signature, the
attribute is still set, the Keras code an override re-implements is unchanged) and fails with a message
naming it when Keras changes; after re-checking this file against a new Keras, add its major.minor to
`CHECKED_KERAS_VERSIONS`.

Overridden (private methods of Keras' TensorFlow-backend optimizer,
`keras.src.backend.tensorflow.optimizer.TFOptimizer`, the base of `keras.optimizers.Optimizer`):

- `_backend_update_step(grads, trainable_variables, learning_rate)`: Keras sums the replicas' gradients
  (`_all_reduce_sum_gradients`) and applies each with `update_step`. `AllReducedUpdateStep` does the same,
  but densifies `tf.IndexedSlices` and takes the global-norm clipping factor of the *summed* gradients, as
  the original BERT did (Keras' `global_clipnorm` clips each replica's local gradients before the sum).
- `_distributed_tf_update_step(distribution, grads_and_vars, learning_rate)`: replaced by
  `AllReducedUpdateStep._distributed_scaled_update_step`, the same per-variable loop passing the clipping
  factor on to the optimizer's `_scaled_update_step` (one fused update instead of a pass over every gradient).

Used (private, read only):

- `TFOptimizer._all_reduce_sum_gradients(grads_and_vars)` and `TFOptimizer._distribution_strategy`: the
  cross-replica sum and the strategy, as Keras' own `_backend_update_step` uses them.
- `tf.__internal__.distribute.interim.maybe_merge_call`: how Keras enters the cross-replica context.
- `BaseOptimizer._trainable_variables` (`trainable_variables_of`): the variables `build` got, which name the
  checkpoint slots (`<path>/adam_m`, `<path>/adam_v`).
- `BaseOptimizer._get_variable_index(variable)` (`variable_index`): a variable's slot index in `update_step`.
- `BaseOptimizer._learning_rate` (`learning_rate_or_schedule`): the schedule itself; the public
  `learning_rate` evaluates it at the current iteration only, the Trainer reports the rate of the last update.
- `keras.optimizers.Lamb._momentums` and `_velocities` (`lamb_moments`): Lamb's moments, checkpointed under
  the same slot names as AdamWeightDecay's.

Public API relied on (checked too): `update_step`, `add_optimizer_variables`, `exclude_from_weight_decay`,
`assign`, `iterations`, `keras.optimizers.LossScaleOptimizer.inner_optimizer` and `scale_loss`.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import keras
import tensorflow as tf

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        "the bert_tf.training optimizers need the TensorFlow Keras backend; "
        f"KERAS_BACKEND is {keras.backend.backend()!r}"
    )

KERAS_VERSION_WRITTEN_AGAINST = "3.15.1"
# Keras major.minor versions whose internals were checked against every entry below.
CHECKED_KERAS_VERSIONS = ("3.15",)


class KerasMember:
    """One member of a Keras class that bert_tf overrides or relies on.

    Attributes:
      owner: the public Keras class it is looked up on (e.g. `keras.optimizers.Optimizer`).
      name: the member's name.
      parameters: for a method, its parameter names including `self`; None for an attribute (set by
        `__init__` or `build`) or a property.
      source_sha256: for a method bert_tf re-implements, the first 16 hex digits of the SHA-256 of its
        dedented Keras source, so that any change to the code our override copies is noticed.
    """

    def __init__(self, owner: type, name: str, parameters: Optional[Tuple[str, ...]] = None,
                 source_sha256: Optional[str] = None):
        self.owner = owner
        self.name = name
        self.parameters = parameters
        self.source_sha256 = source_sha256

    def __repr__(self) -> str:
        return f"{self.owner.__module__}.{self.owner.__qualname__}.{self.name}"


_Optimizer = keras.optimizers.Optimizer

# The private members listed in the module docstring.
PRIVATE_MEMBERS = (
    KerasMember(_Optimizer, "_backend_update_step", ("self", "grads", "trainable_variables", "learning_rate"),
                source_sha256="9be20bff479173f6"),
    KerasMember(_Optimizer, "_distributed_tf_update_step", ("self", "distribution", "grads_and_vars", "learning_rate"),
                source_sha256="3ab2563f1ac34846"),
    KerasMember(_Optimizer, "_all_reduce_sum_gradients", ("self", "grads_and_vars")),
    KerasMember(_Optimizer, "_get_variable_index", ("self", "variable")),
    KerasMember(_Optimizer, "_distribution_strategy"),
    KerasMember(_Optimizer, "_trainable_variables"),
    KerasMember(_Optimizer, "_learning_rate"),
    KerasMember(keras.optimizers.Lamb, "_momentums"),
    KerasMember(keras.optimizers.Lamb, "_velocities"),
)

# The public members bert_tf's optimizers override or call, whose meaning the overrides above assume.
PUBLIC_MEMBERS = (
    KerasMember(_Optimizer, "update_step", ("self", "gradient", "variable", "learning_rate")),
    KerasMember(_Optimizer, "add_optimizer_variables", ("self", "trainable_variables", "name", "initializer")),
    KerasMember(_Optimizer, "exclude_from_weight_decay", ("self", "var_list", "var_names")),
    KerasMember(_Optimizer, "assign", ("self", "variable", "value")),
    KerasMember(_Optimizer, "iterations"),
    KerasMember(keras.optimizers.LossScaleOptimizer, "inner_optimizer"),
    KerasMember(keras.optimizers.LossScaleOptimizer, "scale_loss", ("self", "loss")),
)


class AllReducedUpdateStep:
    """Mixin for a `keras.optimizers.Optimizer` subclass: one update from the summed, clipped gradients.

    Overrides Keras' `_backend_update_step` (see the module docstring). The host class implements
    `_gradient_scale(gradients)` (the clipping factor of the summed gradients, or None) and
    `_scaled_update_step(gradient, variable, learning_rate, gradient_scale)` (the update from
    `gradient * gradient_scale`).
    """

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        """Keras' `TFOptimizer._backend_update_step`, plus clipping of the *summed* gradients."""
        tf_variables = [v.value if isinstance(v, keras.Variable) else v for v in trainable_variables]
        grads_and_vars = self._all_reduce_sum_gradients(list(zip(grads, tf_variables)))
        # Densify IndexedSlices (tf.gather gradients): their values may repeat a row, and the norm of the
        # un-summed rows is not the gradient's norm; dense, the result does not depend on how a gradient
        # was represented (gather or one-hot embeddings, accumulated or not).
        grads_and_vars = [
            (tf.convert_to_tensor(gradient) if isinstance(gradient, tf.IndexedSlices) else gradient, variable)
            for gradient, variable in grads_and_vars
        ]
        gradient_scale = self._gradient_scale([gradient for gradient, _ in grads_and_vars])
        tf.__internal__.distribute.interim.maybe_merge_call(
            self._distributed_scaled_update_step,
            self._distribution_strategy,
            grads_and_vars,
            learning_rate,
            gradient_scale,
        )

    def _distributed_scaled_update_step(self, distribution, grads_and_vars, learning_rate, gradient_scale):
        """Keras' `_distributed_tf_update_step`, passing the clipping factor on to `_scaled_update_step`."""

        def apply_scaled_gradient(variable, gradient, learning_rate, gradient_scale):
            return self._scaled_update_step(gradient, variable, learning_rate, gradient_scale)

        for gradient, variable in grads_and_vars:
            distribution.extended.update(
                variable, apply_scaled_gradient, args=(gradient, learning_rate, gradient_scale), group=False)


def trainable_variables_of(optimizer) -> Sequence:
    """The variables `optimizer.build` was called with, in slot order (Keras' `_trainable_variables`)."""
    return optimizer._trainable_variables


def variable_index(optimizer, variable) -> int:
    """`variable`'s index in the optimizer's slot lists (Keras' `_get_variable_index`)."""
    return optimizer._get_variable_index(variable)


def learning_rate_or_schedule(optimizer):
    """The optimizer's learning-rate variable or `LearningRateSchedule` (Keras' `_learning_rate`); None if absent."""
    return getattr(optimizer, "_learning_rate", None)


def lamb_moments(optimizer: keras.optimizers.Lamb) -> Tuple[Sequence, Sequence]:
    """A built `keras.optimizers.Lamb`'s first and second moment slots (`_momentums`, `_velocities`).

    Raises:
      RuntimeError: this Keras version keeps them elsewhere.
    """
    momentums = getattr(optimizer, "_momentums", None)
    velocities = getattr(optimizer, "_velocities", None)
    if momentums is None or velocities is None:
        raise RuntimeError(
            "Lamb: keras.optimizers.Lamb no longer keeps its moments in `_momentums`/`_velocities`; "
            "update bert_tf.training.keras_overrides.lamb_moments for this Keras version."
        )
    return momentums, velocities
