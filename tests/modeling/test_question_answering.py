"""`bert_tf.modeling.question_answering`: `SquadHead` and `BertQuestionAnswering` (checkpoint names, the
original head initializer, outputs, serialization) and run_squad's loss on the model's outputs."""
import numpy as np
import pytest

from bert_tf.checkpoint import list_checkpoint, load_checkpoint
from bert_tf.config import BertConfig
from bert_tf.modeling.question_answering import SQUAD_HEAD_VARIABLES, BertQuestionAnswering, SquadHead
from tests.harness.layers import (
    LayerCase,
    calling_with,
    dtype_name,
    run_layer_test,
    serialization_round_trip_test,
    to_numpy,
)
from tests.modeling.small_bert import (
    BATCH_SIZE,
    MIXED_PRECISION_ATOL,
    SEQ_LENGTH,
    backbone_weight_shapes,
    hidden_states,
    output_projection_weight_shapes,
    small_config,
    token_inputs,
)

CONFIG = small_config()
INPUTS = token_inputs(CONFIG)
SEQUENCE_OUTPUT = hidden_states(CONFIG.hidden_size)
LOGITS_SHAPES = ((BATCH_SIZE, SEQ_LENGTH), (BATCH_SIZE, SEQ_LENGTH))


call_squad_head = calling_with(SEQUENCE_OUTPUT)
call_on_inputs = calling_with(INPUTS)


CASES = {
    "SquadHead": LayerCase(lambda policy: SquadHead(CONFIG, dtype=policy), call_squad_head),
    "BertQuestionAnswering": LayerCase(lambda policy: BertQuestionAnswering(CONFIG, dtype=policy), call_on_inputs),
}
test_round_trip_through_the_config = serialization_round_trip_test(CASES)


@pytest.fixture(scope="module")
def tiny_squad(refs_dir):
    """The tiny checkpoint with a SQuAD head, as the original run_squad.py writes it."""
    return refs_dir / "squad" / "tiny_squad"


def test_squad_head_layer_scores_starts_and_ends_in_float32():
    results = run_layer_test(
        CASES["SquadHead"].make, call_squad_head, expected_output_shapes=LOGITS_SHAPES,
        expected_trainable_weights=2, expected_weight_paths=output_projection_weight_shapes(CONFIG, 2, "cls/squad"),
        expected_output_dtypes="float32", mixed_precision_atol=MIXED_PRECISION_ATOL)
    head, (start_logits, end_logits) = results["float32"]
    weights, bias = to_numpy(head.squad.output_weights), to_numpy(head.squad.output_bias)
    np.testing.assert_allclose(to_numpy(start_logits), SEQUENCE_OUTPUT @ weights[0] + bias[0], atol=1e-5, rtol=0)
    np.testing.assert_allclose(to_numpy(end_logits), SEQUENCE_OUTPUT @ weights[1] + bias[1], atol=1e-5, rtol=0)


def test_question_answering_layer_keeps_the_pooler_but_does_not_train_it():
    run_layer_test(
        CASES["BertQuestionAnswering"].make, call_on_inputs,
        expected_output_shapes={"start_logits": LOGITS_SHAPES[0], "end_logits": LOGITS_SHAPES[1]},
        expected_output_dtypes="float32", expected_trainable_weights=39, expected_non_trainable_weights=2,
        expected_weight_paths={**backbone_weight_shapes(CONFIG), **output_projection_weight_shapes(CONFIG, 2, "cls/squad")},
        mixed_precision_atol=MIXED_PRECISION_ATOL)


def test_variables_are_the_original_checkpoint_names(tiny_squad):
    config = BertConfig.from_json_file(tiny_squad / "bert_config.json")
    model = BertQuestionAnswering(config)
    checkpoint = list_checkpoint(tiny_squad / "model.ckpt")
    assert {variable.path: tuple(variable.shape) for variable in model.weights} == {
        name: shape for name, (shape, _) in checkpoint.items()}
    assert checkpoint["cls/squad/output_weights"][0] == (2, config.hidden_size)
    assert checkpoint["cls/squad/output_bias"][0] == (2,)
    report = load_checkpoint(model, tiny_squad / "model.ckpt")
    assert not report.initialized and set(SQUAD_HEAD_VARIABLES) <= set(report.restored)


def test_head_initializer_is_the_originals():
    config = BertConfig(vocab_size=32, hidden_size=256, num_hidden_layers=1, num_attention_heads=4,
                        intermediate_size=64, initializer_range=0.5)  # the head ignores initializer_range
    weights = to_numpy(BertQuestionAnswering(config).cls.squad.output_weights)
    assert abs(weights).max() <= 0.04 + 1e-6 and 0.012 < weights.std() < 0.02
    assert not to_numpy(BertQuestionAnswering(config).cls.squad.output_bias).any()


def test_outputs_are_the_head_applied_to_every_token(tiny_squad):
    config = BertConfig.from_json_file(tiny_squad / "bert_config.json")
    model = BertQuestionAnswering(config)
    load_checkpoint(model, tiny_squad / "model.ckpt")
    rng = np.random.default_rng(0)
    inputs = {"input_ids": rng.integers(1000, 2000, size=(3, 16)).astype(np.int32),
              "input_mask": np.ones((3, 16), np.int32), "segment_ids": np.zeros((3, 16), np.int32)}
    outputs = model(inputs)
    assert set(outputs) == {"start_logits", "end_logits"}
    assert tuple(outputs["start_logits"].shape) == (3, 16) and dtype_name(outputs["start_logits"]) == "float32"
    sequence_output = model.bert(inputs["input_ids"], inputs["input_mask"], inputs["segment_ids"])["sequence_output"]
    weights, bias = to_numpy(model.cls.squad.output_weights), to_numpy(model.cls.squad.output_bias)
    expected = np.einsum("bsh,kh->kbs", to_numpy(sequence_output), weights) + bias[:, None, None]
    np.testing.assert_allclose(to_numpy(outputs["start_logits"]), expected[0], atol=1e-4)
    np.testing.assert_allclose(to_numpy(outputs["end_logits"]), expected[1], atol=1e-4)
    clone = BertQuestionAnswering.from_config(model.get_config())
    assert [variable.path for variable in clone.weights] == [variable.path for variable in model.weights]
    mixed = BertQuestionAnswering(config, dtype="mixed_bfloat16")
    assert dtype_name(mixed(inputs)["end_logits"]) == "float32"


def test_loss_is_the_mean_of_start_and_end_cross_entropy():
    tf = pytest.importorskip("tensorflow")  # run_squad's loss is TensorFlow code, under any Keras backend
    from bert_tf.tasks.squad.task import squad_loss

    start = tf.constant([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    end = tf.constant([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    labels = {"start_positions": tf.constant([2, 0]), "end_positions": tf.constant([0, 1])}
    losses = squad_loss({"start_logits": start, "end_logits": end}, labels, {}).numpy()

    def cross_entropy(logits, label):
        """-log softmax(logits)[label], in float64."""
        logits = np.asarray(logits, np.float64)
        return np.log(np.exp(logits).sum()) - logits[label]

    expected = [(cross_entropy([0, 1, 2], 2) + cross_entropy([3, 0, 0], 0)) / 2,
                (cross_entropy([1, 1, 1], 0) + cross_entropy([0, 2, 0], 1)) / 2]
    np.testing.assert_allclose(losses, expected, rtol=1e-6)
