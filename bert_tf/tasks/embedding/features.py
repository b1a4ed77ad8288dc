"""Texts -> the packed windows the embedding model runs on, and the settings that shape them.

A text is word-piece tokenized (`FullTokenizer`) and packed as `[CLS] pieces [SEP]` (segment 0). A text of
more than `max_seq_length - 2` pieces is cut into windows of `max_seq_length - 2` pieces, `window_stride`
pieces apart (default: half a window), the last one ending at the text's last piece: the starts are
`k * stride` for `k = 0 .. ceil((pieces - window) / stride)`. With `truncate`, only the first window is kept
(the original scripts' truncation). A text without pieces (empty, or only whitespace or control characters)
is one window `[CLS] [SEP]`. The SavedModel cuts the same windows in its graph
(`bert_tf.serving.embedding`).
"""
from __future__ import annotations

import dataclasses
import numbers
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from bert_tf.errors import InputError, require_int


@dataclasses.dataclass(frozen=True)
class Window:
    """One packed window of a text.

    Attributes:
      text_index: the text's 0-based index in the input.
      input_ids: `[CLS] pieces [SEP]` ids (no padding), at most `max_seq_length` of them.
    """

    text_index: int
    input_ids: Tuple[int, ...]


def parse_layers(layers: Union[str, int, Sequence[int]]) -> Tuple[int, ...]:
    """`layers` as a tuple of ints: a comma-separated string ("-4,-3,-2,-1"), an int or a sequence of ints.

    Raises:
      InputError: `--layers=...: 'x' is not an integer` (whether each index exists is checked against the model
        by `bert_tf.modeling.sentence_embedding.check_pooling`).
    """
    if isinstance(layers, str):
        pieces = [piece.strip() for piece in layers.split(",")]
        if not pieces or any(not piece for piece in pieces):
            raise InputError(f"--layers={layers!r}: expected comma-separated integers, e.g. -1 or -4,-3,-2,-1")
        try:
            return tuple(int(piece) for piece in pieces)
        except ValueError:
            bad = next(piece for piece in pieces if not piece.lstrip("+-").isdigit())
            raise InputError(f"--layers={layers!r}: {bad!r} is not an integer") from None
    if isinstance(layers, numbers.Integral) and not isinstance(layers, bool):
        return (int(layers),)
    values = tuple(layers)
    if any(isinstance(value, bool) or not isinstance(value, numbers.Integral) for value in values):
        raise InputError(f"layers={layers!r}: expected integers (-1 is the last block)")
    return tuple(int(value) for value in values)


def default_window_stride(max_seq_length: int) -> int:
    """Half a window: `max(1, (max_seq_length - 2) // 2)` pieces."""
    return max(1, (int(max_seq_length) - 2) // 2)


def check_window_settings(max_seq_length, window_stride: Optional[int]) -> Tuple[int, int]:
    """`(max_seq_length, window_stride)` as ints (the stride defaulted); raises InputError naming the setting."""
    max_seq_length = require_int("--max_seq_length", max_seq_length, minimum=3)
    if window_stride is None:
        return max_seq_length, default_window_stride(max_seq_length)
    return max_seq_length, require_int("--window_stride", window_stride)


def window_spans(num_pieces: int, max_pieces: int, stride: int, truncate: bool) -> List[Tuple[int, int]]:
    """`(start, length)` of each window over `num_pieces` pieces (see the module docstring).

    No pieces: one empty window `(0, 0)`. `truncate`: the first window alone. A stride longer than a window
    counts as a window (no piece is skipped).
    """
    if truncate or num_pieces <= max_pieces:
        return [(0, min(num_pieces, max_pieces))]
    stride = min(stride, max_pieces)
    num_windows = (num_pieces - max_pieces + stride - 1) // stride + 1
    return [(k * stride, min(num_pieces - k * stride, max_pieces)) for k in range(num_windows)]


def text_windows(text_index: int, piece_ids: Sequence[int], max_seq_length: int, window_stride: int,
                 truncate: bool, cls_id: int, sep_id: int) -> List[Window]:
    """The packed windows of one text's word-piece ids."""
    return [Window(text_index, (cls_id, *piece_ids[start:start + length], sep_id))
            for start, length in window_spans(len(piece_ids), max_seq_length - 2, window_stride, truncate)]


def batch_inputs(windows: Sequence[Window]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int32 `(input_ids, input_mask, segment_ids)` [B, S], S the longest window of the batch (zero padded)."""
    length = max(len(window.input_ids) for window in windows)
    input_ids = np.zeros((len(windows), length), np.int32)
    input_mask = np.zeros((len(windows), length), np.int32)
    for row, window in enumerate(windows):
        input_ids[row, :len(window.input_ids)] = window.input_ids
        input_mask[row, :len(window.input_ids)] = 1
    return input_ids, input_mask, np.zeros_like(input_ids)

