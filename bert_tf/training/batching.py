"""Per-batch padding: batches trimmed to their longest example, and batches of similar-length examples.

`trim_to_longest` cuts a batch padded to `max_seq_length` down to its longest real example, rounded up
to a multiple of `LENGTH_MULTIPLE` (8), which every task uses in training, evaluation and prediction:
the attention mask makes the real tokens' outputs independent of the padding. Sequence features are
[B, S] or, for a task whose example is several sequences (multiple choice), [B, C, S]: the last axis is
the one cut, and an example's length is that of its longest sequence.

`group_windows_by_length` (`--group_by_length`): random batches of 32 MRPC pairs are padded to ~84
tokens on average although the mean example has 53; sorting each window of `window_batches`
consecutive (already shuffled) batches by length before cutting it into batches brings the padded
length down to ~61 (8 batches), about 1.4 times fewer tokens per step. The batches of a window are then
shuffled, so the model does not see lengths in order.

This changes which examples share a batch, not which examples are seen: `run_classifier.py` and
`run_squad.py` keep it off by default (the original scripts batch randomly); `run_ner.py` and
`run_swag.py`, which have no original, have it on. `bert_tf.training.datasets` builds every fine-tuning
task's pipelines (records in, batches out, grouped or not) from these pieces.
"""
from typing import Dict, Mapping, Optional, Sequence, Tuple

import tensorflow as tf

LENGTH_MULTIPLE = 8
WINDOW_BATCHES = 8  # batches sorted together by `bert_tf.training.datasets.training_dataset`
SEQUENCE_KEYS = ("input_ids", "input_mask", "segment_ids")


def round_up_length(length: tf.Tensor, maximum, multiple: int = LENGTH_MULTIPLE) -> tf.Tensor:
    """`length` rounded up to a multiple of `multiple`, in [1, maximum] (int32 scalar tensor)."""
    length = tf.maximum(length, 1)
    return tf.minimum((length + multiple - 1) // multiple * multiple, maximum)


def trim_to_longest(features: Mapping[str, tf.Tensor], sequence_keys: Sequence[str] = SEQUENCE_KEYS,
                    mask_key: str = "input_mask", multiple: int = LENGTH_MULTIPLE) -> Dict[str, tf.Tensor]:
    """Cuts the [B, S] `sequence_keys` of a batch to its longest real example rounded up to `multiple`.

    Args:
      features: a batch; `features[mask_key]` [B, S] (or [B, C, S]) is 1 at real tokens (a prefix of each
        sequence).
      sequence_keys: the [B, S] (or [B, C, S]) features to cut on their last axis (others are kept as they
        are); keys the batch does not have are skipped.

    Returns:
      A new dict with [B, L] ([B, C, L]) sequence features, L = the longest sequence's real length rounded
      up, <= S.
    """
    mask = features[mask_key]
    real_length = tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=-1))
    length = round_up_length(real_length, tf.shape(mask)[-1], multiple)
    trimmed = dict(features)
    for name in sequence_keys:
        if name in features:
            trimmed[name] = features[name][..., :length]
    return trimmed


def example_lengths(mask: tf.Tensor) -> tf.Tensor:
    """Real length of each example, int32 [B], from its mask [B, S] (or [B, C, S]: its longest sequence)."""
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=-1)
    if lengths.shape.rank > 1:
        lengths = tf.reduce_max(lengths, axis=list(range(1, lengths.shape.rank)))
    return lengths


def group_windows_by_length(windows: tf.data.Dataset, batch_size: int, seed: Optional[int] = None,
                            sequence_keys: Tuple[str, ...] = SEQUENCE_KEYS,
                            mask_key: str = "input_mask", length_multiple: int = LENGTH_MULTIPLE) -> tf.data.Dataset:
    """Windows of examples -> batches of similar length, trimmed to their longest example.

    Args:
      windows: yields dicts of tensors whose first dimension W is a multiple of `batch_size` (e.g.
        `.batch(W, drop_remainder=True)` then parsed); `[sequence_keys]` are [W, S] (or [W, C, S]) and
        padded with `[mask_key]` 0. Every tensor of an example (labels too) stays with it.
      batch_size: examples per output batch.
      seed: seeds the order of the batches within each window (None: random).
      sequence_keys: the features cut to each batch's length (token labels included).
      length_multiple: batch lengths are rounded up to this multiple (capped at S).

    Returns:
      A dataset of dicts with [batch_size, L] sequence features, L the batch's longest real length
      rounded up to `length_multiple`.
    """

    def split_window(window_index, batch: Dict[str, tf.Tensor]):
        lengths = example_lengths(batch[mask_key])
        order = tf.argsort(lengths, stable=True)
        num_batches = tf.shape(lengths)[0] // batch_size

        def to_batches(tensor):
            tensor = tf.gather(tensor, order)
            return tf.reshape(tensor, tf.concat([[num_batches, batch_size], tf.shape(tensor)[1:]], axis=0))

        if seed is None:
            permutation = tf.random.shuffle(tf.range(num_batches))
        else:
            permutation = tf.random.experimental.stateless_shuffle(
                tf.range(num_batches), seed=tf.stack([tf.cast(seed, tf.int64), window_index]))
        batches = {name: tf.gather(to_batches(value), permutation) for name, value in batch.items()}
        return tf.data.Dataset.from_tensor_slices(batches)

    def trim(batch):
        return trim_to_longest(batch, sequence_keys, mask_key, length_multiple)

    batches = windows.enumerate().flat_map(split_window)
    return batches.map(trim, num_parallel_calls=tf.data.AUTOTUNE)
