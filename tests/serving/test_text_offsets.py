"""Tests for bert_tf.serving.text_offsets: `document_windows_in_graph` is the twin of
`bert_tf.tokenization.packing.document_windows` (long-document classifier windows)."""
import random

import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from bert_tf.serving.text_offsets import document_windows_in_graph  # noqa: E402
from bert_tf.tokenization import packing  # noqa: E402


@pytest.mark.parametrize("stride", [None, 1, 3, 50])
def test_document_windows_in_graph_equal_the_python_windows(stride):
    generator = random.Random(7 + (stride or 0))
    for max_seq_length in (4, 9, 16):
        texts_a = [[generator.randrange(1000) for _ in range(generator.choice([0, 1, 5, 13, 40]))]
                   for _ in range(12)]
        for with_b in (False, True):
            texts_b = [[generator.randrange(1000) for _ in range(generator.choice([0, 2, 7, 30]))] if with_b else []
                       for _ in texts_a]
            expected = [(row, window_a, window_b) for row, (a, b) in enumerate(zip(texts_a, texts_b))
                        for window_a, window_b in packing.document_windows(a, b, max_seq_length, stride)]
            window_a, window_b, window_row = document_windows_in_graph(
                tf.ragged.constant(texts_a, dtype=tf.int64, ragged_rank=1, inner_shape=()),
                tf.ragged.constant(texts_b, dtype=tf.int64, ragged_rank=1) if with_b else None,
                max_seq_length, stride)
            got = list(zip(window_row.numpy().tolist(), window_a.to_list(), window_b.to_list()))
            assert got == expected, (max_seq_length, with_b)
