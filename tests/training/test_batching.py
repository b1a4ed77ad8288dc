"""Tests for bert_tf.training.batching: length-grouped training batches (windows of batches sorted by length,
each batch trimmed to its longest example). The grouped pipelines of the tasks: test_datasets.py."""
import numpy as np
import tensorflow as tf

from bert_tf.tasks.classification import features as classifier_features
from bert_tf.training import batching

MAX_SEQ_LENGTH = 32


def write_records(path, lengths):
    """One record per length: input_ids = 1000 + example index on the real positions, label = index."""
    features = []
    for index, length in enumerate(lengths):
        mask = [1] * length + [0] * (MAX_SEQ_LENGTH - length)
        features.append(classifier_features.InputFeatures(
            input_ids=[1000 + index if bit else 0 for bit in mask], input_mask=mask,
            segment_ids=[0] * MAX_SEQ_LENGTH, label_id=index))
    classifier_features.write_features_tfrecord(features, str(path))


def test_windows_become_trimmed_batches_of_similar_length(tmp_path):
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, MAX_SEQ_LENGTH + 1, size=64)
    path = tmp_path / "train.tf_record"
    write_records(path, lengths)
    layout = classifier_features.record_layout(MAX_SEQ_LENGTH)
    windows = tf.data.TFRecordDataset(str(path)).batch(32, drop_remainder=True).map(
        lambda serialized: layout.parse(serialized, pad_to_max_length=True))
    batches = [layout.split_labels(batch) for batch in
               batching.group_windows_by_length(windows, batch_size=8, seed=5).as_numpy_iterator()]

    assert len(batches) == 8
    seen = []
    for window in (batches[:4], batches[4:]):
        window_labels = np.concatenate([labels for _, labels in window])
        assert sorted(window_labels) == sorted(set(window_labels))  # each example once per window
        seen.extend(window_labels)
    assert sorted(seen) == list(range(64))
    batch_maxima = []
    for features, labels in batches:
        real_lengths = features["input_mask"].sum(axis=1)
        np.testing.assert_array_equal(real_lengths, lengths[labels])  # features stay with their labels
        np.testing.assert_array_equal(features["input_ids"][:, 0], 1000 + labels)
        width = features["input_ids"].shape[1]
        assert width % 8 == 0 or width == MAX_SEQ_LENGTH
        assert width - 8 < real_lengths.max() <= width
        batch_maxima.append(real_lengths.max())
    # Sorting inside windows of 32 gives less padding than the same examples in file order.
    file_order_widths = [-(-lengths[start:start + 8].max() // 8) * 8 for start in range(0, 64, 8)]
    grouped_widths = [features["input_ids"].shape[1] for features, _ in batches]
    assert sum(grouped_widths) < sum(file_order_widths)
