"""Keras serialization of the bert_tf models: `get_config`/`from_config` round trips; TensorFlow and JAX backends."""
import json

import keras
import numpy as np
import pytest

import bert_tf
from bert_tf.modeling import models

DTYPES = ("float32", "mixed_bfloat16")
MODELS = {
    "BertModel": lambda config, dtype: bert_tf.BertModel(config, dtype=dtype),
    "BertPretrainingModel": lambda config, dtype: bert_tf.BertPretrainingModel(config, dtype=dtype),
    "BertClassifier": lambda config, dtype: bert_tf.BertClassifier(config, 3, dtype=dtype),
}


def _tiny_config():
    # A key that is not an original field (kept in `extra`) must survive the round trip too.
    return bert_tf.BertConfig.from_dict(dict(
        vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=32,
        max_position_embeddings=16, type_vocab_size=2, hidden_act="gelu", directionality="bidi"))


def _inputs():
    rng = np.random.default_rng(0)
    input_ids = rng.integers(1, 50, size=(2, 7)).astype(np.int32)
    input_mask = np.ones_like(input_ids)
    input_mask[1, 5:] = 0
    return {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": np.zeros_like(input_ids),
            "masked_lm_positions": np.array([[1, 2], [0, 4]], np.int32)}


def _variables(model):
    return [(variable.path, tuple(variable.shape), variable.dtype) for variable in model.weights]


def _assert_same_model(original, restored):
    """Same class, configuration, dtype policy and variables; with the original's weights, the same outputs."""
    assert type(restored) is type(original)
    assert restored.config == original.config
    assert restored.name == original.name
    assert restored.dtype_policy.name == original.dtype_policy.name
    assert restored.get_config() == original.get_config()
    assert _variables(restored) == _variables(original)
    restored.set_weights(original.get_weights())
    inputs = _inputs()
    expected = original(inputs, training=False)
    actual = restored(inputs, training=False)
    assert sorted(actual) == sorted(expected)
    for key in expected:
        for expected_tensor, actual_tensor in zip(keras.tree.flatten(expected[key]), keras.tree.flatten(actual[key])):
            assert keras.backend.standardize_dtype(actual_tensor.dtype) == \
                keras.backend.standardize_dtype(expected_tensor.dtype), key
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(actual_tensor),
                                          keras.ops.convert_to_numpy(expected_tensor), err_msg=key)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_from_config_of_get_config_is_the_same_model(model_name, dtype):
    original = MODELS[model_name](_tiny_config(), dtype)
    config = original.get_config()
    assert json.loads(json.dumps(config)) == config  # plain JSON: the BertConfig is a dict
    assert config["config"] == _tiny_config().to_dict() and config["config"]["directionality"] == "bidi"
    assert keras.dtype_policies.deserialize(config["dtype"]).name == dtype
    if model_name == "BertClassifier":
        assert config["num_labels"] == 3
    _assert_same_model(original, type(original).from_config(config))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("model_name", sorted(MODELS))
def test_serialize_and_deserialize_keras_object(model_name, dtype):
    original = MODELS[model_name](_tiny_config(), dtype)
    serialized = keras.saving.serialize_keras_object(original)
    assert serialized["registered_name"] == f"bert_tf>{model_name}"
    serialized = json.loads(json.dumps(serialized))
    restored = keras.saving.deserialize_keras_object(serialized)
    _assert_same_model(original, restored)


def test_models_are_registered_under_the_bert_tf_package():
    for model_class in (models.BertModel, models.BertPretrainingModel, models.BertClassifier):
        name = f"bert_tf>{model_class.__name__}"
        assert keras.saving.get_registered_name(model_class) == name
        assert keras.saving.get_registered_object(name) is model_class


def test_from_config_accepts_a_policy_object_or_name_for_dtype():
    original = bert_tf.BertClassifier(_tiny_config(), 2)
    for dtype in ("mixed_bfloat16", keras.DTypePolicy("mixed_bfloat16")):
        restored = bert_tf.BertClassifier.from_config({**original.get_config(), "dtype": dtype})
        assert restored.dtype_policy.name == "mixed_bfloat16"
        assert _variables(restored) == _variables(original)  # variables stay float32


def test_get_config_keeps_the_global_policy_it_was_built_with():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        config = bert_tf.BertModel(_tiny_config()).get_config()
    finally:
        keras.config.set_dtype_policy(previous)
    assert bert_tf.BertModel.from_config(config).dtype_policy.name == "mixed_bfloat16"
