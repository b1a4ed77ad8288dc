"""The original BERT's arithmetic in float64 numpy, written from `modeling.py`'s formulas, to check layers against.

Each function takes numpy inputs and the Keras layer whose weights it reads; it never calls the layer.
"""
import math

import numpy as np

from tests.harness.layers import to_numpy

# `tf.contrib.layers.layer_norm`'s epsilon in the original.
LAYER_NORM_EPSILON = 1e-12
# The original adds (1 - mask) * -10000 to the attention scores.
MASKED_SCORE = -10000.0


def gelu_tanh(x):
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): the original's GELU."""
    x = np.asarray(x, np.float64)
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


def gelu_erf(x):
    """The exact GELU, 0.5 x (1 + erf(x / sqrt(2))), which the original does not use."""
    return np.array([0.5 * value * (1.0 + math.erf(value / math.sqrt(2.0))) for value in np.ravel(x)]).reshape(
        np.shape(x))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, computed stably."""
    shifted = np.asarray(x, np.float64) - np.max(x, axis=axis, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """x - log(sum(exp(x))) along `axis`, computed stably."""
    shifted = np.asarray(x, np.float64) - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def layer_norm(x, layer_norm_layer):
    """LayerNorm over the last axis with a Keras `LayerNormalization`'s gamma and beta."""
    x = np.asarray(x, np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    normalized = (x - mean) / np.sqrt(variance + LAYER_NORM_EPSILON)
    return normalized * to_numpy(layer_norm_layer.gamma) + to_numpy(layer_norm_layer.beta)


def dense(x, dense_layer):
    """x kernel + bias with a Keras `Dense`'s weights (no activation)."""
    return np.asarray(x, np.float64) @ to_numpy(dense_layer.kernel) + to_numpy(dense_layer.bias)


def output_projection(x, projection_layer):
    """x W^T + b with an `OutputProjection`'s (or `ClassifierHead`'s) `output_weights` and `output_bias`."""
    return (np.asarray(x, np.float64) @ to_numpy(projection_layer.output_weights).T
            + to_numpy(projection_layer.output_bias))


def dense_residual_layer_norm(hidden, residual, layer):
    """LayerNorm(hidden W + b + residual): a `DenseResidualLayerNorm` at inference."""
    return layer_norm(dense(hidden, layer.dense) + residual, layer.layer_norm)


def self_attention(hidden, input_mask, layer, query_states=None):
    """Multi-head scaled dot-product attention of `query_states` (default: `hidden`) over `hidden`'s positions.

    Args:
      hidden: [B, S, H]; input_mask: [B, S] of 0 and 1; layer: a `SelfAttention`; query_states: [B, T, H].
    """
    query_states = hidden if query_states is None else query_states
    heads, head_size = layer.num_heads, layer.head_size

    def split_heads(x):
        """[B, N, H] -> [B, A, N, H/A]."""
        return x.reshape(x.shape[0], x.shape[1], heads, head_size).transpose(0, 2, 1, 3)

    query = split_heads(dense(query_states, layer.query))
    key, value = split_heads(dense(hidden, layer.key)), split_heads(dense(hidden, layer.value))
    scores = query @ key.transpose(0, 1, 3, 2) / math.sqrt(head_size)
    scores = scores + (1.0 - np.asarray(input_mask, np.float64))[:, None, None, :] * MASKED_SCORE
    context = softmax(scores) @ value  # [B, A, T, H/A]
    return context.transpose(0, 2, 1, 3).reshape(query.shape[0], query.shape[2], heads * head_size)


def attention(hidden, input_mask, layer, query_states=None):
    """An `Attention` section: self-attention, then dense, residual (the queries) and LayerNorm."""
    context = self_attention(hidden, input_mask, layer.self_attention, query_states)
    residual = hidden if query_states is None else query_states
    return dense_residual_layer_norm(context, residual, layer.attention_output)


def transformer_block(hidden, input_mask, block, first_token_only=False):
    """A `TransformerBlock`: attention, gelu feed-forward, dense, residual, LayerNorm (position 0 only if asked)."""
    query_states = hidden[:, :1] if first_token_only else None
    attention_output = attention(hidden, input_mask, block.attention, query_states)
    intermediate_output = gelu_tanh(dense(attention_output, block.intermediate.dense))
    return dense_residual_layer_norm(intermediate_output, attention_output, block.block_output)
