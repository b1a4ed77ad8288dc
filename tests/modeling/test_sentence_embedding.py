"""`bert_tf.modeling.sentence_embedding`: `check_pooling`, `pool_tokens`, `combine_windows`, `BertSentenceEmbedding`."""
import numpy as np
import pytest

from bert_tf.errors import InputError
from bert_tf.modeling import BertModel
from bert_tf.modeling.sentence_embedding import (
    POOLINGS,
    BertSentenceEmbedding,
    check_pooling,
    combine_windows,
    pool_tokens,
)
from tests.harness.layers import (
    LayerCase,
    calling_with,
    copy_weights_by_path,
    run_layer_test,
    serialization_round_trip_test,
    to_numpy,
)
from tests.modeling.small_bert import (
    BATCH_SIZE,
    MIXED_PRECISION_ATOL,
    backbone_weight_shapes,
    hidden_states,
    small_config,
    token_inputs,
)

CONFIG = small_config()
INPUTS = token_inputs(CONFIG)
call_on_inputs = calling_with(INPUTS)

CASES = {f"BertSentenceEmbedding_{pooling}": LayerCase(
    lambda policy, pooling=pooling: BertSentenceEmbedding(CONFIG, pooling, dtype=policy), call_on_inputs)
    for pooling in ("mean", "pooler")}
test_round_trip_through_the_config = serialization_round_trip_test(CASES)


def numpy_pooling(hidden, mask, pooling):
    if pooling == "cls":
        return hidden[:, 0]
    if pooling == "max":
        return np.where(mask[:, :, None] > 0, hidden, -np.inf).max(axis=1)
    return (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)


def test_the_model_gives_float32_vectors_and_token_counts_and_holds_only_the_encoder():
    run_layer_test(
        CASES["BertSentenceEmbedding_mean"].make, call_on_inputs,
        expected_output_shapes={"embeddings": (BATCH_SIZE, CONFIG.hidden_size), "num_tokens": (BATCH_SIZE,)},
        expected_output_dtypes={"embeddings": "float32", "num_tokens": "int32"}, expected_trainable_weights=39,
        expected_weight_paths=backbone_weight_shapes(CONFIG), mixed_precision_atol=MIXED_PRECISION_ATOL)


@pytest.mark.parametrize("pooling", ["cls", "mean", "max", "pooler"])
def test_each_pooling_is_computed_from_the_encoders_outputs_over_the_real_tokens(pooling):
    encoder = BertModel(CONFIG)
    model = BertSentenceEmbedding(CONFIG, pooling, [-1] if pooling == "pooler" else [0, -1])
    copy_weights_by_path(encoder, model)
    outputs = to_numpy(model(INPUTS))
    reference = to_numpy(encoder(INPUTS))
    if pooling == "pooler":
        expected = reference["pooled_output"]
    else:
        hidden = (reference["encoder_outputs"][0] + reference["encoder_outputs"][-1]) / 2
        expected = numpy_pooling(hidden, INPUTS["input_mask"], pooling)
    np.testing.assert_allclose(outputs["embeddings"], expected, atol=1e-5)
    np.testing.assert_array_equal(outputs["num_tokens"], INPUTS["input_mask"].sum(axis=1))


def test_padding_does_not_change_a_rows_vector():
    model = BertSentenceEmbedding(CONFIG, "max")
    short = {key: value[-1:, :5] for key, value in INPUTS.items()}  # the padded row without its padding
    np.testing.assert_allclose(to_numpy(model(short))["embeddings"][0], to_numpy(model(INPUTS))["embeddings"][-1],
                               atol=1e-5)


def test_pool_tokens_on_hidden_states():
    hidden = hidden_states(4)
    mask = INPUTS["input_mask"]
    for pooling in ("cls", "mean", "max"):
        np.testing.assert_allclose(to_numpy(pool_tokens(hidden, mask, pooling)), numpy_pooling(hidden, mask, pooling),
                                   atol=1e-6)


def test_combine_windows_weights_by_tokens_and_normalizes():
    vectors = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0], [0.0, 0.0]], np.float32)
    combined = to_numpy(combine_windows(vectors, [1, 3, 5, 2], np.array([0, 0, 1, 2], np.int32), 3, False))
    np.testing.assert_allclose(combined, [[0.25, 1.5], [3.0, 4.0], [0.0, 0.0]], atol=1e-6)
    normalized = to_numpy(combine_windows(vectors, [1, 3, 5, 2], np.array([0, 0, 1, 2], np.int32), 3, True))
    np.testing.assert_allclose(normalized[1], [0.6, 0.8], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(normalized[0]), 1.0, atol=1e-6)
    np.testing.assert_array_equal(normalized[2], [0.0, 0.0])  # a zero vector stays zero (no division by 0)


def test_check_pooling_names_what_is_wrong():
    assert check_pooling("MEAN", [-1, 0], 2) == ("mean", (-1, 0))
    assert set(POOLINGS) == {"cls", "mean", "max", "pooler"}
    with pytest.raises(InputError, match="unknown pooling 'avg'"):
        check_pooling("avg", [-1], 2)
    with pytest.raises(InputError, match=r"layer -3 does not exist; the model has 2 layers \(valid indexes -2..1"):
        check_pooling("mean", [-3], 2)
    with pytest.raises(InputError, match="layer 2 does not exist"):
        BertSentenceEmbedding(CONFIG, "mean", [2])
    with pytest.raises(InputError, match="reads the last layer only"):
        check_pooling("pooler", [-2], 2)
    with pytest.raises(InputError, match="layers is empty"):
        check_pooling("cls", [], 2)
    assert check_pooling("pooler", [1], 2) == ("pooler", (1,))
