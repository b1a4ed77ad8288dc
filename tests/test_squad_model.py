"""`BertQuestionAnswering`: checkpoint names, the original head initializer, outputs and the loss."""
import numpy as np
import pytest
import tensorflow as tf

from bert_tf.checkpoint import list_checkpoint, load_checkpoint
from bert_tf.config import BertConfig
from bert_tf.modeling.question_answering import SQUAD_HEAD_VARIABLES, BertQuestionAnswering
from bert_tf.tasks.squad.task import squad_loss


@pytest.fixture(scope="module")
def tiny_squad(refs_dir):
    return refs_dir / "squad" / "tiny_squad"


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
    weights = BertQuestionAnswering(config).cls.squad.output_weights.numpy()
    assert abs(weights).max() <= 0.04 + 1e-6 and 0.012 < weights.std() < 0.02
    assert not BertQuestionAnswering(config).cls.squad.output_bias.numpy().any()


def test_outputs_are_the_head_applied_to_every_token(tiny_squad):
    config = BertConfig.from_json_file(tiny_squad / "bert_config.json")
    model = BertQuestionAnswering(config)
    load_checkpoint(model, tiny_squad / "model.ckpt")
    rng = np.random.default_rng(0)
    inputs = {"input_ids": rng.integers(1000, 2000, size=(3, 16)).astype(np.int32),
              "input_mask": np.ones((3, 16), np.int32), "segment_ids": np.zeros((3, 16), np.int32)}
    outputs = model(inputs)
    assert set(outputs) == {"start_logits", "end_logits"}
    assert outputs["start_logits"].shape == (3, 16) and outputs["start_logits"].dtype == tf.float32
    sequence_output = model.bert(inputs["input_ids"], inputs["input_mask"], inputs["segment_ids"])["sequence_output"]
    weights, bias = model.cls.squad.output_weights.numpy(), model.cls.squad.output_bias.numpy()
    expected = np.einsum("bsh,kh->kbs", sequence_output.numpy(), weights) + bias[:, None, None]
    np.testing.assert_allclose(outputs["start_logits"].numpy(), expected[0], atol=1e-4)
    np.testing.assert_allclose(outputs["end_logits"].numpy(), expected[1], atol=1e-4)
    clone = BertQuestionAnswering.from_config(model.get_config())
    assert [variable.path for variable in clone.weights] == [variable.path for variable in model.weights]
    mixed = BertQuestionAnswering(config, dtype="mixed_bfloat16")
    assert mixed(inputs)["end_logits"].dtype == tf.float32


def test_loss_is_the_mean_of_start_and_end_cross_entropy():
    start = tf.constant([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    end = tf.constant([[3.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    labels = {"start_positions": tf.constant([2, 0]), "end_positions": tf.constant([0, 1])}
    losses = squad_loss({"start_logits": start, "end_logits": end}, labels, {}).numpy()

    def cross_entropy(logits, label):
        logits = np.asarray(logits, np.float64)
        return np.log(np.exp(logits).sum()) - logits[label]

    expected = [(cross_entropy([0, 1, 2], 2) + cross_entropy([3, 0, 0], 0)) / 2,
                (cross_entropy([1, 1, 1], 0) + cross_entropy([0, 2, 0], 1)) / 2]
    np.testing.assert_allclose(losses, expected, rtol=1e-6)
