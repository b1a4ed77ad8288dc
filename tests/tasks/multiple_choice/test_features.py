"""bert_tf.tasks.multiple_choice.features: each question's packed pairs, padding choices, the TFRecord layout."""
import numpy as np
import tensorflow as tf

from bert_tf.tasks.multiple_choice import examples, features
from bert_tf.tokenization import packing
from bert_tf.training import datasets


def questions():
    return [examples.MultipleChoiceExample("train-1", "The man sat down.", ["He ate.", "He slept at the table."], 1),
            examples.MultipleChoiceExample("train-2", "A dog", ["barks", "runs", "swims in the river today"], 2)]


def test_each_choice_is_packed_as_a_pair_and_short_questions_are_padded(uncased_tokenizer):
    converted = list(features.iter_features(questions(), 3, 16, uncased_tokenizer, num_padding=1))
    assert len(converted) == 3
    first = converted[0]
    for index, choice in enumerate(questions()[0].choices):
        packed = packing.encode_text_pair(uncased_tokenizer, "The man sat down.", choice, 16)
        assert (first.input_ids[index], first.input_mask[index], first.segment_ids[index]) == (
            packed.input_ids, packed.input_mask, packed.segment_ids)
    assert first.input_ids[2] == [0] * 16 and first.choice_mask == [1, 1, 0] and first.label_id == 1
    assert converted[1].choice_mask == [1, 1, 1] and converted[1].label_id == 2
    padding = converted[2]
    assert padding.choice_mask == [0, 0, 0] and padding.label_id == features.NO_LABEL
    assert features.num_choices(questions()) == 3


def test_long_pairs_are_truncated_like_the_classifier(uncased_tokenizer):
    long = examples.MultipleChoiceExample("x", " ".join(["word"] * 40), ["short", " ".join(["other"] * 40)], None)
    converted = features.convert_example(long, 2, 12, uncased_tokenizer)
    for index, choice in enumerate(long.choices):
        assert converted.input_ids[index] == packing.encode_text_pair(uncased_tokenizer, long.context, choice,
                                                                      12).input_ids
    assert converted.label_id == features.NO_LABEL and sum(converted.input_mask[1]) == 12


def test_records_round_trip_through_the_layout(tmp_path, uncased_tokenizer):
    path = str(tmp_path / "train.tf_record")
    converted = list(features.iter_features(questions(), 3, 16, uncased_tokenizer))
    assert features.write_features(converted, path) == 2
    layout = features.record_layout(3, 16)
    datasets.check_records(path, layout, 2)
    batch, labels = next(iter(datasets.inference_dataset(path, layout, batch_size=2)))
    longest = max(sum(mask) for question in converted for mask in question.input_mask)
    assert batch["input_ids"].shape == (2, 3, -(-longest // 8) * 8) and batch["input_ids"].dtype == tf.int32
    np.testing.assert_array_equal(batch["choice_mask"].numpy(), [[1, 1, 0], [1, 1, 1]])
    np.testing.assert_array_equal(labels.numpy(), [1, 2])
    width = batch["input_ids"].shape[2]
    np.testing.assert_array_equal(batch["input_ids"].numpy()[1], np.array(converted[1].input_ids)[:, :width])
    train = datasets.training_dataset(path, layout, 2, 100, group_by_length=False, seed=1)
    batch, labels = next(iter(train))
    assert batch["segment_ids"].shape[:2] == (2, 3) and set(labels.numpy().tolist()) <= {1, 2}  # repeated, shuffled


def test_a_file_of_other_choices_or_length_is_refused_by_the_check(tmp_path, uncased_tokenizer):
    path = str(tmp_path / "train.tf_record")
    features.write_features(features.iter_features(questions(), 3, 16, uncased_tokenizer), path)
    import pytest

    with pytest.raises(ValueError, match="input_ids has 48 values per example but 64 are expected"):
        datasets.check_records(path, features.record_layout(4, 16))
    with pytest.raises(ValueError, match="records, 5 expected"):
        datasets.check_records(path, features.record_layout(3, 16), 5)
