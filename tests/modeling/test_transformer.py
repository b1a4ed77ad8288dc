"""`bert_tf.modeling.transformer`: `Intermediate`, `TransformerBlock` and `TransformerEncoder`."""
import numpy as np

from bert_tf.modeling.attention import attention_mask_bias
from bert_tf.modeling.transformer import Intermediate, TransformerBlock, TransformerEncoder
from tests.harness.layers import LayerCase, calling_with, run_layer_test, serialization_round_trip_test, to_numpy
from tests.modeling import numpy_reference
from tests.modeling.small_bert import (
    BATCH_SIZE,
    MIXED_PRECISION_ATOL,
    SEQ_LENGTH,
    block_weight_shapes,
    encoder_weight_shapes,
    hidden_states,
    small_config,
    token_inputs,
)

CONFIG = small_config()
HIDDEN = hidden_states(CONFIG.hidden_size)
INPUT_MASK = token_inputs(CONFIG)["input_mask"]
MASK_BIAS = np.asarray(attention_mask_bias(INPUT_MASK, "float32"))
HIDDEN_SHAPE = (BATCH_SIZE, SEQ_LENGTH, CONFIG.hidden_size)


def make_block(dtype_policy):
    """The small config's first block, `layer_0`, under `dtype_policy`."""
    return TransformerBlock(CONFIG, name="layer_0", dtype=dtype_policy)


def make_encoder(dtype_policy):
    """The small config's `TransformerEncoder` under `dtype_policy`."""
    return TransformerEncoder(CONFIG, dtype=dtype_policy)


call_with_mask = calling_with(HIDDEN, MASK_BIAS)
LAYER_CASES = {
    "Intermediate": LayerCase(lambda policy: Intermediate(CONFIG, dtype=policy), calling_with(HIDDEN)),
    "TransformerBlock": LayerCase(make_block, call_with_mask),
    "TransformerEncoder": LayerCase(make_encoder, call_with_mask),
}
test_layers_round_trip_through_their_config = serialization_round_trip_test(LAYER_CASES)


def test_intermediate_layer_is_gelu_of_a_dense_projection():
    results = run_layer_test(
        LAYER_CASES["Intermediate"].make, LAYER_CASES["Intermediate"].call,
        expected_output_shapes=(BATCH_SIZE, SEQ_LENGTH, CONFIG.intermediate_size), expected_trainable_weights=2,
        expected_weight_paths={"intermediate/dense/kernel": (CONFIG.hidden_size, CONFIG.intermediate_size),
                               "intermediate/dense/bias": (CONFIG.intermediate_size,)},
        mixed_precision_atol=MIXED_PRECISION_ATOL)
    layer, outputs = results["float32"]
    expected = numpy_reference.gelu_tanh(numpy_reference.dense(HIDDEN, layer.dense))
    np.testing.assert_allclose(to_numpy(outputs), expected, atol=1e-5, rtol=0)


def test_block_layer():
    results = run_layer_test(
        make_block, call_with_mask, expected_output_shapes=HIDDEN_SHAPE, expected_trainable_weights=16,
        expected_weight_paths=block_weight_shapes(CONFIG, "layer_0"), mixed_precision_atol=MIXED_PRECISION_ATOL)
    block, outputs = results["float32"]
    np.testing.assert_allclose(to_numpy(outputs), numpy_reference.transformer_block(HIDDEN, INPUT_MASK, block),
                               atol=1e-5, rtol=0)


def test_block_first_token_only_is_the_first_row_of_the_full_output():
    block = make_block("float32")
    block.build()
    first_only = to_numpy(block(HIDDEN, MASK_BIAS, first_token_only=True))
    assert first_only.shape == (BATCH_SIZE, 1, CONFIG.hidden_size)
    np.testing.assert_allclose(first_only, to_numpy(block(HIDDEN, MASK_BIAS))[:, :1], atol=1e-5, rtol=0)
    np.testing.assert_allclose(first_only, numpy_reference.transformer_block(HIDDEN, INPUT_MASK, block, True),
                               atol=1e-5, rtol=0)


def test_encoder_layer_returns_every_block_output():
    results = run_layer_test(
        make_encoder, call_with_mask,
        expected_output_shapes=[HIDDEN_SHAPE] * CONFIG.num_hidden_layers, expected_trainable_weights=32,
        expected_weight_paths=encoder_weight_shapes(CONFIG, "encoder"), mixed_precision_atol=MIXED_PRECISION_ATOL)
    encoder, outputs = results["float32"]
    expected = HIDDEN
    for block, block_output in zip(encoder.blocks, outputs):
        expected = numpy_reference.transformer_block(expected, INPUT_MASK, block)
        np.testing.assert_allclose(to_numpy(block_output), expected, atol=1e-4, rtol=0)


def test_encoder_last_layer_first_token_only():
    encoder = make_encoder("float32")
    encoder.build()
    full = to_numpy(encoder(HIDDEN, MASK_BIAS))
    partial = to_numpy(encoder(HIDDEN, MASK_BIAS, last_layer_first_token_only=True))
    assert [output.shape for output in partial] == [HIDDEN_SHAPE, (BATCH_SIZE, 1, CONFIG.hidden_size)]
    np.testing.assert_array_equal(partial[0], full[0])
    np.testing.assert_allclose(partial[-1], full[-1][:, :1], atol=1e-5, rtol=0)
