"""Checkpoints of this project -> Hugging Face folders that transformers loads and runs with our outputs (1e-5).

The comparison runs in a Python with torch and transformers named by `$BERT_TF_PEER_PYTHON` (skipped without
it; CI has neither): `tests/interop/transformers_check.py` loads each folder with `AutoModelFor...` and
`AutoTokenizer`.
"""
import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

from bert_tf import modeling
from bert_tf.checkpoint import save_checkpoint
from bert_tf.config import BertConfig
from bert_tf.interop import convert
from bert_tf.tokenization import FullTokenizer
from tests.harness.scripts import subprocess_environment
from tests.interop import hf_fixtures
from tests.interop.hf_fixtures import DATA_DIR, HEADS, TOLERANCE

PEER_PYTHON = os.environ.get("BERT_TF_PEER_PYTHON")
SENTENCE = "The ones that was in it, he is."
LABELS = {"classification": ["no", "yes", "maybe"], "token_classification": ["O", "B-X", "I-X"]}


def random_released_folder(folder: pathlib.Path, head: str, hidden_act: str, seed: int):
    """A released folder of a small random model of `head` (every weight random, LayerNorm about 1); returns the
    model."""
    folder.mkdir(parents=True)
    vocab = (DATA_DIR / "hf_tokenizer" / "vocab.txt").read_text().split()
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=16, type_vocab_size=2, hidden_act=hidden_act,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = {
        "base": lambda: modeling.BertModel(config),
        "pretraining": lambda: modeling.BertPretrainingModel(config),
        "classification": lambda: modeling.BertClassifier(config, len(LABELS["classification"])),
        "token_classification": lambda: modeling.BertTokenClassifier(config, len(LABELS["token_classification"])),
        "question_answering": lambda: modeling.BertQuestionAnswering(config),
        "multiple_choice": lambda: modeling.BertMultipleChoice(config),
    }[head]()
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        noise = rng.standard_normal(tuple(variable.shape)).astype(np.float32) * 0.2
        variable.assign(1.0 + noise / 2 if variable.path.endswith("gamma") else noise)
    save_checkpoint(model, folder / "bert_model.ckpt")
    config.to_json_file(folder / "bert_config.json")
    (folder / "vocab.txt").write_text("".join(token + "\n" for token in vocab))
    if head in LABELS:
        name = "label_list.txt" if head == "classification" else "label_map.json"
        text = ("".join(label + "\n" for label in LABELS[head]) if head == "classification"
                else json.dumps({label: index for index, label in enumerate(LABELS[head])}))
        (folder / name).write_text(text)
    return model


@pytest.mark.slow
@pytest.mark.skipif(not PEER_PYTHON, reason="set BERT_TF_PEER_PYTHON to a Python with torch and transformers")
def test_transformers_loads_our_checkpoints_and_gives_our_outputs(tmp_path):
    fixture = hf_fixtures.hf_outputs()
    inputs = {"input_ids": fixture["input_ids"], "input_mask": fixture["attention_mask"],
              "segment_ids": fixture["token_type_ids"], "choice_input_ids": fixture["choice_input_ids"],
              "choice_input_mask": fixture["choice_attention_mask"],
              "choice_segment_ids": fixture["choice_token_type_ids"]}
    np.savez(tmp_path / "inputs.npz", **inputs)
    cases = {}
    for index, (head, hidden_act) in enumerate((head, act) for head in HEADS for act in ("gelu", "gelu_exact")):
        case = f"{head}_{hidden_act}"
        model = random_released_folder(tmp_path / case, head, hidden_act, seed=index)
        outputs = hf_fixtures.model_outputs(model, head, fixture)
        outputs.pop("embedding_output", None)
        if head != "base":
            outputs.pop("pooled", None)  # Hugging Face's heads do not return it: compared through their logits
        np.savez(tmp_path / f"{case}_outputs.npz", **outputs)
        convert(str(tmp_path / case), str(tmp_path / f"{case}_hf"))
        cases[case] = {"folder": str(tmp_path / f"{case}_hf"), "head": head,
                       "outputs": str(tmp_path / f"{case}_outputs.npz")}
    request = {"inputs": str(tmp_path / "inputs.npz"), "sentence": SENTENCE, "cases": cases}
    (tmp_path / "request.json").write_text(json.dumps(request))
    completed = subprocess.run([PEER_PYTHON, str(pathlib.Path(__file__).parent / "transformers_check.py"),
                                str(tmp_path / "request.json")], capture_output=True, text=True, timeout=600,
                               env=subprocess_environment())
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    for case, case_request in cases.items():
        differences = results[case]["differences"]
        assert differences and all(value is not None and value < TOLERANCE for value in differences.values()), \
            (case, differences)
        assert results[case]["hidden_act"] == ("gelu" if case.endswith("gelu_exact") else "gelu_new")
    tokenizer = FullTokenizer(str(tmp_path / "base_gelu" / "vocab.txt"), do_lower_case=True)
    ours = tokenizer.convert_tokens_to_ids(["[CLS]", *tokenizer.tokenize(SENTENCE), "[SEP]"])
    assert results["_tokenizer"]["ids"] == ours
