"""The `--dtype` flag: Keras dtype policies, and loss scaling for float16.

    float32          everything in float32 (the original)
    mixed_bfloat16   variables float32, computations bfloat16 (TPUs, recent GPUs and CPUs)
    mixed_float16    variables float32, computations float16 (GPUs); needs loss scaling, so the optimizer is
                     wrapped in a dynamic `LossScaleOptimizer` (see `wrap_optimizer`)

Variables (and so checkpoints and optimizer slots) stay float32 under every policy; logits and losses are
float32 too.
"""
from __future__ import annotations

import keras

DTYPE_NAMES = ("float32", "mixed_float16", "mixed_bfloat16")
_ALIASES = {"fp32": "float32", "fp16": "mixed_float16", "bf16": "mixed_bfloat16",
            "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def canonical_dtype(name: str) -> str:
    """Validates a `--dtype` value; returns one of DTYPE_NAMES (`fp16`, `bfloat16`... are accepted too)."""
    key = str(name or "float32").strip().lower()
    key = _ALIASES.get(key, key)
    if key not in DTYPE_NAMES:
        raise ValueError(f"unknown --dtype {name!r}; choose one of {', '.join(DTYPE_NAMES)}")
    return key


def dtype_policy(name: str) -> keras.DTypePolicy:
    """The Keras dtype policy for a `--dtype` value (pass it as `dtype=` to the bert_tf models)."""
    return keras.DTypePolicy(canonical_dtype(name))


def needs_loss_scaling(name: str) -> bool:
    return canonical_dtype(name) == "mixed_float16"


class BertLossScaleOptimizer(keras.optimizers.LossScaleOptimizer):
    """Keras' dynamic `LossScaleOptimizer` that still exposes the inner optimizer's checkpoint slots.

    `bert_tf.checkpoint.save_checkpoint` / `load_checkpoint` call `slot_variables_by_name()` and read or set
    `iterations`; both go to the wrapped AdamWeightDecay/Lamb, so a float16 run writes the same checkpoint
    (`*/adam_m`, `*/adam_v`, `global_step`) as a float32 one. The loss scale itself is not checkpointed
    (the original has none either); a resumed run starts again from the initial scale.
    """

    def slot_variables_by_name(self):
        return self.inner_optimizer.slot_variables_by_name()

    def set_iterations(self, step: int) -> None:
        self.inner_optimizer.set_iterations(step)


def wrap_optimizer(optimizer, dtype_name: str):
    """Returns `optimizer` itself, or for mixed_float16 a `BertLossScaleOptimizer` around it.

    A training step then multiplies the loss by `optimizer.scale_loss` before taking gradients;
    `apply` unscales them, skips the update when one is not finite and adjusts the scale.
    """
    if needs_loss_scaling(dtype_name):
        return BertLossScaleOptimizer(optimizer)
    return optimizer


def uses_loss_scaling(optimizer) -> bool:
    return isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
