"""convert_checkpoint.py: conversions from the command line, and every refusal: one line naming the file, field or
tensor, exit status 1, nothing written."""
import json

import ml_dtypes
import numpy as np
import pytest
import safetensors.numpy

from bert_tf.checkpoint import read_tensors
from tests.harness.scripts import assert_fails_cleanly, run_main
from tests.interop import hf_fixtures

SCRIPT = "convert_checkpoint"


def hf_folder(tmp_path, case="classification_gelu", **changes):
    return hf_fixtures.write_hf_folder(case, tmp_path / "hf", **changes)


def refused(capsys, tmp_path, folder, *expected, flags=()):
    output = tmp_path / "converted"
    return assert_fails_cleanly(capsys, SCRIPT, [f"--input={folder}", f"--output={output}", *flags], *expected,
                                output_dir=output)


def test_converts_both_ways_from_the_command_line(tmp_path):
    folder = hf_folder(tmp_path)
    assert run_main(SCRIPT, f"--input={folder}", f"--output={tmp_path / 'released'}") == 0
    assert (tmp_path / "released" / "bert_model.ckpt.index").exists()
    assert run_main(SCRIPT, f"--input={tmp_path / 'released'}", f"--output={tmp_path / 'hf_again'}") == 0
    assert json.loads((tmp_path / "hf_again" / "config.json").read_text())["architectures"] == [
        "BertForSequenceClassification"]
    assert not [path for path in tmp_path.iterdir() if ".tmp-" in path.name]


def test_output_format_released_to_released(tmp_path):
    folder = hf_folder(tmp_path, "base_gelu")
    assert run_main(SCRIPT, f"--input={folder}", f"--output={tmp_path / 'a'}") == 0
    assert run_main(SCRIPT, f"--input={tmp_path / 'a'}", f"--output={tmp_path / 'b'}",
                    "--output_format=released") == 0
    assert sorted(read_tensors(str(tmp_path / "b"))) == sorted(read_tensors(str(tmp_path / "a")))


@pytest.mark.parametrize("model_type, name", [("roberta", "RoBERTa"), ("distilbert", "DistilBERT"),
                                               ("albert", "ALBERT"), ("electra", "ELECTRA")])
def test_other_model_types_are_refused_by_name(capsys, tmp_path, model_type, name):
    folder = hf_folder(tmp_path, config_changes={"model_type": model_type})
    refused(capsys, tmp_path, folder, f"model_type '{model_type}'", f"{name} is not BERT")


@pytest.mark.parametrize("changes, expected", [
    ({"position_embedding_type": "relative_key"}, "position_embedding_type 'relative_key'"),
    ({"layer_norm_eps": 1e-5}, "layer_norm_eps 1e-05"),
    ({"hidden_act": "silu"}, "hidden_act 'silu'"),
    ({"is_decoder": True}, "is_decoder true"),
    ({"architectures": ["BertForMaskedLM"]}, "classifier.weight"),
    ({"id2label": {"0": "a", "1": "b"}}, "classifier.weight has 3 rows"),
])
def test_config_fields_the_original_cannot_compute_are_refused(capsys, tmp_path, changes, expected):
    refused(capsys, tmp_path, hf_folder(tmp_path, config_changes=changes), expected)


def test_missing_tensor_is_refused_by_name(capsys, tmp_path):
    tensors = hf_fixtures.hf_tensors("classification_gelu")
    del tensors["bert.encoder.layer.1.output.dense.weight"]
    refused(capsys, tmp_path, hf_folder(tmp_path, tensors=tensors),
            "tensor bert.encoder.layer.1.output.dense.weight is missing")


def test_extra_tensor_is_refused_by_name(capsys, tmp_path):
    tensors = hf_fixtures.hf_tensors("classification_gelu")
    tensors["bert.encoder.layer.2.output.dense.weight"] = np.zeros((32, 64), np.float32)
    refused(capsys, tmp_path, hf_folder(tmp_path, tensors=tensors),
            "tensor bert.encoder.layer.2.output.dense.weight is not part of a BERT classification model")


def test_shape_mismatch_is_refused_by_name(capsys, tmp_path):
    tensors = hf_fixtures.hf_tensors("classification_gelu")
    tensors["bert.encoder.layer.0.intermediate.dense.weight"] = np.zeros((32, 64), np.float32)  # not transposed
    refused(capsys, tmp_path, hf_folder(tmp_path, tensors=tensors),
            "tensor bert.encoder.layer.0.intermediate.dense.weight has shape [32, 64]", "gives [64, 32]")


def test_masked_lm_alone_is_refused(capsys, tmp_path):
    tensors = {name: value for name, value in hf_fixtures.hf_tensors("pretraining_gelu").items()
               if not name.startswith(("cls.seq_relationship", "bert.pooler"))}
    folder = hf_folder(tmp_path, "pretraining_gelu", tensors=tensors,
                       config_changes={"architectures": ["BertForMaskedLM"]})
    refused(capsys, tmp_path, folder, "cls.seq_relationship.weight is missing", "BertForMaskedLM")


def test_untied_decoder_is_refused(capsys, tmp_path):
    tensors = hf_fixtures.hf_tensors("pretraining_gelu")
    tensors["cls.predictions.decoder.weight"] = tensors["bert.embeddings.word_embeddings.weight"] + 1.0
    refused(capsys, tmp_path, hf_folder(tmp_path, "pretraining_gelu", tensors=tensors),
            "cls.predictions.decoder.weight differs from bert.embeddings.word_embeddings.weight")


def test_a_tied_decoder_saved_twice_is_accepted(tmp_path):
    tensors = hf_fixtures.hf_tensors("pretraining_gelu")
    tensors["cls.predictions.decoder.weight"] = tensors["bert.embeddings.word_embeddings.weight"]
    tensors["cls.predictions.decoder.bias"] = tensors["cls.predictions.bias"]
    folder = hf_folder(tmp_path, "pretraining_gelu", tensors=tensors)
    assert run_main(SCRIPT, f"--input={folder}", f"--output={tmp_path / 'released'}") == 0


def test_a_pytorch_pickle_is_refused_with_the_way_out(capsys, tmp_path):
    folder = hf_folder(tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not read")
    refused(capsys, tmp_path, folder, "pytorch_model.bin is a PyTorch pickle", "convert it to model.safetensors")


@pytest.mark.parametrize("dtype, name", [(np.float16, "F16"), (ml_dtypes.bfloat16, "BF16")])
def test_half_precision_needs_dtype_float32_and_then_converts_exactly(capsys, tmp_path, dtype, name):
    half = {key: value.astype(dtype) for key, value in hf_fixtures.hf_tensors("classification_gelu").items()}
    folder = hf_folder(tmp_path, tensors=half)
    refused(capsys, tmp_path, folder, f"is {name}", "--dtype=float32")
    assert run_main(SCRIPT, f"--input={folder}", f"--output={tmp_path / 'released'}", "--dtype=float32") == 0
    converted = read_tensors(str(tmp_path / "released"))
    query = half["bert.encoder.layer.0.attention.self.query.weight"].astype(np.float32)
    assert np.array_equal(converted["bert/encoder/layer_0/attention/self/query/kernel"], query.T)
    assert converted["output_weights"].dtype == np.float32


@pytest.mark.parametrize("file_name, change, expected", [
    ("tokenizer_config.json", {"strip_accents": False}, "strip_accents false with do_lower_case true"),
    ("tokenizer_config.json", {"tokenize_chinese_chars": False}, "tokenize_chinese_chars false"),
    ("tokenizer_config.json", {"tokenizer_class": "XLMRobertaTokenizer"}, "tokenizer_class 'XLMRobertaTokenizer'"),
    ("tokenizer_config.json", {"unk_token": "<unk>"}, "unk_token '<unk>'"),
    ("tokenizer_config.json", {"do_lower_case": False}, "do_lower_case false but"),
    ("tokenizer.json", {"model": {"type": "BPE", "vocab": {}, "merges": []}}, "model type 'BPE' is not WordPiece"),
    ("tokenizer.json", {"normalizer": {"type": "NFKC"}}, "normalizer 'NFKC' is not BertNormalizer"),
])
def test_tokenizers_the_original_cannot_reproduce_are_refused(capsys, tmp_path, file_name, change, expected):
    folder = hf_folder(tmp_path)
    settings = json.loads((folder / file_name).read_text())
    settings.update(change)
    (folder / file_name).write_text(json.dumps(settings))
    refused(capsys, tmp_path, folder, file_name, expected)


def test_a_vocabulary_of_another_size_is_refused(capsys, tmp_path):
    tensors = hf_fixtures.hf_tensors("base_gelu")
    tensors["embeddings.word_embeddings.weight"] = np.zeros((31, 32), np.float32)
    folder = hf_fixtures.write_hf_folder("base_gelu", tmp_path / "hf31", tensors=tensors,
                                         config_changes={"vocab_size": 31})
    refused(capsys, tmp_path, folder, "the tokenizer has 30 tokens", "vocab_size 31")


def test_an_existing_output_folder_is_refused_and_kept(capsys, tmp_path):
    folder = hf_folder(tmp_path)
    output = tmp_path / "converted"
    output.mkdir()
    (output / "mine.txt").write_text("keep me")
    assert_fails_cleanly(capsys, SCRIPT, [f"--input={folder}", f"--output={output}"], "is not an empty folder",
                         output_dir=output)


def test_missing_flags_and_folders_are_one_line(capsys, tmp_path):
    assert_fails_cleanly(capsys, SCRIPT, [], "--input is required", "--output is required")
    refused(capsys, tmp_path, tmp_path / "nowhere", "no such folder")
    (tmp_path / "empty").mkdir()
    refused(capsys, tmp_path, tmp_path / "empty", "holds no checkpoint")
    refused(capsys, tmp_path, hf_folder(tmp_path), "--dtype 'float16'", flags=["--dtype=float16"])


def test_a_fine_tuning_output_dir_needs_its_bert_dir(capsys, tmp_path):
    folder = hf_folder(tmp_path, "token_classification_gelu")
    assert run_main(SCRIPT, f"--input={folder}", f"--output={tmp_path / 'pretrained'}") == 0
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for path in (tmp_path / "pretrained").iterdir():
        if path.name.startswith("bert_model.ckpt") or path.name in ("checkpoint", "label_map.json"):
            (run_dir / path.name).write_bytes(path.read_bytes())
    refused(capsys, tmp_path, run_dir, "no bert_config.json", "--bert_dir")
    assert run_main(SCRIPT, f"--input={run_dir}", f"--output={tmp_path / 'hf_out'}",
                    f"--bert_dir={tmp_path / 'pretrained'}") == 0
    config = json.loads((tmp_path / "hf_out" / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    assert config["id2label"]["1"] == "B-PER"
    written = safetensors.numpy.load_file(str(tmp_path / "hf_out" / "model.safetensors"))
    for name, value in hf_fixtures.hf_tensors("token_classification_gelu").items():
        assert np.array_equal(written[name], value), name
