"""`bert_tf.modeling.token_classification`: `TokenClassifierHead` and `BertTokenClassifier` (run_ner's model)."""
import json

import numpy as np
import pytest

from bert_tf.modeling import BertClassifier
from bert_tf.modeling.token_classification import NER_HEAD_VARIABLES, BertTokenClassifier, TokenClassifierHead
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
    backbone_weight_shapes,
    hidden_states,
    output_projection_weight_shapes,
    small_config,
    token_inputs,
)

CONFIG = small_config()
NUM_LABELS = 5
INPUTS = token_inputs(CONFIG)
SEQUENCE_OUTPUT = hidden_states(CONFIG.hidden_size)
LOGITS_SHAPE = (BATCH_SIZE, SEQ_LENGTH, NUM_LABELS)
HEAD_WEIGHT_SHAPES = output_projection_weight_shapes(CONFIG, NUM_LABELS, "cls/ner")


call_head = calling_with(SEQUENCE_OUTPUT)
call_on_inputs = calling_with(INPUTS)


CASES = {
    "TokenClassifierHead": LayerCase(lambda policy: TokenClassifierHead(CONFIG, NUM_LABELS, dtype=policy), call_head),
    "BertTokenClassifier": LayerCase(lambda policy: BertTokenClassifier(CONFIG, NUM_LABELS, dtype=policy),
                                     call_on_inputs),
}
test_round_trip_through_the_config = serialization_round_trip_test(CASES)


def test_head_layer_gives_float32_logits_per_position():
    results = run_layer_test(
        CASES["TokenClassifierHead"].make, call_head, expected_output_shapes=LOGITS_SHAPE,
        expected_trainable_weights=2, expected_weight_paths=HEAD_WEIGHT_SHAPES, expected_output_dtypes="float32",
        mixed_precision_atol=MIXED_PRECISION_ATOL)
    head, logits = results["float32"]
    assert sorted(HEAD_WEIGHT_SHAPES) == sorted(NER_HEAD_VARIABLES)
    np.testing.assert_allclose(to_numpy(logits), numpy_reference.output_projection(SEQUENCE_OUTPUT, head.ner),
                               atol=1e-5, rtol=0)


def test_head_dropout_only_in_training():
    head = TokenClassifierHead(small_config(hidden_dropout_prob=0.5), NUM_LABELS)
    head.build()
    check_dropout_only_in_training(head, SEQUENCE_OUTPUT)


def test_token_classifier_layer_keeps_the_pooler_but_does_not_train_it():
    results = run_layer_test(
        CASES["BertTokenClassifier"].make, call_on_inputs, expected_output_shapes={"logits": LOGITS_SHAPE},
        expected_output_dtypes="float32", expected_trainable_weights=39, expected_non_trainable_weights=2,
        expected_weight_paths={**backbone_weight_shapes(CONFIG), **HEAD_WEIGHT_SHAPES},
        mixed_precision_atol=MIXED_PRECISION_ATOL)
    model, outputs = results["float32"]
    assert sorted(weight.path for weight in model.non_trainable_weights) == ["bert/pooler/dense/bias",
                                                                             "bert/pooler/dense/kernel"]
    sequence_output = model.bert(INPUTS["input_ids"], INPUTS["input_mask"], INPUTS["segment_ids"])["sequence_output"]
    expected = numpy_reference.output_projection(to_numpy(sequence_output), model.cls.ner)
    np.testing.assert_allclose(to_numpy(outputs["logits"]), expected, atol=1e-5, rtol=0)


def test_get_config_holds_num_labels():
    model = BertTokenClassifier(CONFIG, NUM_LABELS)
    assert model.get_config()["num_labels"] == NUM_LABELS
    assert BertTokenClassifier.from_config(model.get_config()).num_labels == NUM_LABELS


@pytest.mark.parametrize("num_labels", [0, -1, 2.5, True])
def test_a_label_count_that_is_not_a_positive_integer_is_an_error(num_labels):
    with pytest.raises(ValueError, match=f"num_labels must be a positive integer, got {num_labels}"):
        BertTokenClassifier(CONFIG, num_labels)
    with pytest.raises(ValueError, match=f"num_labels must be a positive integer, got {num_labels}"):
        BertClassifier(CONFIG, num_labels)


def test_a_numpy_label_count_keeps_the_config_json():
    assert json.dumps(BertTokenClassifier(CONFIG, np.int64(3)).get_config())
    assert json.dumps(BertClassifier(CONFIG, np.int64(3)).get_config())
