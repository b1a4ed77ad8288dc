"""NER TFRecords -> batched `tf.data` pipelines with per-batch padding.

Each batch is cut to its longest window rounded up to a multiple of 8 (`bert_tf.training.batching`), unless
`pad_to_max_length` (TPUs need static shapes). Inference batches keep file order; `pad_logits` pads the
model's logits back to `max_seq_length` so that batches of different lengths can be stacked.
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Tuple, Union

import tensorflow as tf

from bert_tf.tasks.ner.features import SEQUENCE_FEATURES
from bert_tf.training import batching, strategies

# Sentences come in document order: a buffer of a few thousand windows mixes documents (the original
# classifier's 100 would keep each batch inside one or two news stories).
SHUFFLE_BUFFER_SIZE = 4096
_MODEL_INPUTS = ("input_ids", "input_mask", "segment_ids")

Element = Union[Dict[str, tf.Tensor], Tuple[Dict[str, tf.Tensor], tf.Tensor]]


def feature_spec(max_seq_length: int) -> Dict[str, tf.io.FixedLenFeature]:
    """`tf.io.parse_example` spec: the four int64 [max_seq_length] features of `features.SEQUENCE_FEATURES`."""
    return {name: tf.io.FixedLenFeature([max_seq_length], tf.int64) for name in SEQUENCE_FEATURES}


def make_parse_batch_fn(max_seq_length: int, with_labels: bool, pad_to_max_length: bool = False):
    """A function: serialized records [B] string -> features (and labels).

    Returns:
      With `with_labels`: `(features, label_ids)`, else `features` alone; features are `input_ids`,
      `input_mask`, `segment_ids` int32 [B, L], label_ids int32 [B, L] (-1: not a word's first piece). L is
      `max_seq_length` with `pad_to_max_length`, else the batch's longest window rounded up to 8.
    """
    spec = feature_spec(max_seq_length)
    keys = SEQUENCE_FEATURES if with_labels else _MODEL_INPUTS

    def parse_batch(serialized: tf.Tensor) -> Element:
        parsed = tf.io.parse_example(serialized, spec)
        batch = {name: tf.cast(parsed[name], tf.int32) for name in keys}
        if not pad_to_max_length:
            batch = batching.trim_to_longest(batch, sequence_keys=keys)
        if not with_labels:
            return batch
        labels = batch.pop("label_ids")
        return batch, labels

    return parse_batch


def make_dataset(path: str, max_seq_length: int, batch_size: int, is_training: bool,
                 pad_to_max_length: bool = False, seed: Optional[int] = None,
                 drop_remainder: bool = False) -> tf.data.Dataset:
    """Batches of an NER TFRecord file (`features.write_windows`).

    Args:
      path: the TFRecord file.
      max_seq_length: the length it was written with.
      batch_size: windows per batch (global).
      is_training: repeat forever, shuffle (buffer `SHUFFLE_BUFFER_SIZE`), and yield `(features, label_ids)`;
        otherwise one pass in file order yielding features only.
      pad_to_max_length: keep [B, max_seq_length] (no per-batch trimming).
      seed: shuffle seed (training only; None: random).
      drop_remainder: drop a last partial batch (static batch size, for TPUs).

    Returns:
      A `tf.data.Dataset` (see `make_parse_batch_fn` for the elements).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if is_training:
        return training_dataset(path, max_seq_length, batch_size, pad_to_max_length, seed=seed,
                                drop_remainder=drop_remainder)
    dataset = tf.data.TFRecordDataset(os.fspath(path))
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    dataset = dataset.map(make_parse_batch_fn(max_seq_length, is_training, pad_to_max_length),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def training_dataset(path: str, max_seq_length: int, batch_size: int, pad_to_max_length: bool = False,
                     group_by_length: bool = False, seed: Optional[int] = None,
                     drop_remainder: bool = False) -> tf.data.Dataset:
    """The training batches `(features, label_ids)` (`make_parse_batch_fn`): shuffled (buffer
    `SHUFFLE_BUFFER_SIZE`), repeated; with `group_by_length`, batches of similar-length windows
    (`bert_tf.training.batching.training_batches`)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    return batching.training_batches(
        os.fspath(path), batch_size, lambda padded: make_parse_batch_fn(max_seq_length, True, padded),
        SHUFFLE_BUFFER_SIZE, pad_to_max_length=pad_to_max_length, group_by_length=group_by_length, seed=seed,
        drop_remainder=drop_remainder, sequence_labels=True)


def pad_logits(model, max_seq_length: int):
    """A callable for `predict`: `model`'s inference logits padded to [B, max_seq_length, num_labels].

    Batches of different lengths can then be concatenated; the padded positions are zeros (never read).
    The forward pass is a `tf.function` of [None, None] inputs, traced once (per replica device, each
    with its own variable copies) instead of once per batch length.
    """
    spec = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in _MODEL_INPUTS}
    traced = {}

    def padded_logits(features):
        logits = model(features, training=False)["logits"]
        return tf.pad(logits, [[0, 0], [0, max_seq_length - tf.shape(logits)[1]], [0, 0]])

    def padded_model(features, training=False):
        del training  # inference only
        device = strategies.replica_device_key()
        if device not in traced:
            traced[device] = tf.function(padded_logits, input_signature=[spec])
        return {"logits": traced[device]({name: features[name] for name in _MODEL_INPUTS})}

    return padded_model
