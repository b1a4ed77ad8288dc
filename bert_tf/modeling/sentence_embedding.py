"""Sentence embeddings: BERT's token vectors pooled into one vector per packed sequence, and window vectors
combined into one vector per text.

* `BertSentenceEmbedding`: the encoder (`bert/*` weights, nothing else) and a pooling of the chosen blocks'
  outputs: `mean` (over the real tokens, `[CLS]` and `[SEP]` included, as sentence-transformers' mean pooling
  over the attention mask), `max` (over the real tokens), `cls` (the `[CLS]` position) or `pooler` (the
  pretrained pooler: tanh(W h_[CLS] + b) of the last block). With several `layers`, their outputs are averaged
  position by position first, then pooled.
* `combine_windows`: the vectors of a text's windows (a text longer than the model is cut into windows) ->
  their average weighted by each window's token count, then optionally L2-normalized (`x / max(|x|, 1e-12)`,
  sentence-transformers' `Normalize`).

Only `keras` and `keras.ops`: the same code runs under TensorFlow (the library's `encode`, the SavedModel's
graph) and JAX.
"""
import numbers
from typing import Sequence, Tuple

import keras
from keras import ops

from bert_tf.config import BertConfig
from bert_tf.errors import InputError
from bert_tf.modeling.backbone import standardize_inputs
from bert_tf.modeling.models import BertBase

POOLINGS = ("cls", "mean", "max", "pooler")
# Masked positions of max pooling (sentence-transformers uses the same value).
MAX_POOLING_FILL = -1e9
# The smallest norm `combine_windows` divides by (torch.nn.functional.normalize's eps).
NORMALIZE_EPSILON = 1e-12


def check_pooling(pooling: str, layers: Sequence[int], num_hidden_layers: int) -> Tuple[str, Tuple[int, ...]]:
    """`(pooling, layers)` validated: a known pooling, layer indexes within the model (-1 is the last block, 0
    the first; the embedding output is not one of them), `pooler` only with the last block.

    Raises:
      InputError: naming the pooling or the layer index.
    """
    pooling = str(pooling).strip().lower()
    if pooling not in POOLINGS:
        raise InputError(f"pooling: unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}")
    layers = tuple(layers)
    if not layers:
        raise InputError("layers is empty: give at least one layer index (-1 is the last block)")
    for index in layers:
        is_integer = isinstance(index, numbers.Integral) and not isinstance(index, bool)
        if not is_integer or not -num_hidden_layers <= index < num_hidden_layers:
            raise InputError(f"layers: layer {index!r} does not exist; the model has {num_hidden_layers} layers "
                             f"(valid indexes {-num_hidden_layers}..{num_hidden_layers - 1}; -1 is the last)")
    if pooling == "pooler" and [index % num_hidden_layers for index in layers] != [num_hidden_layers - 1]:
        raise InputError(f"pooling 'pooler' reads the last layer only; got layers {list(layers)}")
    return pooling, tuple(int(index) for index in layers)


def pool_tokens(hidden, input_mask, pooling: str):
    """float32 [B, H]: `hidden` [B, S, H] pooled over the positions where `input_mask` [B, S] is 1.

    `mean`: the sum over the real positions / their count (at least 1e-9); `max`: the maximum over them;
    `cls`: position 0.
    """
    hidden = ops.cast(hidden, "float32")
    if pooling == "cls":
        return hidden[:, 0, :]
    mask = ops.cast(input_mask, "float32")[:, :, None]
    if pooling == "max":
        return ops.max(ops.where(mask > 0, hidden, MAX_POOLING_FILL), axis=1)
    if pooling == "mean":
        return ops.sum(hidden * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1e-9)
    raise ValueError(f"pool_tokens does not compute {pooling!r}")


def combine_windows(window_vectors, window_tokens, window_text, num_texts, normalize: bool):
    """One vector per text from its windows' vectors.

    Args:
      window_vectors: float32 [W, H], the pooled vector of each window.
      window_tokens: [W], each window's weight: its number of real tokens (`[CLS]` and `[SEP]` included).
      window_text: int32 [W], the text each window belongs to (every text has at least one window).
      num_texts: N, the number of texts.
      normalize: L2-normalize each text's vector.
    Returns:
      float32 [N, H]: sum_w tokens_w * vector_w / sum_w tokens_w over each text's windows (a text of one
      window gets its window's vector), normalized when asked.
    """
    weights = ops.cast(window_tokens, "float32")
    window_text = ops.cast(window_text, "int32")
    totals = ops.segment_sum(ops.cast(window_vectors, "float32") * weights[:, None], window_text,
                             num_segments=num_texts)
    counts = ops.segment_sum(weights, window_text, num_segments=num_texts)
    vectors = totals / ops.maximum(counts, 1e-9)[:, None]
    if normalize:
        norms = ops.sqrt(ops.sum(ops.square(vectors), axis=1, keepdims=True))
        vectors = vectors / ops.maximum(norms, NORMALIZE_EPSILON)
    return vectors


@keras.saving.register_keras_serializable(package="bert_tf")
class BertSentenceEmbedding(BertBase):
    """The BERT encoder (`bert/*` weights, those of any released checkpoint) and a pooling: one vector per
    packed sequence.

    Args:
      config: the `BertConfig`.
      pooling: `mean`, `max`, `cls` or `pooler` (see the module docstring).
      layer_indexes: encoder block indexes averaged before pooling (-1 is the last block).
      name: the model's name.
      **kwargs: `keras.Model` arguments (`dtype`: the dtype policy).

    Inputs: int32 `input_ids`, `input_mask`, `segment_ids` [B, S]. Returns a dict: `embeddings` float32 [B, H]
    (not normalized: `combine_windows` normalizes a text's vector after combining its windows) and
    `num_tokens` int32 [B], the real tokens of each row.

    Raises:
      InputError: an unknown pooling or a layer index the model does not have.
    """

    extra_arguments = ("pooling", "layer_indexes")

    def __init__(self, config: BertConfig, pooling: str = "mean", layer_indexes: Sequence[int] = (-1,),
                 name="bert_sentence_embedding", **kwargs):
        super().__init__(config, name=name, **kwargs)
        pooling, layer_indexes = check_pooling(pooling, layer_indexes, config.num_hidden_layers)
        self.pooling = pooling
        self.layer_indexes = list(layer_indexes)  # a list: get_config is plain JSON
        self.built = True

    def call(self, inputs, training=False):
        input_ids, input_mask, segment_ids = standardize_inputs(inputs)
        standard = {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}
        if self.pooling == "pooler":
            pooled = self._encode(standard, training, pooled_output_only=True)["pooled_output"]
            embeddings = ops.cast(pooled, "float32")
        else:
            encoder_outputs = self._encode(standard, training)["encoder_outputs"]
            blocks = [ops.cast(encoder_outputs[index], "float32") for index in self.layer_indexes]
            hidden = blocks[0]
            for block in blocks[1:]:
                hidden = hidden + block
            if len(blocks) > 1:
                hidden = hidden / len(blocks)
            embeddings = pool_tokens(hidden, input_mask, self.pooling)
        return {"embeddings": embeddings, "num_tokens": ops.sum(input_mask, axis=1)}
