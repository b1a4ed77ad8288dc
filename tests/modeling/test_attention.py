"""`bert_tf.modeling.attention`: `attention_mask_bias`, `SelfAttention`, `DenseResidualLayerNorm`, `Attention`."""
import numpy as np
import pytest

from bert_tf.modeling.attention import Attention, DenseResidualLayerNorm, SelfAttention, attention_mask_bias
from tests.harness.layers import (
    LayerCase,
    calling_with,
    check_dropout_only_in_training,
    dtype_name,
    run_layer_test,
    serialization_round_trip_test,
    to_numpy,
)
from tests.modeling import numpy_reference
from tests.modeling.small_bert import (
    BATCH_SIZE,
    MIXED_PRECISION_ATOL,
    SEQ_LENGTH,
    attention_weight_shapes,
    dense_layer_norm_weight_shapes,
    hidden_states,
    self_attention_weight_shapes,
    small_config,
    token_inputs,
)

CONFIG = small_config()
HIDDEN = hidden_states(CONFIG.hidden_size)
INPUT_MASK = token_inputs(CONFIG)["input_mask"]
MASK_BIAS = np.asarray(attention_mask_bias(INPUT_MASK, "float32"))
INTERMEDIATE = hidden_states(CONFIG.intermediate_size, seed=1)
OUTPUT_SHAPE = (BATCH_SIZE, SEQ_LENGTH, CONFIG.hidden_size)

LAYER_CASES = {
    "SelfAttention": LayerCase(lambda policy: SelfAttention(CONFIG, dtype=policy), calling_with(HIDDEN, MASK_BIAS)),
    "DenseResidualLayerNorm": LayerCase(
        lambda policy: DenseResidualLayerNorm(CONFIG, input_width=CONFIG.intermediate_size, dtype=policy),
        calling_with(INTERMEDIATE, HIDDEN)),
    "Attention": LayerCase(lambda policy: Attention(CONFIG, dtype=policy), calling_with(HIDDEN, MASK_BIAS)),
}
test_layers_round_trip_through_their_config = serialization_round_trip_test(LAYER_CASES)


# ------------------------------------------------------------------------------------ attention_mask_bias
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_mask_bias_is_zero_for_real_keys_and_minus_10000_for_padding(dtype):
    bias = attention_mask_bias(INPUT_MASK, dtype)
    assert tuple(bias.shape) == (BATCH_SIZE, 1, 1, SEQ_LENGTH) and dtype_name(bias) == dtype
    expected = np.where(INPUT_MASK == 1, 0.0, -10000.0)[:, None, None, :]
    np.testing.assert_allclose(np.asarray(to_numpy(bias), np.float32), expected, rtol=1e-2)  # bfloat16: -9984


# ------------------------------------------------------------------------------------------ SelfAttention
def test_self_attention_layer():
    case = LAYER_CASES["SelfAttention"]
    results = run_layer_test(
        case.make, case.call,
        expected_output_shapes=OUTPUT_SHAPE, expected_trainable_weights=6,
        expected_weight_paths=self_attention_weight_shapes(CONFIG, "self"),
        mixed_precision_atol=MIXED_PRECISION_ATOL)
    layer, outputs = results["float32"]
    expected = numpy_reference.self_attention(HIDDEN, INPUT_MASK, layer)
    np.testing.assert_allclose(to_numpy(outputs), expected, atol=1e-5, rtol=0)


def test_query_key_and_value_start_from_different_random_kernels():
    # One shared Keras initializer gives the same values at every call: the three kernels were once equal.
    layer = SelfAttention(CONFIG)
    layer(HIDDEN, MASK_BIAS)
    query, key, value = (to_numpy(sublayer.kernel) for sublayer in (layer.query, layer.key, layer.value))
    assert not np.allclose(query, key) and not np.allclose(key, value) and not np.allclose(query, value)
    assert 0.5 * CONFIG.initializer_range < query.std() < CONFIG.initializer_range


def test_masked_keys_get_no_attention_weight():
    """Whatever the hidden states at padded positions, the other positions' contexts do not change."""
    layer = SelfAttention(CONFIG)
    layer.build()
    padded = INPUT_MASK == 0
    other_hidden = HIDDEN.copy()
    other_hidden[padded] = hidden_states(CONFIG.hidden_size, seed=7)[padded] * 100.0
    original, changed = to_numpy(layer(HIDDEN, MASK_BIAS)), to_numpy(layer(other_hidden, MASK_BIAS))
    np.testing.assert_allclose(changed[~padded], original[~padded], atol=1e-6, rtol=0)
    assert not np.allclose(changed[padded], original[padded])


def test_query_states_attend_over_every_position():
    """The [CLS]-only path: `query_states` [B, 1, H] gives the first row of the full computation."""
    layer = SelfAttention(CONFIG)
    layer.build()
    first_only = to_numpy(layer(HIDDEN, MASK_BIAS, query_states=HIDDEN[:, :1]))
    assert first_only.shape == (BATCH_SIZE, 1, CONFIG.hidden_size)
    np.testing.assert_allclose(first_only, to_numpy(layer(HIDDEN, MASK_BIAS))[:, :1], atol=1e-6, rtol=0)
    other_queries = hidden_states(CONFIG.hidden_size, seq_length=3, seed=2)
    np.testing.assert_allclose(to_numpy(layer(HIDDEN, MASK_BIAS, query_states=other_queries)),
                               numpy_reference.self_attention(HIDDEN, INPUT_MASK, layer, other_queries),
                               atol=1e-5, rtol=0)


def test_attention_dropout_only_in_training():
    layer = SelfAttention(small_config(attention_probs_dropout_prob=0.5))
    layer.build()
    check_dropout_only_in_training(layer, HIDDEN, MASK_BIAS)


# -------------------------------------------------------------------------------- DenseResidualLayerNorm
def test_dense_residual_layer_norm_layer():
    case = LAYER_CASES["DenseResidualLayerNorm"]
    results = run_layer_test(
        case.make, case.call, expected_output_shapes=OUTPUT_SHAPE, expected_trainable_weights=4,
        expected_weight_paths=dense_layer_norm_weight_shapes(CONFIG, CONFIG.intermediate_size, "output"),
        mixed_precision_atol=MIXED_PRECISION_ATOL)
    layer, outputs = results["float32"]
    expected = numpy_reference.dense_residual_layer_norm(INTERMEDIATE, HIDDEN, layer)
    np.testing.assert_allclose(to_numpy(outputs), expected, atol=1e-5, rtol=0)


# ---------------------------------------------------------------------------------------------- Attention
def test_attention_layer():
    case = LAYER_CASES["Attention"]
    results = run_layer_test(
        case.make, case.call,
        expected_output_shapes=OUTPUT_SHAPE, expected_trainable_weights=10,
        expected_weight_paths=attention_weight_shapes(CONFIG, "attention"),
        mixed_precision_atol=MIXED_PRECISION_ATOL)
    layer, outputs = results["float32"]
    np.testing.assert_allclose(to_numpy(outputs), numpy_reference.attention(HIDDEN, INPUT_MASK, layer),
                               atol=1e-5, rtol=0)


def test_attention_with_query_states_uses_them_as_the_residual():
    layer = Attention(CONFIG)
    layer.build()
    first_only = to_numpy(layer(HIDDEN, MASK_BIAS, query_states=HIDDEN[:, :1]))
    np.testing.assert_allclose(first_only, to_numpy(layer(HIDDEN, MASK_BIAS))[:, :1], atol=1e-6, rtol=0)
    np.testing.assert_allclose(first_only, numpy_reference.attention(HIDDEN, INPUT_MASK, layer, HIDDEN[:, :1]),
                               atol=1e-5, rtol=0)
