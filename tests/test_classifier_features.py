"""Tests for bert_tf.tasks.classification.features: packing, TFRecord layout, tf.data pipeline."""
import collections
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import require_shared

from bert_tf import tokenization
from bert_tf.tasks.classification import examples as glue
from bert_tf.tasks.classification import features as cf
from bert_tf.training import datasets

_WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far", "away", "it", "was", "good", "."]
_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + _WORDS + ["##s"]


@pytest.fixture(scope="module")
def small_tokenizer(tmp_path_factory):
    vocab_file = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    vocab_file.write_text("\n".join(_VOCAB) + "\n", encoding="utf-8")
    return tokenization.FullTokenizer(str(vocab_file), do_lower_case=True)


def _ids(*tokens):
    return [_VOCAB.index(token) for token in tokens]


def _features(lengths, seq_length, labels=None, regression=False):
    """Synthetic features with ``input_mask`` real lengths ``lengths``."""
    result = []
    for index, length in enumerate(lengths):
        padding = [0] * (seq_length - length)
        label = labels[index] if labels is not None else (index * 0.5 if regression else index % 2)
        result.append(cf.InputFeatures(
            input_ids=list(range(100 + index, 100 + index + length)) + padding,
            input_mask=[1] * length + padding,
            segment_ids=[0] * (length // 2) + [1] * (length - length // 2) + padding,
            label_id=label, is_real_example=True))
    return result


# ------------------------------------------------------------------------------------------------
# convert_examples_to_features
# ------------------------------------------------------------------------------------------------

def test_single_sentence_packing_and_truncation(small_tokenizer):
    examples = [glue.InputExample("t-0", "The cat sat.", None, "1"),
                glue.InputExample("t-1", "the cat sat on the mat .", "", "0")]  # "" = single sentence
    features = cf.convert_examples_to_features(examples, ["0", "1"], 6, small_tokenizer)
    assert features[0].input_ids == _ids("[CLS]", "the", "cat", "sat", ".", "[SEP]")
    assert features[0].input_mask == [1] * 6 and features[0].segment_ids == [0] * 6
    assert features[0].label_id == 1 and features[0].is_real_example
    # Cut to max_seq_length - 2 word pieces.
    assert features[1].input_ids == _ids("[CLS]", "the", "cat", "sat", "on", "[SEP]")
    assert features[1].label_id == 0


def test_pair_packing_truncates_longer_side_first(small_tokenizer):
    example = glue.InputExample("t-0", "the cat sat on the mat", "a dog", "1")
    features = cf.convert_examples_to_features([example], ["0", "1"], 10, small_tokenizer)[0]
    # 6 + 2 word pieces, limit 10 - 3 = 7: pop the last of the longer (A).
    assert features.input_ids == _ids("[CLS]", "the", "cat", "sat", "on", "the", "[SEP]", "a", "dog", "[SEP]")
    assert features.segment_ids == [0] * 7 + [1] * 3
    assert features.input_mask == [1] * 10

    padded = cf.convert_examples_to_features([glue.InputExample("t-1", "cats", "dog", "0")], ["0", "1"], 9,
                                             small_tokenizer)[0]
    assert padded.input_ids == _ids("[CLS]", "cat", "##s", "[SEP]", "dog", "[SEP]") + [0, 0, 0]
    assert padded.input_mask == [1] * 6 + [0] * 3
    assert padded.segment_ids == [0, 0, 0, 0, 1, 1, 0, 0, 0]


def test_regression_labels_and_padding_examples(small_tokenizer):
    examples = [glue.InputExample("t-0", "a dog", "a cat", 3.25), cf.PaddingInputExample()]
    features = cf.convert_examples_to_features(examples, [None], 8, small_tokenizer, is_regression=True)
    assert features[0].label_id == 3.25 and isinstance(features[0].label_id, float)
    assert features[1].input_ids == [0] * 8 and features[1].input_mask == [0] * 8
    assert features[1].label_id == 0.0 and features[1].is_real_example is False


def test_unknown_label_names_guid(small_tokenizer):
    with pytest.raises(ValueError, match="'dev-7'.*'maybe'"):
        cf.convert_examples_to_features([glue.InputExample("dev-7", "a", None, "maybe")], ["0", "1"], 8,
                                        small_tokenizer)
    with pytest.raises(ValueError, match="'dev-8'.*not a number"):
        cf.convert_examples_to_features([glue.InputExample("dev-8", "a", None, None)], [None], 8,
                                        small_tokenizer, is_regression=True)


def test_features_match_reference_packing():
    """The 12 reference sentences packed at max_seq_length 64 (refs/sentences_public.json + MiniLM npz)."""
    refs_dir = require_shared("refs")
    vocab_file = require_shared("checkpoints", "minilm_l6_h384_uncased", "vocab.txt")
    sentences = json.loads((refs_dir / "sentences_public.json").read_text(encoding="utf-8"))
    reference = np.load(refs_dir / "minilm_l6_h384_uncased_public.npz")
    tokenizer = tokenization.FullTokenizer(str(vocab_file), do_lower_case=True)
    examples = [glue.InputExample(f"ref-{item['index']}", item["text_a"], item["text_b"], "0")
                for item in sentences["examples"]]
    features = cf.convert_examples_to_features(examples, ["0", "1"], sentences["max_seq_length"], tokenizer)
    np.testing.assert_array_equal([f.input_ids for f in features], reference["input_ids"])
    np.testing.assert_array_equal([f.input_mask for f in features], reference["input_mask"])
    np.testing.assert_array_equal([f.segment_ids for f in features], reference["segment_ids"])


# ------------------------------------------------------------------------------------------------
# TFRecord writing
# ------------------------------------------------------------------------------------------------

def _read_examples(path):
    return [tf.train.Example.FromString(record) for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator()]


def _original_style_example(feature, is_regression=False):
    """A tf.train.Example built the way the original file_based_convert_examples_to_features does."""
    def int_feature(values):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))

    fields = collections.OrderedDict()
    fields["input_ids"] = int_feature(feature.input_ids)
    fields["input_mask"] = int_feature(feature.input_mask)
    fields["segment_ids"] = int_feature(feature.segment_ids)
    if is_regression:
        fields["label_ids"] = tf.train.Feature(float_list=tf.train.FloatList(value=[feature.label_id]))
    else:
        fields["label_ids"] = int_feature([feature.label_id])
    fields["is_real_example"] = int_feature([int(feature.is_real_example)])
    return tf.train.Example(features=tf.train.Features(feature=fields))


def test_tfrecord_names_types_and_values(tmp_path):
    features = _features([5, 8, 3], 8)
    features[2].is_real_example = False
    path = tmp_path / "train.tf_record"
    assert cf.write_features_tfrecord(features, str(path)) == 3
    written = _read_examples(path)
    assert len(written) == 3
    for feature, example in zip(features, written):
        assert example == _original_style_example(feature)
        assert set(example.features.feature) == set(cf.FEATURE_NAMES)
        assert len(example.features.feature["input_ids"].int64_list.value) == 8
    assert list(written[2].features.feature["is_real_example"].int64_list.value) == [0]
    assert os.listdir(tmp_path) == ["train.tf_record"]  # no temp file left behind


def test_tfrecord_regression_labels_are_float(tmp_path):
    features = _features([4, 6], 8, labels=[2.5, 4.0])
    path = tmp_path / "stsb.tf_record"
    cf.write_features_tfrecord(features, str(path))
    written = _read_examples(path)
    for feature, example in zip(features, written):
        assert example.features.feature["label_ids"].WhichOneof("kind") == "float_list"
        assert example == _original_style_example(feature, is_regression=True)
    # Explicit is_regression wins over the label type.
    cf.write_features_tfrecord(_features([4], 8, labels=[3]), str(path), is_regression=True)
    assert list(_read_examples(path)[0].features.feature["label_ids"].float_list.value) == [3.0]


def test_tfrecord_output_is_deterministic_and_replaces_atomically(tmp_path):
    features = _features([3, 7, 8, 1], 8)
    first, second = tmp_path / "a.tf_record", tmp_path / "b.tf_record"
    cf.write_features_tfrecord(features, str(first))
    cf.write_features_tfrecord(iter(features), str(second))  # an iterator works too
    assert first.read_bytes() == second.read_bytes()
    cf.write_features_tfrecord(features[:1], str(first))  # overwrite an existing file
    assert len(_read_examples(first)) == 1


def test_tfrecord_inconsistent_lengths_raise_and_leave_no_file(tmp_path):
    features = _features([3, 4], 8) + _features([3], 16)
    path = tmp_path / "bad.tf_record"
    with pytest.raises(ValueError, match=r"features\[2\]\.input_ids has length 16, expected 8"):
        cf.write_features_tfrecord(features, str(path))
    assert os.listdir(tmp_path) == []


def test_parse_with_feature_spec(tmp_path):
    path = tmp_path / "x.tf_record"
    features = _features([6], 8, labels=[1])
    cf.write_features_tfrecord(features, str(path))
    record = next(iter(tf.data.TFRecordDataset(str(path))))
    parsed = tf.io.parse_single_example(record, cf.feature_spec(8, is_regression=False))
    assert parsed["input_ids"].dtype == tf.int64 and parsed["input_ids"].shape == (8,)
    assert parsed["input_ids"].numpy().tolist() == features[0].input_ids
    assert parsed["label_ids"].numpy() == 1 and parsed["is_real_example"].numpy() == 1
    assert cf.feature_spec(8, is_regression=True)["label_ids"].dtype == tf.float32


# ------------------------------------------------------------------------------------------------
# check_tfrecord_features
# ------------------------------------------------------------------------------------------------

def test_check_tfrecord_features_errors(tmp_path):
    path = tmp_path / "train.tf_record"
    cf.write_features_tfrecord(_features([3], 16), str(path))
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
# bert_tf.training.datasets with the classifier's records


def classifier_batches(path, seq_length, batch_size, is_training, is_regression, pad_to_max_length=False, seed=None,
                       drop_remainder=False):
    layout = cf.record_layout(seq_length, is_regression)
    if is_training:
        return datasets.training_dataset(path, layout, batch_size, 100, pad_to_max_length, seed=seed,
                                         drop_remainder=drop_remainder)
    return datasets.inference_dataset(path, layout, batch_size, pad_to_max_length, drop_remainder)
# ------------------------------------------------------------------------------------------------

def test_eval_dataset_trims_each_batch_to_multiple_of_8(tmp_path):
    seq_length = 32
    lengths = [5, 12, 3, 20, 7, 32, 2]
    features = _features(lengths, seq_length)
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
    cf.write_features_tfrecord(_features([17, 2], 20), str(path))
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
    features = _features([4 + index % 5 for index in range(10)], 16, labels=list(range(10)))
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
    cf.write_features_tfrecord(_features([3, 9], 16, labels=[1.5, 4.75]), str(path))
    _, labels = next(iter(classifier_batches(str(path), 16, 2, False, is_regression=True)))
    assert labels.dtype == tf.float32
    np.testing.assert_allclose(labels.numpy(), [1.5, 4.75])


def test_dataset_reads_original_style_records_without_is_real_example(tmp_path):
    """Files written before is_real_example existed parse with is_real_example = 1."""
    path = tmp_path / "old.tf_record"
    feature = _features([5], 8, labels=[1])[0]
    example = _original_style_example(feature)
    del example.features.feature["is_real_example"]
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(example.SerializeToString())
    features, labels = next(iter(classifier_batches(str(path), 8, 1, False, False)))
    assert features["is_real_example"].numpy().tolist() == [1.0] and labels.numpy().tolist() == [1]


def test_dataset_rejects_mismatched_max_seq_length(tmp_path):
    path = tmp_path / "train.tf_record"
    cf.write_features_tfrecord(_features([3], 64), str(path))
    with pytest.raises(ValueError, match=r"train.tf_record: input_ids has 64 values .* max_seq_length is 128"):
        classifier_batches(str(path), 128, 8, True, False)


# ------------------------------------------------------------------------------------------------
# End to end on MRPC dev.
# ------------------------------------------------------------------------------------------------

def test_mrpc_dev_end_to_end(tmp_path):
    data_dir = require_shared("data", "glue", "MRPC")
    vocab_file = require_shared("data", "vocab", "bert-base-uncased", "vocab.txt")
    tokenizer = tokenization.FullTokenizer(str(vocab_file), do_lower_case=True)
    processor = glue.get_processor("mrpc")
    examples = processor.get_dev_examples(data_dir)
    label_list = processor.get_labels()
    path = tmp_path / "eval.tf_record"
    count = cf.file_based_convert_examples_to_features(examples, label_list, 128, tokenizer, str(path))
    assert count == 408
    features = cf.convert_examples_to_features(examples, label_list, 128, tokenizer)
    cls_id, sep_id = tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])
    for feature in features:
        length = sum(feature.input_mask)
        assert feature.input_ids[0] == cls_id and feature.input_ids[length - 1] == sep_id
        assert feature.input_ids[:length].count(sep_id) == 2
        assert feature.input_ids[length:] == [0] * (128 - length)

    dataset = classifier_batches(str(path), 128, 32, is_training=False, is_regression=False)
    labels, lengths = [], []
    for batch_features, batch_labels in dataset:
        width = batch_features["input_ids"].shape[1]
        assert width % 8 == 0 and width <= 128
        labels.extend(batch_labels.numpy().tolist())
        lengths.extend(batch_features["input_mask"].numpy().sum(axis=1).tolist())
    assert labels == [label_list.index(example.label) for example in examples]
    assert lengths == [sum(feature.input_mask) for feature in features]
