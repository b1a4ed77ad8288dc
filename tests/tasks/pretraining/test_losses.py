"""Tests for bert_tf.tasks.pretraining.losses: the original pretraining losses and evaluation metrics."""
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.tasks.pretraining import losses


def _random_batch(batch_size=6, positions=5, vocab=11, seed=0):
    rng = np.random.RandomState(seed)
    logits = rng.randn(batch_size, positions, vocab).astype(np.float32)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    weights = (rng.rand(batch_size, positions) < 0.7).astype(np.float32)
    outputs = {
        "masked_lm_log_probs": tf.constant(log_probs),
        "next_sentence_logits": tf.constant(rng.randn(batch_size, 2).astype(np.float32)),
    }
    batch = {
        "masked_lm_ids": tf.constant(rng.randint(0, vocab, size=(batch_size, positions)).astype(np.int32)),
        "masked_lm_weights": tf.constant(weights),
        "next_sentence_labels": tf.constant(rng.randint(0, 2, size=(batch_size, 1)).astype(np.int32)),
    }
    return outputs, batch


def test_loss_is_the_original_formula():
    outputs, batch = _random_batch()
    loss_values = losses.pretraining_loss(outputs, batch)
    log_probs = outputs["masked_lm_log_probs"].numpy()
    ids, weights = batch["masked_lm_ids"].numpy(), batch["masked_lm_weights"].numpy()
    nll = -np.take_along_axis(log_probs, ids[..., None], axis=2)[..., 0]
    expected_mlm = (weights * nll).sum() / (weights.sum() + 1e-5)
    logits = outputs["next_sentence_logits"].numpy()
    labels = batch["next_sentence_labels"].numpy()[:, 0]
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected_nsp = -log_softmax[np.arange(len(labels)), labels].mean()
    np.testing.assert_allclose(loss_values["masked_lm_loss"].numpy(), expected_mlm, rtol=1e-6)
    np.testing.assert_allclose(loss_values["next_sentence_loss"].numpy(), expected_nsp, rtol=1e-6)
    np.testing.assert_allclose(loss_values["loss"].numpy(), expected_mlm + expected_nsp, rtol=1e-6)


def test_parts_with_the_whole_batch_denominators_add_up_to_the_batch_loss():
    outputs, batch = _random_batch(batch_size=8)
    whole = losses.pretraining_loss(outputs, batch)["loss"].numpy()
    denominators = losses.LossDenominators.of_batch(batch)
    total = 0.0
    for start in range(0, 8, 2):
        part_outputs = {key: value[start:start + 2] for key, value in outputs.items()}
        part_batch = {key: value[start:start + 2] for key, value in batch.items()}
        total += losses.pretraining_loss(part_outputs, part_batch, denominators)["loss"].numpy()
    np.testing.assert_allclose(total, whole, rtol=1e-6)


def test_eval_accumulator_gives_original_keys():
    statistics, batch_sizes = {}, []
    for seed in range(3):
        outputs, batch = _random_batch(seed=seed)
        for name, value in losses.eval_example_statistics(outputs, batch).items():
            statistics.setdefault(name, []).append(value.numpy())
        batch_sizes.append(len(value))
    statistics = {name: np.concatenate(parts) for name, parts in statistics.items()}
    results = losses.eval_results(statistics, batch_sizes, global_step=5)
    # `loss` is the mean of the batches' original total losses.
    batch_losses = [losses.pretraining_loss(*_random_batch(seed=seed))["loss"].numpy() for seed in range(3)]
    assert results["loss"] == pytest.approx(np.mean(batch_losses), rel=1e-5)
    assert tuple(sorted(results)) == tuple(sorted(losses.EVAL_RESULT_KEYS))
    assert results["global_step"] == 5
    assert 0.0 <= results["masked_lm_accuracy"] <= 1.0 and 0.0 <= results["next_sentence_accuracy"] <= 1.0
    with pytest.raises(ValueError, match="no evaluation batch"):
        losses.eval_results({name: np.zeros(0) for name in losses.EVAL_STATISTICS}, [], 0)
