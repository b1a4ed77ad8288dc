"""run_pretraining's library: input pipeline on the original tool's records, the original losses."""
import numpy as np
import pytest
import tensorflow as tf

from bert_tf import files as file_helpers
from bert_tf.errors import InputError
from bert_tf.tasks.pretraining import dataset as pretraining_dataset
from bert_tf.tasks.pretraining import losses
from bert_tf.tasks.pretraining.records import PretrainingRecordError


def _original_records(refs_dir):
    return [str(refs_dir / "original_sample_text_seq128.tfrecord")]


def test_reads_records_written_by_the_original_tool(refs_dir):
    files = _original_records(refs_dir)
    pretraining_dataset.check_input_files(files, 128, 20)
    batches = list(pretraining_dataset.make_pretraining_dataset(files, 128, 20, batch_size=16, is_training=False))
    assert sum(int(batch["input_ids"].shape[0]) for batch in batches) == 60
    first = batches[0]
    assert first["input_ids"].dtype == tf.int32 and tuple(first["input_ids"].shape) == (16, 128)
    assert tuple(first["masked_lm_positions"].shape) == (16, 20)
    assert first["masked_lm_weights"].dtype == tf.float32
    assert tuple(first["next_sentence_labels"].shape) == (16, 1)
    training = pretraining_dataset.make_pretraining_dataset(files, 128, 20, batch_size=8, is_training=True, seed=1)
    assert all(int(batch["input_ids"].shape[0]) == 8 for batch in training.take(10))


def test_records_of_another_shape_are_named(refs_dir):
    with pytest.raises(PretrainingRecordError, match="original_sample_text_seq128.tfrecord"):
        pretraining_dataset.check_input_files(_original_records(refs_dir), 512, 20)
    with pytest.raises(PretrainingRecordError, match="max_predictions_per_seq|masked_lm"):
        pretraining_dataset.check_input_files(_original_records(refs_dir), 128, 76)


def test_input_file_globs_and_missing_files(refs_dir, tmp_path):
    matched = file_helpers.expand_input_files(str(refs_dir / "original_*.tfrecord"))
    assert len(matched) == 2
    with pytest.raises(InputError, match="nothing_here"):
        file_helpers.expand_input_files(str(tmp_path / "nothing_here*.tfrecord"))


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
