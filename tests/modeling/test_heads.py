"""`bert_tf.modeling.heads`: `gather_positions`, `OutputProjection`, `PredictionTransform`, `MaskedLMHead`,
`PretrainingHeads` and `ClassifierHead`."""
import keras
import numpy as np

from bert_tf.modeling.heads import (
    ClassifierHead,
    MaskedLMHead,
    OutputProjection,
    PredictionTransform,
    PretrainingHeads,
    gather_positions,
)
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
    hidden_states,
    masked_lm_weight_shapes,
    output_projection_weight_shapes,
    prediction_transform_weight_shapes,
    pretraining_heads_weight_shapes,
    small_config,
)

CONFIG = small_config()
HIDDEN_SIZE, VOCAB_SIZE, NUM_LABELS = CONFIG.hidden_size, CONFIG.vocab_size, 3
SEQUENCE_OUTPUT = hidden_states(HIDDEN_SIZE)
POOLED_OUTPUT = SEQUENCE_OUTPUT[:, 0]
MASKED_POSITIONS = np.array([[1, 2, 5], [0, 3, 7]], np.int32)  # [B, P]
NUM_POSITIONS = MASKED_POSITIONS.shape[1]
# The tied output weights: the word embeddings, a variable of the model outside the heads.
EMBEDDING_TABLE = keras.Variable(
    np.random.default_rng(3).normal(0.0, 0.2, (VOCAB_SIZE, HIDDEN_SIZE)).astype(np.float32), name="word_embeddings")


LAYER_CASES = {
    "OutputProjection": LayerCase(
        lambda policy: OutputProjection(CONFIG, num_outputs=2, name="seq_relationship", dtype=policy),
        calling_with(POOLED_OUTPUT)),
    "PredictionTransform": LayerCase(lambda policy: PredictionTransform(CONFIG, dtype=policy),
                                     calling_with(SEQUENCE_OUTPUT)),
    "MaskedLMHead": LayerCase(lambda policy: MaskedLMHead(CONFIG, dtype=policy),
                              calling_with(SEQUENCE_OUTPUT, MASKED_POSITIONS, EMBEDDING_TABLE)),
    "PretrainingHeads": LayerCase(lambda policy: PretrainingHeads(CONFIG, dtype=policy),
                                  calling_with(SEQUENCE_OUTPUT, POOLED_OUTPUT, MASKED_POSITIONS, EMBEDDING_TABLE)),
    "ClassifierHead": LayerCase(lambda policy: ClassifierHead(CONFIG, NUM_LABELS, dtype=policy),
                                calling_with(POOLED_OUTPUT)),
}
test_layers_round_trip_through_their_config = serialization_round_trip_test(LAYER_CASES)


def reference_masked_lm(head):
    """log_softmax(transform(gathered) E^T + output_bias), from the head's weights and `EMBEDDING_TABLE`."""
    gathered = np.take_along_axis(SEQUENCE_OUTPUT, MASKED_POSITIONS[..., None], axis=1)
    transform = head.transform
    hidden = numpy_reference.layer_norm(numpy_reference.gelu_tanh(numpy_reference.dense(gathered, transform.dense)),
                                        transform.layer_norm)
    logits = hidden @ to_numpy(EMBEDDING_TABLE).T + to_numpy(head.output_bias)
    return numpy_reference.log_softmax(logits)


def test_gather_positions_picks_the_rows_at_the_positions():
    for positions in (MASKED_POSITIONS, MASKED_POSITIONS.astype(np.int64)):
        gathered = gather_positions(SEQUENCE_OUTPUT, positions)
        assert tuple(gathered.shape) == (BATCH_SIZE, NUM_POSITIONS, HIDDEN_SIZE)
        assert dtype_name(gathered) == "float32"
        np.testing.assert_array_equal(to_numpy(gathered), SEQUENCE_OUTPUT[np.arange(BATCH_SIZE)[:, None], positions])


def test_output_projection_layer_is_x_times_the_transposed_weights():
    results = run_layer_test(
        LAYER_CASES["OutputProjection"].make, LAYER_CASES["OutputProjection"].call,
        expected_output_shapes=(BATCH_SIZE, 2), expected_trainable_weights=2,
        expected_weight_paths=output_projection_weight_shapes(CONFIG, 2, "seq_relationship"),
        mixed_precision_atol=MIXED_PRECISION_ATOL)
    projection, outputs = results["float32"]
    np.testing.assert_allclose(to_numpy(outputs), numpy_reference.output_projection(POOLED_OUTPUT, projection),
                               atol=1e-5, rtol=0)


def test_prediction_transform_layer_is_layer_norm_of_gelu_dense():
    results = run_layer_test(
        LAYER_CASES["PredictionTransform"].make, LAYER_CASES["PredictionTransform"].call,
        expected_output_shapes=(BATCH_SIZE, SEQ_LENGTH, HIDDEN_SIZE), expected_trainable_weights=4,
        expected_weight_paths=prediction_transform_weight_shapes(CONFIG, "transform"),
        mixed_precision_atol=MIXED_PRECISION_ATOL)
    transform, outputs = results["float32"]
    expected = numpy_reference.layer_norm(
        numpy_reference.gelu_tanh(numpy_reference.dense(SEQUENCE_OUTPUT, transform.dense)), transform.layer_norm)
    np.testing.assert_allclose(to_numpy(outputs), expected, atol=1e-5, rtol=0)


def test_masked_lm_head_layer_gives_float32_log_probabilities_over_the_vocabulary():
    results = run_layer_test(
        LAYER_CASES["MaskedLMHead"].make, LAYER_CASES["MaskedLMHead"].call,
        expected_output_shapes=(BATCH_SIZE, NUM_POSITIONS, VOCAB_SIZE), expected_trainable_weights=5,
        expected_weight_paths=masked_lm_weight_shapes(CONFIG, "predictions"), expected_output_dtypes="float32",
        mixed_precision_atol=MIXED_PRECISION_ATOL)
    head, log_probs = results["float32"]
    np.testing.assert_allclose(np.exp(to_numpy(log_probs)).sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(to_numpy(log_probs), reference_masked_lm(head), atol=1e-5, rtol=0)


def test_pretraining_heads_layer_gives_both_predictions_in_float32():
    results = run_layer_test(
        LAYER_CASES["PretrainingHeads"].make, LAYER_CASES["PretrainingHeads"].call,
        expected_output_shapes=((BATCH_SIZE, NUM_POSITIONS, VOCAB_SIZE), (BATCH_SIZE, 2)),
        expected_trainable_weights=7, expected_weight_paths=pretraining_heads_weight_shapes(CONFIG, "cls"),
        expected_output_dtypes="float32", mixed_precision_atol=MIXED_PRECISION_ATOL)
    heads, (masked_lm_log_probs, next_sentence_logits) = results["float32"]
    np.testing.assert_allclose(to_numpy(masked_lm_log_probs), reference_masked_lm(heads.predictions),
                               atol=1e-5, rtol=0)
    np.testing.assert_allclose(to_numpy(next_sentence_logits),
                               numpy_reference.output_projection(POOLED_OUTPUT, heads.seq_relationship),
                               atol=1e-5, rtol=0)


def test_classifier_head_layer_has_root_names_and_float32_logits():
    results = run_layer_test(
        LAYER_CASES["ClassifierHead"].make, LAYER_CASES["ClassifierHead"].call,
        expected_output_shapes=(BATCH_SIZE, NUM_LABELS), expected_trainable_weights=2,
        expected_weight_paths={"output_weights": (NUM_LABELS, HIDDEN_SIZE), "output_bias": (NUM_LABELS,)},
        expected_output_dtypes="float32", mixed_precision_atol=MIXED_PRECISION_ATOL)
    head, logits = results["float32"]
    np.testing.assert_allclose(to_numpy(logits), numpy_reference.output_projection(POOLED_OUTPUT, head),
                               atol=1e-5, rtol=0)
    assert not to_numpy(head.output_bias).any()


def test_classifier_dropout_only_in_training():
    check_dropout_only_in_training(ClassifierHead(small_config(hidden_dropout_prob=0.5), NUM_LABELS), POOLED_OUTPUT)
