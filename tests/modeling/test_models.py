"""`bert_tf.modeling.models`: `BertModel`, `BertPretrainingModel`, `BertClassifier`.

Parity with the original `modeling.py` on the shared reference outputs, checkpoint names, inputs, dtype
policies and Keras serialization; runs under TensorFlow and JAX.
"""
import json

import keras
import numpy as np
import pytest

import bert_tf
from bert_tf.checkpoint import list_checkpoint, load_checkpoint
from bert_tf.modeling import models
from tests.harness.layers import (
    COMPUTE_DTYPE,
    DTYPE_POLICIES,
    LayerCase,
    calling_with,
    check_dropout_only_in_training,
    run_layer_test,
    run_serialization_test,
    to_numpy,
    weight_summary,
)
from tests.modeling.small_bert import (
    BATCH_SIZE,
    MIXED_PRECISION_ATOL,
    SEQ_LENGTH,
    backbone_weight_shapes,
    pretraining_heads_weight_shapes,
    small_config,
    token_inputs,
)

TINY = "tiny_uncased_L-2_H-64_A-4"
MINILM = "minilm_l6_h384_uncased"
# A key that is not an original field (kept in `extra`) must survive serialization too.
CONFIG = small_config(directionality="bidi")
NUM_LABELS = 3
MASKED_POSITIONS = np.array([[1, 2], [0, 4]], np.int32)
INPUTS = {**token_inputs(CONFIG), "masked_lm_positions": MASKED_POSITIONS}
HIDDEN_SHAPE = (BATCH_SIZE, SEQ_LENGTH, CONFIG.hidden_size)
ENCODER_OUTPUT_SHAPES = {
    "embedding_output": HIDDEN_SHAPE,
    "encoder_outputs": [HIDDEN_SHAPE] * CONFIG.num_hidden_layers,
    "sequence_output": HIDDEN_SHAPE,
    "pooled_output": (BATCH_SIZE, CONFIG.hidden_size),
}
ENCODER_OUTPUT_DTYPES = {key: COMPUTE_DTYPE for key in ENCODER_OUTPUT_SHAPES}


call_on_inputs = calling_with(INPUTS)
MODEL_CASES = {
    "BertModel": LayerCase(lambda policy: bert_tf.BertModel(CONFIG, dtype=policy), call_on_inputs),
    "BertPretrainingModel": LayerCase(lambda policy: bert_tf.BertPretrainingModel(CONFIG, dtype=policy),
                                      call_on_inputs),
    "BertClassifier": LayerCase(lambda policy: bert_tf.BertClassifier(CONFIG, NUM_LABELS, dtype=policy),
                                call_on_inputs),
}


def _model_variable_names(checkpoint_dir):
    """Checkpoint entries that are model variables (not optimizer slots, not global_step)."""
    return {
        name for name in list_checkpoint(checkpoint_dir)
        if not name.endswith(("/adam_m", "/adam_v")) and name != "global_step"
    }


def _load(model_class, checkpoint_dir):
    """A `model_class` for the checkpoint's config, with the checkpoint loaded; and the load report."""
    config = bert_tf.BertConfig.from_json_file(checkpoint_dir / "bert_config.json")
    model = model_class(config)
    report = load_checkpoint(model, checkpoint_dir)
    return model, report


def _reference(refs_dir, name):
    """The shared reference outputs of checkpoint `name` (refs/README.md), as a dict of arrays."""
    with np.load(refs_dir / f"{name}_public.npz") as data:
        return {key: data[key] for key in data.files}


# ------------------------------------------------------------------------------ the models as Keras layers
def test_bert_model_layer():
    run_layer_test(
        MODEL_CASES["BertModel"].make, call_on_inputs, expected_output_shapes=ENCODER_OUTPUT_SHAPES,
        expected_trainable_weights=39, expected_weight_paths=backbone_weight_shapes(CONFIG),
        mixed_precision_atol=MIXED_PRECISION_ATOL)


def test_pretraining_model_layer():
    num_positions = MASKED_POSITIONS.shape[1]
    run_layer_test(
        MODEL_CASES["BertPretrainingModel"].make, call_on_inputs,
        expected_output_shapes={**ENCODER_OUTPUT_SHAPES,
                                "masked_lm_log_probs": (BATCH_SIZE, num_positions, CONFIG.vocab_size),
                                "next_sentence_logits": (BATCH_SIZE, 2)},
        expected_output_dtypes={**ENCODER_OUTPUT_DTYPES, "masked_lm_log_probs": "float32",
                                "next_sentence_logits": "float32"},
        expected_trainable_weights=46,
        expected_weight_paths={**backbone_weight_shapes(CONFIG), **pretraining_heads_weight_shapes(CONFIG)},
        mixed_precision_atol=MIXED_PRECISION_ATOL)


def test_classifier_layer():
    run_layer_test(
        MODEL_CASES["BertClassifier"].make, call_on_inputs,
        expected_output_shapes={"pooled_output": (BATCH_SIZE, CONFIG.hidden_size), "logits": (BATCH_SIZE, NUM_LABELS)},
        expected_output_dtypes={"pooled_output": COMPUTE_DTYPE, "logits": "float32"},
        expected_trainable_weights=41,
        expected_weight_paths={**backbone_weight_shapes(CONFIG), "output_weights": (NUM_LABELS, CONFIG.hidden_size),
                               "output_bias": (NUM_LABELS,)},
        mixed_precision_atol=MIXED_PRECISION_ATOL)


def test_pretraining_model_needs_masked_lm_positions():
    model = bert_tf.BertPretrainingModel(CONFIG)
    with pytest.raises(ValueError, match="masked_lm_positions"):
        model({key: INPUTS[key] for key in ("input_ids", "input_mask", "segment_ids")})


def test_models_need_a_bert_config():
    with pytest.raises(TypeError, match="expected a BertConfig, got dict"):
        bert_tf.BertModel(CONFIG.to_dict())


# ---------------------------------------------------------------------------- parity with the references
@pytest.mark.parametrize("name, model_class", [(TINY, bert_tf.BertPretrainingModel), (MINILM, bert_tf.BertModel)])
def test_variable_paths_equal_checkpoint_names(shared, name, model_class):
    checkpoint_dir = shared / "checkpoints" / name
    config = bert_tf.BertConfig.from_json_file(checkpoint_dir / "bert_config.json")
    model = model_class(config)
    paths = [variable.path for variable in model.weights]
    assert len(paths) == len(set(paths))
    assert set(paths) == _model_variable_names(checkpoint_dir)
    checkpoint = list_checkpoint(checkpoint_dir)
    for variable in model.weights:
        assert tuple(variable.shape) == checkpoint[variable.path][0]


def test_tiny_pretraining_outputs_match_reference(tiny_ckpt_dir, refs_dir):
    model, report = _load(bert_tf.BertPretrainingModel, tiny_ckpt_dir)
    assert len(report.restored) == 46 and not report.initialized
    assert report.global_step == 12345
    reference = _reference(refs_dir, TINY)
    outputs = model({
        key: reference[key] for key in ("input_ids", "input_mask", "segment_ids", "masked_lm_positions")
    })
    tolerance = 2e-5
    np.testing.assert_allclose(np.asarray(outputs["embedding_output"]), reference["embedding_output"], atol=tolerance, rtol=0)
    assert len(outputs["encoder_outputs"]) == 2
    for layer, expected in zip(outputs["encoder_outputs"], reference["all_encoder_layers"]):
        np.testing.assert_allclose(np.asarray(layer), expected, atol=tolerance, rtol=0)
    np.testing.assert_allclose(np.asarray(outputs["sequence_output"]), reference["sequence_output"], atol=tolerance, rtol=0)
    np.testing.assert_allclose(np.asarray(outputs["pooled_output"]), reference["pooled_output"], atol=tolerance, rtol=0)
    log_probs = np.asarray(outputs["masked_lm_log_probs"])
    assert log_probs.shape == (12, 4, 30522) and log_probs.dtype == np.float32
    chosen = np.take_along_axis(log_probs, reference["masked_lm_chosen_ids"], axis=2)
    np.testing.assert_allclose(chosen, reference["masked_lm_chosen_log_probs"], atol=tolerance, rtol=0)
    top5 = np.take_along_axis(log_probs, reference["masked_lm_top5_ids"], axis=2)
    np.testing.assert_allclose(top5, reference["masked_lm_top5_log_probs"], atol=tolerance, rtol=0)
    np.testing.assert_allclose(np.asarray(outputs["next_sentence_logits"]), reference["nsp_logits"], atol=tolerance, rtol=0)


def test_minilm_outputs_match_reference_at_real_tokens(minilm_ckpt_dir, refs_dir):
    model, report = _load(bert_tf.BertModel, minilm_ckpt_dir)
    assert len(report.restored) == 103
    reference = _reference(refs_dir, MINILM)
    outputs = model({key: reference[key] for key in ("input_ids", "input_mask", "segment_ids")})
    real = reference["input_mask"].astype(bool)
    tolerance = 1e-4

    def check(actual, expected):
        """Same shape; equal within the tolerance at real tokens (padding rows are badly conditioned)."""
        actual = np.asarray(actual)
        assert actual.shape == expected.shape
        np.testing.assert_allclose(actual[real], expected[real], atol=tolerance, rtol=0)

    check(outputs["embedding_output"], reference["embedding_output"])
    assert len(outputs["encoder_outputs"]) == 6
    for layer, expected in zip(outputs["encoder_outputs"], reference["all_encoder_layers"]):
        check(layer, expected)
    check(outputs["sequence_output"], reference["sequence_output"])
    np.testing.assert_allclose(np.asarray(outputs["pooled_output"]), reference["pooled_output"], atol=tolerance, rtol=0)


def test_classifier_computes_only_cls_in_last_layer_with_the_same_numbers(minilm_ckpt_dir, refs_dir):
    """BertClassifier runs the last block on [CLS] alone: its pooled output is still the reference's."""
    config = bert_tf.BertConfig.from_json_file(minilm_ckpt_dir / "bert_config.json")
    classifier = bert_tf.BertClassifier(config, num_labels=2)
    load_checkpoint(classifier, minilm_ckpt_dir, expected_missing=["output_weights", "output_bias"])
    reference = _reference(refs_dir, MINILM)
    outputs = classifier({key: reference[key] for key in ("input_ids", "input_mask", "segment_ids")})
    assert set(outputs) == {"pooled_output", "logits"}
    np.testing.assert_allclose(np.asarray(outputs["pooled_output"]), reference["pooled_output"], atol=1e-4, rtol=0)
    head = classifier.classifier
    expected_logits = reference["pooled_output"] @ np.asarray(head.output_weights).T + np.asarray(head.output_bias)
    np.testing.assert_allclose(np.asarray(outputs["logits"]), expected_logits, atol=1e-4, rtol=0)


def test_works_inside_tf_function_with_dynamic_shapes(tiny_ckpt_dir, refs_dir):
    if keras.backend.backend() != "tensorflow":
        pytest.skip("tf.function needs the TensorFlow backend")
    import tensorflow as tf

    model, _ = _load(bert_tf.BertModel, tiny_ckpt_dir)
    reference = _reference(refs_dir, TINY)
    spec = tf.TensorSpec([None, None], tf.int32)

    @tf.function(input_signature=[spec, spec, spec])
    def encode(input_ids, input_mask, segment_ids):
        """The pooled output, traced once for any batch size and length."""
        return model({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids})["pooled_output"]

    pooled = encode(*(tf.constant(reference[key]) for key in ("input_ids", "input_mask", "segment_ids")))
    np.testing.assert_allclose(pooled.numpy(), reference["pooled_output"], atol=2e-5, rtol=0)


# -------------------------------------------------------------------------------------- inputs and outputs
def test_optional_mask_and_segments_default_to_ones_and_zeros():
    model = bert_tf.BertModel(CONFIG)
    input_ids = INPUTS["input_ids"]
    implicit = model({"input_ids": input_ids})
    explicit = model({"input_ids": input_ids, "input_mask": np.ones_like(input_ids), "segment_ids": np.zeros_like(input_ids)})
    np.testing.assert_array_equal(to_numpy(implicit["sequence_output"]), to_numpy(explicit["sequence_output"]))
    plain = model(input_ids)
    np.testing.assert_array_equal(to_numpy(plain["pooled_output"]), to_numpy(explicit["pooled_output"]))


@pytest.mark.filterwarnings("ignore:You are using a softmax over axis -1 of a tensor of shape:UserWarning")
def test_output_shapes_for_any_length_up_to_max_positions():
    """Including one token: Keras warns that a softmax over one key is always 1 (true, and harmless here)."""
    model = bert_tf.BertModel(CONFIG)
    hidden_size = CONFIG.hidden_size
    for seq_length in (1, SEQ_LENGTH, CONFIG.max_position_embeddings):
        outputs = model({"input_ids": np.ones((BATCH_SIZE, seq_length), np.int32)})
        assert tuple(outputs["sequence_output"].shape) == (BATCH_SIZE, seq_length, hidden_size)
        assert tuple(outputs["pooled_output"].shape) == (BATCH_SIZE, hidden_size)
        assert tuple(outputs["embedding_output"].shape) == (BATCH_SIZE, seq_length, hidden_size)
        assert [tuple(layer.shape) for layer in outputs["encoder_outputs"]] == [(BATCH_SIZE, seq_length, hidden_size)] * 2


def test_padding_does_not_change_real_positions():
    model = bert_tf.BertModel(CONFIG)
    input_ids = INPUTS["input_ids"][:, :5]
    short = model({"input_ids": input_ids})["sequence_output"]
    padded_ids = np.zeros((BATCH_SIZE, SEQ_LENGTH), np.int32)
    padded_ids[:, :5] = input_ids
    padded_mask = (padded_ids > 0).astype(np.int32)
    padded = model({"input_ids": padded_ids, "input_mask": padded_mask})["sequence_output"]
    # The -10000 additive mask leaves exp(-10000) = 0 weight on padded keys.
    np.testing.assert_allclose(to_numpy(padded)[:, :5], to_numpy(short), atol=1e-6)


def test_dropout_only_in_training():
    model = bert_tf.BertModel(small_config(hidden_dropout_prob=0.5))
    check_dropout_only_in_training(model, {"input_ids": np.ones((BATCH_SIZE, SEQ_LENGTH), np.int32)})


def test_classifier_head_has_original_root_names():
    model = bert_tf.BertClassifier(CONFIG, num_labels=3)
    paths = {variable.path: tuple(variable.shape) for variable in model.weights}
    assert paths["output_weights"] == (3, CONFIG.hidden_size) and paths["output_bias"] == (3,)
    logits = model({"input_ids": INPUTS["input_ids"]})["logits"]
    assert tuple(logits.shape) == (BATCH_SIZE, 3)


# ----------------------------------------------------------------------------------------- serialization
@pytest.mark.parametrize("dtype", DTYPE_POLICIES)
@pytest.mark.parametrize("model_name", sorted(MODEL_CASES))
def test_serialization_round_trip(model_name, dtype):
    """get_config is plain JSON with the BertConfig, the policy and the head size; both round trips restore."""
    original = MODEL_CASES[model_name].make(dtype)
    config = original.get_config()
    assert json.loads(json.dumps(config)) == config  # plain JSON: the BertConfig is a dict
    assert config["config"] == CONFIG.to_dict() and config["config"]["directionality"] == "bidi"
    assert keras.dtype_policies.deserialize(config["dtype"]).name == dtype
    if model_name == "BertClassifier":
        assert config["num_labels"] == NUM_LABELS
    assert keras.saving.serialize_keras_object(original)["registered_name"] == f"bert_tf>{model_name}"
    for restored in run_serialization_test(original, call_on_inputs):
        assert restored.config == original.config


def test_models_are_registered_under_the_bert_tf_package():
    for model_class in (models.BertModel, models.BertPretrainingModel, models.BertClassifier,
                        bert_tf.modeling.BertQuestionAnswering, bert_tf.modeling.BertTokenClassifier,
                        bert_tf.modeling.BertMultipleChoice):
        name = f"bert_tf>{model_class.__name__}"
        assert keras.saving.get_registered_name(model_class) == name
        assert keras.saving.get_registered_object(name) is model_class


def test_from_config_accepts_a_policy_object_or_name_for_dtype():
    original = bert_tf.BertClassifier(CONFIG, 2)
    for dtype in ("mixed_bfloat16", keras.DTypePolicy("mixed_bfloat16")):
        restored = bert_tf.BertClassifier.from_config({**original.get_config(), "dtype": dtype})
        assert restored.dtype_policy.name == "mixed_bfloat16"
        assert weight_summary(restored) == weight_summary(original)  # variables stay float32


def test_get_config_keeps_the_global_policy_it_was_built_with():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        config = bert_tf.BertModel(CONFIG).get_config()
    finally:
        keras.config.set_dtype_policy(previous)
    assert bert_tf.BertModel.from_config(config).dtype_policy.name == "mixed_bfloat16"
