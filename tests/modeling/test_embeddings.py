"""`bert_tf.modeling.embeddings`: `BertEmbeddings` and `check_sequence_length`."""
import keras
import numpy as np
import pytest

import bert_tf
from bert_tf.modeling.embeddings import BertEmbeddings, check_sequence_length
from tests.harness.layers import (
    LayerCase,
    calling_with,
    check_dropout_only_in_training,
    run_layer_test,
    serialization_round_trip_test,
    to_numpy,
)
from tests.modeling import numpy_reference
from tests.modeling.small_bert import (
    BATCH_SIZE,
    MIXED_PRECISION_ATOL,
    SEQ_LENGTH,
    embedding_weight_shapes,
    small_config,
    token_inputs,
)

CONFIG = small_config()
INPUTS = token_inputs(CONFIG)


def make_embeddings(dtype_policy):
    """The small config's `BertEmbeddings` under `dtype_policy`."""
    return BertEmbeddings(CONFIG, dtype=dtype_policy)


LAYER_CASES = {"BertEmbeddings": LayerCase(make_embeddings, calling_with(INPUTS["input_ids"], INPUTS["segment_ids"]))}
test_layers_round_trip_through_their_config = serialization_round_trip_test(LAYER_CASES)


def reference_embeddings(layer, input_ids, segment_ids):
    """LayerNorm(word[ids] + token_type[segments] + position[:S]), from the layer's weights."""
    word, token_type = to_numpy(layer.word_embeddings), to_numpy(layer.token_type_embeddings)
    position = to_numpy(layer.position_embeddings)[: input_ids.shape[1]]
    return numpy_reference.layer_norm(word[input_ids] + token_type[segment_ids] + position, layer.layer_norm)


def test_embeddings_layer():
    results = run_layer_test(
        make_embeddings, LAYER_CASES["BertEmbeddings"].call,
        expected_output_shapes=(BATCH_SIZE, SEQ_LENGTH, CONFIG.hidden_size), expected_trainable_weights=5,
        expected_weight_paths=embedding_weight_shapes(CONFIG, "embeddings"),
        mixed_precision_atol=MIXED_PRECISION_ATOL)
    layer, outputs = results["float32"]
    expected = reference_embeddings(layer, INPUTS["input_ids"], INPUTS["segment_ids"])
    np.testing.assert_allclose(to_numpy(outputs), expected, atol=1e-5, rtol=0)


def test_every_length_up_to_max_position_embeddings():
    layer = make_embeddings("float32")
    layer.build()
    for seq_length in (1, CONFIG.max_position_embeddings):
        inputs = token_inputs(CONFIG, seq_length=seq_length)
        outputs = to_numpy(layer(inputs["input_ids"], inputs["segment_ids"]))
        assert outputs.shape == (BATCH_SIZE, seq_length, CONFIG.hidden_size)
        np.testing.assert_allclose(outputs, reference_embeddings(layer, inputs["input_ids"], inputs["segment_ids"]),
                                   atol=1e-5, rtol=0)


def test_embedding_dropout_only_in_training():
    layer = BertEmbeddings(small_config(hidden_dropout_prob=0.5))
    layer.build()
    check_dropout_only_in_training(layer, INPUTS["input_ids"], INPUTS["segment_ids"])


def test_initializer_is_truncated_normal_with_initializer_range():
    config = small_config(vocab_size=2000, hidden_size=64, num_attention_heads=4, initializer_range=0.05)
    model = bert_tf.BertModel(config)
    table = np.asarray(model.bert.embeddings.word_embeddings)
    assert np.abs(table).max() <= 2 * 0.05 + 1e-7
    assert 0.03 < table.std() < 0.05  # a normal truncated at 2 sigma has std 0.88 sigma


# --------------------------------------------------------------------------------- check_sequence_length
def test_check_sequence_length_accepts_up_to_the_table_and_unknown_lengths():
    check_sequence_length(1, 16)
    check_sequence_length(16, 16)
    check_sequence_length(None, 16)  # a dynamic length inside a traced function: not checkable in Python


def test_check_sequence_length_names_both_numbers():
    with pytest.raises(ValueError, match=r"sequence length 17 is longer than max_position_embeddings \(16\)"):
        check_sequence_length(17, 16)


def test_longer_than_max_position_embeddings_is_a_clear_error():
    model = bert_tf.BertModel(small_config())
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model({"input_ids": np.ones((1, 17), np.int32)})


def test_longer_than_the_table_at_run_time_is_a_shape_error_not_a_silent_result():
    """Inside a function traced with an unknown length, the position slice cannot stretch: the call fails."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("traced functions with unknown dimensions need the TensorFlow backend")
    import tensorflow as tf

    layer = make_embeddings("float32")
    layer.build()
    spec = tf.TensorSpec([None, None], tf.int32)
    embed = tf.function(lambda input_ids, segment_ids: layer(input_ids, segment_ids), input_signature=[spec, spec])
    assert tuple(embed(INPUTS["input_ids"], INPUTS["segment_ids"]).shape) == (BATCH_SIZE, SEQ_LENGTH, 32)
    too_long = np.ones((1, CONFIG.max_position_embeddings + 1), np.int32)
    with pytest.raises((tf.errors.InvalidArgumentError, ValueError)):
        embed(too_long, np.zeros_like(too_long))
