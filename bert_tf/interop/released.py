"""Reading and writing released-format folders (the original google-research/bert layout).

A released model folder holds `bert_config.json`, `vocab.txt` and `bert_model.ckpt.*`; a fine-tuning
`output_dir` holds its checkpoints (`checkpoint` names the newest), its label list (`label_list.txt` of
run_classifier.py, `label_map.json` of run_ner.py) and its feature caches' settings (`*.tf_record.meta.json`:
labels, `do_lower_case`), but not the config and vocabulary: those come from `bert_dir` (the pretrained model
the run started from). Optimizer slots and `global_step` are left out of a conversion.

The released format does not record the casing: `do_lower_case` is the run's (feature cache settings), else the
vocabulary's (an uncased vocabulary has almost no capitalized entries), unless given.
"""
from __future__ import annotations

import glob
import json
import os
from typing import List, Optional, Tuple

from absl import logging

from bert_tf.checkpoint import CheckpointError, read_tensors, resolve_checkpoint, save_tensors
from bert_tf.config import BertConfig
from bert_tf.files import atomic_write_text, read_text_file
from bert_tf.interop import hf_config, hf_tokenizer
from bert_tf.interop import portable_model as pm
from bert_tf.interop.formats import ConversionError

BERT_CONFIG_FILE = "bert_config.json"
VOCAB_FILE = "vocab.txt"
CHECKPOINT_PREFIX = "bert_model.ckpt"
LABEL_LIST_FILE = "label_list.txt"  # run_classifier.py's, one label a line in id order
LABEL_MAP_FILE = "label_map.json"  # run_ner.py's, {label: id}
FEATURE_CACHE_META_PATTERN = "*.tf_record.meta.json"
# More capitalized entries than this share make a vocabulary cased (bert-base-cased: 27%, uncased: none).
CASED_VOCAB_FRACTION = 0.01


def _model_file(folder: str, bert_dir: Optional[str], name: str) -> str:
    for candidate in (folder, bert_dir):
        if candidate and os.path.exists(os.path.join(candidate, name)):
            return os.path.join(candidate, name)
    where = f"{folder} or --bert_dir {bert_dir}" if bert_dir else folder
    raise ConversionError(f"no {name} in {where}: a fine-tuning output_dir needs --bert_dir, the pretrained model "
                          "folder the run started from")


def _run_settings(folder: str) -> dict:
    """The settings a fine-tuning run recorded with its feature caches (`labels`, `do_lower_case`), or {}."""
    for path in sorted(glob.glob(os.path.join(glob.escape(folder), FEATURE_CACHE_META_PATTERN))):
        try:
            with open(path, encoding="utf-8") as reader:
                settings = json.load(reader).get("settings") or {}
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(settings, dict):
            return settings
    return {}


def _labels(folder: str, head: str, settings: dict) -> Optional[List[str]]:
    if head == pm.CLASSIFICATION and os.path.exists(os.path.join(folder, LABEL_LIST_FILE)):
        return [line.rstrip("\r") for line in read_text_file(os.path.join(folder, LABEL_LIST_FILE)).split("\n")
                if line.rstrip("\r")]
    if head == pm.TOKEN_CLASSIFICATION and os.path.exists(os.path.join(folder, LABEL_MAP_FILE)):
        path = os.path.join(folder, LABEL_MAP_FILE)
        try:
            mapping = json.loads(read_text_file(path))
            return sorted(mapping, key=lambda label: int(mapping[label]))
        except (ValueError, TypeError, AttributeError):
            raise ConversionError(f"{path}: expected a JSON object {{label: id}}") from None
    labels = settings.get("labels")
    if head in (pm.CLASSIFICATION, pm.TOKEN_CLASSIFICATION) and isinstance(labels, list) and labels:
        return [str(label) for label in labels]
    return None


def vocab_is_cased(vocab: List[str]) -> bool:
    """Whether a vocabulary keeps capital letters (more than 1% of its entries start with one)."""
    return sum(1 for token in vocab if token[:1].isupper()) > CASED_VOCAB_FRACTION * len(vocab)


def read_released(folder: str, bert_dir: Optional[str] = None,
                  do_lower_case: Optional[bool] = None) -> pm.PortableModel:
    """The model of a released folder or a fine-tuning `output_dir` (its newest checkpoint).

    Args:
      folder: the folder (a checkpoint prefix inside one works too).
      bert_dir: where `bert_config.json` and `vocab.txt` are when `folder` has none.
      do_lower_case: the tokenizer's casing (None: the run's, else the vocabulary's).

    Raises:
      ConversionError: no checkpoint, config or vocabulary; a checkpoint that does not fit its config.
    """
    folder = os.fspath(folder)
    try:
        prefix = resolve_checkpoint(folder)
        entries = read_tensors(prefix)
    except CheckpointError as error:
        raise ConversionError(str(error)) from None
    if not os.path.isdir(folder):
        folder = os.path.dirname(prefix)
    config_path = _model_file(folder, bert_dir, BERT_CONFIG_FILE)
    try:
        bert_config = BertConfig.from_json_file(config_path)
    except ValueError as error:
        raise ConversionError(str(error)) from None
    vocab = hf_tokenizer.read_vocab_file(_model_file(folder, bert_dir, VOCAB_FILE))
    dropped = [name for name in entries if pm.is_optimizer_state(name)]
    if dropped:
        logging.info("%s: %d optimizer entries (adam_m, adam_v, global_step) left out", prefix, len(dropped))
    tensors = {name: value for name, value in entries.items() if not pm.is_optimizer_state(name)}
    head = pm.head_of(tensors, prefix)
    settings = _run_settings(folder)
    if do_lower_case is None:
        do_lower_case = settings.get("do_lower_case")
    if do_lower_case is None:
        do_lower_case = not vocab_is_cased(vocab)
        logging.info("%s: do_lower_case=%s (from the vocabulary's casing)", folder, do_lower_case)
    labels = _labels(folder, head, settings)
    model = pm.PortableModel(bert_config, head, tensors, vocab, bool(do_lower_case), labels)
    pm.check_tensors(model, prefix)
    if len(vocab) != bert_config.vocab_size:
        raise ConversionError(f"{folder}: vocab.txt has {len(vocab)} tokens but {config_path} has vocab_size "
                              f"{bert_config.vocab_size}: they are from different models")
    if labels is not None and len(labels) != model.num_outputs:
        raise ConversionError(f"{folder}: {len(labels)} labels for a head of {model.num_outputs} outputs")
    if bert_config.hidden_act.lower() == "gelu_exact":
        logging.info("%s: %s", config_path, hf_config.EXACT_GELU_NOTE)
    return model


def write_released(model: pm.PortableModel, folder: str) -> Tuple[str, ...]:
    """Writes `bert_config.json`, `vocab.txt`, `bert_model.ckpt.*` (and the label file of a classifier) into
    `folder` (which exists); returns the names written."""
    pm.check_tensors(model, "the model")
    atomic_write_text(os.path.join(folder, BERT_CONFIG_FILE), model.bert_config.to_json_string())
    atomic_write_text(os.path.join(folder, VOCAB_FILE), "".join(token + "\n" for token in model.vocab))
    save_tensors(model.tensors, os.path.join(folder, CHECKPOINT_PREFIX))
    written = [BERT_CONFIG_FILE, VOCAB_FILE, CHECKPOINT_PREFIX]
    if model.labels and model.head == pm.CLASSIFICATION:
        atomic_write_text(os.path.join(folder, LABEL_LIST_FILE), "".join(label + "\n" for label in model.labels))
        written.append(LABEL_LIST_FILE)
    if model.labels and model.head == pm.TOKEN_CLASSIFICATION:
        mapping = {label: index for index, label in enumerate(model.labels)}
        atomic_write_text(os.path.join(folder, LABEL_MAP_FILE), json.dumps(mapping, indent=1) + "\n")
        written.append(LABEL_MAP_FILE)
    return tuple(written)
