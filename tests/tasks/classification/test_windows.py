"""Tests for bert_tf.tasks.classification.windows: long documents as windows, pooled back per document."""
import types

import numpy as np
import pytest

from bert_tf.errors import InputError
from bert_tf.tasks.classification import windows


def test_pool_logits_mean_and_max_per_document():
    logits = np.array([[1.0, 0.0], [3.0, -2.0], [0.5, 0.5], [-1.0, 4.0]], np.float32)
    document_index = np.array([0, 0, 1, 2])
    np.testing.assert_allclose(windows.pool_logits(logits, document_index, 3, "mean"),
                               [[2.0, -1.0], [0.5, 0.5], [-1.0, 4.0]])
    np.testing.assert_allclose(windows.pool_logits(logits, document_index, 3, "max"),
                               [[3.0, 0.0], [0.5, 0.5], [-1.0, 4.0]])
    assert windows.first_windows(document_index, 3).tolist() == [0, 2, 3]


def test_split_into_windows_and_their_features(tiny_tokenizer):
    """Every window of a document carries the document's label; a short document is one window with the
    features truncation gives; padding records follow."""
    from bert_tf.tasks.classification.features import convert_single_example

    long_text = " ".join(["hello world"] * 20)  # 40 pieces
    examples = [types.SimpleNamespace(guid="a", text_a=long_text, text_b=None, label="1"),
                types.SimpleNamespace(guid="b", text_a="short text", text_b=None, label="0")]
    split = windows.split_into_windows(examples, tiny_tokenizer, 16, doc_stride=None)
    assert split.num_documents == 2 and split.num_long_documents == 1
    assert split.document_index.tolist() == [0] * 5 + [1]  # 40 pieces: 14-piece windows at 0, 7, 14, 21, 28
    features = list(windows.window_features(examples, split, ["0", "1"], 16, tiny_tokenizer, num_padding=2))
    assert [feature.label_id for feature in features] == [1] * 5 + [0, 0, 0]
    assert [feature.is_real_example for feature in features] == [True] * 6 + [False] * 2
    # Every document weighs the same in the loss (6 windows of 2 documents: 3 per document), padding nothing.
    assert [feature.window_weight for feature in features] == [3 / 5] * 5 + [3.0, 0.0, 0.0]
    truncated = convert_single_example(examples[1], {"0": 0, "1": 1}, 16, tiny_tokenizer)
    assert features[5].input_ids == truncated.input_ids
    assert [sum(feature.input_mask) for feature in features[:5]] == [16] * 4 + [14]  # the last: pieces 28-39


def test_bad_settings_are_one_line():
    with pytest.raises(InputError, match="--long_documents must be one of truncate, windows"):
        windows.check_settings("chunks", None, "mean")
    with pytest.raises(InputError, match="--window_pooling must be one of mean, max"):
        windows.check_settings("windows", None, "median")
    with pytest.raises(InputError, match="--doc_stride must be at least 1, got 0"):
        windows.check_settings("windows", 0, "mean")
