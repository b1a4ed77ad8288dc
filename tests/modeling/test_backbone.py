"""`bert_tf.modeling.backbone`: `Pooler`, `standardize_inputs` and `BertBackbone`."""
import numpy as np
import pytest

from bert_tf.modeling.backbone import BertBackbone, Pooler, standardize_inputs
from tests.harness.layers import (
    LayerCase,
    calling_with,
    dtype_name,
    run_layer_test,
    serialization_round_trip_test,
    to_float32_numpy,
    to_numpy,
)
from tests.modeling import numpy_reference
from tests.modeling.small_bert import (
    BATCH_SIZE,
    MIXED_PRECISION_ATOL,
    SEQ_LENGTH,
    backbone_weight_shapes,
    hidden_states,
    small_config,
    token_inputs,
)

CONFIG = small_config()
INPUTS = token_inputs(CONFIG)
HIDDEN = hidden_states(CONFIG.hidden_size)
HIDDEN_SHAPE = (BATCH_SIZE, SEQ_LENGTH, CONFIG.hidden_size)
BACKBONE_OUTPUT_SHAPES = {
    "embedding_output": HIDDEN_SHAPE,
    "encoder_outputs": [HIDDEN_SHAPE] * CONFIG.num_hidden_layers,
    "sequence_output": HIDDEN_SHAPE,
    "pooled_output": (BATCH_SIZE, CONFIG.hidden_size),
}


def make_backbone(dtype_policy):
    """The small config's `BertBackbone` under `dtype_policy`."""
    return BertBackbone(CONFIG, dtype=dtype_policy)


call_backbone = calling_with(INPUTS["input_ids"], INPUTS["input_mask"], INPUTS["segment_ids"])
LAYER_CASES = {
    "Pooler": LayerCase(lambda policy: Pooler(CONFIG, dtype=policy), calling_with(HIDDEN)),
    "BertBackbone": LayerCase(make_backbone, call_backbone),
}
test_layers_round_trip_through_their_config = serialization_round_trip_test(LAYER_CASES)


def test_pooler_layer_is_tanh_of_the_first_token_projection():
    results = run_layer_test(
        LAYER_CASES["Pooler"].make, LAYER_CASES["Pooler"].call,
        expected_output_shapes=(BATCH_SIZE, CONFIG.hidden_size), expected_trainable_weights=2,
        expected_weight_paths={"pooler/dense/kernel": (CONFIG.hidden_size, CONFIG.hidden_size),
                               "pooler/dense/bias": (CONFIG.hidden_size,)},
        mixed_precision_atol=MIXED_PRECISION_ATOL)
    pooler, outputs = results["float32"]
    expected = np.tanh(numpy_reference.dense(HIDDEN[:, 0], pooler.dense))
    np.testing.assert_allclose(to_numpy(outputs), expected, atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------ standardize_inputs
def test_input_ids_alone_get_a_mask_of_ones_and_segments_of_zeros():
    for inputs in (INPUTS["input_ids"], {"input_ids": INPUTS["input_ids"]}):
        input_ids, input_mask, segment_ids = standardize_inputs(inputs)
        assert [dtype_name(tensor) for tensor in (input_ids, input_mask, segment_ids)] == ["int32"] * 3
        np.testing.assert_array_equal(to_numpy(input_ids), INPUTS["input_ids"])
        np.testing.assert_array_equal(to_numpy(input_mask), np.ones_like(INPUTS["input_ids"]))
        np.testing.assert_array_equal(to_numpy(segment_ids), np.zeros_like(INPUTS["input_ids"]))


def test_given_mask_and_segments_are_kept_and_cast_to_int32():
    int64_inputs = {key: value.astype(np.int64) for key, value in INPUTS.items()}
    standardized = standardize_inputs(int64_inputs)
    for key, tensor in zip(("input_ids", "input_mask", "segment_ids"), standardized):
        assert dtype_name(tensor) == "int32"
        np.testing.assert_array_equal(to_numpy(tensor), INPUTS[key])


def test_inputs_without_input_ids_are_an_error_naming_the_keys():
    with pytest.raises(ValueError, match=r"need 'input_ids'; got keys \['input_mask'\]"):
        standardize_inputs({"input_mask": INPUTS["input_mask"]})


@pytest.mark.parametrize("shape", [(8,), (2, 3, 8)])
def test_input_ids_of_another_rank_are_an_error(shape):
    with pytest.raises(ValueError, match=r"input_ids must have shape \[batch, seq\]"):
        standardize_inputs(np.ones(shape, np.int32))


# ------------------------------------------------------------------------------------------ BertBackbone
def test_backbone_layer():
    results = run_layer_test(
        make_backbone, call_backbone, expected_output_shapes=BACKBONE_OUTPUT_SHAPES, expected_trainable_weights=39,
        expected_weight_paths=backbone_weight_shapes(CONFIG, "bert"), mixed_precision_atol=MIXED_PRECISION_ATOL)
    backbone, outputs = results["float32"]
    outputs = to_numpy(outputs)
    np.testing.assert_array_equal(outputs["sequence_output"], outputs["encoder_outputs"][-1])
    expected_pooled = np.tanh(numpy_reference.dense(outputs["sequence_output"][:, 0], backbone.pooler.dense))
    np.testing.assert_allclose(outputs["pooled_output"], expected_pooled, atol=1e-5, rtol=0)


def test_pooled_output_only_equals_the_full_computations_pooled_output():
    for dtype_policy, atol in (("float32", 1e-5), ("mixed_bfloat16", MIXED_PRECISION_ATOL)):
        backbone = make_backbone(dtype_policy)
        backbone.build()
        full = call_backbone(backbone)
        pooled_only = backbone(INPUTS["input_ids"], INPUTS["input_mask"], INPUTS["segment_ids"],
                               pooled_output_only=True)
        assert sorted(pooled_only) == ["pooled_output"]
        assert dtype_name(pooled_only["pooled_output"]) == dtype_name(full["pooled_output"])
        np.testing.assert_allclose(to_float32_numpy(pooled_only["pooled_output"]),
                                   to_float32_numpy(full["pooled_output"]), atol=atol, rtol=0)
