"""Tests for bert_tf.tasks.pretraining.dataset: the input pipeline on the original tool's records, and the
check of the input files against the flags."""
import pytest
import tensorflow as tf

from bert_tf.tasks.pretraining import dataset as pretraining_dataset
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
