"""Classifier TFRecords -> batched `tf.data` pipelines (per-batch padding, optional length grouping).

Reads the files of `features` (or of the original `run_classifier.py`): `input_ids`, `input_mask`,
`segment_ids` int64 [max_seq_length], `label_ids` int64 (float for regression), `is_real_example`.
"""
import os
from typing import Dict, Optional, Tuple

import tensorflow as tf

from bert_tf.training import batching

_SEQUENCE_FEATURE_NAMES = batching.SEQUENCE_KEYS
_SHUFFLE_BUFFER_SIZE = 100  # As in the original input_fn_builder.



def feature_spec(max_seq_length: int, is_regression: bool = False) -> Dict[str, tf.io.FixedLenFeature]:
    """`tf.io.parse_example` spec of the classifier records.

    `input_ids`/`input_mask`/`segment_ids`: int64 [max_seq_length]; `label_ids`: int64 [] (float32
    for regression); `is_real_example`: int64 [] (default 1, for files written before it existed).
    """
    spec = {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in _SEQUENCE_FEATURE_NAMES}
    spec["label_ids"] = tf.io.FixedLenFeature([], tf.float32 if is_regression else tf.int64)
    spec["is_real_example"] = tf.io.FixedLenFeature([], tf.int64, default_value=1)
    return spec


def check_tfrecord_features(path: str, max_seq_length: int, is_regression: Optional[bool] = None) -> None:
    """Checks the first record of a classifier TFRecord file against the expected layout.

    Raises:
      FileNotFoundError: no such file.
      ValueError: the file has no records or is unreadable, a feature is missing, the sequence features
        do not have `max_seq_length` values, or `label_ids` is int64 where floats are expected (or the
        other way round); the message names the file and the mismatch.
    """
    path = os.fspath(path)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"classifier TFRecord file not found: {path}")
    try:
        first_records = list(tf.data.TFRecordDataset(path).take(1).as_numpy_iterator())
    except tf.errors.OpError as error:
        raise ValueError(f"{path}: cannot read TFRecords ({error.message})") from None
    if not first_records:
        raise ValueError(f"{path}: TFRecord file has no records")
    try:
        example = tf.train.Example.FromString(first_records[0])
    except Exception as error:  # protobuf DecodeError.
        raise ValueError(f"{path}: first record is not a tf.train.Example ({error})") from None
    feature_map = example.features.feature
    for name in _SEQUENCE_FEATURE_NAMES + ("label_ids",):
        if name not in feature_map:
            raise ValueError(f"{path}: first record has no {name!r} feature "
                             f"(found {sorted(feature_map)}); not a classifier TFRecord file?")
    for name in _SEQUENCE_FEATURE_NAMES:
        length = len(feature_map[name].int64_list.value)
        if length != max_seq_length:
            raise ValueError(f"{path}: {name} has {length} values per example but max_seq_length is "
                             f"{max_seq_length}; rewrite the file with max_seq_length={max_seq_length} "
                             f"or pass max_seq_length={length}")
    label_kind = feature_map["label_ids"].WhichOneof("kind")
    if is_regression is not None:
        expected_kind = "float_list" if is_regression else "int64_list"
        if label_kind != expected_kind:
            raise ValueError(f"{path}: label_ids is stored as {label_kind} but {expected_kind} is expected "
                             f"for a {'regression' if is_regression else 'classification'} task")


def make_parse_batch_fn(max_seq_length: int, is_regression: bool, pad_to_max_length: bool = False):
    """A function: serialized records [B] string -> (features dict, labels [B]).

    features: `input_ids`, `input_mask`, `segment_ids` int32 [B, L]; `is_real_example` float32 [B].
    labels: int32 [B] (float32 for regression). `L` is `max_seq_length` with `pad_to_max_length`,
    otherwise the batch's longest real length (last position with `input_mask` 1) rounded up to a
    multiple of 8 and capped at `max_seq_length`.
    """
    spec = feature_spec(max_seq_length, is_regression)

    def parse_batch(serialized: tf.Tensor) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
        parsed = tf.io.parse_example(serialized, spec)
        features = {name: tf.cast(parsed[name], tf.int32) for name in _SEQUENCE_FEATURE_NAMES}
        if not pad_to_max_length:
            features = batching.trim_to_longest(features)
        features["is_real_example"] = tf.cast(parsed["is_real_example"], tf.float32)
        labels = tf.cast(parsed["label_ids"], tf.float32 if is_regression else tf.int32)
        return features, labels

    return parse_batch


def make_classifier_dataset(path: str, max_seq_length: int, batch_size: int, is_training: bool,
                            is_regression: bool, pad_to_max_length: bool = False, seed: Optional[int] = None,
                            drop_remainder: bool = False) -> tf.data.Dataset:
    """Batched `(features, labels)` dataset over a classifier TFRecord file.

    Training repeats forever and shuffles with a buffer of 100 records (as the original); evaluation and
    prediction keep file order and stop after one pass. Batches are parsed in parallel and prefetched.

    Args:
      path: TFRecord file from `write_features_tfrecord` (or the original `run_classifier.py`);
        checked first with `check_tfrecord_features`.
      max_seq_length: the length the file was written with.
      batch_size: examples per batch.
      is_training: repeat + shuffle.
      is_regression: float32 labels instead of int32.
      pad_to_max_length: keep [B, max_seq_length] instead of trimming each batch (see
        `make_parse_batch_fn`).
      seed: shuffle seed (training only).
      drop_remainder: drop the last partial batch (gives a static batch dimension).
    Returns:
      `tf.data.Dataset` of `({"input_ids", "input_mask", "segment_ids": int32 [B, L],
      "is_real_example": float32 [B]}, labels [B] int32|float32)`.
    """
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if is_training:
        return training_dataset(path, max_seq_length, batch_size, is_regression, pad_to_max_length, seed=seed,
                                drop_remainder=drop_remainder)
    check_tfrecord_features(path, max_seq_length, is_regression)
    dataset = tf.data.TFRecordDataset(os.fspath(path))
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(make_parse_batch_fn(max_seq_length, is_regression, pad_to_max_length),
                          num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def training_dataset(path: str, max_seq_length: int, batch_size: int, is_regression: bool,
                     pad_to_max_length: bool = False, group_by_length: bool = False, seed: Optional[int] = None,
                     drop_remainder: bool = False) -> tf.data.Dataset:
    """The training batches: shuffled (buffer of 100, as the original), repeated; per-batch padding unless
    `pad_to_max_length`; with `group_by_length`, batches of similar-length examples
    (`bert_tf.training.batching.training_batches`)."""
    check_tfrecord_features(path, max_seq_length, is_regression)
    return batching.training_batches(
        os.fspath(path), batch_size, lambda padded: make_parse_batch_fn(max_seq_length, is_regression, padded),
        _SHUFFLE_BUFFER_SIZE, pad_to_max_length=pad_to_max_length, group_by_length=group_by_length, seed=seed,
        drop_remainder=drop_remainder)
