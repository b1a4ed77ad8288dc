"""bert_tf.serving.multiple_choice: the raw-text SavedModel of a multiple-choice model, in process (the fresh
process and TF Serving's session path are tested in tests/test_run_swag.py)."""
import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("SavedModel exports need the TensorFlow backend", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from bert_tf.checkpoint import load_checkpoint  # noqa: E402
from bert_tf.config import BertConfig  # noqa: E402
from bert_tf.errors import InputError  # noqa: E402
from bert_tf.modeling import BertMultipleChoice  # noqa: E402
from bert_tf.serving import multiple_choice as serving  # noqa: E402
from bert_tf.tokenization import FullTokenizer, packing  # noqa: E402

CONTEXTS = ["A man sits down at the piano.", "The dog"]
CHOICES = [["He starts to play a song.", "He eats the piano.", "He flies away.", "He sleeps."],
           ["barks loudly at the mailman.", "reads a book.", "", ""]]


@pytest.fixture(scope="module")
def model_dir(refs_dir):
    return refs_dir / "multiple_choice" / "model"


@pytest.fixture(scope="module")
def model(model_dir):
    model = BertMultipleChoice(BertConfig.from_json_file(str(model_dir / "bert_config.json")))
    load_checkpoint(model, str(model_dir))
    return model


@pytest.fixture(scope="module")
def exports(model, model_dir, tmp_path_factory):
    vocab = model_dir / "vocab.txt"
    paths = {"default": serving.export_multiple_choice(model, vocab, True, tmp_path_factory.mktemp("mc"), 64),
             "padded": serving.export_multiple_choice(model, vocab, True, tmp_path_factory.mktemp("mc_padded"), 64,
                                                      pad_to_max_length=True),
             "bfloat16": serving.export_multiple_choice(model, vocab, True, tmp_path_factory.mktemp("mc_bf16"), 64,
                                                        serving_dtype="mixed_bfloat16")}
    return {name: tf.saved_model.load(path) for name, path in paths.items()}


def keras_probabilities(model, model_dir, context, choices):
    """The model on pairs packed in Python (`packing`), softmax over the given choices."""
    tokenizer = FullTokenizer(str(model_dir / "vocab.txt"), do_lower_case=True)
    packed = [packing.encode_text_pair(tokenizer, context, choice, 64) for choice in choices]
    inputs = {name: np.array([[getattr(row, name) for row in packed]], np.int32)
              for name in ("input_ids", "input_mask", "segment_ids")}
    return tf.nn.softmax(model(inputs)["logits"], axis=-1).numpy()[0]


def test_probabilities_equal_the_models_and_empty_choices_are_no_choices(exports, model, model_dir):
    outputs = exports["default"].signatures["serving_default"](context=tf.constant(CONTEXTS),
                                                              choices=tf.constant(CHOICES))
    probabilities = outputs["probabilities"].numpy()
    np.testing.assert_allclose(probabilities[0], keras_probabilities(model, model_dir, CONTEXTS[0], CHOICES[0]),
                               atol=1e-5)
    np.testing.assert_allclose(probabilities[1, :2], keras_probabilities(model, model_dir, CONTEXTS[1],
                                                                         CHOICES[1][:2]), atol=1e-5)
    np.testing.assert_array_equal(probabilities[1, 2:], [0.0, 0.0])
    assert outputs["choice"].numpy().tolist() == probabilities.argmax(axis=1).tolist()
    padded = exports["padded"].signatures["serving_default"](context=tf.constant(CONTEXTS),
                                                            choices=tf.constant(CHOICES))
    np.testing.assert_allclose(padded["probabilities"].numpy(), probabilities, atol=1e-5)
    bfloat16 = exports["bfloat16"].signatures["serving_default"](context=tf.constant(CONTEXTS),
                                                                choices=tf.constant(CHOICES))
    np.testing.assert_allclose(bfloat16["probabilities"].numpy(), probabilities, atol=2e-2)


def test_a_question_without_choices_and_an_empty_batch(exports):
    serve = exports["default"].signatures["serving_default"]
    outputs = serve(context=tf.constant(["Nothing to choose."]), choices=tf.constant([["", " "]]))
    np.testing.assert_array_equal(outputs["probabilities"].numpy(), [[0.0, 0.0]])
    assert outputs["choice"].numpy().tolist() == [-1]
    outputs = serve(context=tf.constant([], tf.string), choices=tf.zeros([0, 4], tf.string))
    assert outputs["probabilities"].shape == (0, 4) and outputs["choice"].shape == (0,)
    outputs = serve(context=tf.constant(["q1", "q2"]), choices=tf.zeros([2, 0], tf.string))  # no choice column
    assert outputs["probabilities"].shape == (2, 0) and outputs["choice"].numpy().tolist() == [-1, -1]
    with pytest.raises(tf.errors.InvalidArgumentError, match="choices holds a string that is not valid UTF-8 at row"):
        serve(context=tf.constant(["q"]), choices=tf.constant([[b"yes", b"\xe2\x28\xa1"]]))
    with pytest.raises(tf.errors.InvalidArgumentError):
        serve(context=tf.constant(["a", "b"]), choices=tf.constant([["c", "d"]]))


def test_serve_ids_takes_packed_pairs(exports, model, model_dir):
    tokenizer = FullTokenizer(str(model_dir / "vocab.txt"), do_lower_case=True)
    packed = [packing.encode_text_pair(tokenizer, CONTEXTS[0], choice, 64) for choice in CHOICES[0]]
    inputs = {name: tf.constant([[getattr(row, name) for row in packed]], tf.int32)
              for name in ("input_ids", "input_mask", "segment_ids")}
    probabilities = exports["default"].signatures["serve_ids"](**inputs)["probabilities"].numpy()[0]
    np.testing.assert_allclose(probabilities, keras_probabilities(model, model_dir, CONTEXTS[0], CHOICES[0]),
                               atol=1e-5)


def test_settings_that_do_not_fit_are_refused(model, model_dir, tmp_path):
    with pytest.raises(InputError, match="max_position_embeddings"):
        serving.export_multiple_choice(model, model_dir / "vocab.txt", True, tmp_path, max_seq_length=100000)
    with pytest.raises(InputError, match="serving_dtype"):
        serving.export_multiple_choice(model, model_dir / "vocab.txt", True, tmp_path, serving_dtype="float16")
    assert list(tmp_path.iterdir()) == []
