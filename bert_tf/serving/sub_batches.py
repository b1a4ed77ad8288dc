"""Running a model on length-sorted sub-batches of one request batch, inside the serving graph.

Per-batch padding (`bert_tf.tokenization.in_graph.pack_ids_in_graph(..., pad_to_multiple_of=8)`) pads a
batch to its longest row, so one long row makes every row in the batch pay for its length. Sorting the
rows by length and cutting them into sub-batches of `sub_batch_size` rows, each padded to its own longest
row, brings the computed positions close to the tokens the rows really have (MRPC dev in batches of
32: 62 positions per pair with sub-batches of 8 against 81 for the whole batch and 128 for
`max_seq_length`; the pairs have 53 tokens on average). Each row's outputs do not depend on the other
rows or on padding (masked out of attention), so the results equal the padded computation.

The sub-batches run one after the other in a `tf.while_loop` (a `While` op in the SavedModel, which TF
Serving runs like any other op); a batch of up to `sub_batch_size` rows is a single iteration.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence

import tensorflow as tf

from bert_tf.errors import require_int
from bert_tf.tokenization.in_graph import padded_length_in_graph

__all__ = ["map_sorted_sub_batches"]


def map_sorted_sub_batches(function: Callable[[Dict[str, tf.Tensor]], tf.Tensor],
                           features: Dict[str, tf.Tensor], sub_batch_size: int, max_seq_length: int,
                           pad_to_multiple_of: Optional[int] = None,
                           padded_lengths: Optional[Sequence[int]] = None, output_dtype=tf.float32,
                           output_shape: Sequence[int] = ()) -> tf.Tensor:
    """`function(features)` computed on length-sorted sub-batches, in the original row order.

    Args:
      function: maps packed features (the keys of `features`, each [rows, length]) to one float Tensor
        [rows, ...] whose trailing dimensions do not depend on `length` (e.g. logits [rows, labels]).
      features: int32 Tensors [batch, width] with an `input_mask` key (1 on a row's tokens, a prefix),
        width <= `max_seq_length`.
      sub_batch_size: rows per sub-batch (a positive Python int).
      max_seq_length, pad_to_multiple_of, padded_lengths: each sub-batch is cut to the length
        `bert_tf.tokenization.in_graph.padded_length_in_graph` gives for its rows (at most `width`),
        as the packer cut the batch.
      output_dtype, output_shape: `function`'s output dtype and trailing dimensions.
    Returns:
      `function`'s output for every row, [batch, ...], rows in the order of `features`.
    Raises:
      InputError: `sub_batch_size` is not a positive integer, or bad padding settings.
    """
    sub_batch_size = require_int("sub_batch_size", sub_batch_size)
    num_tokens = tf.reduce_sum(tf.cast(features["input_mask"], tf.int32), axis=1)
    order = tf.argsort(num_tokens, stable=True)
    sorted_features = {key: tf.gather(value, order) for key, value in features.items()}
    sorted_tokens = tf.gather(num_tokens, order)
    batch_size = tf.shape(order)[0]
    # At least one iteration, so that an empty batch still gives a [0, ...] output.
    count = tf.maximum((batch_size + sub_batch_size - 1) // sub_batch_size, 1)

    def body(index, outputs):
        start = index * sub_batch_size
        end = tf.minimum(start + sub_batch_size, batch_size)
        length = padded_length_in_graph(sorted_tokens[start:end], max_seq_length, pad_to_multiple_of,
                                        padded_lengths)
        # A slice past the width stops at the width (a sub-batch is never longer than its batch).
        rows = {key: value[start:end, :length] for key, value in sorted_features.items()}
        return index + 1, outputs.write(index, tf.cast(function(rows), output_dtype))

    element_shape = tf.TensorShape([None] + [int(size) for size in output_shape])
    outputs = tf.TensorArray(output_dtype, size=count, infer_shape=False, element_shape=element_shape)
    _, outputs = tf.while_loop(lambda index, _: index < count, body, (tf.constant(0), outputs))
    result = tf.gather(outputs.concat(), tf.math.invert_permutation(order))
    result.set_shape(element_shape)
    return result
