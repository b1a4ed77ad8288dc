"""The original pretraining losses and evaluation metrics.

Losses, as the original `run_pretraining.py`:
  masked LM:      sum(weight * -log p(label)) / (sum(weight) + 1e-5) over the masked positions
  next sentence:  mean cross-entropy over the batch
  total:          masked LM + next sentence

To make a step over several replicas, or over several accumulated micro-batches, equal to one step on
the whole batch, each part computes the *numerators* of those means on its examples and divides by the
whole batch's denominators (`LossDenominators`): the gradients then simply add up.

Evaluation (`eval_example_statistics`, then `eval_results`): the original's streaming `tf.metrics`:
masked_lm_accuracy and masked_lm_loss weighted by `masked_lm_weights`, next_sentence_* means over
examples, `loss` the mean of the batches' total losses.
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Mapping, Sequence

import numpy as np
import tensorflow as tf

MLM_DENOMINATOR_EPSILON = 1e-5
EVAL_RESULT_KEYS = (
    "global_step",
    "loss",
    "masked_lm_accuracy",
    "masked_lm_loss",
    "next_sentence_accuracy",
    "next_sentence_loss",
)
EVAL_STATISTICS = ("masked_lm_weight", "masked_lm_correct", "masked_lm_nll", "next_sentence_correct",
                   "next_sentence_nll")


@dataclasses.dataclass
class LossDenominators:
    """The whole batch's denominators: total masked-LM weight (+1e-5) and number of examples."""

    masked_lm: tf.Tensor
    next_sentence: tf.Tensor

    @classmethod
    def of_batch(cls, batch: Dict[str, tf.Tensor]) -> "LossDenominators":
        weights = tf.cast(batch["masked_lm_weights"], tf.float32)
        return cls(
            masked_lm=tf.reduce_sum(weights) + MLM_DENOMINATOR_EPSILON,
            next_sentence=tf.cast(tf.shape(batch["next_sentence_labels"])[0], tf.float32),
        )


def per_example_losses(outputs: Dict[str, tf.Tensor], batch: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Negative log-likelihoods: `masked_lm` [B, P] (unweighted) and `next_sentence` [B], float32."""
    log_probs = tf.cast(outputs["masked_lm_log_probs"], tf.float32)  # [B, P, V]
    masked_lm_ids = tf.cast(batch["masked_lm_ids"], tf.int32)
    masked_lm_nll = -tf.squeeze(tf.gather(log_probs, masked_lm_ids[..., None], batch_dims=2), -1)
    next_sentence_logits = tf.cast(outputs["next_sentence_logits"], tf.float32)
    labels = tf.reshape(tf.cast(batch["next_sentence_labels"], tf.int32), [-1])
    next_sentence_nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=next_sentence_logits)
    return {"masked_lm": masked_lm_nll, "next_sentence": next_sentence_nll}


def pretraining_loss(
    outputs: Dict[str, tf.Tensor], batch: Dict[str, tf.Tensor], denominators: LossDenominators | None = None
) -> Dict[str, tf.Tensor]:
    """The original loss, or this part's share of it when `denominators` are the whole batch's.

    Returns scalars `loss`, `masked_lm_loss`, `next_sentence_loss` (float32).
    """
    if denominators is None:
        denominators = LossDenominators.of_batch(batch)
    nll = per_example_losses(outputs, batch)
    weights = tf.cast(batch["masked_lm_weights"], tf.float32)
    masked_lm_loss = tf.reduce_sum(weights * nll["masked_lm"]) / denominators.masked_lm
    next_sentence_loss = tf.reduce_sum(nll["next_sentence"]) / denominators.next_sentence
    return {
        "loss": masked_lm_loss + next_sentence_loss,
        "masked_lm_loss": masked_lm_loss,
        "next_sentence_loss": next_sentence_loss,
    }


def per_example_total_loss(outputs: Dict[str, tf.Tensor], labels, features: Dict[str, tf.Tensor]) -> tf.Tensor:
    """[B] losses whose mean over a group is the original total loss of the group (see attach_loss_weights)."""
    del labels
    nll = per_example_losses(outputs, features)
    weights = tf.cast(features["masked_lm_weights"], tf.float32)
    masked_lm = tf.reduce_sum(weights * nll["masked_lm"], axis=1) * features["masked_lm_loss_scale"]
    return masked_lm + nll["next_sentence"]


# ---------------------------------------------------------------------------------------- evaluation
def eval_example_statistics(outputs: Mapping[str, tf.Tensor], batch: Mapping[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Per-example float32 [B] sums from which `eval_results` forms the original metrics.

    `masked_lm_weight`: the example's total masked-LM weight; `masked_lm_correct`, `masked_lm_nll`: the
    weighted correct predictions and negative log-likelihoods over its masked positions;
    `next_sentence_correct` (0/1) and `next_sentence_nll`.
    """
    nll = per_example_losses(outputs, batch)
    weights = tf.cast(batch["masked_lm_weights"], tf.float32)
    masked_lm_predictions = tf.argmax(outputs["masked_lm_log_probs"], axis=-1, output_type=tf.int32)
    masked_lm_correct = tf.cast(tf.equal(masked_lm_predictions, tf.cast(batch["masked_lm_ids"], tf.int32)), tf.float32)
    labels = tf.reshape(tf.cast(batch["next_sentence_labels"], tf.int32), [-1])
    next_sentence_predictions = tf.argmax(outputs["next_sentence_logits"], axis=-1, output_type=tf.int32)
    return {
        "masked_lm_weight": tf.reduce_sum(weights, axis=1),
        "masked_lm_correct": tf.reduce_sum(weights * masked_lm_correct, axis=1),
        "masked_lm_nll": tf.reduce_sum(weights * nll["masked_lm"], axis=1),
        "next_sentence_correct": tf.cast(tf.equal(next_sentence_predictions, labels), tf.float32),
        "next_sentence_nll": nll["next_sentence"],
    }


def eval_results(statistics: Mapping[str, np.ndarray], batch_sizes: Sequence[int], global_step: int
                 ) -> Dict[str, float]:
    """The original eval_results.txt values from `eval_example_statistics` of every example [N].

    Args:
      statistics: each of `EVAL_STATISTICS` -> [N] in dataset order.
      batch_sizes: the examples of each evaluation batch, in order (for `loss`, a mean of batch losses).
      global_step: the step evaluated.

    Raises:
      ValueError: no example was evaluated.
    """
    sums = {name: np.asarray(statistics[name], np.float64) for name in EVAL_STATISTICS}
    count = len(sums["next_sentence_nll"])
    if not count:
        raise ValueError("no evaluation batch was read: is the eval input empty?")
    batch_losses, start = [], 0
    for size in batch_sizes:
        if size:
            part = slice(start, start + size)
            masked_lm = sums["masked_lm_nll"][part].sum() / (sums["masked_lm_weight"][part].sum()
                                                             + MLM_DENOMINATOR_EPSILON)
            batch_losses.append(masked_lm + sums["next_sentence_nll"][part].mean())
        start += size
    masked_lm_weight = max(sums["masked_lm_weight"].sum(), 1e-12)
    return {
        "global_step": int(global_step),
        "loss": float(np.mean(batch_losses)),
        "masked_lm_accuracy": float(sums["masked_lm_correct"].sum() / masked_lm_weight),
        "masked_lm_loss": float(sums["masked_lm_nll"].sum() / masked_lm_weight),
        "next_sentence_accuracy": float(sums["next_sentence_correct"].mean()),
        "next_sentence_loss": float(sums["next_sentence_nll"].mean()),
    }
