"""The learning-rate schedule of the original google-research/bert: linear warmup, then linear decay to 0."""
from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="bert_tf")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """The original BERT schedule: linear warmup, then linear decay to 0.

    For a step `s` (the optimizer's iteration count *before* the update, so 0 at the first update, like
    the original `global_step`):

        decayed = init_lr * (1 - min(s, num_train_steps) / num_train_steps)
        lr      = init_lr * s / num_warmup_steps   if s < num_warmup_steps   (only when num_warmup_steps > 0)
                  decayed                           otherwise

    The decay is Keras' `PolynomialDecay(power=1, end_learning_rate=0)`, the same formula as
    `tf.compat.v1.train.polynomial_decay` used by the original.

    Args:
        initial_learning_rate: peak learning rate `init_lr` (float > 0).
        num_train_steps: steps after which the rate is 0 (int > 0).
        num_warmup_steps: warmup steps (int >= 0); 0 disables warmup.

    Calling it with a scalar integer step returns a float32 scalar tensor.

    Raises:
        ValueError: an argument out of range.
    """

    def __init__(self, initial_learning_rate: float, num_train_steps: int, num_warmup_steps: int = 0):
        if not initial_learning_rate > 0:
            raise ValueError(f"WarmupLinearDecay: initial_learning_rate must be > 0, got {initial_learning_rate}")
        if int(num_train_steps) != num_train_steps or num_train_steps <= 0:
            raise ValueError(f"WarmupLinearDecay: num_train_steps must be an integer > 0, got {num_train_steps}")
        if int(num_warmup_steps) != num_warmup_steps or num_warmup_steps < 0:
            raise ValueError(f"WarmupLinearDecay: num_warmup_steps must be an integer >= 0, got {num_warmup_steps}")
        self.initial_learning_rate = float(initial_learning_rate)
        self.num_train_steps = int(num_train_steps)
        self.num_warmup_steps = int(num_warmup_steps)
        self._linear_decay = keras.optimizers.schedules.PolynomialDecay(
            initial_learning_rate=self.initial_learning_rate,
            decay_steps=self.num_train_steps,
            end_learning_rate=0.0,
            power=1.0,
            cycle=False,
        )

    def __call__(self, step):
        decayed_learning_rate = tf.cast(self._linear_decay(step), tf.float32)
        if not self.num_warmup_steps:
            return decayed_learning_rate
        step_int = tf.cast(step, tf.int64)
        warmup_steps_int = tf.constant(self.num_warmup_steps, dtype=tf.int64)
        warmup_fraction_done = tf.cast(step_int, tf.float32) / tf.cast(warmup_steps_int, tf.float32)
        warmup_learning_rate = self.initial_learning_rate * warmup_fraction_done
        is_warmup = tf.cast(step_int < warmup_steps_int, tf.float32)
        return (1.0 - is_warmup) * decayed_learning_rate + is_warmup * warmup_learning_rate

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "num_train_steps": self.num_train_steps,
            "num_warmup_steps": self.num_warmup_steps,
        }

