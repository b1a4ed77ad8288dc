"""Tests for bert_tf.serving.sub_batches: the model run on length-sorted sub-batches, each cut to its own
longest row, the rows given back in their order."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

MAX_SEQ_LENGTH = 40  # the width of the features below


def test_sorted_sub_batches_keep_row_order_and_cut_each_sub_batch():
    from bert_tf.serving.sub_batches import map_sorted_sub_batches

    lengths = [5, 17, 2, 9, 30, 3, 12]
    mask = np.array([[1] * length + [0] * (40 - length) for length in lengths], np.int32)
    ids = mask * np.arange(1, 41, dtype=np.int32)
    features = {"input_mask": tf.constant(mask), "input_ids": tf.constant(ids)}

    def row_facts(rows):  # per row: sum of its ids, and the width its sub-batch was cut to
        width = tf.fill([tf.shape(rows["input_ids"])[0]], tf.shape(rows["input_ids"])[1])
        return tf.cast(tf.stack([tf.reduce_sum(rows["input_ids"], axis=1), width], axis=1), tf.float32)

    got = map_sorted_sub_batches(row_facts, features, 3, MAX_SEQ_LENGTH, pad_to_multiple_of=8,
                                 output_shape=[2]).numpy()
    np.testing.assert_array_equal(got[:, 0], [length * (length + 1) // 2 for length in lengths])
    # Sorted: [2, 3, 5] -> 8, [9, 12, 17] -> 24, [30] -> 32.
    assert got[:, 1].tolist() == [8, 24, 8, 24, 32, 8, 24]
    assert map_sorted_sub_batches(row_facts, {key: value[:0] for key, value in features.items()}, 3,
                                  MAX_SEQ_LENGTH, pad_to_multiple_of=8, output_shape=[2]).shape == (0, 2)
