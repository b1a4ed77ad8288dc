"""`tf.data` pipelines over SQuAD TFRecords, each batch padded only to its longest window.

Training repeats the file forever and shuffles with a buffer of 100 records (the original `input_fn`);
prediction reads the file once, in order. A batch is cut to its longest real length rounded up to a
multiple of 8 (`bert_tf.training.batching.trim_to_longest`), or kept at `max_seq_length` with
`pad_to_max_length` (TPUs need static shapes).
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

import tensorflow as tf

from bert_tf.tasks.squad.features import SEQUENCE_FEATURES, TRAINING_FEATURES
from bert_tf.training import batching
from bert_tf.training.batching import trim_to_longest

_SHUFFLE_BUFFER_SIZE = 100  # as the original input_fn


def feature_spec(max_seq_length: int, is_training: bool) -> Dict[str, tf.io.FixedLenFeature]:
    """`tf.io.parse_example` spec: `unique_ids` int64 [], the sequences int64 [max_seq_length], and for
    training `start_positions`, `end_positions`, `is_impossible` int64 []."""
    spec = {"unique_ids": tf.io.FixedLenFeature([], tf.int64)}
    spec.update({name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in SEQUENCE_FEATURES})
    if is_training:
        spec.update({name: tf.io.FixedLenFeature([], tf.int64, default_value=0) for name in TRAINING_FEATURES})
    return spec


def make_parse_batch_fn(max_seq_length: int, is_training: bool, pad_to_max_length: bool = False):
    """A function: serialized records [B] string -> features dict, or (features, labels) for training.

    features: `input_ids`, `input_mask`, `segment_ids` int32 [B, L] (L: the batch's longest real length
    rounded up to a multiple of 8, at most `max_seq_length`; `max_seq_length` with `pad_to_max_length`)
    and `unique_ids` int64 [B]. labels (training): `start_positions`, `end_positions` int32 [B].
    """
    spec = feature_spec(max_seq_length, is_training)

    def parse_batch(serialized: tf.Tensor):
        parsed = tf.io.parse_example(serialized, spec)
        features = {name: tf.cast(parsed[name], tf.int32) for name in SEQUENCE_FEATURES}
        if not pad_to_max_length:
            features = trim_to_longest(features, SEQUENCE_FEATURES)
        features["unique_ids"] = parsed["unique_ids"]
        if not is_training:
            return features
        labels = {name: tf.cast(parsed[name], tf.int32) for name in ("start_positions", "end_positions")}
        return features, labels

    return parse_batch


def make_dataset(path: str, max_seq_length: int, batch_size: int, is_training: bool,
                 pad_to_max_length: bool = False, seed: Optional[int] = None,
                 drop_remainder: bool = False) -> tf.data.Dataset:
    """Batched dataset over a SQuAD TFRecord file (see `make_parse_batch_fn` for the elements).

    Args:
      path: a file written by `features.write_features` (or the original `FeatureWriter`).
      max_seq_length: the length it was written with.
      batch_size: windows per batch (B).
      is_training: repeat and shuffle; yield (features, labels).
      pad_to_max_length: keep every batch at `max_seq_length`.
      seed: shuffle seed (training).
      drop_remainder: drop a last partial batch (static batch dimension).

    Returns:
      A `tf.data.Dataset`, prefetched.
    """
    if is_training:
        return training_dataset(path, max_seq_length, batch_size, pad_to_max_length, seed=seed,
                                drop_remainder=drop_remainder)
    dataset = tf.data.TFRecordDataset(os.fspath(path))
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(make_parse_batch_fn(max_seq_length, is_training, pad_to_max_length),
                          num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def training_dataset(path: str, max_seq_length: int, batch_size: int, pad_to_max_length: bool = False,
                     group_by_length: bool = False, seed: Optional[int] = None,
                     drop_remainder: bool = False) -> tf.data.Dataset:
    """The training batches `(features, labels)` (`make_parse_batch_fn`): shuffled (buffer of 100, as the
    original), repeated; with `group_by_length`, batches of similar-length windows
    (`bert_tf.training.batching.training_batches`)."""
    return batching.training_batches(
        os.fspath(path), batch_size, lambda padded: make_parse_batch_fn(max_seq_length, True, padded),
        _SHUFFLE_BUFFER_SIZE, pad_to_max_length=pad_to_max_length, group_by_length=group_by_length, seed=seed,
        drop_remainder=drop_remainder)


def check_tfrecord(path: str, max_seq_length: int, is_training: bool) -> None:
    """Raises ValueError when the first record of `path` does not parse with `feature_spec` (a cached file
    of another layout is then written again)."""
    records = list(tf.data.TFRecordDataset(os.fspath(path)).take(1).as_numpy_iterator())
    if not records:
        raise ValueError(f"{path} has no records")
    try:
        tf.io.parse_example(records, feature_spec(max_seq_length, is_training))
    except tf.errors.OpError as error:
        raise ValueError(f"{path}: {error.message}") from None


def pad_logits(outputs: Dict[str, tf.Tensor], max_seq_length: int,
               value: float = -1e30) -> Tuple[tf.Tensor, tf.Tensor]:
    """`start_logits`, `end_logits` [B, L] -> [B, max_seq_length], filled with `value` past L.

    Lets batches of different lengths be stacked; the filled positions are past every window's tokens,
    so post-processing never picks them.
    """
    def pad(logits):
        return tf.pad(logits, [[0, 0], [0, max_seq_length - tf.shape(logits)[1]]], constant_values=value)

    return pad(outputs["start_logits"]), pad(outputs["end_logits"])
