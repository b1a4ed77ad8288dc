"""SQuAD examples -> model windows ("features") -> TFRecords, as the original `convert_examples_to_features`.

A question becomes `[CLS] query [SEP] context window [SEP]`: the query is truncated to `max_query_length`
word pieces; the context's word pieces are cut into windows of `max_seq_length - len(query) - 3` tokens
whose starts are `doc_stride` tokens apart (the last window ends at the context's end). Each window
records which of its tokens have their "max context" there (`check_is_max_context`) and maps its tokens
back to the context's words. Windows are numbered (`unique_id`) from 1000000000 in order.

Training windows carry the answer's token positions in the window, or 0/0 (`[CLS]`) when the answer is
not inside the window or the question is impossible (SQuAD 2.0).

TFRecord layout (the original `FeatureWriter`'s, so files interchange): `unique_ids` int64 [1],
`input_ids`, `input_mask`, `segment_ids` int64 [max_seq_length]; training files add `start_positions`,
`end_positions`, `is_impossible` int64 [1].
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import tensorflow as tf
from absl import logging

from bert_tf import files
from bert_tf.tasks.squad.examples import SquadExample
from bert_tf.training.datasets import RecordLayout

FIRST_UNIQUE_ID = 1000000000
SEQUENCE_FEATURES = ("input_ids", "input_mask", "segment_ids")
TRAINING_FEATURES = ("start_positions", "end_positions", "is_impossible")


class DocSpan(NamedTuple):
    """A window of the context's word pieces: `length` tokens from `start`."""

    start: int
    length: int


@dataclasses.dataclass
class SquadFeatures:
    """One window of one example (the original `InputFeatures`).

    Attributes:
      unique_id: the window's number (from 1000000000, in order).
      example_index: the example's index in the list converted.
      doc_span_index: the window's index among its example's windows.
      tokens: `[CLS] query [SEP] window [SEP]` word pieces (unpadded).
      token_to_orig_map: position in `tokens` -> index of the context word it comes from (window only).
      token_is_max_context: position in `tokens` -> whether this window is the token's max-context one.
      input_ids, input_mask, segment_ids: `max_seq_length` ints each, 0-padded.
      start_position, end_position: the answer's positions in `tokens` (training; 0 when not in the
        window or impossible); None when predicting.
      is_impossible: the example is an unanswerable training question.
    """

    unique_id: int
    example_index: int
    doc_span_index: int
    tokens: List[str]
    token_to_orig_map: Dict[int, int]
    token_is_max_context: Dict[int, bool]
    input_ids: List[int]
    input_mask: List[int]
    segment_ids: List[int]
    start_position: Optional[int] = None
    end_position: Optional[int] = None
    is_impossible: bool = False


def doc_spans_for(num_tokens: int, max_tokens_for_doc: int, doc_stride: int) -> List[DocSpan]:
    """The original sliding windows over `num_tokens` context tokens.

    Windows hold up to `max_tokens_for_doc` tokens; each starts `min(length, doc_stride)` after the previous
    one; the last one ends at the last token. Every token is in at least one window.
    """
    spans: List[DocSpan] = []
    start = 0
    while start < num_tokens:
        length = min(num_tokens - start, max_tokens_for_doc)
        spans.append(DocSpan(start, length))
        if start + length == num_tokens:
            break
        start += min(length, doc_stride)
    return spans


def check_is_max_context(doc_spans: Sequence[DocSpan], cur_span_index: int, position: int) -> bool:
    """Whether window `cur_span_index` gives token `position` its most context (the original's rule).

    A window's score for a token is `min(left context, right context) + 0.01 * window length`; the first
    window with the highest score wins.
    """
    best_score, best_span_index = None, None
    for span_index, span in enumerate(doc_spans):
        end = span.start + span.length - 1
        if position < span.start or position > end:
            continue
        score = min(position - span.start, end - position) + 0.01 * span.length
        if best_score is None or score > best_score:
            best_score, best_span_index = score, span_index
    return cur_span_index == best_span_index


def improve_answer_span(doc_tokens: Sequence[str], input_start: int, input_end: int, tokenizer,
                        orig_answer_text: str) -> Tuple[int, int]:
    """The tightest token span inside `[input_start, input_end]` whose text is the tokenized answer.

    Word-level spans can hold more than the answer ("(1895-1943)." for "1895"); after WordPiece the
    answer's own tokens can often be found. Returns the original span when they cannot.
    """
    answer_text = " ".join(tokenizer.tokenize(orig_answer_text))
    for new_start in range(input_start, input_end + 1):
        for new_end in range(input_end, new_start - 1, -1):
            if " ".join(doc_tokens[new_start:new_end + 1]) == answer_text:
                return new_start, new_end
    return input_start, input_end


def _word_pieces(example: SquadExample, tokenizer) -> Tuple[List[str], List[int], List[int]]:
    """(all word pieces, piece -> word index, word -> first piece index) of the example's context."""
    all_doc_tokens: List[str] = []
    tok_to_orig_index: List[int] = []
    orig_to_tok_index: List[int] = []
    for word_index, word in enumerate(example.doc_tokens):
        orig_to_tok_index.append(len(all_doc_tokens))
        for piece in tokenizer.tokenize(word):
            tok_to_orig_index.append(word_index)
            all_doc_tokens.append(piece)
    return all_doc_tokens, tok_to_orig_index, orig_to_tok_index


def _answer_token_span(example: SquadExample, tokenizer, all_doc_tokens, orig_to_tok_index) -> Tuple[int, int]:
    if example.is_impossible:
        return -1, -1
    start = orig_to_tok_index[example.start_position]
    if example.end_position < len(example.doc_tokens) - 1:
        end = orig_to_tok_index[example.end_position + 1] - 1
    else:
        end = len(all_doc_tokens) - 1
    return improve_answer_span(all_doc_tokens, start, end, tokenizer, example.orig_answer_text)


def convert_examples_to_features(examples: Iterable[SquadExample], tokenizer, max_seq_length: int,
                                 doc_stride: int, max_query_length: int,
                                 is_training: bool) -> Iterator[SquadFeatures]:
    """Yields the windows of every example, in order (see the module docstring).

    Args:
      examples: `SquadExample`s (with answers when `is_training`).
      tokenizer: a `bert_tf.tokenization.FullTokenizer`.
      max_seq_length: padded length S of the windows; must exceed `max_query_length + 3`.
      doc_stride: tokens between window starts.
      max_query_length: query word pieces kept.
      is_training: compute `start_position`/`end_position`.

    Returns:
      An iterator of `SquadFeatures`, `unique_id` counting from 1000000000.
    """
    unique_id = FIRST_UNIQUE_ID
    for example_index, example in enumerate(examples):
        query_tokens = tokenizer.tokenize(example.question_text)[:max_query_length]
        all_doc_tokens, tok_to_orig_index, orig_to_tok_index = _word_pieces(example, tokenizer)
        answer_span = (_answer_token_span(example, tokenizer, all_doc_tokens, orig_to_tok_index)
                       if is_training else None)
        max_tokens_for_doc = max_seq_length - len(query_tokens) - 3  # [CLS], [SEP], [SEP]
        doc_spans = doc_spans_for(len(all_doc_tokens), max_tokens_for_doc, doc_stride)
        query_ids = tokenizer.convert_tokens_to_ids(["[CLS]", *query_tokens, "[SEP]"])
        doc_offset = len(query_tokens) + 2
        for doc_span_index, span in enumerate(doc_spans):
            window = all_doc_tokens[span.start:span.start + span.length]
            tokens = ["[CLS]", *query_tokens, "[SEP]", *window, "[SEP]"]
            token_to_orig_map = {doc_offset + i: tok_to_orig_index[span.start + i] for i in range(span.length)}
            token_is_max_context = {doc_offset + i: check_is_max_context(doc_spans, doc_span_index, span.start + i)
                                    for i in range(span.length)}
            input_ids = query_ids + tokenizer.convert_tokens_to_ids(window + ["[SEP]"])
            num_padding = max_seq_length - len(input_ids)
            segment_ids = [0] * doc_offset + [1] * (span.length + 1) + [0] * num_padding
            input_mask = [1] * len(input_ids) + [0] * num_padding
            input_ids = input_ids + [0] * num_padding
            feature = SquadFeatures(unique_id, example_index, doc_span_index, tokens, token_to_orig_map,
                                    token_is_max_context, input_ids, input_mask, segment_ids,
                                    is_impossible=example.is_impossible if is_training else False)
            if is_training:
                feature.start_position, feature.end_position = _window_positions(
                    answer_span, span, doc_offset, example.is_impossible)
            if example_index < 3 and logging.vlog_is_on(1):
                logging.vlog(1, "unique_id %d (example %d, window %d): %s", unique_id, example_index,
                             doc_span_index, " ".join(tokens))
            yield feature
            unique_id += 1


def _window_positions(answer_span: Tuple[int, int], span: DocSpan, doc_offset: int,
                      is_impossible: bool) -> Tuple[int, int]:
    """The answer's (start, end) positions in a window's tokens; (0, 0) when outside or impossible."""
    start, end = answer_span
    if is_impossible or not (start >= span.start and end <= span.start + span.length - 1):
        return 0, 0
    return start - span.start + doc_offset, end - span.start + doc_offset


# --------------------------------------------------------------------------------------------- TFRecords
class _FeatureSerializer:
    """Serializes `SquadFeatures` through one reused `tf.train.Example` (deterministic bytes)."""

    def __init__(self, is_training: bool):
        self.is_training = is_training
        self._example = tf.train.Example()
        feature_map = self._example.features.feature
        names = ("unique_ids",) + SEQUENCE_FEATURES + (TRAINING_FEATURES if is_training else ())
        self._lists = {name: feature_map[name].int64_list.value for name in names}

    def serialize(self, feature: SquadFeatures) -> bytes:
        values = {"unique_ids": [feature.unique_id], "input_ids": feature.input_ids,
                  "input_mask": feature.input_mask, "segment_ids": feature.segment_ids}
        if self.is_training:
            values.update(start_positions=[feature.start_position], end_positions=[feature.end_position],
                          is_impossible=[int(bool(feature.is_impossible))])
        for name, value in values.items():
            self._lists[name][:] = value
        return self._example.SerializeToString(deterministic=True)


def padding_feature(max_seq_length: int) -> SquadFeatures:
    """An all-zero window (`unique_id` 0, which no question's window has): fills a last batch on TPUs."""
    zeros = [0] * max_seq_length
    return SquadFeatures(unique_id=0, example_index=-1, doc_span_index=0, tokens=[], token_to_orig_map={},
                         token_is_max_context={}, input_ids=zeros, input_mask=zeros, segment_ids=zeros)


def write_features(features: Iterable[SquadFeatures], path: str, is_training: bool) -> int:
    """Writes `features` to a TFRecord file (through a temporary name); returns the record count."""
    serializer = _FeatureSerializer(is_training)
    return files.write_tfrecord((serializer.serialize(feature) for feature in features), path)


def feature_spec(max_seq_length: int, is_training: bool) -> Dict[str, tf.io.FixedLenFeature]:
    """`tf.io.parse_example` spec: `unique_ids` int64 [], the sequences int64 [max_seq_length], and for
    training `start_positions`, `end_positions`, `is_impossible` int64 []."""
    spec = {"unique_ids": tf.io.FixedLenFeature([], tf.int64)}
    spec.update({name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in SEQUENCE_FEATURES})
    if is_training:
        spec.update({name: tf.io.FixedLenFeature([], tf.int64, default_value=0) for name in TRAINING_FEATURES})
    return spec


def record_layout(max_seq_length: int, is_training: bool) -> RecordLayout:
    """How the records are batched (`bert_tf.training.datasets`): features `input_ids`, `input_mask`,
    `segment_ids` int32 [B, L] and `unique_ids` int64 [B]; for training, labels `start_positions`,
    `end_positions` int32 [B]."""
    labels = ("start_positions", "end_positions") if is_training else ()
    spec = feature_spec(max_seq_length, is_training)
    if is_training:
        del spec["is_impossible"]  # written for the original's layout; the loss does not read it
    return RecordLayout(spec, max_seq_length, label_keys=labels, dtypes={"unique_ids": tf.int64})
