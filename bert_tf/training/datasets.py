"""Task TFRecord files -> batched `tf.data` pipelines: one module for every fine-tuning task.

A task describes its records once, as a `RecordLayout` (the `tf.io.parse_example` spec, which features are
sequences, which are labels); everything else is shared:

* `training_dataset`: repeated, shuffled, batched; each batch cut to its longest example rounded up to a
  multiple of 8 (`bert_tf.training.batching.trim_to_longest`) unless `pad_to_max_length`; with
  `group_by_length`, batches of similar-length examples (`batching.group_windows_by_length`). Yields
  `(features, labels)`.
* `inference_dataset`: one pass in file order, each batch cut the same way. Yields `(features, labels)`
  when the layout has labels, else `features`.
* `check_records`: the first record of a file against the layout, with a message naming the file and
  the mismatch (a cached file of another layout is then written again; a user's file is refused).

Parsed features are int32 (from int64) unless the layout names another dtype (`unique_ids` stays int64,
a regression label float32).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, Mapping, Optional, Tuple, Union

import numpy as np
import tensorflow as tf

from bert_tf.training import batching

Element = Union[Dict[str, tf.Tensor], Tuple[Dict[str, tf.Tensor], object]]


@dataclasses.dataclass(frozen=True)
class RecordLayout:
    """How a task's TFRecords are parsed and batched.

    Attributes:
      spec: feature name -> `tf.io.FixedLenFeature` (sequences [max_seq_length], or [C, max_seq_length]
        for an example of C sequences).
      max_seq_length: the length the sequences were written with (named in error messages).
      sequence_keys: the features cut to each batch's longest example (their last axis).
      label_keys: the features returned as labels: one key gives the tensor itself, several a dict.
      dtypes: the dtype of a parsed feature where it is not the default (int64 -> int32; floats stay
        float32).
      mask_key: the feature that is 1 at real tokens.
    """

    spec: Mapping[str, tf.io.FixedLenFeature]
    max_seq_length: int
    sequence_keys: Tuple[str, ...] = batching.SEQUENCE_KEYS
    label_keys: Tuple[str, ...] = ()
    dtypes: Mapping[str, tf.DType] = dataclasses.field(default_factory=dict)
    mask_key: str = "input_mask"

    def parse(self, serialized: tf.Tensor, pad_to_max_length: bool = False) -> Dict[str, tf.Tensor]:
        """Serialized records [N] string -> one dict of [N, ...] tensors (labels included), cut unless
        `pad_to_max_length`."""
        parsed = tf.io.parse_example(serialized, dict(self.spec))
        batch = {name: tf.cast(value, self.dtypes.get(name, tf.int32 if value.dtype == tf.int64 else value.dtype))
                 for name, value in parsed.items()}
        if not pad_to_max_length:
            batch = batching.trim_to_longest(batch, self.sequence_keys, self.mask_key)
        return batch

    def split_labels(self, batch: Dict[str, tf.Tensor]) -> Element:
        """A parsed batch -> `(features, labels)`, or the features alone for a layout without labels."""
        if not self.label_keys:
            return batch
        features = {name: value for name, value in batch.items() if name not in self.label_keys}
        if len(self.label_keys) == 1:
            return features, batch[self.label_keys[0]]
        return features, {name: batch[name] for name in self.label_keys}


def inference_dataset(path: str, layout: RecordLayout, batch_size: int, pad_to_max_length: bool = False,
                      drop_remainder: bool = False) -> tf.data.Dataset:
    """One pass over a task's TFRecord file in file order, batched and prefetched.

    Args:
      path: the file (checked first with `check_records`).
      layout: the task's `RecordLayout` for inference.
      batch_size: examples per batch (global).
      pad_to_max_length: keep every batch at `max_seq_length` (else cut to its longest example).
      drop_remainder: drop a last partial batch (static batch size, for TPUs).

    Returns:
      `(features, labels)` batches, or features alone when the layout has no labels.

    Raises:
      ValueError: a non-positive batch size, or a file that does not fit the layout.
    """
    _check_batch_size(batch_size)
    check_records(path, layout)
    dataset = tf.data.TFRecordDataset(os.fspath(path)).batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(lambda serialized: layout.split_labels(layout.parse(serialized, pad_to_max_length)),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def training_dataset(path: str, layout: RecordLayout, batch_size: int, shuffle_buffer_size: int,
                     pad_to_max_length: bool = False, group_by_length: bool = False, seed: Optional[int] = None,
                     drop_remainder: bool = False, num_micro_batches: int = 1) -> tf.data.Dataset:
    """A task's training batches `(features, labels)`: repeated, shuffled, batched, prefetched.

    With `num_micro_batches` N > 1 (gradient accumulation) each batch of `batch_size` is formed as without
    accumulation and then cut into N consecutive micro-batches of `batch_size / N` examples (at that batch's
    length), so N accumulated micro-batches hold exactly the examples of the one large batch.

    Args:
      path: the file (checked first with `check_records`).
      layout: the task's `RecordLayout` for training (with labels).
      batch_size: examples per batch (global).
      shuffle_buffer_size: records in the shuffle buffer (the original classifier and SQuAD: 100).
      pad_to_max_length: keep every batch at `max_seq_length` (TPUs); overrides `group_by_length`.
      group_by_length: batches of similar-length examples: `batching.WINDOW_BATCHES` shuffled batches
        at a time are sorted by length, cut again and their order shuffled.
      seed: shuffle (and batch order) seed; None: random.
      drop_remainder: static batch size (no effect on an endless stream, kept for TPUs' shapes).
      num_micro_batches: micro-batches per batch; must divide `batch_size`.
    """
    _check_batch_size(batch_size)
    if num_micro_batches < 1 or batch_size % num_micro_batches:
        raise ValueError(f"num_micro_batches {num_micro_batches} must divide batch_size {batch_size}")
    check_records(path, layout)
    records = tf.data.TFRecordDataset(os.fspath(path)).repeat().shuffle(shuffle_buffer_size, seed=seed)
    if group_by_length and not pad_to_max_length:
        windows = records.batch(batch_size * batching.WINDOW_BATCHES, drop_remainder=True).map(
            lambda serialized: layout.parse(serialized, pad_to_max_length=True),
            num_parallel_calls=tf.data.AUTOTUNE)
        batches = batching.group_windows_by_length(windows, batch_size, seed=seed,
                                                   sequence_keys=layout.sequence_keys, mask_key=layout.mask_key)
        batches = batches.map(layout.split_labels, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        batches = records.batch(batch_size, drop_remainder=drop_remainder).map(
            lambda serialized: layout.split_labels(layout.parse(serialized, pad_to_max_length)),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if num_micro_batches > 1:
        batches = batches.flat_map(lambda *batch: tf.data.Dataset.from_tensor_slices(
            batch if len(batch) > 1 else batch[0]).batch(batch_size // num_micro_batches, drop_remainder=True))
    return batches.prefetch(tf.data.AUTOTUNE)


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")


# ------------------------------------------------------------------------------------------------ checks
_KINDS = {tf.int64: "int64_list", tf.float32: "float_list", tf.string: "bytes_list"}


def check_records(path: str, layout: RecordLayout, num_records: Optional[int] = None) -> None:
    """Checks the first record of a TFRecord file against `layout` (and the record count, if given).

    Raises:
      FileNotFoundError: no such file.
      ValueError: the file is unreadable or has no records; the first record is not a `tf.train.Example`,
        lacks a feature, has a sequence of another length or a feature of another type; or the file has
        another number of records. The message names the file and the mismatch.
    """
    path = os.fspath(path)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"TFRecord file not found: {path}")
    try:
        first = list(tf.data.TFRecordDataset(path).take(1).as_numpy_iterator())
    except tf.errors.OpError as error:
        raise ValueError(f"{path}: cannot read TFRecords ({error.message})") from None
    if not first:
        raise ValueError(f"{path}: TFRecord file has no records")
    try:
        example = tf.train.Example.FromString(first[0])
    except Exception as error:  # protobuf's DecodeError
        raise ValueError(f"{path}: first record is not a tf.train.Example ({error})") from None
    stored = example.features.feature
    for name, feature in layout.spec.items():
        if name not in stored:
            if feature.default_value is not None:
                continue
            raise ValueError(f"{path}: first record has no {name!r} feature (found {sorted(stored)}); "
                             "not a file of this task?")
        kind = stored[name].WhichOneof("kind")
        expected_kind = _KINDS.get(feature.dtype)
        if kind != expected_kind:
            raise ValueError(f"{path}: {name} is stored as {kind} but {expected_kind} is expected")
        values = len(getattr(stored[name], kind).value)
        expected = int(np.prod(feature.shape)) if feature.shape else 1
        if values != expected:
            raise ValueError(f"{path}: {name} has {values} values per example but {expected} are expected, as "
                             f"max_seq_length is {layout.max_seq_length}; rewrite the file with this "
                             "max_seq_length or pass the one it was written with")
    if num_records is not None:
        try:
            count = int(tf.data.TFRecordDataset(path).reduce(np.int64(0), lambda total, _: total + 1))
        except tf.errors.OpError as error:
            raise ValueError(f"{path}: cannot read TFRecords ({error.message})") from None
        if count != num_records:
            raise ValueError(f"{path} has {count} records, {num_records} expected")
