"""The Hugging Face fixtures of the conversion tests (`tests/interop/data`, written by
`bench/hf_interop_fixtures.py`), and the models of this project that run converted checkpoints.

* `CASES`: `<head>_<activation>` for every head and both activations (`gelu`: exact erf, `gelu_new`: tanh).
* `write_hf_folder(case, folder)`: the Hugging Face folder transformers saved for `case` (its `config.json`,
  a `model.safetensors` with the same tensor names and values, the tokenizer files).
* `hf_outputs()`: the fixed inputs and transformers' outputs on them.
* `build_model(folder)`, `model_outputs(model, head, inputs)`: this project's model of a released folder and
  its outputs on the fixture's inputs, named as transformers names them.
"""
import json
import pathlib
import shutil

import numpy as np

DATA_DIR = pathlib.Path(__file__).resolve().parent / "data"
HEADS = ("base", "pretraining", "classification", "token_classification", "question_answering", "multiple_choice")
ACTIVATIONS = ("gelu", "gelu_new")
CASES = [f"{head}_{activation}" for head in HEADS for activation in ACTIVATIONS]
TOLERANCE = 1e-5


def fixture_index() -> dict:
    return json.loads((DATA_DIR / "hf_models.json").read_text(encoding="utf-8"))


def head_of_case(case: str) -> str:
    return next(head for head in HEADS if case.startswith(head + "_"))


def hf_tensors(case: str) -> dict:
    """Tensor name -> float32 array of the `model.safetensors` transformers wrote for `case`."""
    head = head_of_case(case)
    stored = np.load(DATA_DIR / "hf_tensors.npz")
    names = fixture_index()["tensors"][head]
    return {name: stored[f"{head}/{name}"] if f"{head}/{name}" in stored.files
            else stored["shared/" + name.removeprefix("bert.")] for name in names}


def write_hf_folder(case: str, folder, tensors=None, config_changes=None) -> pathlib.Path:
    """Writes the Hugging Face folder of `case` (or of `tensors` instead of its own; `config_changes` applied to
    its config.json) and returns it."""
    import safetensors.numpy

    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = json.loads(fixture_index()["configs"][case])
    config.update(config_changes or {})
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    safetensors.numpy.save_file(hf_tensors(case) if tensors is None else tensors, str(folder / "model.safetensors"),
                                metadata={"format": "pt"})
    for path in (DATA_DIR / "hf_tokenizer").iterdir():
        shutil.copy(path, folder / path.name)
    return folder


def hf_outputs() -> dict:
    return dict(np.load(DATA_DIR / "hf_outputs.npz"))


def build_model(folder, head: str):
    """This project's model of `head` with the weights of the released folder `folder`."""
    from bert_tf import modeling
    from bert_tf.checkpoint import load_checkpoint
    from bert_tf.config import BertConfig

    folder = pathlib.Path(folder)
    config = BertConfig.from_json_file(folder / "bert_config.json")
    labels = (folder / "label_list.txt").read_text().split() if (folder / "label_list.txt").exists() else None
    if (folder / "label_map.json").exists():
        labels = list(json.loads((folder / "label_map.json").read_text()))
    model = {
        "base": lambda: modeling.BertModel(config),
        "pretraining": lambda: modeling.BertPretrainingModel(config),
        "classification": lambda: modeling.BertClassifier(config, len(labels)),
        "token_classification": lambda: modeling.BertTokenClassifier(config, len(labels)),
        "question_answering": lambda: modeling.BertQuestionAnswering(config),
        "multiple_choice": lambda: modeling.BertMultipleChoice(config),
    }[head]()
    load_checkpoint(model, folder / "bert_model.ckpt")
    return model


def model_outputs(model, head: str, inputs: dict) -> dict:
    """The model's outputs on the fixture's inputs, as numpy arrays named as transformers names them:
    `hidden`, `pooled`, `logits`, `start_logits`, `end_logits`, `prediction_log_probs` (log-softmax over every
    position), `seq_relationship_logits`."""
    if head == "multiple_choice":
        features = {"input_ids": inputs["choice_input_ids"], "input_mask": inputs["choice_attention_mask"],
                    "segment_ids": inputs["choice_token_type_ids"]}
    else:
        features = {"input_ids": inputs["input_ids"], "input_mask": inputs["attention_mask"],
                    "segment_ids": inputs["token_type_ids"]}
    features = {key: np.asarray(value, np.int32) for key, value in features.items()}
    if head == "pretraining":
        batch, length = features["input_ids"].shape
        features["masked_lm_positions"] = np.tile(np.arange(length, dtype=np.int32), (batch, 1))
    outputs = {key: np.asarray(value) for key, value in model(features).items() if not isinstance(value, list)}
    renamed = {"sequence_output": "hidden", "pooled_output": "pooled", "masked_lm_log_probs": "prediction_log_probs",
               "next_sentence_logits": "seq_relationship_logits"}
    outputs = {renamed.get(key, key): value for key, value in outputs.items()}
    if head == "pretraining":
        outputs["prediction_log_probs"] = outputs["prediction_log_probs"].reshape(batch, length, -1)
    return outputs


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
