"""Tests for bert_tf.tokenization.packing against the reference packed inputs (run_classifier.py layout)."""
import random

import numpy as np
import pytest

from bert_tf.tokenization import packing


def _original_truncate_loop(tokens_a, tokens_b, max_length):
    """The original _truncate_seq_pair loop, for comparison."""
    while len(tokens_a) + len(tokens_b) > max_length:
        if len(tokens_a) > len(tokens_b):
            tokens_a.pop()
        else:
            tokens_b.pop()


def test_truncate_seq_pair_matches_original_loop_exhaustively():
    for length_a in range(0, 14):
        for length_b in range(0, 14):
            for max_length in range(0, 30):
                expected_a, expected_b = list(range(length_a)), list(range(100, 100 + length_b))
                _original_truncate_loop(expected_a, expected_b, max_length)
                tokens_a, tokens_b = list(range(length_a)), list(range(100, 100 + length_b))
                result = packing.truncate_seq_pair(tokens_a, tokens_b, max_length)
                assert result is None  # in place, like the original
                assert (tokens_a, tokens_b) == (expected_a, expected_b), (length_a, length_b, max_length)


def test_truncate_ties_pop_from_b():
    tokens_a, tokens_b = ["a1", "a2"], ["b1", "b2"]
    packing.truncate_seq_pair(tokens_a, tokens_b, 3)
    assert tokens_a == ["a1", "a2"] and tokens_b == ["b1"]


def test_pack_tokens_layout_and_truncation():
    packed = packing.pack_tokens(["a", "b"], ["c"], max_seq_length=8)
    assert packed.tokens == ["[CLS]", "a", "b", "[SEP]", "c", "[SEP]"]
    assert packed.segment_ids == [0, 0, 0, 0, 1, 1]
    assert packed.input_mask == [1] * 6

    tokens_a = ["a1", "a2", "a3", "a4", "a5"]
    packed = packing.pack_tokens(tokens_a, ["b1", "b2"], max_seq_length=7)
    assert packed.tokens == ["[CLS]", "a1", "a2", "[SEP]", "b1", "b2", "[SEP]"]
    assert tokens_a == ["a1", "a2", "a3", "a4", "a5"]  # inputs are not modified

    packed = packing.pack_tokens(tokens_a, None, max_seq_length=4)
    assert packed.tokens == ["[CLS]", "a1", "a2", "[SEP]"] and packed.segment_ids == [0, 0, 0, 0]

    # An empty second segment means "no second segment" (as in the original `if tokens_b:`).
    assert packing.pack_tokens(["a"], [], max_seq_length=8).tokens == ["[CLS]", "a", "[SEP]"]
    assert packing.pack_tokens([], None, max_seq_length=8).tokens == ["[CLS]", "[SEP]"]

    with pytest.raises(ValueError, match="max_seq_length"):
        packing.pack_tokens(["a"], ["b"], max_seq_length=2)


def test_features_padding_and_errors(minilm_tokenizer):
    features = packing.encode_text_pair(minilm_tokenizer, "Hello, world!", "", max_seq_length=10)
    assert features.input_ids == [101, 7592, 1010, 2088, 999, 102, 0, 0, 0, 0]
    assert features.input_mask == [1] * 6 + [0] * 4
    assert features.segment_ids == [0] * 10
    packed = packing.pack_tokens(["hello"] * 5, None, max_seq_length=16)
    with pytest.raises(ValueError, match="max_seq_length=4"):
        packing.packed_input_to_features(packed, minilm_tokenizer, max_seq_length=4)
    with pytest.raises(KeyError, match="no-such-token"):
        packing.packed_input_to_features(packing.pack_tokens(["no-such-token"], None, 8), minilm_tokenizer, 8)


@pytest.mark.parametrize("npz_name, id_key", [
    ("minilm_l6_h384_uncased_public.npz", "input_ids"),
    ("tiny_uncased_L-2_H-64_A-4_public.npz", "tokenized_input_ids"),
])
def test_reference_packed_inputs(reference_sentences, refs_dir, minilm_tokenizer, npz_name, id_key):
    max_seq_length = reference_sentences["max_seq_length"]
    reference = np.load(refs_dir / npz_name)
    examples = reference_sentences["examples"]
    assert len(examples) == reference[id_key].shape[0]

    rows = {"input_ids": [], "input_mask": [], "segment_ids": []}
    for example in examples:
        tokens_a = minilm_tokenizer.tokenize(example["text_a"])
        tokens_b = minilm_tokenizer.tokenize(example["text_b"]) if example["text_b"] else None
        packed = packing.pack_tokens(tokens_a, tokens_b, max_seq_length)
        assert packed.tokens == example["packed_tokens"], example["index"]
        assert len(tokens_a) + len(tokens_b or []) + (3 if tokens_b else 2) == \
            example["num_tokens_before_truncation"]
        features = packing.packed_input_to_features(packed, minilm_tokenizer, max_seq_length)
        assert features == packing.encode_text_pair(minilm_tokenizer, example["text_a"], example["text_b"],
                                                    max_seq_length)
        for key in rows:
            rows[key].append(getattr(features, key))

    np.testing.assert_array_equal(np.array(rows["input_ids"], np.int32), reference[id_key])
    np.testing.assert_array_equal(np.array(rows["input_mask"], np.int32), reference["input_mask"])
    np.testing.assert_array_equal(np.array(rows["segment_ids"], np.int32), reference["segment_ids"])
    assert any(example["truncated"] for example in examples)


def test_truncated_pair_lengths_random():
    randomizer = random.Random(7)
    for _ in range(500):
        length_a, length_b = randomizer.randint(0, 300), randomizer.randint(0, 300)
        max_length = randomizer.randint(0, 400)
        tokens_a, tokens_b = [0] * length_a, [0] * length_b
        _original_truncate_loop(tokens_a, tokens_b, max_length)
        assert packing.truncated_pair_lengths(length_a, length_b, max_length) == \
            (len(tokens_a), len(tokens_b))


def test_document_windows_cover_every_piece_and_pack_without_truncation():
    """A document that fits is one window (what `pack_tokens` packs); a longer text_a is cut into windows of
    the room left by text_b (kept whole up to half the room), `stride` apart, covering every piece."""
    letters = [f"a{index}" for index in range(23)]
    assert packing.document_windows(letters[:6], ["b"], 10) == [(letters[:6], ["b"])]
    assert packing.document_windows(letters[:8], None, 10) == [(letters[:8], [])]
    # Alone: windows of 8 pieces, default stride 4.
    windows = packing.document_windows(letters, None, 10)
    assert [window for window, _ in windows] == [letters[0:8], letters[4:12], letters[8:16], letters[12:20],
                                                 letters[16:23]]
    assert [window for window, _ in packing.document_windows(letters, None, 10, stride=6)] == [
        letters[0:8], letters[6:14], letters[12:20], letters[18:23]]
    # A pair: text_b kept whole (2 pieces), windows of 10 - 3 - 2 = 5 over text_a.
    windows = packing.document_windows(letters[:9], ["b1", "b2"], 10)
    assert windows == [(letters[0:5], ["b1", "b2"]), (letters[2:7], ["b1", "b2"]), (letters[4:9], ["b1", "b2"])]
    # A long text_b keeps half the room (3 of 7) when text_a is long too, more when text_a is short.
    long_b = [f"b{index}" for index in range(20)]
    assert packing.document_windows(letters, long_b, 10)[0] == (letters[0:4], long_b[:3])
    assert packing.document_windows(letters[:2], long_b, 10) == [(letters[:2], long_b[:5])]
    assert packing.document_windows([], long_b, 10) == [([], long_b[:7])]
    for window_a, window_b in packing.document_windows(letters, long_b, 10) + packing.document_windows(letters, [], 7):
        packed = packing.pack_tokens(window_a, window_b, 10)
        assert packed.tokens[1:1 + len(window_a)] == window_a  # nothing truncated
    with pytest.raises(ValueError, match="no room"):
        packing.document_windows(letters, ["b"], 3)
