"""`bert_tf.tasks.embedding.features`: layers, windows over a text's pieces, batches."""
import numpy as np
import pytest

from bert_tf.errors import InputError
from bert_tf.tasks.embedding.features import (
    Window,
    batch_inputs,
    check_window_settings,
    default_window_stride,
    parse_layers,
    text_windows,
    window_spans,
)


def test_parse_layers_takes_strings_ints_and_sequences():
    assert parse_layers("-1") == (-1,)
    assert parse_layers(" -4, -3,-2 ,-1") == (-4, -3, -2, -1)
    assert parse_layers(-2) == (-2,)
    assert parse_layers([0, np.int64(-1)]) == (0, -1)
    with pytest.raises(InputError, match=r"--layers='-1,x': 'x' is not an integer"):
        parse_layers("-1,x")
    with pytest.raises(InputError, match="expected comma-separated integers"):
        parse_layers("-1,,-2")
    with pytest.raises(InputError, match="expected integers"):
        parse_layers([True])


def test_windows_cover_every_piece_and_the_last_ends_at_the_last_piece():
    assert window_spans(0, 4, 2, truncate=False) == [(0, 0)]
    assert window_spans(4, 4, 2, truncate=False) == [(0, 4)]
    assert window_spans(5, 4, 2, truncate=False) == [(0, 4), (2, 3)]
    assert window_spans(9, 4, 2, truncate=False) == [(0, 4), (2, 4), (4, 4), (6, 3)]
    assert window_spans(9, 4, 9, truncate=False) == [(0, 4), (4, 4), (8, 1)]  # a stride beyond a window: a window
    assert window_spans(9, 4, 2, truncate=True) == [(0, 4)]
    for num_pieces in range(1, 30):
        spans = window_spans(num_pieces, 6, 4, truncate=False)
        covered = {start + offset for start, length in spans for offset in range(length)}
        assert covered == set(range(num_pieces))
        assert spans[-1][0] + spans[-1][1] == num_pieces
        assert all(length <= 6 for _, length in spans)


def test_text_windows_pack_cls_pieces_sep():
    windows = text_windows(7, [10, 11, 12, 13, 14], max_seq_length=5, window_stride=2, truncate=False, cls_id=1,
                           sep_id=2)
    assert windows == [Window(7, (1, 10, 11, 12, 2)), Window(7, (1, 12, 13, 14, 2))]
    assert text_windows(0, [], 5, 2, False, 1, 2) == [Window(0, (1, 2))]


def test_batches_are_padded_to_their_longest_window():
    input_ids, input_mask, segment_ids = batch_inputs([Window(0, (1, 5, 2)), Window(1, (1, 2))])
    np.testing.assert_array_equal(input_ids, [[1, 5, 2], [1, 2, 0]])
    np.testing.assert_array_equal(input_mask, [[1, 1, 1], [1, 1, 0]])
    np.testing.assert_array_equal(segment_ids, np.zeros((2, 3)))
    assert input_ids.dtype == np.int32


def test_window_settings():
    assert default_window_stride(128) == 63
    assert check_window_settings(128, None) == (128, 63)
    assert check_window_settings(16, 3) == (16, 3)
    with pytest.raises(InputError, match="--max_seq_length must be an integer >= 3"):
        check_window_settings(2, None)
    with pytest.raises(InputError, match="--window_stride must be a positive integer"):
        check_window_settings(16, 0)
