"""Sequence-classification features: examples -> padded ids -> TFRecords, and their `record_layout`.

Matches the original `run_classifier.py`: `[CLS] A [SEP] (B [SEP])` packing (`bert_tf.tokenization.packing`),
TFRecord feature names and types::

    input_ids, input_mask, segment_ids   int64 [max_seq_length]
    label_ids                            int64 [1]  (float [1] for regression tasks)
    is_real_example                      int64 [1]

so files written by the original can be read here and the other way round.
"""
import dataclasses
import os
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Union

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.files import write_tfrecord
from bert_tf.tokenization import packing
from bert_tf.training.datasets import RecordLayout

FEATURE_NAMES = ("input_ids", "input_mask", "segment_ids", "label_ids", "is_real_example")
_SEQUENCE_FEATURE_NAMES = ("input_ids", "input_mask", "segment_ids")

LabelId = Union[int, float, List[float]]


@dataclasses.dataclass
class InputFeatures:
    """Padded model inputs of one example.

    Attributes:
      input_ids: word-piece ids, `max_seq_length` Python ints, 0-padded.
      input_mask: 1 for real tokens, 0 for padding (`max_seq_length` ints).
      segment_ids: 0 for `[CLS] A [SEP]`, 1 for `B [SEP]`, 0 for padding (`max_seq_length` ints).
      label_id: class index (int), the score (float) for regression tasks, or for multi-label tasks one
        float per label, 1.0 for each of the example's labels (multi-hot).
      is_real_example: False for the all-zero padding features made from `PaddingInputExample`.
      window_weight: a long document's window: its weight in the training loss (written as `window_weight`
        float [1]; see `bert_tf.tasks.classification.windows`); None: not a window (not written).
    """

    input_ids: List[int]
    input_mask: List[int]
    segment_ids: List[int]
    label_id: LabelId
    is_real_example: bool = True
    window_weight: Optional[float] = None


class PaddingInputExample:
    """Marker example that becomes all-zero features with `is_real_example=False`.

    Lets evaluation/prediction sets be padded to a multiple of the batch size (needed with
    `drop_remainder=True`) while metrics weight these examples by 0.
    """


def _padding_features(max_seq_length: int, is_regression: bool, num_multi_labels: int = 0) -> InputFeatures:
    zeros = [0] * max_seq_length
    label_id = [0.0] * num_multi_labels if num_multi_labels else 0.0 if is_regression else 0
    return InputFeatures(input_ids=list(zeros), input_mask=list(zeros), segment_ids=list(zeros),
                         label_id=label_id, is_real_example=False)


def label_id_of(example, label_map: Dict, is_regression: bool, multi_label: bool = False) -> LabelId:
    """An example's `label_id` (see `InputFeatures`); ValueError naming the guid for a label not in `label_map`
    (or not a number for regression)."""
    if multi_label:
        unknown = [label for label in example.label if label not in label_map]
        if unknown:
            raise ValueError(f"example {example.guid!r}: label {unknown[0]!r} is not in the label list "
                             f"{list(label_map)}")
        return [1.0 if label in example.label else 0.0 for label in label_map]
    if is_regression:
        try:
            return float(example.label)
        except (TypeError, ValueError):
            raise ValueError(
                f"example {example.guid!r}: regression label {example.label!r} is not a number") from None
    try:
        return label_map[example.label]
    except (KeyError, TypeError):
        raise ValueError(f"example {example.guid!r}: label {example.label!r} is not in the label list "
                         f"{list(label_map)}") from None


def convert_single_example(example, label_map: Dict, max_seq_length: int, tokenizer,
                           is_regression: bool = False, multi_label: bool = False) -> InputFeatures:
    """One `InputExample` (or `PaddingInputExample`) -> `InputFeatures`.

    Args:
      example: has `guid`, `text_a`, `text_b` (None or "" for single-sentence tasks) and `label`.
      label_map: `{label: class index}` (unused for regression).
      max_seq_length: padded length of the three id lists.
      tokenizer: a `bert_tf.tokenization.FullTokenizer`.
      is_regression: labels are floats used as they are.
      multi_label: each label is a collection of labels (multi-hot `label_id`).
    Raises:
      ValueError: the label is not in `label_map` (or not a number for regression), naming the guid.
    """
    if isinstance(example, PaddingInputExample):
        return _padding_features(max_seq_length, is_regression, len(label_map) if multi_label else 0)
    label_id = label_id_of(example, label_map, is_regression, multi_label)
    packed = packing.encode_text_pair(tokenizer, example.text_a, example.text_b, max_seq_length)
    return InputFeatures(input_ids=packed.input_ids, input_mask=packed.input_mask,
                         segment_ids=packed.segment_ids, label_id=label_id, is_real_example=True)


def iter_features(examples: Iterable, label_list: Sequence, max_seq_length: int, tokenizer,
                  is_regression: bool = False, multi_label: bool = False) -> Iterator[InputFeatures]:
    """Lazily converts `examples` (see `convert_examples_to_features`)."""
    label_map = {} if is_regression else {label: index for index, label in enumerate(label_list)}
    for example_index, example in enumerate(examples):
        if example_index and example_index % 10000 == 0:
            logging.info("Converted %d examples to features", example_index)
        yield convert_single_example(example, label_map, max_seq_length, tokenizer, is_regression, multi_label)


def convert_examples_to_features(examples: Iterable, label_list: Sequence, max_seq_length: int,
                                 tokenizer, is_regression: bool = False) -> List[InputFeatures]:
    """Tokenizes, packs and pads `examples` like the original `convert_examples_to_features`.

    Args:
      examples: `glue.InputExample` objects (`PaddingInputExample` allowed).
      label_list: the task's labels; a label's position is its `label_id` (ignored for regression).
      max_seq_length: padded length; pairs are truncated to `max_seq_length - 3` word pieces, single
        sentences to `max_seq_length - 2`.
      tokenizer: a `bert_tf.tokenization.FullTokenizer`.
      is_regression: `label_id` is `float(example.label)`.
    Returns:
      One `InputFeatures` per example, in order.
    """
    return list(iter_features(examples, label_list, max_seq_length, tokenizer, is_regression))


# ---------------------------------------------------------------------------------------------------
# TFRecord writing.
# ---------------------------------------------------------------------------------------------------

class _ExampleSerializer:
    """Serializes `InputFeatures` through one reused `tf.train.Example` message.

    Refilling the same message is about 3x faster than building a new `tf.train.Example` per record,
    and `deterministic=True` (map keys sorted) makes the output bytes reproducible across runs.
    """

    def __init__(self, is_regression: bool):
        self.is_regression = is_regression
        self._example = tf.train.Example()
        feature_map = self._example.features.feature
        self._input_ids = feature_map["input_ids"].int64_list.value
        self._input_mask = feature_map["input_mask"].int64_list.value
        self._segment_ids = feature_map["segment_ids"].int64_list.value
        if is_regression:
            self._label_ids = feature_map["label_ids"].float_list.value
        else:
            self._label_ids = feature_map["label_ids"].int64_list.value
        self._is_real_example = feature_map["is_real_example"].int64_list.value
        self._window_weight = None

    def serialize(self, features: InputFeatures) -> bytes:
        self._input_ids[:] = features.input_ids
        self._input_mask[:] = features.input_mask
        self._segment_ids[:] = features.segment_ids
        label_id = features.label_id
        if isinstance(label_id, (list, tuple)):
            self._label_ids[:] = [float(value) for value in label_id]
        else:
            self._label_ids[:] = [float(label_id) if self.is_regression else int(label_id)]
        self._is_real_example[:] = [int(bool(features.is_real_example))]
        if features.window_weight is not None:
            if self._window_weight is None:
                self._window_weight = self._example.features.feature["window_weight"].float_list.value
            self._window_weight[:] = [float(features.window_weight)]
        return self._example.SerializeToString(deterministic=True)


def _is_float_label(label_id) -> bool:
    return isinstance(label_id, (float, np.floating, list, tuple))


def _check_lengths(features: InputFeatures, index: int, seq_length: int) -> None:
    for name in _SEQUENCE_FEATURE_NAMES:
        length = len(getattr(features, name))
        if length != seq_length:
            raise ValueError(f"features[{index}].{name} has length {length}, expected {seq_length} "
                             f"like features[0]")


def serialize_features(features: Iterable[InputFeatures], is_regression: Optional[bool] = None) -> Iterator[bytes]:
    """Yields serialized `tf.train.Example` protos (`FEATURE_NAMES`, original types) for `features`.

    Args:
      features: `InputFeatures` all of one sequence length.
      is_regression: write `label_ids` as a float list; None infers it from the first `label_id`
        (a float means regression).
    Raises:
      ValueError: a feature's sequences differ in length from the first feature's (naming the index).
    """
    serializer = None
    seq_length = None
    for index, feature in enumerate(features):
        if serializer is None:
            seq_length = len(feature.input_ids)
            serializer = _ExampleSerializer(
                _is_float_label(feature.label_id) if is_regression is None else is_regression)
        _check_lengths(feature, index, seq_length)
        yield serializer.serialize(feature)


def write_features_tfrecord(features: Iterable[InputFeatures], path: str,
                            is_regression: Optional[bool] = None) -> int:
    """Writes `features` as a TFRecord file of `tf.train.Example` (`FEATURE_NAMES`).

    The file is written through a temporary name and renamed to `path` when complete.

    Args:
      features: `InputFeatures`, all with the same sequence length (an iterator is consumed lazily,
        so a generator such as `iter_features(...)` keeps memory flat).
      path: output file (local or any `tf.io.gfile` file system).
      is_regression: write `label_ids` as floats; None infers it from the first `label_id` type.
    Returns:
      The number of records written.
    Raises:
      ValueError: features of different lengths (naming the index).
    """
    return write_tfrecord(serialize_features(features, is_regression), os.fspath(path))


def file_based_convert_examples_to_features(examples: Iterable, label_list: Sequence, max_seq_length: int,
                                            tokenizer, output_file: str, is_regression: bool = False,
                                            multi_label: bool = False) -> int:
    """Converts `examples` and writes them to `output_file` (streaming); returns the record count."""
    return write_features_tfrecord(
        iter_features(examples, label_list, max_seq_length, tokenizer, is_regression, multi_label),
        output_file, is_regression=is_regression or multi_label)


def feature_spec(max_seq_length: int, is_regression: bool = False, num_multi_labels: int = 0,
                 window_weights: bool = False) -> Dict[str, tf.io.FixedLenFeature]:
    """`tf.io.parse_example` spec of the classifier records.

    `input_ids`/`input_mask`/`segment_ids`: int64 [max_seq_length]; `label_ids`: int64 [] (float32
    for regression; float32 [num_multi_labels] for a multi-label task); `is_real_example`: int64 [] (default
    1, for files written before it existed); with `window_weights`, `window_weight`: float32 [] (default 1).
    """
    spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in _SEQUENCE_FEATURE_NAMES}
    if num_multi_labels:
        spec["label_ids"] = tf.io.FixedLenFeature([num_multi_labels], tf.float32)
    else:
        spec["label_ids"] = tf.io.FixedLenFeature([], tf.float32 if is_regression else tf.int64)
    spec["is_real_example"] = tf.io.FixedLenFeature([], tf.int64, default_value=1)
    if window_weights:
        spec["window_weight"] = tf.io.FixedLenFeature([], tf.float32, default_value=1.0)
    return spec


def record_layout(max_seq_length: int, is_regression: bool = False, num_multi_labels: int = 0,
                  window_weights: bool = False) -> RecordLayout:
    """How the records are batched (`bert_tf.training.datasets`): `(features, labels)` with `input_ids`,
    `input_mask`, `segment_ids` int32 [B, L], `is_real_example` float32 [B]; labels int32 [B] (float32
    for regression; float32 [B, num_multi_labels] multi-hot for a multi-label task)."""
    return RecordLayout(feature_spec(max_seq_length, is_regression, num_multi_labels, window_weights), max_seq_length,
                        label_keys=("label_ids",),
                        dtypes={"is_real_example": tf.float32})
