"""Words, word pieces with character offsets, and windows over them, in the graph (SQuAD and NER exports).

`words_and_pieces` splits raw strings into whitespace-separated words (SQuAD's "doc tokens", NER's words)
and word-piece tokenizes every word on its own with `InGraphBertTokenizer` -- exactly `FullTokenizer` on
each word, as `run_squad` and `run_ner` do -- keeping for every piece the characters of the input it
came from. `window_spans_in_graph` and `max_context_windows_in_graph` are the original windows
(`doc_stride`) and SQuAD's max-context rule with TF ops; `document_windows_in_graph` is a long-document
classifier's windows (`bert_tf.tokenization.packing.document_windows`).

How offsets are kept: the basic tokenizer only deletes characters, turns whitespace into word breaks,
lower-cases and strips accents, all character by character, so the words it returns, concatenated, are the
concatenation of every input character's own normalized form. Each character is normalized alone (the
same tokenizer ops on one-character strings) to get its normalized length in bytes; a word piece's byte
offsets in its (normalized) word then map back to the input characters holding its first and last byte.
Greek final sigma is the one context-dependent rule; both sigmas are two bytes, so lengths still agree.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import tensorflow as tf

from bert_tf.tokenization.in_graph import MAX_INPUT_CHARS_PER_WORD, InGraphBertTokenizer

__all__ = ["words_and_pieces", "window_spans_in_graph", "max_context_windows_in_graph", "document_windows_in_graph"]


def _exclusive_cumsum(values: tf.Tensor) -> tf.Tensor:
    return tf.cumsum(values, exclusive=True)


def words_and_pieces(tokenizer: InGraphBertTokenizer, text: tf.Tensor,
                     whitespace: Sequence[int]) -> Dict[str, tf.Tensor]:
    """Words of `text` [batch] (split on the code points `whitespace`) and their word pieces, with offsets.

    Indexes below are global: over the characters, words or pieces of the whole batch, in order.

    Returns:
      dict of Tensors:
      `ids` int32 RaggedTensor [batch, (pieces)]: every row's pieces, word after word;
      per piece (flat): `piece_word` int32, `char_start`, `char_end` int32 (global character indexes
      of its first character and one past its last);
      per word (flat): `word_row` int32, `word_first_char`, `word_end_char` int32 (global),
      `word_delta` int32 (characters of its normalized form minus its own characters),
      `word_first_piece` int32 (global piece index, -1 for a word without pieces),
      `words_per_row` int32 [batch];
      per character (flat): `char_byte_start`, `char_byte_end` int32 (byte offsets in its row's string);
      `row_char_start` int32 [batch] (global index of each row's first character).
    """
    code_points, byte_offsets = tf.strings.unicode_decode_with_offsets(text, "UTF-8", errors="replace")
    flat_cp = tf.cast(code_points.flat_values, tf.int32)
    num_chars = tf.cast(code_points.row_lengths(), tf.int32)
    row_char_start = _exclusive_cumsum(num_chars)
    char_row = tf.cast(code_points.value_rowids(), tf.int32)
    byte_start = tf.cast(byte_offsets.flat_values, tf.int32)
    num_flat = tf.size(flat_cp)
    next_index = tf.range(num_flat) + 1
    is_last_in_row = tf.equal(next_index, tf.gather(row_char_start + num_chars, char_row))
    byte_end = tf.where(is_last_in_row, tf.gather(tf.strings.length(text), char_row),
                        tf.gather(tf.concat([byte_start, [0]], 0), next_index))

    # Every character's normalized form (its share of the basic tokenizer's words).
    char_text = tf.strings.substr(tf.gather(text, char_row), byte_start, byte_end - byte_start)
    normalized = tf.strings.reduce_join(tokenizer.basic_tokenize(char_text), axis=-1)
    norm_end = tf.cumsum(tf.strings.length(normalized))  # global normalized byte end of each character
    norm_chars = tf.strings.length(normalized, unit="UTF8_CHAR")

    # Words: runs of characters outside `whitespace`.
    is_space = tf.reduce_any(tf.equal(flat_cp[:, tf.newaxis], tf.constant(list(whitespace), tf.int32)), axis=1)
    previous_space = tf.concat([[True], is_space[:-1]], 0)
    is_row_start = tf.equal(tf.range(num_flat), tf.gather(row_char_start, char_row))
    starts = tf.logical_and(tf.logical_not(is_space), tf.logical_or(previous_space, is_row_start))
    num_words = tf.reduce_sum(tf.cast(starts, tf.int32))
    in_word = tf.logical_not(is_space)
    word_of_char = tf.boolean_mask(tf.cumsum(tf.cast(starts, tf.int32)) - 1, in_word)
    char_index = tf.boolean_mask(tf.range(num_flat), in_word)
    word_first_char = tf.math.unsorted_segment_min(char_index, word_of_char, num_words)
    word_end_char = tf.math.unsorted_segment_max(char_index, word_of_char, num_words) + 1
    word_delta = tf.math.unsorted_segment_sum(tf.boolean_mask(norm_chars - 1, in_word), word_of_char, num_words)
    word_row = tf.gather(char_row, word_first_char)
    word_byte_start = tf.gather(byte_start, word_first_char)
    word_byte_end = tf.gather(byte_end, word_end_char - 1)
    word_text = tf.strings.substr(tf.gather(text, word_row), word_byte_start, word_byte_end - word_byte_start)

    # Word pieces of every word, as `InGraphBertTokenizer.tokenize`, with byte offsets in the basic words.
    basic = tokenizer.basic_tokenize(word_text)  # [words, (basic words)]
    basic_bytes = tf.strings.length(basic.flat_values)
    too_long = tf.strings.length(basic.flat_values, unit="UTF8_CHAR") > MAX_INPUT_CHARS_PER_WORD
    basic = basic.with_flat_values(tf.where(too_long, tokenizer.unk_token, basic.flat_values))
    pieces, piece_starts, piece_limits = tokenizer._wordpiece.tokenize_with_offsets(basic)
    piece_basic = tf.cast(pieces.values.value_rowids(), tf.int32)
    piece_word = tf.cast(tf.gather(basic.value_rowids(), piece_basic), tf.int32)
    piece_too_long = tf.gather(too_long, piece_basic)
    piece_starts = tf.where(piece_too_long, 0, tf.cast(piece_starts.flat_values, tf.int32))
    piece_limits = tf.where(piece_too_long, tf.gather(basic_bytes, piece_basic),
                            tf.cast(piece_limits.flat_values, tf.int32))
    basic_start = tf.gather(_exclusive_cumsum(basic_bytes), piece_basic)
    # The characters holding a piece's first and last byte (characters normalized to nothing never do).
    sorted_ends = norm_end[tf.newaxis, :]
    char_start = tf.searchsorted(sorted_ends, (basic_start + piece_starts)[tf.newaxis, :], side="right")[0]
    char_end = tf.searchsorted(sorted_ends, (basic_start + piece_limits - 1)[tf.newaxis, :], side="right")[0] + 1

    num_pieces = tf.size(piece_word)
    word_first_piece = tf.math.unsorted_segment_min(tf.range(num_pieces), piece_word, num_words)
    word_has_piece = tf.math.unsorted_segment_max(tf.ones_like(piece_word), piece_word, num_words) > 0
    batch_size = tf.shape(text)[0]
    ids = tf.RaggedTensor.from_value_rowids(tf.cast(pieces.flat_values, tf.int32),
                                            tf.cast(tf.gather(word_row, piece_word), tf.int64),
                                            nrows=tf.cast(batch_size, tf.int64))
    return {"ids": ids, "piece_word": piece_word, "char_start": tf.cast(char_start, tf.int32),
            "char_end": tf.cast(char_end, tf.int32), "word_row": word_row, "word_first_char": word_first_char,
            "word_end_char": word_end_char, "word_delta": word_delta,
            "word_first_piece": tf.where(word_has_piece, word_first_piece, -1),
            "words_per_row": tf.math.unsorted_segment_sum(tf.ones_like(word_row), word_row, batch_size),
            "char_byte_start": byte_start, "char_byte_end": byte_end, "row_char_start": row_char_start}


def window_spans_in_graph(num_pieces: tf.Tensor, max_pieces: tf.Tensor, stride
                          ) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """The original's windows over each row's pieces: starts `k * min(stride, max_pieces)`, lengths
    `min(rest, max_pieces)`, until one reaches the last piece (one window for a row without pieces).

    Args:
      num_pieces, max_pieces: int32 [batch]; stride: int32 [batch] or a Python int.
    Returns:
      `(num_windows [batch], window_row [windows], window_k [windows], window_start [windows],
      window_length [windows])`, int32, windows in row order.
    """
    stride = tf.minimum(max_pieces, stride)
    num_windows = (tf.maximum(num_pieces - max_pieces, 0) + stride - 1) // stride + 1
    window_row = tf.repeat(tf.range(tf.size(num_pieces)), num_windows)
    window_k = tf.ragged.range(num_windows).flat_values
    window_start = window_k * tf.gather(stride, window_row)
    window_length = tf.minimum(tf.gather(num_pieces, window_row) - window_start, tf.gather(max_pieces, window_row))
    return num_windows, window_row, window_k, window_start, window_length


def max_context_windows_in_graph(piece_row: tf.Tensor, piece_index: tf.Tensor, num_pieces: tf.Tensor,
                                 max_pieces: tf.Tensor, stride, num_windows: tf.Tensor) -> tf.Tensor:
    """For every piece, the window (`k` within its row) where it has the most context.

    SQuAD's `_check_is_max_context`: score `min(left, right) + 0.01 * window length` in float64 (the
    original's Python floats); the first window wins ties.

    Args:
      piece_row, piece_index: int32 [pieces]: each piece's row and index within the row.
      num_pieces, max_pieces, stride, num_windows: per row, as for `window_spans_in_graph`.
    Returns:
      int32 [pieces].
    """
    stride = tf.minimum(max_pieces, stride)
    most = tf.reduce_max(tf.concat([[1], num_windows], 0))
    k = tf.range(most)[tf.newaxis, :]
    k_start = k * tf.gather(stride, piece_row)[:, tf.newaxis]
    k_length = tf.minimum(tf.gather(num_pieces, piece_row)[:, tf.newaxis] - k_start,
                          tf.gather(max_pieces, piece_row)[:, tf.newaxis])
    j = piece_index[:, tf.newaxis]
    contains = (j >= k_start) & (j < k_start + k_length) & (k < tf.gather(num_windows, piece_row)[:, tf.newaxis])
    score = (tf.cast(tf.minimum(j - k_start, k_start + k_length - 1 - j), tf.float64)
             + 0.01 * tf.cast(k_length, tf.float64))
    score = tf.where(contains, score, tf.constant(-1e30, tf.float64))
    best = tf.reduce_max(score, axis=1, keepdims=True)
    return tf.reduce_min(tf.where(tf.equal(score, best), k, most), axis=1)


def document_windows_in_graph(ids_a: tf.RaggedTensor, ids_b: Optional[tf.RaggedTensor], max_seq_length: int,
                              stride: Optional[int] = None) -> Tuple[tf.RaggedTensor, tf.RaggedTensor, tf.Tensor]:
    """`bert_tf.tokenization.packing.document_windows` for a batch of documents, with TF ops.

    Args:
      ids_a: int RaggedTensor [batch, (pieces)], the texts to window; ids_b: the same for the second texts,
        or None (rows without pieces: no second segment).
      max_seq_length: the packed length (Python int).
      stride: pieces between window starts (Python int), or None for half a window.
    Returns:
      `(window_a, window_b, window_row)`: int32 RaggedTensors [windows, (pieces)] that pack into
      `max_seq_length` without truncation, and int32 [windows], each window's row; rows in order, each at
      least one window.
    """
    ids_a = tf.cast(ids_a, tf.int32)
    length_a = tf.cast(ids_a.row_lengths(), tf.int32)
    if ids_b is None:
        ids_b = tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32), tf.zeros_like(length_a))
    ids_b = tf.cast(ids_b, tf.int32)
    length_b = tf.cast(ids_b.row_lengths(), tf.int32)
    room = tf.where(length_b > 0, max_seq_length - 3, max_seq_length - 2)
    fits = length_a + length_b <= room
    keep_b = tf.where(fits, length_b, tf.minimum(length_b, tf.maximum(room // 2, room - length_a)))
    # A document that fits is one window; an empty text_a one empty window (width 1 keeps the stride positive).
    width = tf.maximum(tf.where(fits, length_a, room - keep_b), 1)
    strides = tf.maximum(width // 2, 1) if stride is None else tf.fill(tf.shape(width), int(stride))
    _, window_row, _, window_start, window_length = window_spans_in_graph(length_a, width, strides)
    start_a = tf.gather(_exclusive_cumsum(length_a), window_row) + window_start
    window_a = tf.RaggedTensor.from_row_lengths(
        tf.gather(ids_a.flat_values, tf.ragged.range(start_a, start_a + window_length).flat_values), window_length)
    start_b = tf.gather(_exclusive_cumsum(length_b), window_row)
    window_length_b = tf.gather(keep_b, window_row)
    window_b = tf.RaggedTensor.from_row_lengths(
        tf.gather(ids_b.flat_values, tf.ragged.range(start_b, start_b + window_length_b).flat_values),
        window_length_b)
    return window_a, window_b, window_row
