"""Tests for bert_tf.training.datasets: the record checks, the training and inference pipelines (batches padded
to their longest example rounded up to 8, repeated and shuffled for training, length-grouped), on the
classifier's, NER's and SQuAD's records."""
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.tasks.classification import features as cf
from bert_tf.training import datasets
from tests.harness.classifier_records import classifier_batches, original_style_example, synthetic_features

MAX_SEQ_LENGTH = 32


# ------------------------------------------------------------------------------------------------
# check_records
# ------------------------------------------------------------------------------------------------
def test_check_tfrecord_features_errors(tmp_path):
    path = tmp_path / "train.tf_record"
    cf.write_features_tfrecord(synthetic_features([3], 16), str(path))
    datasets.check_records(str(path), cf.record_layout(16, False))
    with pytest.raises(ValueError) as error:
        datasets.check_records(str(path), cf.record_layout(128))
    message = str(error.value)
    assert str(path) in message and "16" in message and "max_seq_length is 128" in message
    with pytest.raises(ValueError, match="int64_list but float_list is expected"):
        datasets.check_records(str(path), cf.record_layout(16, True))
    with pytest.raises(FileNotFoundError, match="missing.tf_record"):
        datasets.check_records(str(tmp_path / "missing.tf_record"), cf.record_layout(16))

    empty = tmp_path / "empty.tf_record"
    cf.write_features_tfrecord([], str(empty))
    with pytest.raises(ValueError, match="no records"):
        datasets.check_records(str(empty), cf.record_layout(16))

    other = tmp_path / "pretraining.tf_record"
    with tf.io.TFRecordWriter(str(other)) as writer:
        example = tf.train.Example()
        example.features.feature["masked_lm_ids"].int64_list.value[:] = [1, 2]
        writer.write(example.SerializeToString())
    with pytest.raises(ValueError, match="no 'input_ids' feature"):
        datasets.check_records(str(other), cf.record_layout(16))

    garbage = tmp_path / "garbage.tf_record"
    garbage.write_bytes(b"this is not a TFRecord file at all")
    with pytest.raises(ValueError, match="garbage.tf_record"):
        datasets.check_records(str(garbage), cf.record_layout(16))


# ------------------------------------------------------------------------------------------------
# The classifier's records
# ------------------------------------------------------------------------------------------------
def test_eval_dataset_trims_each_batch_to_multiple_of_8(tmp_path):
    seq_length = 32
    lengths = [5, 12, 3, 20, 7, 32, 2]
    features = synthetic_features(lengths, seq_length)
    path = tmp_path / "eval.tf_record"
    cf.write_features_tfrecord(features, str(path))
    dataset = classifier_batches(str(path), seq_length, batch_size=3, is_training=False,
                                         is_regression=False)
    batches = list(dataset)
    assert [batch[0]["input_ids"].shape.as_list() for batch in batches] == [[3, 16], [3, 32], [1, 8]]
    row = 0
    for batch_features, labels in batches:
        assert labels.dtype == tf.int32
        assert batch_features["is_real_example"].dtype == tf.float32
        for name in ("input_ids", "input_mask", "segment_ids"):
            assert batch_features[name].dtype == tf.int32
        width = batch_features["input_ids"].shape[1]
        for index in range(labels.shape[0]):
            expected = features[row]
            assert batch_features["input_ids"][index].numpy().tolist() == expected.input_ids[:width]
            assert batch_features["input_mask"][index].numpy().tolist() == expected.input_mask[:width]
            assert batch_features["segment_ids"][index].numpy().tolist() == expected.segment_ids[:width]
            assert sum(expected.input_mask[width:]) == 0  # nothing real was cut
            assert labels[index].numpy() == expected.label_id
            row += 1
    assert row == len(features)  # one pass, file order


def test_trim_never_exceeds_max_seq_length_and_pad_option(tmp_path):
    path = tmp_path / "odd.tf_record"
    cf.write_features_tfrecord(synthetic_features([17, 2], 20), str(path))
    trimmed = next(iter(classifier_batches(str(path), 20, 2, False, False)))[0]
    assert trimmed["input_ids"].shape == (2, 20)  # 17 -> 24, capped at 20
    single = next(iter(classifier_batches(str(path), 20, 1, False, False).skip(1)))[0]
    assert single["input_ids"].shape == (1, 8)
    padded = next(iter(classifier_batches(str(path), 20, 1, False, False, pad_to_max_length=True)
                       .skip(1)))[0]
    assert padded["input_ids"].shape == (1, 20)


def test_padding_only_batch_keeps_a_nonempty_length(tmp_path):
    path = tmp_path / "pad.tf_record"
    padding = cf.InputFeatures([0] * 16, [0] * 16, [0] * 16, 0, False)
    cf.write_features_tfrecord([padding, padding], str(path))
    features, labels = next(iter(classifier_batches(str(path), 16, 2, False, False)))
    assert features["input_ids"].shape == (2, 8)
    np.testing.assert_array_equal(features["is_real_example"].numpy(), [0.0, 0.0])


def test_training_dataset_repeats_shuffles_and_drops_remainder(tmp_path):
    features = synthetic_features([4 + index % 5 for index in range(10)], 16, labels=list(range(10)))
    path = tmp_path / "train.tf_record"
    cf.write_features_tfrecord(features, str(path))

    def label_stream(seed):
        dataset = classifier_batches(str(path), 16, batch_size=4, is_training=True, is_regression=False,
                                             seed=seed, drop_remainder=True)
        assert dataset.element_spec[1].shape.as_list() == [4]
        assert dataset.element_spec[0]["input_ids"].shape.as_list() == [4, None]
        return np.concatenate([labels.numpy() for _, labels in dataset.take(10)])

    stream = label_stream(seed=1)
    assert stream.size == 40  # 40 examples from 10 records: it repeats
    assert set(stream.tolist()) == set(range(10))
    assert stream.tolist() != list(range(10)) * 4  # shuffled
    np.testing.assert_array_equal(stream, label_stream(seed=1))  # reproducible with a seed


def test_regression_dataset_labels_are_float32(tmp_path):
    path = tmp_path / "stsb.tf_record"
    cf.write_features_tfrecord(synthetic_features([3, 9], 16, labels=[1.5, 4.75]), str(path))
    _, labels = next(iter(classifier_batches(str(path), 16, 2, False, is_regression=True)))
    assert labels.dtype == tf.float32
    np.testing.assert_allclose(labels.numpy(), [1.5, 4.75])


def test_dataset_reads_original_style_records_without_is_real_example(tmp_path):
    """Files written before is_real_example existed parse with is_real_example = 1."""
    path = tmp_path / "old.tf_record"
    feature = synthetic_features([5], 8, labels=[1])[0]
    example = original_style_example(feature)
    del example.features.feature["is_real_example"]
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(example.SerializeToString())
    features, labels = next(iter(classifier_batches(str(path), 8, 1, False, False)))
    assert features["is_real_example"].numpy().tolist() == [1.0] and labels.numpy().tolist() == [1]


def test_dataset_rejects_mismatched_max_seq_length(tmp_path):
    path = tmp_path / "train.tf_record"
    cf.write_features_tfrecord(synthetic_features([3], 64), str(path))
    with pytest.raises(ValueError, match=r"train.tf_record: input_ids has 64 values .* max_seq_length is 128"):
        classifier_batches(str(path), 128, 8, True, False)


# ------------------------------------------------------------------------------------------------
# Length-grouped training batches of NER and SQuAD windows
# ------------------------------------------------------------------------------------------------
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
