"""NER features: words -> word pieces -> windows of at most `max_seq_length` -> TFRecords.

Every word gets exactly one prediction:

* the *first* word piece of a word carries its label; its other pieces, `[CLS]`, `[SEP]` and padding have
  label id -1 and are left out of the loss;
* a sentence longer than `max_seq_length - 2` pieces is cut into overlapping windows
  (`bert_tf.tokenization.packing.window_spans`, a stride of half a window by default), never truncated; each
  word is labeled in one window only, the one where its first piece has the most context on both sides
  (`max_context_window`, SQuAD's rule: `min(left, right) + 0.01 * window length`), and predicted from that
  window;
* a word that tokenizes to nothing (only control or zero-width characters) is in no window: it is tagged
  `O` without asking the model;
* with document context (`convert_file(..., documents=...)`, `run_ner.py --document_context`) the windows
  run over a whole document's word pieces, sentence after sentence with nothing between them, so that each
  word sees the sentences around it, as the raw-text export sees a paragraph (a document given as one
  sentence gets the same windows).

TFRecord layout (`tf.train.Example`, `record_layout`): `input_ids`, `input_mask`, `segment_ids` and
`label_ids`, int64 [max_seq_length] each (`segment_ids` all 0, `label_ids` -1 where no word starts).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from absl import logging

from bert_tf import files
from bert_tf.tasks.ner.examples import ConllFile
from bert_tf.tokenization.packing import window_spans

IGNORED_LABEL_ID = -1
SEQUENCE_FEATURES = ("input_ids", "input_mask", "segment_ids", "label_ids")
_CONTEXT_LENGTH_BONUS = 0.01


@dataclasses.dataclass
class WindowFeature:
    """One model input: `[CLS]` + a window of a sentence's (or document's) word pieces + `[SEP]`, not padded.

    Attributes:
      sentence_index: the (first) sentence of the window in its `ConllFile`.
      input_ids: word-piece ids, `[CLS]` first and `[SEP]` last (at most `max_seq_length`).
      positions: where in `input_ids` the words labeled by this window start (their first pieces).
      word_indices: the word (index in its sentence) starting at each of `positions`.
      label_ids: each of those words' gold label id (0 when the file has no tags).
      sentence_indices: the sentence of each of `positions` (empty: all `sentence_index`).
    """

    sentence_index: int
    input_ids: List[int]
    positions: List[int]
    word_indices: List[int]
    label_ids: List[int]
    sentence_indices: List[int] = dataclasses.field(default_factory=list)

    def labelled_words(self) -> Iterator[Tuple[int, int, int]]:
        """`(position, sentence index, word index)` of each word this window labels."""
        sentences = self.sentence_indices or [self.sentence_index] * len(self.positions)
        return zip(self.positions, sentences, self.word_indices)

    def padded_label_ids(self, max_seq_length: int) -> List[int]:
        """`label_ids` at `positions`, -1 elsewhere: `max_seq_length` ints."""
        padded = [IGNORED_LABEL_ID] * max_seq_length
        for position, label_id in zip(self.positions, self.label_ids):
            padded[position] = label_id
        return padded


@dataclasses.dataclass
class NerFeatures:
    """The features of one file.

    Attributes:
      windows: the model inputs, in sentence order (a sentence's windows left to right).
      num_sentences: the file's sentence count.
      num_words: its word count.
      num_empty_words: words without any word piece (tagged `O`).
      num_split_sentences: sentences (documents, with document context) that needed more than one window.
    """

    windows: List[WindowFeature]
    num_sentences: int
    num_words: int
    num_empty_words: int
    num_split_sentences: int


def max_context_window(spans: Sequence[Tuple[int, int]], position: int) -> int:
    """The index of the span where `position` has the most context (SQuAD's `_check_is_max_context`).

    Score: `min(pieces to the left, pieces to the right) + 0.01 * span length`; the first best span wins.
    """
    best_index, best_score = -1, None
    for index, (start, length) in enumerate(spans):
        if not start <= position < start + length:
            continue
        score = min(position - start, start + length - 1 - position) + _CONTEXT_LENGTH_BONUS * length
        if best_score is None or score > best_score:
            best_index, best_score = index, score
    if best_index < 0:
        raise ValueError(f"position {position} is in no span")
    return best_index


def word_pieces(tokenizer, words: Sequence[str]) -> Tuple[List[int], List[Optional[int]]]:
    """Word-piece ids of a sentence and, per word, the index of its first piece (None: no piece).

    Args:
      tokenizer: a `bert_tf.tokenization.FullTokenizer`.
      words: the sentence's words.

    Returns:
      (piece ids, first-piece index per word).
    """
    vocab = tokenizer.vocab
    piece_ids: List[int] = []
    first_pieces: List[Optional[int]] = []
    for word in words:
        pieces = tokenizer.tokenize(word)
        first_pieces.append(len(piece_ids) if pieces else None)
        piece_ids.extend(vocab[piece] for piece in pieces)
    return piece_ids, first_pieces


def sentence_windows(sentence_index: int, words: Sequence[str], label_ids: Optional[Sequence[int]], tokenizer,
                     max_seq_length: int, stride: Optional[int] = None) -> Tuple[List[WindowFeature], int]:
    """The windows of one sentence; returns (windows, number of words without pieces).

    Args:
      sentence_index: stored in each window.
      words: the sentence.
      label_ids: one label id per word, or None (untagged: 0).
      tokenizer: a `FullTokenizer` (with `[CLS]` and `[SEP]` in its vocabulary).
      max_seq_length: the longest input, `[CLS]` and `[SEP]` included (>= 3).
      stride: pieces between window starts (default: half of `max_seq_length - 2`).
    """
    return document_windows([sentence_index], [words], [label_ids], tokenizer, max_seq_length, stride)


def document_windows(sentence_indices: Sequence[int], sentences: Sequence[Sequence[str]],
                     label_ids: Sequence[Optional[Sequence[int]]], tokenizer, max_seq_length: int,
                     stride: Optional[int] = None) -> Tuple[List[WindowFeature], int]:
    """The windows over the word pieces of consecutive sentences (a document), one after the other; each
    word is labeled in the window where it has the most context. Returns (windows, words without pieces).

    Args:
      sentence_indices: each sentence's index in its file.
      sentences: their words.
      label_ids: per sentence, one label id per word, or None (untagged: 0).
      tokenizer, max_seq_length, stride: see `sentence_windows`.
    """
    max_pieces = max_seq_length - 2
    stride = stride or max(1, max_pieces // 2)
    piece_ids: List[int] = []
    words = []  # (first piece in the document, sentence index, word index, label id)
    empty = 0
    for sentence_index, sentence, sentence_labels in zip(sentence_indices, sentences, label_ids):
        sentence_pieces, first_pieces = word_pieces(tokenizer, sentence)
        for word_index, first_piece in enumerate(first_pieces):
            if first_piece is None:
                empty += 1
                continue
            words.append((len(piece_ids) + first_piece, sentence_index, word_index,
                          sentence_labels[word_index] if sentence_labels is not None else 0))
        piece_ids.extend(sentence_pieces)
    spans = window_spans(len(piece_ids), max_pieces, stride)
    windows = [WindowFeature(sentence_indices[0], [tokenizer.vocab["[CLS]"]] + piece_ids[start:start + length]
                             + [tokenizer.vocab["[SEP]"]], [], [], []) for start, length in spans]
    for first_piece, sentence_index, word_index, label_id in words:
        window_index = max_context_window(spans, first_piece) if len(spans) > 1 else 0
        window = windows[window_index]
        window.positions.append(first_piece - spans[window_index][0] + 1)
        window.sentence_indices.append(sentence_index)
        window.word_indices.append(word_index)
        window.label_ids.append(label_id)
    kept = [window for window in windows if window.positions]
    for window in kept:
        window.sentence_index = window.sentence_indices[0]
    return kept, empty


def convert_file(conll: ConllFile, label_list: Sequence[str], tokenizer, max_seq_length: int,
                 stride: Optional[int] = None, documents: Optional[Sequence[Sequence[int]]] = None) -> NerFeatures:
    """All windows of a CoNLL file (see `sentence_windows`), in order.

    Args:
      conll: the parsed file (its IOB2 `labels` must all be in `label_list`; see `examples.check_labels`).
      label_list: the labels in id order.
      tokenizer, max_seq_length, stride: see `sentence_windows`.
      documents: document context: the sentence indexes of each document (`examples.documents`), whose
        windows run over the whole document (`document_windows`); None: windows per sentence.
    """
    label_map: Dict[str, int] = {label: index for index, label in enumerate(label_list)}
    windows: List[WindowFeature] = []
    num_empty = num_split = 0
    groups = documents if documents is not None else [[index] for index in range(len(conll.sentences))]
    for group in groups:
        sentences = [conll.sentences[index] for index in group]
        label_ids = [[label_map[label] for label in sentence.labels] if sentence.labels is not None else None
                     for sentence in sentences]
        group_windows, empty = document_windows(group, [sentence.words for sentence in sentences], label_ids,
                                                tokenizer, max_seq_length, stride)
        windows.extend(group_windows)
        num_empty += empty
        num_split += len(group_windows) > 1
    if num_split:
        what = "documents" if documents is not None else "sentences"
        logging.info("%s: %d %s longer than %d word pieces were split into overlapping windows",
                     conll.path, num_split, what, max_seq_length - 2)
    if num_empty:
        logging.info("%s: %d words have no word piece (control or zero-width characters): tagged O",
                     conll.path, num_empty)
    return NerFeatures(windows, len(conll.sentences), conll.num_words, num_empty, num_split)


# ------------------------------------------------------------------------------------------------ TFRecords
class _Serializer:
    """Fills one reused `tf.train.Example` per window (faster than a new message each time)."""

    def __init__(self, max_seq_length: int):
        import tensorflow as tf

        self.max_seq_length = max_seq_length
        self.example = tf.train.Example()
        feature_map = self.example.features.feature
        self.values = {name: feature_map[name].int64_list.value for name in SEQUENCE_FEATURES}

    def serialize(self, window: Optional[WindowFeature]) -> bytes:
        """A window's padded record; None: an all-padding record (label ids -1)."""
        length = len(window.input_ids) if window is not None else 0
        padding = [0] * (self.max_seq_length - length)
        self.values["input_ids"][:] = (window.input_ids if window is not None else []) + padding
        self.values["input_mask"][:] = [1] * length + padding
        self.values["segment_ids"][:] = [0] * self.max_seq_length
        self.values["label_ids"][:] = (window.padded_label_ids(self.max_seq_length) if window is not None
                                       else [IGNORED_LABEL_ID] * self.max_seq_length)
        return self.example.SerializeToString(deterministic=True)


def serialize_windows(windows: Iterable[WindowFeature], max_seq_length: int,
                      num_padding: int = 0) -> Iterator[bytes]:
    """Serialized records of `windows`, then `num_padding` all-padding records (whole batches on TPUs)."""
    serializer = _Serializer(max_seq_length)
    for window in windows:
        if len(window.input_ids) > max_seq_length:
            raise ValueError(f"a window has {len(window.input_ids)} ids, more than max_seq_length {max_seq_length}")
        yield serializer.serialize(window)
    for _ in range(num_padding):
        yield serializer.serialize(None)


def write_windows(windows: Sequence[WindowFeature], path: str, max_seq_length: int, num_padding: int = 0) -> int:
    """Writes the windows' records (see the module docstring) to `path` atomically; returns the record count."""
    return files.write_tfrecord(serialize_windows(windows, max_seq_length, num_padding), os.fspath(path))


def record_layout(max_seq_length: int, with_labels: bool):
    """How the records are batched (`bert_tf.training.datasets`): `input_ids`, `input_mask`, `segment_ids`
    int32 [B, L] and, `with_labels`, `label_ids` int32 [B, L] (-1: not a word's first piece) as the labels,
    cut with the batch."""
    import tensorflow as tf

    from bert_tf.training.datasets import RecordLayout

    names = SEQUENCE_FEATURES if with_labels else SEQUENCE_FEATURES[:3]
    spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in names}
    return RecordLayout(spec, max_seq_length, sequence_keys=names,
                        label_keys=("label_ids",) if with_labels else ())
