"""Reading and writing keras-hub BERT presets, without keras-hub: the files `save_to_preset` writes.

    preset/
      config.json, model.weights.h5       BertBackbone: its config and weights
      tokenizer.json, assets/tokenizer/vocabulary.txt      BertTokenizer: its settings and vocabulary
      metadata.json                       the versions that saved it
      task.json, task.weights.h5, preprocessor.json        a BertTextClassifier preset only

`read_keras_hub(folder)` -> `PortableModel`; `write_keras_hub(model, folder)` writes a preset that
`keras_hub.models.BertBackbone.from_preset` (and `BertTextClassifier.from_preset`, `BertTokenizer.from_preset`)
load. The JSON files are `keras_hub_config`'s, the weights `keras_hub_weights`'. Heads: the base model and
`BertTextClassifier` (the classification head); keras-hub has no BERT task for the others. keras-hub keeps no
label names: a classifier's labels go to `label_list.txt` in the preset (which keras-hub ignores) and come back
from it.
"""
from __future__ import annotations

import os
from typing import Optional

import numpy as np

from bert_tf.files import atomic_write_text, read_text_file
from bert_tf.interop import hf_tokenizer, keras_hub_config, keras_hub_weights
from bert_tf.interop import portable_model as pm
from bert_tf.interop.formats import ConversionError
from bert_tf.interop.keras_hub_config import (
    BACKBONE_CONFIG_FILE,
    METADATA_FILE,
    PREPROCESSOR_CONFIG_FILE,
    TASK_CONFIG_FILE,
    TOKENIZER_CONFIG_FILE,
    VOCABULARY_FILE,
    json_text,
)
from bert_tf.interop.keras_hub_weights import BACKBONE_WEIGHTS_FILE, SHARDED_WEIGHTS_FILE, TASK_WEIGHTS_FILE

LABEL_LIST_FILE = "label_list.txt"  # this project's, one label a line (run_classifier.py's file)
# Why each head but the base model and the classifier has no keras-hub preset.
NO_KERAS_HUB_TASK = {
    pm.PRETRAINING: "keras-hub's BertMaskedLM has no next-sentence head",
    pm.TOKEN_CLASSIFICATION: "keras-hub has no BERT token classifier",
    pm.QUESTION_ANSWERING: "keras-hub has no BERT question-answering task",
    pm.MULTIPLE_CHOICE: "keras-hub has no BERT multiple-choice task",
}


def _weights_file(folder: str, name: str) -> str:
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        if name == BACKBONE_WEIGHTS_FILE and os.path.exists(os.path.join(folder, SHARDED_WEIGHTS_FILE)):
            raise ConversionError(f"{folder}: sharded weights ({SHARDED_WEIGHTS_FILE}) are not read here: save the "
                                  "preset with a larger max_shard_size (BERT fits in one file)")
        raise ConversionError(f"{folder}: no {name}")
    return path


def _labels(folder: str, num_outputs: int) -> Optional[list]:
    path = os.path.join(folder, LABEL_LIST_FILE)
    if not os.path.exists(path):
        return None
    labels = [line.rstrip("\r") for line in read_text_file(path).split("\n") if line.rstrip("\r")]
    if len(labels) != num_outputs:
        raise ConversionError(f"{path}: {len(labels)} labels for a classifier of {num_outputs} classes")
    return labels


def read_keras_hub(folder: str, dtype: Optional[str] = None) -> pm.PortableModel:
    """The model of a keras-hub BERT preset folder (a backbone or a `BertTextClassifier` preset).

    Args:
      folder: holds `config.json`, `model.weights.h5`, `tokenizer.json`, `assets/tokenizer/vocabulary.txt`.
      dtype: "float32" converts float16/bfloat16 weights (else they are refused).

    Raises:
      ConversionError: one line naming the file, field, class or tensor that cannot be converted.
    """
    folder = os.fspath(folder)
    config_path = os.path.join(folder, BACKBONE_CONFIG_FILE)
    bert_config = keras_hub_config.bert_config_from_backbone(
        keras_hub_config.read_json(folder, BACKBONE_CONFIG_FILE), config_path)
    task_path = os.path.join(folder, TASK_CONFIG_FILE)
    task = keras_hub_config.read_json(folder, TASK_CONFIG_FILE) if os.path.exists(task_path) else None
    head, num_classes = keras_hub_config.head_from_task(task, task_path)
    shapes = pm.expected_shapes(bert_config, head, num_classes or 0)
    tensors = keras_hub_weights.read_weights(_weights_file(folder, BACKBONE_WEIGHTS_FILE),
                                             keras_hub_weights.backbone_entries(bert_config), shapes, dtype)
    if head == pm.CLASSIFICATION:
        tensors.update(keras_hub_weights.read_weights(
            _weights_file(folder, TASK_WEIGHTS_FILE), keras_hub_weights.classifier_entries(bert_config, num_classes),
            shapes, dtype))
    do_lower_case = keras_hub_config.do_lower_case_from_tokenizer(
        keras_hub_config.read_json(folder, TOKENIZER_CONFIG_FILE), os.path.join(folder, TOKENIZER_CONFIG_FILE))
    vocab_path = os.path.join(folder, VOCABULARY_FILE)
    vocab = hf_tokenizer.read_vocab_file(vocab_path)
    if len(vocab) != bert_config.vocab_size:
        raise ConversionError(f"{folder}: {VOCABULARY_FILE} has {len(vocab)} tokens but {config_path} has "
                              f"vocabulary_size {bert_config.vocab_size}: they must be equal")
    labels = _labels(folder, num_classes) if head == pm.CLASSIFICATION else None
    model = pm.PortableModel(bert_config, head, tensors, vocab, do_lower_case, labels)
    pm.check_tensors(model, folder)
    return model


def write_keras_hub(model: pm.PortableModel, folder: str) -> None:
    """Writes `model` as a keras-hub preset into `folder` (which exists).

    Raises:
      ConversionError: a head keras-hub has no BERT task for, an activation its BertBackbone does not compute, a
        vocabulary without BERT's special tokens.
    """
    pm.check_tensors(model, "the model")
    if model.head in NO_KERAS_HUB_TASK:
        raise ConversionError(f"a {model.head} model: {NO_KERAS_HUB_TASK[model.head]} (keras-hub presets are written "
                              "for the base model and BertTextClassifier)")
    bert_config = model.bert_config
    backbone = keras_hub_config.backbone_from_bert_config(bert_config)
    keras_hub_config.check_vocab(model.vocab)
    entries = keras_hub_weights.backbone_entries(bert_config)
    names = keras_hub_weights.layer_names(bert_config)
    os.makedirs(os.path.dirname(os.path.join(folder, VOCABULARY_FILE)))
    atomic_write_text(os.path.join(folder, VOCABULARY_FILE), "".join(token + "\n" for token in model.vocab))
    atomic_write_text(os.path.join(folder, TOKENIZER_CONFIG_FILE),
                      json_text(keras_hub_config.tokenizer_config(model.do_lower_case)))
    atomic_write_text(os.path.join(folder, BACKBONE_CONFIG_FILE), json_text(backbone))
    keras_hub_weights.write_weights(os.path.join(folder, BACKBONE_WEIGHTS_FILE), model.tensors, entries, names)
    parameter_count = sum(int(np.prod(model.tensors[name].shape)) for name, *_ in entries)
    atomic_write_text(os.path.join(folder, METADATA_FILE), json_text(keras_hub_config.metadata(parameter_count)))
    if model.head == pm.CLASSIFICATION:
        sequence_length = min(keras_hub_config.CLASSIFIER_SEQUENCE_LENGTH, bert_config.max_position_embeddings)
        task, preprocessor = keras_hub_config.classifier_task(backbone, model.do_lower_case, model.num_outputs,
                                                              bert_config.hidden_dropout_prob, sequence_length)
        atomic_write_text(os.path.join(folder, TASK_CONFIG_FILE), json_text(task))
        atomic_write_text(os.path.join(folder, PREPROCESSOR_CONFIG_FILE), json_text(preprocessor))
        keras_hub_weights.write_weights(os.path.join(folder, TASK_WEIGHTS_FILE), model.tensors,
                                        keras_hub_weights.classifier_entries(bert_config, model.num_outputs),
                                        {"layers/dense": "logits", "optimizer": "adam"},
                                        keras_hub_weights.CLASSIFIER_OPTIMIZER_STATE)
        if model.labels:
            atomic_write_text(os.path.join(folder, LABEL_LIST_FILE), "".join(label + "\n" for label in model.labels))
