"""keras-hub BERT presets <-> released folders: round trips that keep every tensor, config and vocabulary bit for
bit, outputs equal to keras-hub's at 1e-5 (its own outputs stored by `bench/keras_hub_interop_fixtures.py`; with
keras-hub installed, the presets written here loaded by keras-hub itself), and every refusal: one line, exit 1,
nothing written."""
import json

import h5py
import ml_dtypes
import numpy as np
import pytest

from bert_tf import modeling
from bert_tf.checkpoint import load_checkpoint, read_tensors
from bert_tf.config import BertConfig
from bert_tf.interop import convert, detect_format
from bert_tf.interop.model_folder import CONVERTED_FOLDER, needs_conversion
from bert_tf.training.run_options import resolve_model_files
from tests.harness.scripts import assert_fails_cleanly, run_main
from tests.interop import hf_fixtures, keras_hub_fixtures
from tests.interop.keras_hub_fixtures import h5_datasets

SCRIPT = "convert_checkpoint"
TOLERANCE = 1e-5
TEXT_FILES = ("config.json", "tokenizer.json", "task.json", "preprocessor.json", "assets/tokenizer/vocabulary.txt")
WEIGHT_FILES = ("model.weights.h5", "task.weights.h5")


def preset(tmp_path, task=True, name="preset"):
    return keras_hub_fixtures.write_preset(tmp_path / name, task=task)


def refused(capsys, tmp_path, folder, *expected, flags=()):
    output = tmp_path / "converted"
    return assert_fails_cleanly(capsys, SCRIPT, [f"--input={folder}", f"--output={output}", *flags], *expected,
                                output_dir=output)


def edit_json(path, section=None, **changes):
    value = json.loads(path.read_text())
    (value[section] if section else value).update(changes)
    path.write_text(json.dumps(value, indent=4))


def features(inputs):
    return {"input_ids": inputs["token_ids"], "segment_ids": inputs["segment_ids"],
            "input_mask": inputs["padding_mask"]}


def our_outputs(folder, num_classes=None):
    """This project's BertModel (or BertClassifier) outputs of the released folder on the fixture's inputs."""
    config = BertConfig.from_json_file(folder / "bert_config.json")
    model = modeling.BertClassifier(config, num_classes) if num_classes else modeling.BertModel(config)
    load_checkpoint(model, folder / "bert_model.ckpt")
    inputs = keras_hub_fixtures.keras_hub_outputs()
    return {key: np.asarray(value) for key, value in model(features(inputs)).items() if not isinstance(value, list)}


@pytest.mark.parametrize("task", [False, True], ids=["backbone", "classifier"])
def test_keras_hub_to_released_to_keras_hub_keeps_everything(tmp_path, task):
    original = preset(tmp_path, task)
    assert detect_format(str(original)) == "keras_hub"
    convert(str(original), str(tmp_path / "released"))
    assert detect_format(str(tmp_path / "released")) == "released"
    convert(str(tmp_path / "released"), str(tmp_path / "back"), "keras_hub")
    back = tmp_path / "back"
    for name in WEIGHT_FILES:
        if not (original / name).exists():
            assert not (back / name).exists()
            continue
        expected, written = h5_datasets(original / name), h5_datasets(back / name)
        assert sorted(written) == sorted(expected), name
        for key, value in expected.items():
            assert written[key].dtype == value.dtype and np.array_equal(written[key], value), key
    for name in TEXT_FILES:
        assert (back / name).exists() == (original / name).exists(), name
        if (original / name).exists():
            assert (back / name).read_text() == (original / name).read_text(), name
    metadata, metadata_back = (json.loads((folder / "metadata.json").read_text()) for folder in (original, back))
    assert {key: metadata_back[key] for key in ("parameter_count", "tasks")} == {
        key: metadata[key] for key in ("parameter_count", "tasks")}


@pytest.mark.parametrize("case", ["base_gelu_new", "classification_gelu_new"])
def test_released_to_keras_hub_to_released_keeps_everything(tmp_path, case):
    released = tmp_path / "released"
    convert(str(hf_fixtures.write_hf_folder(case, tmp_path / "hf")), str(released))
    convert(str(released), str(tmp_path / "preset"), "keras_hub")
    assert detect_format(str(tmp_path / "preset")) == "keras_hub"
    convert(str(tmp_path / "preset"), str(tmp_path / "back"))
    original, back = read_tensors(str(released)), read_tensors(str(tmp_path / "back"))
    assert sorted(back) == sorted(original)
    for name, value in original.items():
        assert back[name].dtype == value.dtype and np.array_equal(back[name], value), name
    for name in ("bert_config.json", "vocab.txt", "label_list.txt"):
        assert (tmp_path / "back" / name).exists() == (released / name).exists(), name
        if (released / name).exists():
            assert (tmp_path / "back" / name).read_text() == (released / name).read_text(), name


def test_outputs_equal_keras_hub_after_conversion(tmp_path):
    expected = keras_hub_fixtures.keras_hub_outputs()
    convert(str(preset(tmp_path, task=False)), str(tmp_path / "base"))
    convert(str(preset(tmp_path, name="classifier_preset")), str(tmp_path / "classifier"))
    config = BertConfig.from_json_file(tmp_path / "base" / "bert_config.json")
    assert config.hidden_act == "gelu"  # keras-hub's BERT computes the tanh GELU, the original's
    base = our_outputs(tmp_path / "base")
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(base[key], expected[key], atol=TOLERANCE, rtol=0, err_msg=key)
    logits = our_outputs(tmp_path / "classifier", num_classes=3)["logits"]
    np.testing.assert_allclose(logits, expected["logits"], atol=TOLERANCE, rtol=0)


def test_keras_hub_loads_the_presets_written_here(tmp_path):
    keras_hub = pytest.importorskip("keras_hub")
    released = tmp_path / "released"
    convert(str(hf_fixtures.write_hf_folder("classification_gelu_new", tmp_path / "hf")), str(released))
    convert(str(released), str(tmp_path / "preset"), "keras_hub")
    inputs = keras_hub_fixtures.keras_hub_outputs()
    inputs = {key: inputs[key][:, :8] % 30 for key in ("token_ids", "segment_ids", "padding_mask")}
    classifier = keras_hub.models.BertTextClassifier.from_preset(str(tmp_path / "preset"))
    config = BertConfig.from_json_file(released / "bert_config.json")
    expected = {}
    for ours in (modeling.BertClassifier(config, 3), modeling.BertModel(config)):
        load_checkpoint(ours, released / "bert_model.ckpt")
        expected.update({key: np.asarray(value) for key, value in ours(features(inputs)).items()
                         if not isinstance(value, list)})
    np.testing.assert_allclose(np.asarray(classifier(inputs)), expected["logits"], atol=TOLERANCE, rtol=0)
    backbone = keras_hub.models.BertBackbone.from_preset(str(tmp_path / "preset"))
    outputs = backbone(inputs)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_allclose(np.asarray(outputs[key]), expected[key], atol=TOLERANCE, rtol=0, err_msg=key)
    from bert_tf.tokenization import FullTokenizer

    tokenizer = keras_hub.models.BertTokenizer.from_preset(str(tmp_path / "preset"))
    text = "The man was in it, and his DOGS are at the ... thing."
    ours_ids = FullTokenizer(str(released / "vocab.txt"), do_lower_case=True)
    assert np.asarray(tokenizer(text)).tolist() == ours_ids.convert_tokens_to_ids(ours_ids.tokenize(text))


def test_keras_hub_default_uncased_tokenizer_is_read_as_the_original(tmp_path):
    folder = preset(tmp_path, task=False)
    edit_json(folder / "tokenizer.json", "config", strip_accents=False)  # keras-hub's default for lowercase
    model = convert(str(folder), str(tmp_path / "released"))
    assert model.do_lower_case
    convert(str(tmp_path / "released"), str(tmp_path / "back"), "keras_hub")
    written = json.loads((tmp_path / "back" / "tokenizer.json").read_text())["config"]
    assert written["lowercase"] is True and written["strip_accents"] is True


def test_a_text_embedder_preset_converts_as_its_base_model(tmp_path):
    folder = preset(tmp_path)
    edit_json(folder / "task.json", class_name="BertTextEmbedder")
    (folder / "task.weights.h5").unlink()
    assert convert(str(folder), str(tmp_path / "released")).head == "base"
    assert "output_weights" not in read_tensors(str(tmp_path / "released"))


def test_bert_dir_accepts_a_keras_hub_preset(tmp_path):
    folder = preset(tmp_path)
    assert needs_conversion(str(folder))
    files = resolve_model_files(str(folder), conversion_dir=str(tmp_path / "cache"), checkpoint_required=True)
    copy = tmp_path / "cache" / CONVERTED_FOLDER
    assert files.bert_config_file == str(copy / "bert_config.json")
    assert files.init_checkpoint == str(copy / "bert_model.ckpt")
    assert "output_weights" in read_tensors(str(copy))


def test_the_command_line_converts_both_ways(tmp_path):
    assert run_main(SCRIPT, f"--input={preset(tmp_path)}", f"--output={tmp_path / 'released'}") == 0
    assert (tmp_path / "released" / "bert_model.ckpt.index").exists()
    assert run_main(SCRIPT, f"--input={tmp_path / 'released'}", f"--output={tmp_path / 'preset_again'}",
                    "--output_format=keras_hub") == 0
    assert json.loads((tmp_path / "preset_again" / "task.json").read_text())["class_name"] == "BertTextClassifier"
    assert not [path for path in tmp_path.iterdir() if ".tmp-" in path.name]


# ------------------------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize("file_name, section, changes, expected", [
    ("config.json", None, {"class_name": "RobertaBackbone"}, ("class_name 'RobertaBackbone'", "RoBERTa is not BERT")),
    ("config.json", None, {"class_name": "GemmaBackbone"}, ("class_name 'GemmaBackbone'", "only BERT")),
    ("config.json", "config", {"layer_norm_epsilon": 1e-5}, ("field 'layer_norm_epsilon'",)),
    ("task.json", None, {"class_name": "BertMaskedLM"}, ("BertMaskedLM", "next-sentence head")),
    ("task.json", None, {"class_name": "BertTokenClassifier"}, ("task 'BertTokenClassifier'",)),
    ("tokenizer.json", "config", {"lowercase": False, "strip_accents": True},
     ("strip_accents true with lowercase false",)),
    ("tokenizer.json", "config", {"suffix_indicator": "@@"}, ('suffix_indicator "@@"',)),
    ("tokenizer.json", None, {"class_name": "WordPieceTokenizer"}, ("class_name 'WordPieceTokenizer'",)),
])
def test_presets_the_released_format_cannot_hold_are_refused(capsys, tmp_path, file_name, section, changes,
                                                             expected):
    folder = preset(tmp_path)
    edit_json(folder / file_name, section, **changes)
    refused(capsys, tmp_path, folder, file_name, *expected)


def edit_weights(path, edit):
    with h5py.File(path, "a") as h5_file:
        edit(h5_file)


def test_missing_extra_and_misshapen_tensors_are_refused_by_name(capsys, tmp_path):
    name = "layers/transformer_encoder_1/_feedforward_output_dense/vars/0"
    folder = preset(tmp_path, name="missing")
    edit_weights(folder / "model.weights.h5", lambda h5_file: h5_file.__delitem__(name))
    refused(capsys, tmp_path, folder, f"tensor {name} is missing", "bert/encoder/layer_1/output/dense/kernel")
    folder = preset(tmp_path, name="misshapen")

    def reshape(h5_file):
        del h5_file[name]
        h5_file[name] = np.zeros((16, 32), np.float32)

    edit_weights(folder / "model.weights.h5", reshape)
    refused(capsys, tmp_path, folder, f"tensor {name} has shape [16, 32]", "gives [32, 16]")
    folder = preset(tmp_path, name="extra")
    edit_weights(folder / "model.weights.h5",
                 lambda h5_file: h5_file.create_dataset("layers/transformer_encoder_2/vars/0", data=np.zeros(3)))
    refused(capsys, tmp_path, folder, "tensor layers/transformer_encoder_2/vars/0 is not part of a BERT model")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_needs_dtype_float32_and_then_converts_exactly(capsys, tmp_path, dtype):
    folder = preset(tmp_path, task=False)
    name = "layers/reversible_embedding/vars/0"
    half = {}

    def to_half(h5_file):  # as Keras saves a float16 or bfloat16 variable
        half["value"] = h5_file[name][()].astype(ml_dtypes.bfloat16 if dtype == "bfloat16" else np.float16)
        del h5_file[name]
        h5_file.create_dataset(name, data=half["value"])
        if dtype == "bfloat16":
            h5_file[name].attrs["dtype"] = "bfloat16"

    edit_weights(folder / "model.weights.h5", to_half)
    refused(capsys, tmp_path, folder, f"tensor {name} is {dtype}", "--dtype=float32")
    assert run_main(SCRIPT, f"--input={folder}", f"--output={tmp_path / 'released'}", "--dtype=float32") == 0
    converted = read_tensors(str(tmp_path / "released"))["bert/embeddings/word_embeddings"]
    assert np.array_equal(converted, half["value"].astype(np.float32))


def test_vocabulary_and_weight_files_that_do_not_fit_are_refused(capsys, tmp_path):
    folder = preset(tmp_path, name="short_vocabulary")
    vocabulary = folder / "assets" / "tokenizer" / "vocabulary.txt"
    vocabulary.write_text("".join(line + "\n" for line in vocabulary.read_text().splitlines()[:-1]))
    refused(capsys, tmp_path, folder, "vocabulary.txt has 29 tokens", "vocabulary_size 30")
    folder = preset(tmp_path, name="sharded")
    (folder / "model.weights.h5").rename(folder / "model.weights.json")
    refused(capsys, tmp_path, folder, "sharded weights (model.weights.json)")
    folder = preset(tmp_path, name="no_task_weights")
    (folder / "task.weights.h5").unlink()
    refused(capsys, tmp_path, folder, "no task.weights.h5")


@pytest.mark.parametrize("case, expected", [
    ("base_gelu", "hidden_act gelu_exact: keras-hub's BertBackbone computes the tanh GELU"),
    ("token_classification_gelu_new", "keras-hub has no BERT token classifier"),
    ("question_answering_gelu_new", "keras-hub has no BERT question-answering task"),
    ("multiple_choice_gelu_new", "keras-hub has no BERT multiple-choice task"),
    ("pretraining_gelu_new", "keras-hub's BertMaskedLM has no next-sentence head"),
])
def test_models_keras_hub_cannot_hold_are_refused(capsys, tmp_path, case, expected):
    folder = hf_fixtures.write_hf_folder(case, tmp_path / "hf")
    refused(capsys, tmp_path, folder, expected, flags=["--output_format=keras_hub"])
