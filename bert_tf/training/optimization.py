"""Optimizers, learning-rate schedule and gradient accumulation of the original google-research/bert.

This module is the entry point (`OptimizerConfig`, `create_optimizer`) and re-exports the pieces:
`bert_tf.training.schedules` (`WarmupLinearDecay`), `bert_tf.training.optimizers` (`AdamWeightDecay`,
`Lamb`), `bert_tf.training.accumulation` (`GradientAccumulator`); the Keras internals they rely on are in
`bert_tf.training.keras_overrides`.

The original `optimization.create_optimizer` trains with:

* a learning rate that warms up linearly from 0 to `init_lr` over `num_warmup_steps` and then decays
  linearly to 0 at `num_train_steps` (`WarmupLinearDecay`);
* `tf.clip_by_global_norm(grads, 1.0)` over all gradients together;
* `AdamWeightDecayOptimizer`: Adam *without* bias correction, with the decay `weight_decay_rate * param`
  added to the Adam update (not to the loss), skipped for variables whose name matches
  `["LayerNorm", "layer_norm", "bias"]` (`AdamWeightDecay`).

Everything here is a Keras 3 optimizer on the TensorFlow backend, so it works in eager mode, inside
`tf.function` and under `tf.distribute` strategies like any Keras optimizer: create (and build) it inside
`strategy.scope()` and call `apply` / `apply_gradients` in the replica context with the *local*
gradients of a loss already divided by the number of replicas (e.g. `tf.nn.compute_average_loss` with the
global batch size); the optimizer sums them across replicas.

Gradient clipping differs from Keras' `global_clipnorm` in one respect: Keras clips each replica's local
gradients before the cross-replica sum, whereas these optimizers clip the summed gradients, so a step on N
replicas equals a step on one device with the whole batch (on one device both give the same numbers).
Sparse (`tf.IndexedSlices`) gradients are made dense before the global norm is taken, so the norm is the
gradient's true norm. The original, with `tf.gather` embeddings on CPU/GPU, took the norm over the slices'
rows, repeated token ids counted separately; with its one-hot (TPU) embeddings it matches this module.

Checkpoint slot names: `AdamWeightDecay.slot_variables_by_name` maps `"<variable path>/adam_m"` and
`"<variable path>/adam_v"` to the first and second moment slots, the names the original writes. The LAMB
optimizer (`Lamb`) uses the *same* names for its moments (they are the same exponential moving
averages), so pretraining checkpoints have one layout whichever optimizer wrote them.
"""
from __future__ import annotations

import dataclasses

from bert_tf.training.accumulation import GradientAccumulator
from bert_tf.training.optimizers import (
    DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY,
    FIRST_MOMENT_SUFFIX,
    SECOND_MOMENT_SUFFIX,
    AdamWeightDecay,
    Lamb,
    global_norm_clip_scale,
    variable_checkpoint_name,
)
from bert_tf.training.schedules import WarmupLinearDecay

__all__ = [
    "DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY",
    "FIRST_MOMENT_SUFFIX",
    "OPTIMIZER_CLASSES",
    "SECOND_MOMENT_SUFFIX",
    "AdamWeightDecay",
    "GradientAccumulator",
    "Lamb",
    "OptimizerConfig",
    "WarmupLinearDecay",
    "create_learning_rate_schedule",
    "create_optimizer",
    "global_norm_clip_scale",
    "variable_checkpoint_name",
]


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    """What `create_optimizer` builds.

    Attributes:
      learning_rate: peak learning rate (the original `--learning_rate`).
      num_train_steps: steps after which the learning rate reaches 0.
      num_warmup_steps: linear warmup steps (0: none).
      optimizer: `"adamw"` (the original AdamWeightDecayOptimizer) or `"lamb"` (Keras' Lamb).
      weight_decay_rate, beta_1, beta_2, epsilon, exclude_from_weight_decay, clip_norm: see
        `AdamWeightDecay`.
    """

    learning_rate: float
    num_train_steps: int
    num_warmup_steps: int
    optimizer: str = "adamw"
    weight_decay_rate: float = 0.01
    clip_norm: float | None = 1.0
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-6
    exclude_from_weight_decay: tuple[str, ...] = DEFAULT_EXCLUDE_FROM_WEIGHT_DECAY


OPTIMIZER_CLASSES = {"adamw": AdamWeightDecay, "lamb": Lamb}


def create_learning_rate_schedule(config: OptimizerConfig) -> WarmupLinearDecay:
    """The original warmup + linear-decay schedule for `config`.

    Raises:
      ValueError: a learning rate or step count out of range (see `WarmupLinearDecay`).
    """
    return WarmupLinearDecay(config.learning_rate, config.num_train_steps, config.num_warmup_steps)


def create_optimizer(config: OptimizerConfig) -> AdamWeightDecay | Lamb:
    """Builds the optimizer named by `config.optimizer` with the original schedule.

    Create it inside `strategy.scope()` when training with a `tf.distribute` strategy.

    Args:
      config: the optimizer's settings.

    Returns:
      An unbuilt `AdamWeightDecay` or `Lamb`.

    Raises:
      ValueError: an unknown `config.optimizer`, or an invalid setting.
    """
    optimizer_name = config.optimizer.lower()
    if optimizer_name not in OPTIMIZER_CLASSES:
        raise ValueError(
            f"OptimizerConfig.optimizer: unknown optimizer {config.optimizer!r}; choose one of "
            f"{sorted(OPTIMIZER_CLASSES)}"
        )
    return OPTIMIZER_CLASSES[optimizer_name](
        learning_rate=create_learning_rate_schedule(config),
        weight_decay_rate=config.weight_decay_rate,
        beta_1=config.beta_1,
        beta_2=config.beta_2,
        epsilon=config.epsilon,
        exclude_from_weight_decay=list(config.exclude_from_weight_decay),
        clip_norm=config.clip_norm,
    )
