"""Multi-head self-attention: `layer_N/attention/self/*` and the shared dense-residual-LayerNorm output."""
import math

import keras
from keras import layers, ops

from bert_tf.config import BertConfig
from bert_tf.modeling.constants import LAYER_NORM_EPSILON
from bert_tf.modeling.serializable import BertLayer

# The original adds (1 - mask) * -10000 to the attention scores of padded keys.
MASK_ADDER = -10000.0


def attention_mask_bias(input_mask, dtype):
    """[B, S] int mask (1 = real token) -> additive bias [B, 1, 1, S] in `dtype`: 0 or -10000."""
    mask = ops.cast(input_mask, dtype)
    return ops.expand_dims(ops.expand_dims((1.0 - mask) * MASK_ADDER, 1), 1)


@keras.saving.register_keras_serializable(package="bert_tf")
class SelfAttention(BertLayer):
    """Scaled dot-product attention over A heads; weights `self/{query,key,value}/{kernel,bias}` [H, H], [H].

    Attention probabilities get dropout in training only.
    """

    def __init__(self, config: BertConfig, name: str = "self", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.num_heads = config.num_attention_heads
        self.head_size = config.attention_head_size
        self.hidden_size = config.hidden_size
        self.query = self.dense_sublayer(config.hidden_size, name="query")
        self.key = self.dense_sublayer(config.hidden_size, name="key")
        self.value = self.dense_sublayer(config.hidden_size, name="value")
        self.dropout = layers.Dropout(config.attention_probs_dropout_prob, dtype=self.dtype_policy)

    def build(self, input_shape=None):
        for projection in (self.query, self.key, self.value):
            projection.build((None, None, self.hidden_size))
        self.built = True

    def _split_heads(self, tensor, batch_size, seq_length):
        """[B, S, H] -> [B, A, S, H/A]."""
        tensor = ops.reshape(tensor, (batch_size, seq_length, self.num_heads, self.head_size))
        return ops.transpose(tensor, (0, 2, 1, 3))

    def call(self, hidden_states, mask_bias, training=False, query_states=None):
        """Attends from every position, or from `query_states` only, to all S positions.

        Args:
          hidden_states: [B, S, H], the keys and values (and the queries without `query_states`).
          mask_bias: [B, 1, 1, S] (see `attention_mask_bias`).
          training: apply dropout.
          query_states: [B, T, H], e.g. the first token only (T = 1); None: all S positions attend.

        Returns:
          The context [B, S, H], or [B, T, H] with `query_states`.
        """
        batch_size, seq_length = ops.shape(hidden_states)[0], ops.shape(hidden_states)[1]
        if query_states is None:
            query_states, query_length = hidden_states, seq_length
        else:
            query_length = ops.shape(query_states)[1]
        # Scaling the queries instead of the scores: the same product, S/H-fold fewer multiplications.
        query = self.query(query_states) * ops.cast(1.0 / math.sqrt(self.head_size), hidden_states.dtype)
        query = self._split_heads(query, batch_size, query_length)
        key = self._split_heads(self.key(hidden_states), batch_size, seq_length)
        value = self._split_heads(self.value(hidden_states), batch_size, seq_length)
        scores = ops.matmul(query, ops.transpose(key, (0, 1, 3, 2)))  # [B, A, T, S]
        scores = scores + ops.cast(mask_bias, scores.dtype)
        probabilities = self.dropout(ops.softmax(scores, axis=-1), training=training)
        context = ops.matmul(probabilities, value)  # [B, A, T, H/A]
        context = ops.transpose(context, (0, 2, 1, 3))
        return ops.reshape(context, (batch_size, query_length, self.hidden_size))


@keras.saving.register_keras_serializable(package="bert_tf")
class DenseResidualLayerNorm(BertLayer):
    """`dense` projection, dropout, residual add, `LayerNorm`: the `output` sections of a block.

    Weights `output/dense/{kernel,bias}` [input_width, H], [H] and `output/LayerNorm/{gamma,beta}` [H].
    """

    extra_arguments = ("input_width",)

    def __init__(self, config: BertConfig, input_width: int, name: str = "output", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.input_width = input_width
        self.hidden_size = config.hidden_size
        self.dense = self.dense_sublayer(config.hidden_size)
        self.dropout = layers.Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)
        self.layer_norm = layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, name="LayerNorm", dtype=self.dtype_policy
        )

    def build(self, input_shape=None):
        self.dense.build((None, None, self.input_width))
        self.layer_norm.build((None, None, self.hidden_size))
        self.built = True

    def call(self, hidden_states, residual, training=False):
        """LayerNorm(dropout(dense(`hidden_states`)) + `residual`).

        Args:
          hidden_states: [B, S, input_width].
          residual: [B, S, H].
          training: apply dropout.

        Returns:
          [B, S, H].
        """
        projected = self.dropout(self.dense(hidden_states), training=training)
        return self.layer_norm(projected + residual)


@keras.saving.register_keras_serializable(package="bert_tf")
class Attention(BertLayer):
    """`attention/`: self-attention (`self/`) then its output projection (`output/`).

    Called like `SelfAttention.call` (same arguments and shapes); the residual is `hidden_states`, or
    `query_states` when given.
    """

    def __init__(self, config: BertConfig, name: str = "attention", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.self_attention = SelfAttention(config, name="self", dtype=self.dtype_policy)
        self.attention_output = DenseResidualLayerNorm(
            config, input_width=config.hidden_size, name="output", dtype=self.dtype_policy
        )

    def build(self, input_shape=None):
        self.self_attention.build()
        self.attention_output.build()
        self.built = True

    def call(self, hidden_states, mask_bias, training=False, query_states=None):
        context = self.self_attention(hidden_states, mask_bias, training=training, query_states=query_states)
        residual = hidden_states if query_states is None else query_states
        return self.attention_output(context, residual, training=training)
