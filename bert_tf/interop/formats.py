"""The three checkpoint formats a folder can hold, told apart by its files.

* `released`: the original google-research/bert layout: `bert_config.json`, `vocab.txt` and a TF1 name-based
  checkpoint (`bert_model.ckpt.index`, `.data-*`), or a fine-tuning `output_dir` (a `checkpoint` state file
  naming its newest `model.ckpt-N`).
* `huggingface`: a Hugging Face `transformers` folder: `config.json` and `model.safetensors` (or shards with
  `model.safetensors.index.json`), tokenizer files.
* `keras_hub`: a keras-hub preset: `metadata.json`, `config.json`, `model.weights.h5`, `tokenizer.json` and
  `assets/tokenizer/vocabulary.txt` (and `task.json`, `task.weights.h5` for a task).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict

from bert_tf.errors import InputError
from bert_tf.files import read_text_file

RELEASED = "released"
HUGGINGFACE = "huggingface"
KERAS_HUB = "keras_hub"
FORMATS = (RELEASED, HUGGINGFACE, KERAS_HUB)

HF_CONFIG_FILE = "config.json"
KERAS_HUB_METADATA_FILE = "metadata.json"
# Files that make a folder a Hugging Face one (the weights in any of transformers' formats).
HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                   "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")


class ConversionError(InputError):
    """A folder that cannot be converted: one line naming the file, field or tensor and why."""


def detect_format(folder: str) -> str:
    """`released`, `huggingface` or `keras_hub` for the files in `folder`.

    Raises:
      ConversionError: `folder` is not a folder, or holds none of the three formats' files.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ConversionError(f"{folder} is not a folder" if os.path.exists(folder) else f"{folder}: no such folder")
    names = set(os.listdir(folder))
    if KERAS_HUB_METADATA_FILE in names and HF_CONFIG_FILE in names:
        return KERAS_HUB
    if HF_CONFIG_FILE in names and (names & set(HF_WEIGHT_FILES) or any(name.endswith(".safetensors")
                                                                        for name in names)):
        return HUGGINGFACE
    if "checkpoint" in names or any(name.endswith(".index") for name in names):
        return RELEASED
    if HF_CONFIG_FILE in names:
        return HUGGINGFACE  # config.json without weights: reading it says which file is missing
    raise ConversionError(f"{folder} holds no checkpoint: expected a released model folder (bert_config.json, "
                          "vocab.txt, bert_model.ckpt.index), a fine-tuning output_dir (checkpoint), a Hugging Face "
                          "folder (config.json, model.safetensors) or a keras-hub preset (metadata.json)")


def default_output_format(input_format: str) -> str:
    """`huggingface` from a released folder, `released` from the other two."""
    return HUGGINGFACE if input_format == RELEASED else RELEASED


def read_json_object(path: str) -> Dict[str, Any]:
    """A JSON file holding one object (a config, tokenizer or preset file) as a dict.

    Raises:
      ConversionError: missing, not JSON, or not an object, naming the file.
    """
    try:
        value = json.loads(read_text_file(path))
    except ValueError as error:
        raise ConversionError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise ConversionError(f"{path}: expected a JSON object")
    return value
