"""Packing one or two token sequences into a fixed-length BERT input (`run_classifier.py` layout).

Layout: `[CLS] A [SEP]` for a single segment, `[CLS] A [SEP] B [SEP]` for a pair; `segment_ids`
are 0 for `[CLS] A [SEP]` and 1 for `B [SEP]`; `input_mask` is 1 on real tokens. A pair is
truncated to `max_seq_length - 3` tokens by repeatedly popping the last token of the longer list
(ties pop from B); a single segment is cut to `max_seq_length - 2`. Padding is 0 in all three arrays.

As in the original, an empty (or `None`) `tokens_b` means "no second segment": no second `[SEP]`.
"""
from typing import List, NamedTuple, Optional, Sequence, Tuple

__all__ = [
    "CLS_TOKEN",
    "SEP_TOKEN",
    "PackedInput",
    "PackedFeatures",
    "truncated_pair_lengths",
    "truncate_seq_pair",
    "pack_tokens",
    "packed_input_to_features",
    "encode_text_pair",
    "window_spans",
    "document_windows",
]

CLS_TOKEN = "[CLS]"
SEP_TOKEN = "[SEP]"


class PackedInput(NamedTuple):
    """A packed, unpadded example (all three lists have the same length <= max_seq_length).

    tokens: `[CLS] A [SEP] (B [SEP])` token strings.
    segment_ids: 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`.
    input_mask: all 1 (one per real token).
    """
    tokens: List[str]
    segment_ids: List[int]
    input_mask: List[int]


class PackedFeatures(NamedTuple):
    """Padded model inputs, each a list of `max_seq_length` Python ints (int32 range)."""
    input_ids: List[int]
    input_mask: List[int]
    segment_ids: List[int]


def truncated_pair_lengths(length_a: int, length_b: int, max_num_tokens: int) -> Tuple[int, int]:
    """Lengths `truncate_seq_pair` leaves, in closed form (no loop).

    Popping from the longer list (ties from B) until `length_a + length_b <= max_num_tokens` gives:
    only the longer list shrinks while the length difference absorbs the excess; otherwise both end
    balanced with A keeping `ceil(max/2)` and B `floor(max/2)`.
    """
    if max_num_tokens < 0:
        raise ValueError(f"max_num_tokens must be >= 0, got {max_num_tokens}")
    excess = length_a + length_b - max_num_tokens
    if excess <= 0:
        return length_a, length_b
    if length_a - length_b >= excess:
        return length_a - excess, length_b
    if length_b - length_a >= excess:
        return length_a, length_b - excess
    return (max_num_tokens + 1) // 2, max_num_tokens // 2


def truncate_seq_pair(tokens_a: list, tokens_b: list, max_num_tokens: int) -> None:
    """Truncates `tokens_a`/`tokens_b` IN PLACE to at most `max_num_tokens` tokens in total.

    Same result as the original loop that pops the last token of the longer list (of B on a tie);
    always truncating the longer one keeps roughly the same share of each segment.
    """
    new_length_a, new_length_b = truncated_pair_lengths(len(tokens_a), len(tokens_b), max_num_tokens)
    del tokens_a[new_length_a:]
    del tokens_b[new_length_b:]


def pack_tokens(tokens_a: Sequence[str], tokens_b: Optional[Sequence[str]],
                max_seq_length: int) -> PackedInput:
    """Builds `[CLS] A [SEP] (B [SEP])` with truncation; the inputs are not modified.

    Args:
      tokens_a: word pieces of the first segment.
      tokens_b: word pieces of the second segment, or `None`/empty for a single segment.
      max_seq_length: the packed length limit (>= 3 for pairs, >= 2 for single segments).
    Returns:
      `PackedInput` with `len(tokens) <= max_seq_length` (unpadded).
    """
    tokens_a = list(tokens_a)
    tokens_b = list(tokens_b) if tokens_b else []
    if tokens_b:
        if max_seq_length < 3:
            raise ValueError(f"max_seq_length must be >= 3 for a segment pair, got {max_seq_length}")
        truncate_seq_pair(tokens_a, tokens_b, max_seq_length - 3)
    else:
        if max_seq_length < 2:
            raise ValueError(f"max_seq_length must be >= 2, got {max_seq_length}")
        del tokens_a[max_seq_length - 2:]

    tokens = [CLS_TOKEN] + tokens_a + [SEP_TOKEN]
    segment_ids = [0] * len(tokens)
    if tokens_b:
        tokens += tokens_b + [SEP_TOKEN]
        segment_ids += [1] * (len(tokens_b) + 1)
    return PackedInput(tokens=tokens, segment_ids=segment_ids, input_mask=[1] * len(tokens))


def packed_input_to_features(packed: PackedInput, tokenizer, max_seq_length: int) -> PackedFeatures:
    """Converts a `PackedInput` to ids with `tokenizer.convert_tokens_to_ids` and zero-pads.

    Args:
      packed: from `pack_tokens` (at most `max_seq_length` tokens).
      tokenizer: a `bert_tf.tokenization.FullTokenizer` (anything with `convert_tokens_to_ids`).
      max_seq_length: padded length.
    Raises:
      ValueError if `packed` is longer than `max_seq_length`; KeyError for a token not in the vocab.
    """
    length = len(packed.tokens)
    if length > max_seq_length:
        raise ValueError(f"packed input has {length} tokens, more than max_seq_length={max_seq_length}")
    padding = [0] * (max_seq_length - length)
    input_ids = list(tokenizer.convert_tokens_to_ids(packed.tokens)) + padding
    return PackedFeatures(input_ids=input_ids,
                          input_mask=list(packed.input_mask) + padding,
                          segment_ids=list(packed.segment_ids) + padding)


def encode_text_pair(tokenizer, text_a: str, text_b: Optional[str],
                     max_seq_length: int) -> PackedFeatures:
    """Tokenizes `text_a` (and `text_b` unless `None`/empty), packs and pads them.

    Equivalent to the original `run_classifier.convert_single_example` feature arrays.
    """
    tokens_a = tokenizer.tokenize(text_a)
    tokens_b = tokenizer.tokenize(text_b) if text_b else None
    packed = pack_tokens(tokens_a, tokens_b, max_seq_length)
    return packed_input_to_features(packed, tokenizer, max_seq_length)


def window_spans(num_pieces: int, max_pieces: int, stride: int) -> List[Tuple[int, int]]:
    """`(start, length)` windows of at most `max_pieces` covering `num_pieces` pieces, `stride` apart.

    Each window but the last starts `stride` pieces after the previous one; the last one ends at the last
    piece. No pieces: no window.
    """
    if max_pieces < 1 or stride < 1:
        raise ValueError(f"max_pieces and stride must be >= 1, got {max_pieces} and {stride}")
    spans: List[Tuple[int, int]] = []
    start = 0
    while start < num_pieces:
        length = min(max_pieces, num_pieces - start)
        spans.append((start, length))
        if start + length >= num_pieces:
            break
        start += min(stride, length)
    return spans


def document_windows(tokens_a: Sequence[str], tokens_b: Optional[Sequence[str]], max_seq_length: int,
                     stride: Optional[int] = None) -> List[Tuple[List[str], List[str]]]:
    """`(window of tokens_a, tokens_b)` pairs that pack into `max_seq_length` without losing any of A.

    A document (A, and B for a pair) that fits is one window, exactly what `pack_tokens` packs. A longer
    one keeps B whole if it takes at most half the room (else its first half-room of pieces, or more when A
    is short), and A is cut into windows of the rest of the room (`window_spans`), `stride` pieces apart
    (default: half a window). An empty A is one window.

    Args:
      tokens_a, tokens_b: word pieces; `tokens_b` None or empty for a single segment.
      max_seq_length: the packed length (>= 3 for a pair, >= 2 alone).
      stride: pieces between the starts of A's windows (>= 1), or None.
    Returns:
      One `(window_a, tokens_b)` per window, in order; `pack_tokens(window_a, tokens_b, max_seq_length)`
      truncates neither.
    """
    tokens_a, tokens_b = list(tokens_a), list(tokens_b or [])
    room = max_seq_length - (3 if tokens_b else 2)
    if room < 1:
        raise ValueError(f"max_seq_length {max_seq_length} leaves no room for a window")
    if len(tokens_a) + len(tokens_b) <= room:
        return [(tokens_a, tokens_b)]
    tokens_b = tokens_b[:max(room // 2, room - len(tokens_a))]
    if not tokens_a:
        return [([], tokens_b)]
    width = room - len(tokens_b)
    stride = max(1, width // 2) if stride is None else stride
    return [(tokens_a[start:start + length], tokens_b) for start, length in window_spans(len(tokens_a), width, stride)]
