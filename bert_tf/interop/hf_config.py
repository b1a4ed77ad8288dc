"""Hugging Face `config.json` <-> `BertConfig`, and the head a Hugging Face architecture name stands for.

Activations keep each model's numerics: Hugging Face's `gelu` is the exact (erf) GELU, this project's
`gelu_exact`; `gelu_new` and `gelu_pytorch_tanh` are the tanh approximation, the original's `gelu`. A model with
`gelu_exact` does not run in the original code as is (a log line says so). Refused with one line naming the
field: a `model_type` that is not BERT (RoBERTa, DistilBERT, ALBERT, ELECTRA, ... by name), position embeddings
other than absolute, another LayerNorm epsilon, decoders and cross-attention.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

from absl import logging

from bert_tf.config import BertConfig
from bert_tf.interop import portable_model as pm
from bert_tf.interop.formats import ConversionError

# Hugging Face's hidden_act -> this project's, and back.
ACTIVATIONS_FROM_HF = {"gelu": "gelu_exact", "gelu_new": "gelu", "gelu_pytorch_tanh": "gelu", "relu": "relu",
                       "tanh": "tanh", "linear": "linear"}
ACTIVATIONS_TO_HF = {"gelu_exact": "gelu", "gelu": "gelu_new", "relu": "relu", "tanh": "tanh", "linear": "linear"}
# What other BERT-like model types are called, for the refusal.
OTHER_MODEL_TYPES = {"roberta": "RoBERTa", "xlm-roberta": "XLM-RoBERTa", "distilbert": "DistilBERT",
                     "albert": "ALBERT", "electra": "ELECTRA", "camembert": "CamemBERT", "deberta": "DeBERTa",
                     "deberta-v2": "DeBERTa-v2", "mobilebert": "MobileBERT", "megatron-bert": "Megatron-BERT",
                     "modernbert": "ModernBERT", "ernie": "ERNIE", "xlm": "XLM", "bert-generation": "BertGeneration"}
# transformers' BertConfig defaults, for keys a config.json leaves out.
HF_DEFAULTS = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
               "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
               "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 512, "type_vocab_size": 2,
               "initializer_range": 0.02}
LAYER_NORM_EPSILON = 1e-12
# Keys of some released bert_config.json files (multilingual, Chinese) that Hugging Face keeps too.
RELEASED_EXTRA_KEYS = ("directionality", "pooler_fc_size", "pooler_num_attention_heads", "pooler_num_fc_layers",
                       "pooler_size_per_head", "pooler_type")
ARCHITECTURES = {
    pm.BASE: "BertModel",
    pm.PRETRAINING: "BertForPreTraining",
    pm.CLASSIFICATION: "BertForSequenceClassification",
    pm.TOKEN_CLASSIFICATION: "BertForTokenClassification",
    pm.QUESTION_ANSWERING: "BertForQuestionAnswering",
    pm.MULTIPLE_CHOICE: "BertForMultipleChoice",
}
HEAD_OF_ARCHITECTURE = {name: head for head, name in ARCHITECTURES.items()}
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")
EXACT_GELU_NOTE = ("hidden_act gelu_exact (Hugging Face's erf gelu) keeps the model's numerics here; the original "
                   "google-research/bert code does not know it: set \"gelu\" there (its tanh form, about 1e-3 off)")


def _refuse_other_models(path: str, config: Dict[str, Any]) -> None:
    model_type = config.get("model_type")
    architectures = config.get("architectures") or []
    if model_type is None and architectures:
        model_type = "bert" if all(str(name).startswith("Bert") for name in architectures) else None
        if model_type is None:
            raise ConversionError(f"{path}: architectures {architectures[0]} is not BERT")
    if model_type != "bert":
        name = OTHER_MODEL_TYPES.get(str(model_type).lower(), None)
        what = f"{name} is not BERT" if name else "not BERT"
        raise ConversionError(f"{path}: model_type {model_type!r}: {what} (its weights and tokenizer are laid out "
                              "differently); only BERT converts")


def bert_config_from_hf(config: Dict[str, Any], path: str) -> BertConfig:
    """The `BertConfig` of a Hugging Face `config.json` (already parsed).

    Raises:
      ConversionError: a model that is not BERT, or a setting the original model cannot compute, naming it.
    """
    _refuse_other_models(path, config)
    position_type = config.get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ConversionError(f"{path}: position_embedding_type {position_type!r}: only absolute position "
                              "embeddings exist in BERT's original model")
    epsilon = config.get("layer_norm_eps", LAYER_NORM_EPSILON)
    if epsilon != LAYER_NORM_EPSILON:
        raise ConversionError(f"{path}: layer_norm_eps {epsilon}: the original model's LayerNorm uses 1e-12")
    for key in ("is_decoder", "add_cross_attention"):
        if config.get(key):
            raise ConversionError(f"{path}: {key} true: BERT's original model is an encoder only")
    activation = config.get("hidden_act", HF_DEFAULTS["hidden_act"])
    if activation not in ACTIVATIONS_FROM_HF:
        raise ConversionError(f"{path}: hidden_act {activation!r} has no counterpart here (Hugging Face's "
                              f"{', '.join(ACTIVATIONS_FROM_HF)} have)")
    values = {key: config.get(key, default) for key, default in HF_DEFAULTS.items()}
    values["hidden_act"] = ACTIVATIONS_FROM_HF[activation]
    values.update({key: config[key] for key in RELEASED_EXTRA_KEYS if key in config})
    try:
        bert_config = BertConfig.from_dict(values)
    except (ValueError, TypeError) as error:
        raise ConversionError(f"{path}: {error}") from None
    if bert_config.hidden_act == "gelu_exact":
        logging.info("%s: %s", path, EXACT_GELU_NOTE)
    return bert_config


def labels_from_hf(config: Dict[str, Any], path: str) -> Optional[List[str]]:
    """`id2label`'s labels in id order (keys "0".."n-1"), or None without one."""
    id2label = config.get("id2label")
    if not id2label:
        return None
    try:
        by_id = {int(key): str(value) for key, value in id2label.items()}
    except (ValueError, AttributeError):
        raise ConversionError(f"{path}: id2label must map the ids 0..n-1 to labels") from None
    if sorted(by_id) != list(range(len(by_id))):
        raise ConversionError(f"{path}: id2label must map the ids 0..n-1 to labels, each once")
    return [by_id[index] for index in range(len(by_id))]


def head_from_hf(config: Dict[str, Any], path: str) -> Optional[str]:
    """The head named by `architectures` (None when not given).

    Raises:
      ConversionError: an architecture without a counterpart in the released format (e.g. BertForMaskedLM).
    """
    architectures = config.get("architectures") or []
    if not architectures:
        return None
    if len(architectures) > 1:
        raise ConversionError(f"{path}: architectures lists {len(architectures)} models; convert one")
    name = architectures[0]
    if name not in HEAD_OF_ARCHITECTURE:
        raise ConversionError(f"{path}: architectures {name} has no counterpart in the released format (it has "
                              f"{', '.join(HEAD_OF_ARCHITECTURE)})")
    return HEAD_OF_ARCHITECTURE[name]


def hf_config_from(model: pm.PortableModel, pad_token_id: int) -> Dict[str, Any]:
    """The Hugging Face `config.json` of a model (its head's architecture; `id2label` for the classifiers)."""
    bert_config = model.bert_config
    config = {
        "architectures": [ARCHITECTURES[model.head]],
        "model_type": "bert",
        "attention_probs_dropout_prob": bert_config.attention_probs_dropout_prob,
        "hidden_act": ACTIVATIONS_TO_HF[bert_config.hidden_act.lower()],
        "hidden_dropout_prob": bert_config.hidden_dropout_prob,
        "hidden_size": bert_config.hidden_size,
        "initializer_range": bert_config.initializer_range,
        "intermediate_size": bert_config.intermediate_size,
        "layer_norm_eps": LAYER_NORM_EPSILON,
        "max_position_embeddings": bert_config.max_position_embeddings,
        "num_attention_heads": bert_config.num_attention_heads,
        "num_hidden_layers": bert_config.num_hidden_layers,
        "pad_token_id": pad_token_id,
        "position_embedding_type": "absolute",
        "type_vocab_size": bert_config.type_vocab_size,
        "vocab_size": bert_config.vocab_size,
    }
    config.update({key: value for key, value in bert_config.extra.items() if key in RELEASED_EXTRA_KEYS})
    if model.head in (pm.CLASSIFICATION, pm.TOKEN_CLASSIFICATION):
        labels = model.labels or [f"LABEL_{index}" for index in range(model.num_outputs)]
        config["id2label"] = {str(index): label for index, label in enumerate(labels)}
        config["label2id"] = {label: index for index, label in enumerate(labels)}
        if model.problem_type:
            config["problem_type"] = model.problem_type
    return config
