"""Tests for bert_tf.tasks.classification.features: packing, the TFRecord layout (the original's), and the
features through the tf.data pipeline on MRPC dev. (The pipeline itself: tests/training/test_datasets.py.)"""
import os

import numpy as np
import pytest
import tensorflow as tf

from bert_tf.tasks.classification import examples as glue
from bert_tf.tasks.classification import features as cf
from tests.conftest import require_shared, tokenizer_of_vocabulary
from tests.harness.classifier_records import classifier_batches, original_style_example, synthetic_features

_WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far", "away", "it", "was", "good", "."]
_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + _WORDS + ["##s"]


@pytest.fixture(scope="module")
def small_tokenizer(tmp_path_factory):
    return tokenizer_of_vocabulary(tmp_path_factory.mktemp("vocab") / "vocab.txt", _VOCAB)


def _ids(*tokens):
    return [_VOCAB.index(token) for token in tokens]


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


def test_features_match_reference_packing(reference_sentences, minilm_reference, minilm_tokenizer):
    """The 12 reference sentences packed at max_seq_length 64 (refs/sentences_public.json + MiniLM npz)."""
    examples = [glue.InputExample(f"ref-{item['index']}", item["text_a"], item["text_b"], "0")
                for item in reference_sentences["examples"]]
    features = cf.convert_examples_to_features(examples, ["0", "1"], reference_sentences["max_seq_length"],
                                               minilm_tokenizer)
    np.testing.assert_array_equal([f.input_ids for f in features], minilm_reference["input_ids"])
    np.testing.assert_array_equal([f.input_mask for f in features], minilm_reference["input_mask"])
    np.testing.assert_array_equal([f.segment_ids for f in features], minilm_reference["segment_ids"])


# ------------------------------------------------------------------------------------------------
# TFRecord writing
# ------------------------------------------------------------------------------------------------

def _read_examples(path):
    return [tf.train.Example.FromString(record) for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator()]


def test_tfrecord_names_types_and_values(tmp_path):
    features = synthetic_features([5, 8, 3], 8)
    features[2].is_real_example = False
    path = tmp_path / "train.tf_record"
    assert cf.write_features_tfrecord(features, str(path)) == 3
    written = _read_examples(path)
    assert len(written) == 3
    for feature, example in zip(features, written):
        assert example == original_style_example(feature)
        assert set(example.features.feature) == set(cf.FEATURE_NAMES)
        assert len(example.features.feature["input_ids"].int64_list.value) == 8
    assert list(written[2].features.feature["is_real_example"].int64_list.value) == [0]
    assert os.listdir(tmp_path) == ["train.tf_record"]  # no temp file left behind


def test_tfrecord_regression_labels_are_float(tmp_path):
    features = synthetic_features([4, 6], 8, labels=[2.5, 4.0])
    path = tmp_path / "stsb.tf_record"
    cf.write_features_tfrecord(features, str(path))
    written = _read_examples(path)
    for feature, example in zip(features, written):
        assert example.features.feature["label_ids"].WhichOneof("kind") == "float_list"
        assert example == original_style_example(feature, is_regression=True)
    # Explicit is_regression wins over the label type.
    cf.write_features_tfrecord(synthetic_features([4], 8, labels=[3]), str(path), is_regression=True)
    assert list(_read_examples(path)[0].features.feature["label_ids"].float_list.value) == [3.0]


def test_tfrecord_output_is_deterministic_and_replaces_atomically(tmp_path):
    features = synthetic_features([3, 7, 8, 1], 8)
    first, second = tmp_path / "a.tf_record", tmp_path / "b.tf_record"
    cf.write_features_tfrecord(features, str(first))
    cf.write_features_tfrecord(iter(features), str(second))  # an iterator works too
    assert first.read_bytes() == second.read_bytes()
    cf.write_features_tfrecord(features[:1], str(first))  # overwrite an existing file
    assert len(_read_examples(first)) == 1


def test_tfrecord_inconsistent_lengths_raise_and_leave_no_file(tmp_path):
    features = synthetic_features([3, 4], 8) + synthetic_features([3], 16)
    path = tmp_path / "bad.tf_record"
    with pytest.raises(ValueError, match=r"features\[2\]\.input_ids has length 16, expected 8"):
        cf.write_features_tfrecord(features, str(path))
    assert os.listdir(tmp_path) == []


def test_parse_with_feature_spec(tmp_path):
    path = tmp_path / "x.tf_record"
    features = synthetic_features([6], 8, labels=[1])
    cf.write_features_tfrecord(features, str(path))
    record = next(iter(tf.data.TFRecordDataset(str(path))))
    parsed = tf.io.parse_single_example(record, cf.feature_spec(8, is_regression=False))
    assert parsed["input_ids"].dtype == tf.int64 and parsed["input_ids"].shape == (8,)
    assert parsed["input_ids"].numpy().tolist() == features[0].input_ids
    assert parsed["label_ids"].numpy() == 1 and parsed["is_real_example"].numpy() == 1
    assert cf.feature_spec(8, is_regression=True)["label_ids"].dtype == tf.float32


# ------------------------------------------------------------------------------------------------
# End to end on MRPC dev.
# ------------------------------------------------------------------------------------------------

def test_mrpc_dev_end_to_end(tmp_path, uncased_tokenizer):
    data_dir = require_shared("data", "glue", "MRPC")
    processor = glue.get_processor("mrpc")
    examples = processor.get_dev_examples(data_dir)
    label_list = processor.get_labels()
    path = tmp_path / "eval.tf_record"
    count = cf.file_based_convert_examples_to_features(examples, label_list, 128, uncased_tokenizer, str(path))
    assert count == 408
    features = cf.convert_examples_to_features(examples, label_list, 128, uncased_tokenizer)
    cls_id, sep_id = uncased_tokenizer.convert_tokens_to_ids(["[CLS]", "[SEP]"])
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
