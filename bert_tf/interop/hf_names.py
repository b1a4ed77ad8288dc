"""Hugging Face tensor names and layouts <-> the released checkpoint's, for every head.

Each entry of `name_map` is (released name, Hugging Face name, transpose): dense kernels are stored [in, out]
in the released format and as PyTorch `Linear.weight` [out, in] by Hugging Face, so they are transposed (exactly);
embeddings, LayerNorm parameters, biases and the heads' `output_weights` (already [out, in]) are not.

| released | Hugging Face |
|---|---|
| `bert/embeddings/{word,position,token_type}_embeddings` | `bert.embeddings.*_embeddings.weight` |
| `.../LayerNorm/gamma`, `beta` | `.../LayerNorm.weight`, `bias` |
| `bert/encoder/layer_N/attention/self/query/kernel` (T) | `bert.encoder.layer.N.attention.self.query.weight` |
| `bert/pooler/dense/kernel` (T) | `bert.pooler.dense.weight` |
| `cls/predictions/output_bias` | `cls.predictions.bias` (decoder tied to the word embeddings) |
| `cls/seq_relationship/output_weights` [2, H] | `cls.seq_relationship.weight` |
| `output_weights` [N, H] (classification) | `classifier.weight` |
| `cls/ner/output_weights` [N, H] | `classifier.weight` |
| `cls/multiple_choice/output_weights` [1, H] | `classifier.weight` |
| `cls/squad/output_weights` [2, H] | `qa_outputs.weight` |

Hugging Face's `BertModel` saves the encoder without the `bert.` prefix; its heads' classes with it.
"""
from __future__ import annotations

from typing import List, Tuple

from bert_tf.config import BertConfig
from bert_tf.interop import portable_model as pm

# Tensors a Hugging Face folder may hold that are no weight (buffers of older transformers versions).
BUFFER_SUFFIXES = ("embeddings.position_ids", "embeddings.token_type_ids")
# The tied decoder of BertForPreTraining: equal to other tensors, never saved in the released format.
TIED_DECODER_WEIGHT = "cls.predictions.decoder.weight"
TIED_DECODER_BIAS = "cls.predictions.decoder.bias"

HEAD_NAMES = {
    pm.CLASSIFICATION: "classifier",
    pm.TOKEN_CLASSIFICATION: "classifier",
    pm.MULTIPLE_CHOICE: "classifier",
    pm.QUESTION_ANSWERING: "qa_outputs",
}


def _dense(released: str, hf: str) -> List[Tuple[str, str, bool]]:
    return [(f"{released}/kernel", f"{hf}.weight", True), (f"{released}/bias", f"{hf}.bias", False)]


def _layer_norm(released: str, hf: str) -> List[Tuple[str, str, bool]]:
    return [(f"{released}/gamma", f"{hf}.weight", False), (f"{released}/beta", f"{hf}.bias", False)]


def encoder_name_map(config: BertConfig, prefix: str) -> List[Tuple[str, str, bool]]:
    """(released, Hugging Face, transpose) for every `bert/*` tensor; `prefix`: "bert." or "" (BertModel)."""
    entries = [(f"bert/embeddings/{kind}_embeddings", f"{prefix}embeddings.{kind}_embeddings.weight", False)
               for kind in ("word", "position", "token_type")]
    entries += _layer_norm("bert/embeddings/LayerNorm", f"{prefix}embeddings.LayerNorm")
    for layer in range(config.num_hidden_layers):
        released, hf = f"bert/encoder/layer_{layer}", f"{prefix}encoder.layer.{layer}"
        for projection in ("query", "key", "value"):
            entries += _dense(f"{released}/attention/self/{projection}", f"{hf}.attention.self.{projection}")
        entries += _dense(f"{released}/attention/output/dense", f"{hf}.attention.output.dense")
        entries += _layer_norm(f"{released}/attention/output/LayerNorm", f"{hf}.attention.output.LayerNorm")
        entries += _dense(f"{released}/intermediate/dense", f"{hf}.intermediate.dense")
        entries += _dense(f"{released}/output/dense", f"{hf}.output.dense")
        entries += _layer_norm(f"{released}/output/LayerNorm", f"{hf}.output.LayerNorm")
    entries += _dense("bert/pooler/dense", f"{prefix}pooler.dense")
    return entries


def head_name_map(head: str) -> List[Tuple[str, str, bool]]:
    """(released, Hugging Face, transpose) for the head's tensors (the tied decoder left out)."""
    if head == pm.PRETRAINING:
        return (_dense("cls/predictions/transform/dense", "cls.predictions.transform.dense")
                + _layer_norm("cls/predictions/transform/LayerNorm", "cls.predictions.transform.LayerNorm")
                + [("cls/predictions/output_bias", "cls.predictions.bias", False),
                   ("cls/seq_relationship/output_weights", "cls.seq_relationship.weight", False),
                   ("cls/seq_relationship/output_bias", "cls.seq_relationship.bias", False)])
    if head in HEAD_NAMES:
        scope, hf = pm.HEAD_SCOPES[head], HEAD_NAMES[head]
        return [(scope + "output_weights", f"{hf}.weight", False), (scope + "output_bias", f"{hf}.bias", False)]
    return []


def name_map(config: BertConfig, head: str) -> List[Tuple[str, str, bool]]:
    """(released, Hugging Face, transpose) for every tensor of a model of `head`."""
    return encoder_name_map(config, "" if head == pm.BASE else "bert.") + head_name_map(head)


def head_from_names(names) -> str:
    """The head whose tensors a Hugging Face folder holds, where the names alone tell it (else `classification`
    stands for every `classifier.*` head; `architectures` decides between them)."""
    names = set(names)
    if "qa_outputs.weight" in names:
        return pm.QUESTION_ANSWERING
    if "classifier.weight" in names:
        return pm.CLASSIFICATION
    if "cls.seq_relationship.weight" in names or "cls.predictions.bias" in names:
        return pm.PRETRAINING
    return pm.BASE
