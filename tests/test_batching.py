"""Length-grouped training batches (bert_tf.training.batching) and the progress reporter."""
import io

import numpy as np
import tensorflow as tf

from bert_tf.tasks.classification import features as classifier_features
from bert_tf.training import batching, datasets
from bert_tf.training.progress import ProgressReporter

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


def test_progress_bar_and_log_lines():
    stream = io.StringIO()
    reporter = ProgressReporter(total_steps=10, initial_step=2, log_every_steps=5, stream=stream, use_bar=True)
    reporter.update(3, loss=0.6931, examples_per_second=12.5, learning_rate=2e-5, force=True)
    reporter.close()
    text = stream.getvalue()
    assert text.startswith("\rstep 3/10 [") and text.endswith("\n")
    assert "loss 0.6931" in text and "lr 2.00e-05" in text and "12.5 ex/s" in text and "eta" in text
    line = ProgressReporter(total_steps=10, use_bar=False).line(5, 0.5, 10.0, None)
    assert line.startswith("step 5/10 loss 0.5000 10.0 ex/s")


def test_progress_lines_at_least_every_30_seconds_without_a_terminal(monkeypatch):
    from absl import logging as absl_logging

    from bert_tf.training import progress

    clock = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    lines = []
    monkeypatch.setattr(absl_logging, "info", lambda fmt, *args: lines.append(fmt % args))
    reporter = ProgressReporter(total_steps=1000, log_every_steps=100, stream=io.StringIO(), use_bar=False)
    for step in range(1, 6):  # 5 steps, 40 s apart: each logs although none is a multiple of 100
        clock[0] += 40
        reporter.update(step, loss=1.0, examples_per_second=2.0)
    assert [line.split()[1] for line in lines] == ["1/1000", "2/1000", "3/1000", "4/1000", "5/1000"]
    lines.clear()
    reporter.update(6, loss=1.0, examples_per_second=2.0)  # 0 s later: quiet
    assert lines == []

    batches = progress.BatchProgress("evaluation", total_batches=10)
    for _ in range(4):
        clock[0] += 31
        batches.update(8)
    batches.close()
    assert len(lines) == 5 and lines[0].startswith("evaluation: batch 1/10") and "32 examples" in lines[-1]


def test_ner_grouped_training_batches_keep_token_labels_with_their_windows(tmp_path):
    from bert_tf.tasks.ner import features as ner_features
    from bert_tf.tasks.ner.task import SHUFFLE_BUFFER_SIZE

    rng = np.random.default_rng(1)
    windows = []
    for index, length in enumerate(rng.integers(3, MAX_SEQ_LENGTH + 1, size=64)):
        positions = list(range(1, length - 1, 2))
        windows.append(ner_features.WindowFeature(
            sentence_index=index, input_ids=[101] + [1000 + index] * (length - 2) + [102], positions=positions,
            word_indices=list(range(len(positions))), label_ids=[index % 9] * len(positions)))
    path = tmp_path / "train.tf_record"
    ner_features.write_windows(windows, str(path), MAX_SEQ_LENGTH)
    layout = ner_features.record_layout(MAX_SEQ_LENGTH, with_labels=True)
    dataset = datasets.training_dataset(str(path), layout, 8, SHUFFLE_BUFFER_SIZE, group_by_length=True, seed=3)
    batches = list(dataset.take(16).as_numpy_iterator())  # about two passes (the shuffle spans passes)
    seen = []
    for features, label_ids in batches:
        width = features["input_ids"].shape[1]
        assert label_ids.shape == features["input_ids"].shape  # the labels are cut to the batch's length
        assert width % 8 == 0 or width == MAX_SEQ_LENGTH
        for row in range(8):
            index = int(features["input_ids"][row, 1]) - 1000
            window = windows[index]
            expected = np.full(width, -1)
            expected[window.positions] = window.label_ids
            np.testing.assert_array_equal(label_ids[row], expected)
            assert features["input_mask"][row].sum() == len(window.input_ids)
            seen.append(index)
    assert set(seen) <= set(range(64))
    padded = sum(features["input_ids"].size for features, _ in batches)
    ungrouped = sum(features["input_ids"].size for features, _ in datasets.training_dataset(
        str(path), layout, 8, SHUFFLE_BUFFER_SIZE, seed=3).take(16).as_numpy_iterator())
    assert padded < ungrouped


def test_squad_grouped_training_batches_keep_answer_positions_with_their_windows(tmp_path):
    from bert_tf.tasks.squad import features as squad_features

    rng = np.random.default_rng(2)
    features = []
    for index, length in enumerate(rng.integers(4, MAX_SEQ_LENGTH + 1, size=48)):
        mask = [1] * length + [0] * (MAX_SEQ_LENGTH - length)
        features.append(squad_features.SquadFeatures(
            unique_id=1000000000 + index, example_index=index, doc_span_index=0, tokens=[],
            token_to_orig_map={}, token_is_max_context={}, input_ids=[1000 + index if bit else 0 for bit in mask],
            input_mask=mask, segment_ids=[0] * MAX_SEQ_LENGTH, start_position=index % length,
            end_position=length - 1))
    path = tmp_path / "train.tf_record"
    squad_features.write_features(features, str(path), is_training=True)
    dataset = datasets.training_dataset(str(path), squad_features.record_layout(MAX_SEQ_LENGTH, is_training=True),
                                        6, 100, group_by_length=True, seed=4)
    seen = []
    for batch, labels in dataset.take(8).as_numpy_iterator():
        for row in range(6):
            index = int(batch["input_ids"][row, 0]) - 1000
            assert batch["unique_ids"][row] == 1000000000 + index
            assert labels["start_positions"][row] == features[index].start_position
            assert labels["end_positions"][row] == features[index].end_position
            assert batch["input_mask"][row].sum() == sum(features[index].input_mask)
            seen.append(index)
    assert len(seen) == 48 and set(seen) <= set(range(48))
