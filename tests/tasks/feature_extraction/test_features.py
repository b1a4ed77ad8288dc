"""Tests for bert_tf.tasks.feature_extraction.features: packing (`[CLS] A [SEP] B [SEP]`, as run_classifier.py
packs, checked on the MiniLM reference's ids) and the original JSON lines."""
import json

import numpy as np

from bert_tf.tasks.feature_extraction import examples as extraction_examples
from bert_tf.tasks.feature_extraction import features


def test_feature_to_json_rounds_like_the_original():
    feature = features.InputFeatures(unique_id=7, tokens=["[CLS]", "[SEP]"], input_ids=[101, 102, 0],
                                     input_mask=[1, 1, 0], input_type_ids=[0, 0, 0])
    layer_outputs = np.array([[[0.12345678, -1.0000004], [2.5e-7, 3.0], [9.0, 9.0]]], dtype=np.float32)
    line = features.feature_to_json(feature, layer_outputs, [-2])
    expected = {"linex_index": 7, "features": [
        {"token": "[CLS]", "layers": [{"index": -2, "values": [round(float(np.float32(0.12345678)), 6), -1.0]}]},
        {"token": "[SEP]", "layers": [{"index": -2, "values": [0.0, 3.0]}]},
    ]}
    assert json.loads(line) == expected
    assert line == json.dumps(expected)


def test_packing_equals_reference_packing(reference_sentences, reference_input_lines, minilm_reference,
                                         minilm_tokenizer):
    """extract_features' packing gives the reference's ids, mask and segments (the truncated pair too)."""
    examples = [extraction_examples.parse_line(line, example["index"])
                for line, example in zip(reference_input_lines, reference_sentences["examples"])]
    packed = features.convert_examples_to_features(examples, 64, minilm_tokenizer)
    assert any(example["truncated"] and example["text_b"] for example in reference_sentences["examples"])
    for feature, example in zip(packed, reference_sentences["examples"]):
        row = example["index"]
        assert feature.tokens == example["packed_tokens"]
        assert feature.input_ids == minilm_reference["input_ids"][row].tolist()
        assert feature.input_mask == minilm_reference["input_mask"][row].tolist()
        assert feature.input_type_ids == minilm_reference["segment_ids"][row].tolist()


def test_empty_text_b_and_empty_line_pack_as_single_segments(minilm_tokenizer):
    empty = features.convert_single_example(extraction_examples.InputExample(0, "", None), 8, minilm_tokenizer)
    assert empty.tokens == ["[CLS]", "[SEP]"] and empty.input_mask == [1, 1, 0, 0, 0, 0, 0, 0]
    no_b_tokens = features.convert_single_example(extraction_examples.InputExample(1, "hello world", "\u200b"), 8,
                                                  minilm_tokenizer)
    assert no_b_tokens.tokens == ["[CLS]", "hello", "world", "[SEP]"]
    cut = features.convert_single_example(extraction_examples.InputExample(2, "one two three four five", None), 5,
                                          minilm_tokenizer)
    assert cut.tokens == ["[CLS]", "one", "two", "three", "[SEP]"] and cut.input_type_ids == [0] * 5
