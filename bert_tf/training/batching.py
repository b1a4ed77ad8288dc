"""Per-batch padding: batches trimmed to their longest example, and batches of similar-length examples.

`trim_to_longest` cuts a batch padded to `max_seq_length` down to its longest real example, rounded up
to a multiple of `LENGTH_MULTIPLE` (8), which every task uses in training, evaluation and prediction:
the attention mask makes the real tokens' outputs independent of the padding.

`group_windows_by_length` (`--group_by_length`): random batches of 32 MRPC pairs are padded to ~84
tokens on average although the mean example has 53; sorting each window of `window_batches`
consecutive (already shuffled) batches by length before cutting it into batches brings the padded
length down to ~61 (8 batches), about 1.4 times fewer tokens per step. The batches of a window are then
shuffled, so the model does not see lengths in order.

This changes which examples share a batch, not which examples are seen: `run_classifier.py` and
`run_squad.py` keep it off by default (the original scripts batch randomly); `run_ner.py`, which has no
original, has it on. `training_batches` is every fine-tuning task's training pipeline (records in,
batches out, grouped or not), shared by the classifier, SQuAD and NER.
"""
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

import tensorflow as tf

LENGTH_MULTIPLE = 8
WINDOW_BATCHES = 8  # batches sorted together by `grouped_training_batches`
SEQUENCE_KEYS = ("input_ids", "input_mask", "segment_ids")


def round_up_length(length: tf.Tensor, maximum, multiple: int = LENGTH_MULTIPLE) -> tf.Tensor:
    """`length` rounded up to a multiple of `multiple`, in [1, maximum] (int32 scalar tensor)."""
    length = tf.maximum(length, 1)
    return tf.minimum((length + multiple - 1) // multiple * multiple, maximum)


def trim_to_longest(features: Mapping[str, tf.Tensor], sequence_keys: Sequence[str] = SEQUENCE_KEYS,
                    mask_key: str = "input_mask", multiple: int = LENGTH_MULTIPLE) -> Dict[str, tf.Tensor]:
    """Cuts the [B, S] `sequence_keys` of a batch to its longest real example rounded up to `multiple`.

    Args:
      features: a batch; `features[mask_key]` [B, S] is 1 at real tokens (a prefix of each row).
      sequence_keys: the [B, S] features to cut (others are kept as they are).

    Returns:
      A new dict with [B, L] sequence features, L = the longest row's real length rounded up, <= S.
    """
    mask = features[mask_key]
    real_length = tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1))
    length = round_up_length(real_length, tf.shape(mask)[1], multiple)
    trimmed = dict(features)
    for name in sequence_keys:
        trimmed[name] = features[name][:, :length]
    return trimmed


def group_windows_by_length(windows: tf.data.Dataset, batch_size: int, seed: Optional[int] = None,
                            sequence_keys: Tuple[str, ...] = SEQUENCE_KEYS,
                            mask_key: str = "input_mask", length_multiple: int = LENGTH_MULTIPLE) -> tf.data.Dataset:
    """Windows of examples -> batches of similar length, trimmed to their longest example.

    Args:
      windows: yields `(features, labels)` with every tensor's first dimension W, a multiple of
        `batch_size` (e.g. `.batch(W, drop_remainder=True)` then parsed); `features[sequence_keys]` are
        [W, S] and padded with `features[mask_key]` 0.
      batch_size: examples per output batch.
      seed: seeds the order of the batches within each window (None: random).
      length_multiple: batch lengths are rounded up to this multiple (capped at S).

    Returns:
      A dataset of `(features, labels)` with [batch_size, L] sequence features, L the batch's longest
      real length rounded up to `length_multiple`.
    """

    def split_window(window_index, features: Dict[str, tf.Tensor], labels):
        lengths = tf.reduce_sum(tf.cast(features[mask_key], tf.int32), axis=1)
        order = tf.argsort(lengths, stable=True)
        window_size = tf.shape(lengths)[0]
        num_batches = window_size // batch_size

        def to_batches(tensor):
            tensor = tf.gather(tensor, order)
            return tf.reshape(tensor, tf.concat([[num_batches, batch_size], tf.shape(tensor)[1:]], axis=0))

        batch_features = {name: to_batches(value) for name, value in features.items()}
        batch_labels = tf.nest.map_structure(to_batches, labels)
        if seed is None:
            permutation = tf.random.shuffle(tf.range(num_batches))
        else:
            permutation = tf.random.experimental.stateless_shuffle(
                tf.range(num_batches), seed=tf.stack([tf.cast(seed, tf.int64), window_index]))
        batch_features = {name: tf.gather(value, permutation) for name, value in batch_features.items()}
        batch_labels = tf.nest.map_structure(lambda value: tf.gather(value, permutation), batch_labels)
        return tf.data.Dataset.from_tensor_slices((batch_features, batch_labels))

    def trim(features, labels):
        return trim_to_longest(features, sequence_keys, mask_key, length_multiple), labels

    batches = windows.enumerate().flat_map(lambda index, element: split_window(index, *element))
    return batches.map(trim, num_parallel_calls=tf.data.AUTOTUNE)


def grouped_training_batches(records: tf.data.Dataset, parse_padded: Callable, batch_size: int,
                             seed: Optional[int] = None, window_batches: int = WINDOW_BATCHES,
                             sequence_labels: bool = False) -> tf.data.Dataset:
    """Shuffled, repeated serialized records -> training batches of similar length (`--group_by_length`).

    Args:
      records: serialized examples, already repeated and shuffled.
      parse_padded: serialized [W] string -> `(features, labels)`, sequence features padded to
        `max_seq_length` (not trimmed): `input_ids`, `input_mask`, `segment_ids` [W, S] int32.
      batch_size: examples per batch (B).
      seed: seeds the batch order within each window (None: random).
      window_batches: consecutive batches sorted together (more: less padding, less randomness).
      sequence_labels: `labels` is one [W, S] tensor (token labels), cut to each batch's length too.

    Returns:
      A prefetched dataset of `(features, labels)`: [B, L] sequence features, L the batch's longest
      real length rounded up to `LENGTH_MULTIPLE`.
    """
    windows = records.batch(batch_size * window_batches, drop_remainder=True).map(
        parse_padded, num_parallel_calls=tf.data.AUTOTUNE)
    batches = group_windows_by_length(windows, batch_size, seed=seed)
    if sequence_labels:
        batches = batches.map(lambda features, labels: (features, labels[:, :tf.shape(features["input_mask"])[1]]),
                              num_parallel_calls=tf.data.AUTOTUNE)
    return batches.prefetch(tf.data.AUTOTUNE)


def training_batches(path: str, batch_size: int, make_parse_batch: Callable[[bool], Callable],
                     shuffle_buffer_size: int, pad_to_max_length: bool = False, group_by_length: bool = False,
                     seed: Optional[int] = None, drop_remainder: bool = False,
                     sequence_labels: bool = False) -> tf.data.Dataset:
    """A task's training pipeline over its TFRecord file: repeated, shuffled, batched, prefetched.

    Args:
      path: the TFRecord file.
      batch_size: examples per batch (B).
      make_parse_batch: `pad_to_max_length` -> the task's parse function (serialized [N] string ->
        `(features, labels)`), trimming each batch to its longest example unless told to pad.
      shuffle_buffer_size: records in the shuffle buffer.
      pad_to_max_length: keep every batch at max_seq_length (TPUs).
      group_by_length: batches of similar-length examples (`grouped_training_batches`); ignored with
        `pad_to_max_length`.
      seed: shuffle (and batch order) seed; None: random.
      drop_remainder: static batch size (no effect on an endless stream, kept for TPUs' shapes).
      sequence_labels: `labels` is one [B, S] tensor to cut with the features (token labels).
    """
    records = tf.data.TFRecordDataset(path).repeat().shuffle(shuffle_buffer_size, seed=seed)
    if group_by_length and not pad_to_max_length:
        return grouped_training_batches(records, make_parse_batch(True), batch_size, seed=seed,
                                        sequence_labels=sequence_labels)
    batches = records.batch(batch_size, drop_remainder=drop_remainder).map(
        make_parse_batch(pad_to_max_length), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return batches.prefetch(tf.data.AUTOTUNE)
