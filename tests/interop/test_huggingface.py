"""Hugging Face folders -> released -> Hugging Face: every head, both activations, against transformers' own
outputs (fixtures of `bench/hf_interop_fixtures.py`) at 1e-5, and round trips that keep every tensor bit for bit."""
import json

import numpy as np
import pytest
import safetensors.numpy

from bert_tf.checkpoint import read_tensors
from bert_tf.config import BertConfig
from bert_tf.interop import convert, detect_format
from tests.interop import hf_fixtures
from tests.interop.hf_fixtures import CASES, TOLERANCE, head_of_case


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """case -> (Hugging Face folder, released folder converted from it)."""
    root = tmp_path_factory.mktemp("hf_cases")
    folders = {}
    for case in CASES:
        hf_folder = hf_fixtures.write_hf_folder(case, root / f"{case}_hf")
        convert(str(hf_folder), str(root / f"{case}_released"))
        folders[case] = (hf_folder, root / f"{case}_released")
    return folders


@pytest.mark.parametrize("case", CASES)
def test_outputs_equal_transformers_after_conversion(converted, case):
    head = head_of_case(case)
    expected = hf_fixtures.hf_outputs()
    model = hf_fixtures.build_model(converted[case][1], head)
    actual = hf_fixtures.model_outputs(model, head, expected)
    compared = 0
    for key in ("hidden", "pooled", "logits", "start_logits", "end_logits", "seq_relationship_logits"):
        if f"{case}/{key}" in expected:
            np.testing.assert_allclose(actual[key], expected[f"{case}/{key}"], atol=TOLERANCE, rtol=0, err_msg=key)
            compared += 1
    if head == "pretraining":
        np.testing.assert_allclose(actual["prediction_log_probs"],
                                   hf_fixtures.log_softmax(expected[f"{case}/prediction_logits"]),
                                   atol=TOLERANCE, rtol=0)
        compared += 1
    assert compared == {"base": 2, "pretraining": 2, "question_answering": 2}.get(head, 1)


@pytest.mark.parametrize("case", CASES)
def test_hidden_act_keeps_the_numerics(converted, case):
    config = BertConfig.from_json_file(converted[case][1] / "bert_config.json")
    assert config.hidden_act == ("gelu_exact" if case.endswith("_gelu") else "gelu")


@pytest.mark.parametrize("case", [case for case in CASES if case.endswith("_gelu")] + ["base_gelu_new"])
def test_hf_to_released_to_hf_keeps_every_tensor(converted, tmp_path, case):
    hf_folder, released = converted[case]
    convert(str(released), str(tmp_path / "back"))
    original = safetensors.numpy.load_file(str(hf_folder / "model.safetensors"))
    back = safetensors.numpy.load_file(str(tmp_path / "back" / "model.safetensors"))
    assert sorted(back) == sorted(original)
    for name, value in original.items():
        assert back[name].dtype == value.dtype and np.array_equal(back[name], value), name
    config = json.loads((hf_folder / "config.json").read_text())
    config_back = json.loads((tmp_path / "back" / "config.json").read_text())
    for key in ("architectures", "model_type", "hidden_act", "id2label", "vocab_size", "hidden_size",
                "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings",
                "type_vocab_size", "layer_norm_eps", "pad_token_id"):
        if key in config or key == "architectures":
            assert config_back.get(key) == config.get(key), key
    assert (tmp_path / "back" / "vocab.txt").read_text() == (hf_folder / "vocab.txt").read_text()


@pytest.mark.parametrize("case", [case for case in CASES if case.endswith("_gelu")])
def test_released_to_hf_to_released_keeps_every_tensor(converted, tmp_path, case):
    released = converted[case][1]
    convert(str(released), str(tmp_path / "hf"))
    assert detect_format(str(tmp_path / "hf")) == "huggingface"
    convert(str(tmp_path / "hf"), str(tmp_path / "released"))
    original, back = read_tensors(str(released)), read_tensors(str(tmp_path / "released"))
    assert sorted(back) == sorted(original)
    for name, value in original.items():
        assert back[name].dtype == value.dtype and np.array_equal(back[name], value), name
    for name in ("bert_config.json", "vocab.txt", "label_list.txt", "label_map.json"):
        if (released / name).exists():
            assert (tmp_path / "released" / name).read_text() == (released / name).read_text(), name


def test_labels_go_to_the_files_the_scripts_read(converted):
    classifier = converted["classification_gelu"][1]
    assert (classifier / "label_list.txt").read_text() == "negative\nneutral\npositive\n"
    ner = converted["token_classification_gelu"][1]
    assert json.loads((ner / "label_map.json").read_text()) == {"O": 0, "B-PER": 1, "I-PER": 2, "B-LOC": 3,
                                                                  "I-LOC": 4}


@pytest.mark.parametrize("case", ["token_classification_gelu", "question_answering_gelu"])
def test_heads_without_a_pooler_get_a_zero_one_that_is_left_out_again(converted, case):
    hf_folder, released = converted[case]
    assert not any("pooler" in name for name in safetensors.numpy.load_file(str(hf_folder / "model.safetensors")))
    tensors = read_tensors(str(released))
    assert not tensors["bert/pooler/dense/kernel"].any() and not tensors["bert/pooler/dense/bias"].any()


def test_the_released_folder_has_the_original_layout(converted):
    released = converted["pretraining_gelu"][1]
    assert sorted(path.name for path in released.iterdir()) == [
        "bert_config.json", "bert_model.ckpt.data-00000-of-00001", "bert_model.ckpt.index", "checkpoint", "vocab.txt"]
    names = set(read_tensors(str(released)))
    assert {"cls/predictions/output_bias", "cls/seq_relationship/output_weights",
            "bert/encoder/layer_1/attention/self/query/kernel"} <= names
    config = json.loads((released / "bert_config.json").read_text())
    assert set(config) == {"vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                           "intermediate_size", "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob",
                           "max_position_embeddings", "type_vocab_size", "initializer_range"}
