"""Reading and writing Hugging Face BERT folders (`config.json`, safetensors, tokenizer files).

`read_huggingface(folder)` -> `PortableModel` (released names and layouts); `write_huggingface(model, folder)`
writes `config.json` (`architectures`, `model_type`, `id2label`), `model.safetensors` and the tokenizer files,
which `transformers.AutoTokenizer` and `AutoModelFor...` load. The name and layout table is `hf_names`; the
config mapping `hf_config`; the tokenizer mapping `hf_tokenizer`.

The head comes from the tensors (`classifier.*` needs `architectures` to tell sequence, token and multiple-choice
classification apart). Token classification and question answering have no pooler in Hugging Face's classes:
reading one, the released checkpoint gets a pooler of zeros (their heads never read it; a log line says so),
and writing one, a pooler of zeros is left out again, so both round trips keep every tensor.
"""
from __future__ import annotations

import json
import os
from typing import Dict, Optional

import numpy as np
from absl import logging

from bert_tf.files import atomic_write_text
from bert_tf.interop import hf_config, hf_names, hf_tokenizer, safetensors_files
from bert_tf.interop import portable_model as pm
from bert_tf.interop.formats import HF_CONFIG_FILE, ConversionError, read_json_object

CLASSIFIER_HEADS = (pm.CLASSIFICATION, pm.TOKEN_CLASSIFICATION, pm.MULTIPLE_CHOICE)


def read_config_json(folder: str) -> Dict:
    return read_json_object(os.path.join(folder, HF_CONFIG_FILE))


def _head(config: Dict, names, path: str) -> str:
    """The head of a folder: from its tensors, `architectures` deciding between the `classifier.*` heads."""
    from_names = hf_names.head_from_names(names)
    architectures = config.get("architectures") or []
    architecture = architectures[0] if len(architectures) == 1 else None
    named = hf_config.HEAD_OF_ARCHITECTURE.get(architecture)
    if from_names == pm.CLASSIFICATION:
        if named not in CLASSIFIER_HEADS:
            raise ConversionError(f"{path}: architectures {architectures or 'missing'}: the tensor classifier.weight "
                                  "needs BertForSequenceClassification, BertForTokenClassification or "
                                  "BertForMultipleChoice to say which head it is")
        return named
    if from_names == pm.PRETRAINING and "cls.seq_relationship.weight" not in names:
        raise ConversionError(f"{path}: tensor cls.seq_relationship.weight is missing: a masked-LM head alone "
                              "(BertForMaskedLM) has no counterpart in the released format, which keeps the "
                              "next-sentence head with it")
    if from_names == pm.PRETRAINING and "cls.predictions.bias" not in names:
        raise ConversionError(f"{path}: tensor cls.predictions.bias is missing: a next-sentence head alone "
                              "(BertForNextSentencePrediction) has no counterpart in the released format")
    if from_names == pm.BASE and named not in (None, pm.BASE):
        missing = hf_names.head_name_map(named)[0][1]
        raise ConversionError(f"{path}: tensor {missing} is missing (architectures {architecture})")
    if named is not None and named != from_names:
        logging.info("%s: architectures %s, but the tensors are those of %s: converted as %s", path, architecture,
                     hf_config.ARCHITECTURES[from_names], from_names)
    return from_names


def _check_tied(tensors: Dict[str, np.ndarray], files, names, prefix: str) -> None:
    """A saved tied decoder must equal what it is tied to (the released format has only the one)."""
    ties = ((hf_names.TIED_DECODER_WEIGHT, f"{prefix}embeddings.word_embeddings.weight"),
            (hf_names.TIED_DECODER_BIAS, "cls.predictions.bias"))
    for tied, source in ties:
        if tied in names:
            value = safetensors_files.read_tensors(files, [tied])[tied]
            if value.shape != tensors[source].shape or not np.array_equal(value, tensors[source]):
                raise ConversionError(f"tensor {tied} differs from {source}: the released format ties them "
                                      "(an untied decoder cannot be converted)")


def read_huggingface(folder: str, dtype: Optional[str] = None) -> pm.PortableModel:
    """The model of a Hugging Face BERT folder.

    Args:
      folder: holds `config.json`, `model.safetensors` (or shards and their index) and tokenizer files.
      dtype: "float32" converts float16/bfloat16 weights (else they are refused).

    Raises:
      ConversionError: one line naming the file, field or tensor that cannot be converted.
    """
    folder = os.fspath(folder)
    path = os.path.join(folder, HF_CONFIG_FILE)
    config = read_config_json(folder)
    bert_config = hf_config.bert_config_from_hf(config, path)
    files = safetensors_files.weight_files(folder)
    specs = safetensors_files.tensor_specs(files)
    names = set(specs)
    buffers = sorted(name for name in names if name.endswith(hf_names.BUFFER_SUFFIXES))
    if buffers:
        logging.info("%s: %s are buffers, not weights: left out", folder, ", ".join(buffers))
    names -= set(buffers)
    head = _head(config, names, path)
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in names or head != pm.BASE else ""
    entries = hf_names.encoder_name_map(bert_config, prefix) + hf_names.head_name_map(head)
    pooler = {hf for released, hf, _ in entries if released in pm.POOLER_TENSORS}
    no_pooler = head in pm.HEADS_WITHOUT_POOLER and not pooler & names
    if no_pooler:
        entries = [entry for entry in entries if entry[1] not in pooler]

    tied = {hf_names.TIED_DECODER_WEIGHT, hf_names.TIED_DECODER_BIAS} if head == pm.PRETRAINING else set()
    mapped = {hf for _, hf, _ in entries}
    extra = sorted(names - mapped - tied)
    if extra:
        raise ConversionError(f"{folder}: tensor {extra[0]} is not part of a BERT {head} model"
                              + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    labels = hf_config.labels_from_hf(config, path) if head in (pm.CLASSIFICATION, pm.TOKEN_CLASSIFICATION) else None
    head_rows = {"classifier.weight": len(labels) if labels else None, "qa_outputs.weight": 2}
    if head == pm.MULTIPLE_CHOICE:
        head_rows["classifier.weight"] = 1
    num_outputs = specs.get(hf_names.HEAD_NAMES.get(head, "") + ".weight", (None, (0,)))[1][0]
    expected = pm.expected_shapes(bert_config, head, num_outputs)
    for released, hf, transpose in entries:
        if hf not in names:
            raise ConversionError(f"{folder}: tensor {hf} is missing (a {head} model has it)")
        shape = expected[released][::-1] if transpose else expected[released]
        if tuple(specs[hf][1]) != tuple(shape):
            raise ConversionError(f"{folder}: tensor {hf} has shape {list(specs[hf][1])}, {path} gives {list(shape)}")
    for hf, rows in head_rows.items():
        if hf in names and rows is not None and specs[hf][1][0] != rows:
            raise ConversionError(f"{folder}: tensor {hf} has {specs[hf][1][0]} rows, "
                                  + (f"{path} has {rows} labels (id2label)" if hf == "classifier.weight" and
                                     head != pm.MULTIPLE_CHOICE else f"a {head} head has {rows}"))
    safetensors_files.check_dtypes({name: specs[name] for name in mapped | (tied & names)}, folder, dtype)

    values = safetensors_files.read_tensors(files, sorted(mapped))
    _check_tied(values, files, names, prefix)
    tensors = {released: np.ascontiguousarray(values[hf].T) if transpose else values[hf]
               for released, hf, transpose in entries}
    if no_pooler:
        logging.info("%s: a %s model has no pooler (its head does not read it): bert/pooler/dense/* written as "
                     "zeros", folder, head)
        hidden = bert_config.hidden_size
        tensors.update({"bert/pooler/dense/kernel": np.zeros((hidden, hidden), np.float32),
                        "bert/pooler/dense/bias": np.zeros((hidden,), np.float32)})

    vocab, do_lower_case = hf_tokenizer.read_tokenizer(folder)
    if len(vocab) != bert_config.vocab_size:
        raise ConversionError(f"{folder}: the tokenizer has {len(vocab)} tokens but {path} has vocab_size "
                              f"{bert_config.vocab_size}: they must be equal in the released format")
    problem_type = config.get("problem_type") if head == pm.CLASSIFICATION else None
    if problem_type is not None and problem_type not in hf_config.PROBLEM_TYPES:
        raise ConversionError(f"{path}: problem_type {problem_type!r} is not one of "
                              f"{', '.join(hf_config.PROBLEM_TYPES)}")
    if problem_type == "regression":
        labels = None
    model = pm.PortableModel(bert_config, head, tensors, vocab, do_lower_case, labels, problem_type)
    pm.check_tensors(model, folder)
    return model


def write_huggingface(model: pm.PortableModel, folder: str) -> None:
    """Writes `model` as a Hugging Face folder into `folder` (which exists): `config.json`, `model.safetensors`,
    `vocab.txt`, `tokenizer.json`, `tokenizer_config.json`, `special_tokens_map.json`."""
    pm.check_tensors(model, "the model")
    entries = hf_names.name_map(model.bert_config, model.head)
    if model.head in pm.HEADS_WITHOUT_POOLER and not any(model.tensors[name].any() for name in pm.POOLER_TENSORS):
        # The placeholder of a model read without a pooler: Hugging Face's class has none.
        entries = [entry for entry in entries if entry[0] not in pm.POOLER_TENSORS]
    tensors = {hf: np.ascontiguousarray(model.tensors[released].T) if transpose else model.tensors[released]
               for released, hf, transpose in entries}
    pad_token_id = model.vocab.index("[PAD]") if "[PAD]" in model.vocab else 0
    config = hf_config.hf_config_from(model, pad_token_id)
    safetensors_files.write_tensors(os.path.join(folder, safetensors_files.SAFETENSORS_FILE), tensors)
    atomic_write_text(os.path.join(folder, HF_CONFIG_FILE), json.dumps(config, indent=2, sort_keys=True) + "\n")
    hf_tokenizer.write_tokenizer(folder, model.vocab, model.do_lower_case, model.bert_config.max_position_embeddings)
