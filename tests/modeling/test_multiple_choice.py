"""`bert_tf.modeling.multiple_choice`: `MultipleChoiceHead`, `standardize_choice_inputs`, `BertMultipleChoice`."""
import numpy as np
import pytest

from bert_tf.checkpoint import load_checkpoint
from bert_tf.config import BertConfig
from bert_tf.modeling.multiple_choice import (
    MASKED_LOGIT,
    MULTIPLE_CHOICE_HEAD_VARIABLES,
    BertMultipleChoice,
    MultipleChoiceHead,
    standardize_choice_inputs,
)
from tests.harness.layers import (
    LayerCase,
    calling_with,
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
    backbone_weight_shapes,
    hidden_states,
    output_projection_weight_shapes,
    small_config,
    token_inputs,
)

CONFIG = small_config()
NUM_CHOICES = 3
HEAD_WEIGHT_SHAPES = output_projection_weight_shapes(CONFIG, 1, "cls/multiple_choice")
POOLED_OUTPUT = hidden_states(CONFIG.hidden_size)[:, 0]


def choice_inputs(num_choices: int = NUM_CHOICES, seed: int = 0) -> dict:
    """int32 `input_ids`, `input_mask`, `segment_ids` [B, C, S]: C random packed pairs per question."""
    pairs = [token_inputs(CONFIG, seed=seed + choice) for choice in range(num_choices)]
    return {key: np.stack([pair[key] for pair in pairs], axis=1) for key in pairs[0]}


INPUTS = choice_inputs()


call_head = calling_with(POOLED_OUTPUT)
call_on_inputs = calling_with(INPUTS)


CASES = {
    "MultipleChoiceHead": LayerCase(lambda policy: MultipleChoiceHead(CONFIG, dtype=policy), call_head),
    "BertMultipleChoice": LayerCase(lambda policy: BertMultipleChoice(CONFIG, dtype=policy), call_on_inputs),
}
test_round_trip_through_the_config = serialization_round_trip_test(CASES)


def test_head_layer_gives_one_float32_score_per_pair():
    results = run_layer_test(
        CASES["MultipleChoiceHead"].make, call_head, expected_output_shapes=(BATCH_SIZE,),
        expected_trainable_weights=2, expected_weight_paths=HEAD_WEIGHT_SHAPES, expected_output_dtypes="float32",
        mixed_precision_atol=MIXED_PRECISION_ATOL)
    head, scores = results["float32"]
    assert sorted(HEAD_WEIGHT_SHAPES) == sorted(MULTIPLE_CHOICE_HEAD_VARIABLES)
    expected = numpy_reference.output_projection(POOLED_OUTPUT, head.multiple_choice)[:, 0]
    np.testing.assert_allclose(to_numpy(scores), expected, atol=1e-5, rtol=0)


def test_multiple_choice_layer_gives_float32_logits_per_question_and_choice():
    run_layer_test(
        CASES["BertMultipleChoice"].make, call_on_inputs, expected_output_shapes={"logits": (BATCH_SIZE, NUM_CHOICES)},
        expected_output_dtypes="float32", expected_trainable_weights=41,
        expected_weight_paths={**backbone_weight_shapes(CONFIG), **HEAD_WEIGHT_SHAPES},
        mixed_precision_atol=MIXED_PRECISION_ATOL)


def test_logits_are_the_classifier_head_on_each_pairs_full_pooled_output():
    """Each logit is what a BertClassifier-style model gives its pair: the full encoder's pooled output, then
    `output_weights`/`output_bias`; the model's [CLS]-only last block changes nothing."""
    model = BertMultipleChoice(CONFIG)
    logits = to_numpy(model(INPUTS)["logits"])
    for choice in range(NUM_CHOICES):
        pair = [INPUTS[key][:, choice] for key in ("input_ids", "input_mask", "segment_ids")]
        pooled_output = to_numpy(model.bert(*pair)["pooled_output"])
        expected = numpy_reference.output_projection(pooled_output, model.cls.multiple_choice)[:, 0]
        np.testing.assert_allclose(logits[:, choice], expected, atol=1e-5, rtol=0)


def test_masked_choices_get_probability_zero():
    model = BertMultipleChoice(CONFIG)
    choice_mask = np.array([[1, 1, 0], [1, 0, 1]], np.int32)
    unmasked = to_numpy(model(INPUTS)["logits"])
    masked = to_numpy(model({**INPUTS, "choice_mask": choice_mask})["logits"])
    np.testing.assert_array_equal(masked[choice_mask == 1], unmasked[choice_mask == 1])
    np.testing.assert_array_equal(masked[choice_mask == 0], MASKED_LOGIT)
    probabilities = numpy_reference.softmax(masked)
    assert (probabilities[choice_mask == 0] == 0.0).all()
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("num_choices", [1, 4])
def test_any_number_of_choices(num_choices):
    model = BertMultipleChoice(CONFIG)
    inputs = choice_inputs(num_choices)
    logits = model(inputs)["logits"]
    assert tuple(logits.shape) == (BATCH_SIZE, num_choices) and dtype_name(logits) == "float32"
    first_choice_only = model({key: value[:, :1] for key, value in inputs.items()})["logits"]
    np.testing.assert_allclose(to_numpy(logits)[:, :1], to_numpy(first_choice_only), atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- standardize_choice_inputs
def test_choice_inputs_default_to_a_mask_of_ones_and_segments_of_zeros():
    input_ids, input_mask, segment_ids = standardize_choice_inputs({"input_ids": INPUTS["input_ids"].astype(np.int64)})
    assert [dtype_name(tensor) for tensor in (input_ids, input_mask, segment_ids)] == ["int32"] * 3
    np.testing.assert_array_equal(to_numpy(input_ids), INPUTS["input_ids"])
    np.testing.assert_array_equal(to_numpy(input_mask), np.ones_like(INPUTS["input_ids"]))
    np.testing.assert_array_equal(to_numpy(segment_ids), np.zeros_like(INPUTS["input_ids"]))


@pytest.mark.parametrize("inputs, message", [
    (INPUTS["input_ids"], r"need a dict with 'input_ids' \[batch, choices, seq\]"),
    ({"input_mask": INPUTS["input_mask"]}, r"need a dict with 'input_ids'"),
    ({"input_ids": INPUTS["input_ids"][:, 0]}, rf"input_ids must have shape \[batch, choices, seq\], got \({BATCH_SIZE}, {SEQ_LENGTH}\)"),
], ids=["not a dict", "no input_ids", "rank 2"])
def test_bad_choice_inputs_are_errors(inputs, message):
    with pytest.raises(ValueError, match=message):
        standardize_choice_inputs(inputs)


# ------------------------------------------------------------------------------ parity with the reference
def test_probabilities_match_the_reference_model(refs_dir):
    """The shared Hugging Face `BertForMultipleChoice` fixture: its softmax over the 4 choices, to 1e-5."""
    from bert_tf.tasks.multiple_choice.examples import read_swag_csv
    from bert_tf.tasks.multiple_choice.features import convert_example
    from bert_tf.tokenization import FullTokenizer

    fixture = refs_dir / "multiple_choice"
    model = BertMultipleChoice(BertConfig.from_json_file(fixture / "model" / "bert_config.json"))
    report = load_checkpoint(model, fixture / "model")
    assert not report.initialized and set(MULTIPLE_CHOICE_HEAD_VARIABLES) <= set(report.restored)
    tokenizer = FullTokenizer(str(fixture / "model" / "vocab.txt"), do_lower_case=True)
    features = [convert_example(example, 4, 128, tokenizer) for example in read_swag_csv(str(fixture / "val.csv"), "dev")]
    inputs = {key: np.array([getattr(feature, key) for feature in features], np.int32)
              for key in ("input_ids", "input_mask", "segment_ids", "choice_mask")}
    probabilities = numpy_reference.softmax(to_numpy(model(inputs)["logits"]))
    expected = np.loadtxt(fixture / "expected_val_probs.tsv", delimiter="\t")
    assert probabilities.shape == expected.shape == (40, 4)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5, rtol=0)
