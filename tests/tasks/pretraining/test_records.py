"""Tests for bert_tf.tasks.pretraining.records: the original tool's TFRecord format (feature spec, the
hand-written wire format, the layout of written records, round-robin output files) and the check of a file
before training."""
import os

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.tasks.pretraining import records as pretraining_records
from tests.tasks.pretraining.pretraining_data import raw_records, read_records, run, write_generated_corpus


def test_feature_spec():
    spec = pretraining_records.pretraining_feature_spec(64, 7)
    assert list(spec) == list(pretraining_records.PRETRAINING_FEATURE_NAMES)
    shapes = {name: (list(feature.shape), feature.dtype) for name, feature in spec.items()}
    assert shapes == {
        "input_ids": ([64], tf.int64), "input_mask": ([64], tf.int64), "segment_ids": ([64], tf.int64),
        "masked_lm_positions": ([7], tf.int64), "masked_lm_ids": ([7], tf.int64),
        "masked_lm_weights": ([7], tf.float32), "next_sentence_labels": ([1], tf.int64),
    }


@pytest.mark.parametrize("values", [
    dict(ids=[101, 7, 102, 30521, 102], count_a=1, positions=[1, 3], labels=[2000, 16384], nsp=True),
    dict(ids=[101, 0, 127, 128, 16383, 16384, 2 ** 21, 2 ** 31 - 1, 102, 5, 102], count_a=7,
         positions=[2, 9, 31], labels=[0, 2 ** 28, 300], nsp=False),
    dict(ids=[1] * 64, count_a=30, positions=list(range(1, 8)), labels=list(range(7)), nsp=False),
])
def test_hand_serialisation_equals_protobuf(values):
    """The hand-written wire format is byte-identical to tf.train.Example's deterministic serialisation
    and parses to the same features."""
    max_seq_length, max_predictions = 64, 7
    encoder = pretraining_records.ExampleEncoder(max_seq_length, max_predictions)
    encoded = encoder.encode(values["ids"], values["count_a"], values["positions"], values["labels"],
                             values["nsp"])

    def padded(items, length, fill=0):
        return list(items) + [fill] * (length - len(items))

    count = len(values["ids"])
    segment_ids = [0] * (values["count_a"] + 2) + [1] * (count - values["count_a"] - 2)
    features = {
        "input_ids": padded(values["ids"], max_seq_length),
        "input_mask": padded([1] * count, max_seq_length),
        "segment_ids": padded(segment_ids, max_seq_length),
        "masked_lm_positions": padded(values["positions"], max_predictions),
        "masked_lm_ids": padded(values["labels"], max_predictions),
        "next_sentence_labels": [1 if values["nsp"] else 0],
    }
    feature_protos = {name: tf.train.Feature(int64_list=tf.train.Int64List(value=value))
                      for name, value in features.items()}
    feature_protos["masked_lm_weights"] = tf.train.Feature(float_list=tf.train.FloatList(
        value=padded([1.0] * len(values["positions"]), max_predictions, 0.0)))
    example = tf.train.Example(features=tf.train.Features(feature=feature_protos))
    assert encoded == example.SerializeToString(deterministic=True)
    assert tf.train.Example.FromString(encoded) == example
    parsed = tf.io.parse_single_example(encoded, pretraining_records.pretraining_feature_spec(
        max_seq_length, max_predictions))
    for name, value in features.items():
        np.testing.assert_array_equal(parsed[name].numpy(), value)


def test_written_records_layout(tmp_path, uncased_tokenizer):
    corpus = write_generated_corpus(tmp_path / "corpus.txt", uncased_tokenizer.vocab, 6, 30)
    output = tmp_path / "out.tfrecord"
    summary = run(corpus, output, uncased_tokenizer, max_seq_length=48, max_predictions_per_seq=6, dupe_factor=2,
                  num_workers=1)
    features = read_records(output, 48, 6)
    count = summary.num_instances
    assert count > 50 and all(len(value) == count for value in features.values())
    vocab = uncased_tokenizer.vocab
    for row in range(count):
        length = int(features["input_mask"][row].sum())
        mask = features["input_mask"][row]
        ids = features["input_ids"][row].copy()
        segments = features["segment_ids"][row]
        assert list(mask) == [1] * length + [0] * (48 - length)
        assert not ids[length:].any() and not segments[length:].any()
        weights = features["masked_lm_weights"][row]
        num_masked = int(weights.sum())
        positions = features["masked_lm_positions"][row]
        ids[positions[:num_masked]] = features["masked_lm_ids"][row][:num_masked]  # unmask
        separators = np.flatnonzero(ids[:length] == vocab["[SEP]"])
        assert ids[0] == vocab["[CLS]"] and len(separators) == 2 and separators[1] == length - 1
        length_a = separators[0] - 1
        assert length_a >= 1 and length - length_a - 3 >= 1
        assert list(segments[:length]) == [0] * (length_a + 2) + [1] * (length - length_a - 2)
        assert list(weights) == [1.0] * num_masked + [0.0] * (6 - num_masked)
        assert 1 <= num_masked <= min(6, max(1, round(length * 0.15)))
        assert list(positions[:num_masked]) == sorted(set(positions[:num_masked]))
        assert not positions[num_masked:].any() and not features["masked_lm_ids"][row][num_masked:].any()
        assert 0 not in positions[:num_masked] and not set(positions[:num_masked]) & set(separators)
    assert summary.num_tokens == features["input_mask"].sum()
    assert summary.num_masked_positions == features["masked_lm_weights"].sum()
    assert summary.num_random_next == features["next_sentence_labels"].sum()
    assert summary.records_per_file == [count]


def test_round_robin_over_output_files(tmp_path, uncased_tokenizer):
    corpus = write_generated_corpus(tmp_path / "corpus.txt", uncased_tokenizer.vocab, 4, 20)
    run(corpus, tmp_path / "single.tfrecord", uncased_tokenizer, max_seq_length=32, max_predictions_per_seq=5,
        dupe_factor=1, num_workers=1)
    outputs = [tmp_path / f"part-{index}.tfrecord" for index in range(3)]
    summary = run(corpus, ",".join(map(str, outputs)), uncased_tokenizer, max_seq_length=32,
                  max_predictions_per_seq=5, dupe_factor=1, num_workers=1)
    single = raw_records(tmp_path / "single.tfrecord")
    parts = [raw_records(path) for path in outputs]
    assert summary.records_per_file == [len(part) for part in parts]
    assert [len(part) for part in parts] == [len(single[index::3]) for index in range(3)]
    for index in range(3):
        assert parts[index] == single[index::3]
    assert not [name for name in os.listdir(tmp_path) if ".tmp" in name]  # temporary names renamed


def test_check_pretraining_tfrecord(tmp_path, refs_dir):
    path = str(refs_dir / "original_sample_text_seq128.tfrecord")
    pretraining_records.check_pretraining_tfrecord(path, 128, 20, num_records=60)
    with pytest.raises(pretraining_records.PretrainingRecordError,
                       match=r"original_sample_text_seq128\.tfrecord: record 0, feature 'input_ids' has 128 "
                             r"values but max_seq_length=512.*--max_seq_length=128"):
        pretraining_records.check_pretraining_tfrecord(path, 512, 20)
    with pytest.raises(pretraining_records.PretrainingRecordError,
                       match=r"'masked_lm_positions' has 20 values but max_predictions_per_seq=76"):
        pretraining_records.check_pretraining_tfrecord(path, 128, 76)
    with pytest.raises(pretraining_records.PretrainingRecordError,
                       match=r"missing\.tfrecord does not exist"):
        pretraining_records.check_pretraining_tfrecord(str(tmp_path / "missing.tfrecord"), 128, 20)
    empty = tmp_path / "empty.tfrecord"
    empty.write_bytes(b"")
    with pytest.raises(pretraining_records.PretrainingRecordError,
                       match=r"empty\.tfrecord: contains no records"):
        pretraining_records.check_pretraining_tfrecord(str(empty), 128, 20)
    garbage = tmp_path / "garbage.tfrecord"
    garbage.write_bytes(b"not a tfrecord file at all")
    with pytest.raises(pretraining_records.PretrainingRecordError,
                       match=r"garbage\.tfrecord: cannot be read"):
        pretraining_records.check_pretraining_tfrecord(str(garbage), 128, 20)
    other = tmp_path / "other.tfrecord"
    with tf.io.TFRecordWriter(str(other)) as writer:
        writer.write(tf.train.Example(features=tf.train.Features(feature={
            "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))})).SerializeToString())
    with pytest.raises(pretraining_records.PretrainingRecordError,
                       match=r"other\.tfrecord: record 0 has no feature 'input_ids' \(found: label\)"):
        pretraining_records.check_pretraining_tfrecord(str(other), 128, 20)
