"""Parity with the original `modeling.py` on the shared reference outputs; runs under TensorFlow and JAX."""
import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from bert_tf.checkpoint import list_checkpoint, load_checkpoint

TINY = "tiny_uncased_L-2_H-64_A-4"
MINILM = "minilm_l6_h384_uncased"


def _model_variable_names(checkpoint_dir):
    """Checkpoint entries that are model variables (not optimizer slots, not global_step)."""
    return {
        name for name in list_checkpoint(checkpoint_dir)
        if not name.endswith(("/adam_m", "/adam_v")) and name != "global_step"
    }


def _load(model_class, checkpoint_dir):
    config = bert_tf.BertConfig.from_json_file(checkpoint_dir / "bert_config.json")
    model = model_class(config)
    report = load_checkpoint(model, checkpoint_dir)
    return model, report


def _reference(refs_dir, name):
    with np.load(refs_dir / f"{name}_public.npz") as data:
        return {key: data[key] for key in data.files}


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


def _tiny_config(**changes):
    values = dict(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=32, max_position_embeddings=16, type_vocab_size=2)
    values.update(changes)
    return bert_tf.BertConfig(**values)


def test_optional_mask_and_segments_default_to_ones_and_zeros():
    model = bert_tf.BertModel(_tiny_config())
    input_ids = np.random.RandomState(0).randint(1, 50, size=(2, 7)).astype(np.int32)
    implicit = model({"input_ids": input_ids})
    explicit = model({"input_ids": input_ids, "input_mask": np.ones_like(input_ids), "segment_ids": np.zeros_like(input_ids)})
    np.testing.assert_array_equal(np.asarray(implicit["sequence_output"]), np.asarray(explicit["sequence_output"]))
    plain = model(input_ids)
    np.testing.assert_array_equal(np.asarray(plain["pooled_output"]), np.asarray(explicit["pooled_output"]))


def test_output_shapes_for_any_length_up_to_max_positions():
    config = _tiny_config()
    model = bert_tf.BertModel(config)
    for seq_length in (1, 5, 16):
        outputs = model({"input_ids": np.ones((3, seq_length), np.int32)})
        assert tuple(outputs["sequence_output"].shape) == (3, seq_length, 16)
        assert tuple(outputs["pooled_output"].shape) == (3, 16)
        assert tuple(outputs["embedding_output"].shape) == (3, seq_length, 16)
        assert [tuple(layer.shape) for layer in outputs["encoder_outputs"]] == [(3, seq_length, 16)] * 2


def test_longer_than_max_position_embeddings_is_a_clear_error():
    model = bert_tf.BertModel(_tiny_config())
    with pytest.raises(ValueError, match="max_position_embeddings"):
        model({"input_ids": np.ones((1, 17), np.int32)})


def test_padding_does_not_change_real_positions():
    model = bert_tf.BertModel(_tiny_config())
    input_ids = np.array([[5, 6, 7, 8]], np.int32)
    short = model({"input_ids": input_ids})["sequence_output"]
    padded_ids = np.array([[5, 6, 7, 8, 0, 0]], np.int32)
    padded_mask = np.array([[1, 1, 1, 1, 0, 0]], np.int32)
    padded = model({"input_ids": padded_ids, "input_mask": padded_mask})["sequence_output"]
    # The -10000 additive mask leaves exp(-10000) = 0 weight on padded keys.
    np.testing.assert_allclose(np.asarray(padded)[:, :4], np.asarray(short), atol=1e-6)


def test_dropout_only_in_training():
    model = bert_tf.BertModel(_tiny_config(hidden_dropout_prob=0.5))
    inputs = {"input_ids": np.ones((2, 8), np.int32)}
    first = np.asarray(model(inputs)["sequence_output"])
    np.testing.assert_array_equal(first, np.asarray(model(inputs)["sequence_output"]))
    trained = np.asarray(model(inputs, training=True)["sequence_output"])
    assert not np.allclose(first, trained)


def test_initializer_is_truncated_normal_with_initializer_range():
    config = _tiny_config(vocab_size=2000, hidden_size=64, num_attention_heads=4, initializer_range=0.05)
    model = bert_tf.BertModel(config)
    table = np.asarray(model.bert.embeddings.word_embeddings)
    assert np.abs(table).max() <= 2 * 0.05 + 1e-7
    assert 0.03 < table.std() < 0.05  # a normal truncated at 2 sigma has std 0.88 sigma


def test_works_inside_tf_function_with_dynamic_shapes(tiny_ckpt_dir, refs_dir):
    if bert_tf.modeling.models.keras.backend.backend() != "tensorflow":
        pytest.skip("tf.function needs the TensorFlow backend")
    model, _ = _load(bert_tf.BertModel, tiny_ckpt_dir)
    reference = _reference(refs_dir, TINY)
    spec = tf.TensorSpec([None, None], tf.int32)

    @tf.function(input_signature=[spec, spec, spec])
    def encode(input_ids, input_mask, segment_ids):
        return model({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids})["pooled_output"]

    pooled = encode(*(tf.constant(reference[key]) for key in ("input_ids", "input_mask", "segment_ids")))
    np.testing.assert_allclose(pooled.numpy(), reference["pooled_output"], atol=2e-5, rtol=0)


def test_classifier_head_has_original_root_names():
    model = bert_tf.BertClassifier(_tiny_config(), num_labels=3)
    paths = {variable.path: tuple(variable.shape) for variable in model.weights}
    assert paths["output_weights"] == (3, 16) and paths["output_bias"] == (3,)
    logits = model({"input_ids": np.ones((2, 4), np.int32)})["logits"]
    assert tuple(logits.shape) == (2, 3)


def test_mixed_bfloat16_policy_runs_with_float32_variables():
    import keras

    model = bert_tf.BertModel(_tiny_config(), dtype="mixed_bfloat16")
    assert all(variable.dtype == "float32" for variable in model.weights)
    outputs = model({"input_ids": np.ones((2, 8), np.int32)})
    assert keras.backend.standardize_dtype(outputs["sequence_output"].dtype) == "bfloat16"
