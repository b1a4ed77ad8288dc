"""The JSON files of a keras-hub BERT preset <-> `BertConfig`, the tokenizer's casing and the head.

A preset (what `save_to_preset` writes, keras-hub 0.32) holds Keras serializations, each
`{"module", "class_name", "config", "registered_name"}`:

* `config.json`: the `BertBackbone` (`vocabulary_size`, `num_layers`, `num_heads`, `hidden_dim`,
  `intermediate_dim`, `dropout`, `max_sequence_length`, `num_segments`) -> `BertConfig`. keras-hub's BERT computes
  the tanh GELU (`gelu_approximate`), the original's `gelu`, with LayerNorm epsilon 1e-12, absolute position
  embeddings and one `dropout` for the hidden states and the attention probabilities, all fixed in its code. A
  model with another `hidden_act` is not written (its outputs would change); settings the backbone has no field
  for (`initializer_range` other than 0.02, two different dropouts, extra `bert_config.json` keys) do not affect
  the weights or outputs and are left out with a log line.
* `tokenizer.json`: the `BertTokenizer` (`lowercase`, `strip_accents`, `split`, `suffix_indicator`, `oov_token`,
  ...) -> `do_lower_case`; its vocabulary is `assets/tokenizer/vocabulary.txt`. The original lower-cases and
  strips accents together: `lowercase` with `strip_accents` is `do_lower_case`, written so. keras-hub's default
  for uncased BERT (`lowercase` without `strip_accents`, what its own presets and Hugging Face importer write)
  is read as the original uncased tokenizer, with a log line (only text with accents tokenizes differently).
  What the original cannot do is refused: `strip_accents` without `lowercase`, no splitting, other special
  tokens or subword prefix.
* `task.json` (a task preset): `BertTextClassifier` -> the classification head (its `logits` layer); a
  `BertTextEmbedder` has no weights of its own (the base model); `BertMaskedLM` (no next-sentence head) and other
  tasks are refused by name. `preprocessor.json` is the task's preprocessor (`BertTextClassifierPreprocessor`).
* `metadata.json`: the versions that saved the preset.
"""
from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
from typing import Any, Dict, List, Optional, Tuple

from absl import logging

from bert_tf.config import BertConfig
from bert_tf.interop import portable_model as pm
from bert_tf.interop.formats import HF_CONFIG_FILE, KERAS_HUB_METADATA_FILE, ConversionError, read_json_object

BACKBONE_CONFIG_FILE = HF_CONFIG_FILE  # keras-hub's name too
METADATA_FILE = KERAS_HUB_METADATA_FILE
TOKENIZER_CONFIG_FILE = "tokenizer.json"
TASK_CONFIG_FILE = "task.json"
PREPROCESSOR_CONFIG_FILE = "preprocessor.json"
VOCABULARY_FILE = os.path.join("assets", "tokenizer", "vocabulary.txt")
# The keras-hub version whose layout this module reads and writes (recorded when keras-hub is not installed).
KERAS_HUB_VERSION = "0.32.0"

BACKBONE_CLASS = "BertBackbone"
TOKENIZER_CLASS = "BertTokenizer"
CLASSIFIER_CLASS = "BertTextClassifier"
EMBEDDER_CLASS = "BertTextEmbedder"
MASKED_LM_CLASS = "BertMaskedLM"
CLASSIFIER_PREPROCESSOR_CLASS = "BertTextClassifierPreprocessor"
MODULES = {
    BACKBONE_CLASS: "keras_hub.src.models.bert.bert_backbone",
    TOKENIZER_CLASS: "keras_hub.src.models.bert.bert_tokenizer",
    CLASSIFIER_CLASS: "keras_hub.src.models.bert.bert_text_classifier",
    CLASSIFIER_PREPROCESSOR_CLASS: "keras_hub.src.models.bert.bert_text_classifier_preprocessor",
}
# BertBackbone's fields -> BertConfig's.
BACKBONE_FIELDS = {"vocabulary_size": "vocab_size", "num_layers": "num_hidden_layers",
                   "num_heads": "num_attention_heads", "hidden_dim": "hidden_size",
                   "intermediate_dim": "intermediate_size", "max_sequence_length": "max_position_embeddings",
                   "num_segments": "type_vocab_size"}
BACKBONE_DEFAULTS = {"dropout": 0.1, "max_sequence_length": 512, "num_segments": 2}
KERAS_LAYER_KEYS = ("name", "trainable", "dtype")
# What keras-hub's BertBackbone computes, fixed in its code.
HIDDEN_ACT = "gelu"
INITIALIZER_RANGE = 0.02
# keras-hub backbones of other models, for the refusal.
OTHER_BACKBONES = {"RobertaBackbone": "RoBERTa", "XLMRobertaBackbone": "XLM-RoBERTa",
                   "DistilBertBackbone": "DistilBERT", "AlbertBackbone": "ALBERT", "ElectraBackbone": "ELECTRA",
                   "DebertaV3Backbone": "DeBERTa-v3", "FNetBackbone": "FNet"}
# BertTokenizer settings the original tokenizer has (any other value is refused).
TOKENIZER_FIXED = {"split": True, "split_on_cjk": True, "suffix_indicator": "##", "oov_token": "[UNK]",
                   "special_tokens": None, "special_tokens_in_strings": False}
SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]")
# Keras' float32 dtype policy, as a serialized config records it.
FLOAT32_POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
                  "registered_name": None}
LINEAR_ACTIVATIONS = (None, "linear")
CLASSIFIER_SEQUENCE_LENGTH = 512  # BertTextClassifierPreprocessor's default


def read_json(folder: str, name: str) -> Dict[str, Any]:
    """A preset's JSON file as a dict.

    Raises:
      ConversionError: missing, not JSON, or not an object.
    """
    return read_json_object(os.path.join(folder, name))


def _class_config(serialized: Dict[str, Any], path: str, expected: str) -> Dict[str, Any]:
    """The `config` of a Keras serialization of class `expected`.

    Raises:
      ConversionError: another class (a non-BERT backbone named), or no `config`.
    """
    class_name = serialized.get("class_name")
    if class_name != expected:
        model = OTHER_BACKBONES.get(str(class_name))
        what = f"{model} is not BERT" if model else f"not keras-hub's {expected}"
        raise ConversionError(f"{path}: class_name {class_name!r}: {what}; only BERT presets convert")
    config = serialized.get("config")
    if not isinstance(config, dict):
        raise ConversionError(f"{path}: no config object for {expected}")
    return config


def bert_config_from_backbone(serialized: Dict[str, Any], path: str) -> BertConfig:
    """The `BertConfig` of a `config.json` (already parsed).

    Raises:
      ConversionError: not a BertBackbone, or a field this module does not know (it might change the model).
    """
    config = _class_config(serialized, path, BACKBONE_CLASS)
    unknown = sorted(set(config) - set(BACKBONE_FIELDS) - {"dropout"} - set(KERAS_LAYER_KEYS))
    if unknown:
        raise ConversionError(f"{path}: field {unknown[0]!r} of BertBackbone is not known here (keras-hub "
                              f"{KERAS_HUB_VERSION}'s fields are); it might change the model")
    values = {ours: config.get(theirs, BACKBONE_DEFAULTS.get(theirs)) for theirs, ours in BACKBONE_FIELDS.items()}
    dropout = config.get("dropout", BACKBONE_DEFAULTS["dropout"])
    values.update(hidden_act=HIDDEN_ACT, hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
                  initializer_range=INITIALIZER_RANGE)
    try:
        return BertConfig.from_dict(values)
    except (ValueError, TypeError) as error:
        raise ConversionError(f"{path}: {error}") from None


def backbone_from_bert_config(bert_config: BertConfig) -> Dict[str, Any]:
    """The `config.json` of a `BertBackbone` of `bert_config`.

    Raises:
      ConversionError: a `hidden_act` keras-hub's BERT does not compute.
    """
    if bert_config.hidden_act.lower() != HIDDEN_ACT:
        raise ConversionError(f"hidden_act {bert_config.hidden_act}: keras-hub's BertBackbone computes the tanh GELU "
                              "(the original's gelu) only: the model's outputs would change")
    left_out = []
    if bert_config.attention_probs_dropout_prob != bert_config.hidden_dropout_prob:
        left_out.append(f"attention_probs_dropout_prob {bert_config.attention_probs_dropout_prob} (keras-hub has one "
                        f"dropout: hidden_dropout_prob {bert_config.hidden_dropout_prob})")
    if bert_config.initializer_range != INITIALIZER_RANGE:
        left_out.append(f"initializer_range {bert_config.initializer_range} (keras-hub's is 0.02)")
    left_out += [f"{key}" for key in sorted(bert_config.extra)]
    if left_out:
        logging.info("keras-hub's BertBackbone has no field for %s: left out (training settings or notes; the "
                     "weights and outputs are unchanged)", ", ".join(left_out))
    config = {"name": "bert_backbone", "trainable": True, "dtype": FLOAT32_POLICY}
    config.update({theirs: getattr(bert_config, ours) for theirs, ours in BACKBONE_FIELDS.items()})
    config["dropout"] = bert_config.hidden_dropout_prob
    order = ("name", "trainable", "dtype", "vocabulary_size", "num_layers", "num_heads", "hidden_dim",
             "intermediate_dim", "dropout", "max_sequence_length", "num_segments")
    return serialization(BACKBONE_CLASS, {key: config[key] for key in order})


def serialization(class_name: str, config: Dict[str, Any]) -> Dict[str, Any]:
    """A Keras serialization of the keras-hub class `class_name`, as `save_to_preset` writes it."""
    return {"module": MODULES[class_name], "class_name": class_name, "config": config,
            "registered_name": f"keras_hub>{class_name}"}


def do_lower_case_from_tokenizer(serialized: Dict[str, Any], path: str) -> bool:
    """The original tokenizer's `do_lower_case` for a `tokenizer.json` (already parsed).

    Raises:
      ConversionError: not a BertTokenizer, or a setting the original tokenizer cannot reproduce (named).
    """
    config = _class_config(serialized, path, TOKENIZER_CLASS)
    for key, standard in TOKENIZER_FIXED.items():
        if key in config and config[key] != standard:
            raise ConversionError(f"{path}: {key} {json.dumps(config[key])}: the original tokenizer has "
                                  f"{json.dumps(standard)}")
    if config.get("vocabulary") is not None:
        raise ConversionError(f"{path}: vocabulary given inline: expected it in {VOCABULARY_FILE}")
    lowercase = bool(config.get("lowercase", False))
    strip_accents = bool(config.get("strip_accents", False))
    if strip_accents and not lowercase:
        raise ConversionError(f"{path}: strip_accents true with lowercase false: the original tokenizer strips "
                              "accents exactly when it lower-cases")
    if lowercase and not strip_accents:
        logging.info("%s: lowercase without strip_accents (keras-hub's default for uncased BERT): converted as "
                     "the original uncased tokenizer, which also strips accents (only text with accents tokenizes "
                     "differently); written back with strip_accents true", path)
    return lowercase


def tokenizer_config(do_lower_case: bool) -> Dict[str, Any]:
    """The `tokenizer.json` of the original tokenizer's settings."""
    config = {"name": "bert_tokenizer", "trainable": True,
              "dtype": {**FLOAT32_POLICY, "config": {"name": "int32"}}, "config_file": TOKENIZER_CONFIG_FILE,
              "vocabulary": None, "sequence_length": None, "lowercase": bool(do_lower_case),
              "strip_accents": bool(do_lower_case), "split": True, "suffix_indicator": "##", "oov_token": "[UNK]",
              "special_tokens": None, "special_tokens_in_strings": False}
    return serialization(TOKENIZER_CLASS, config)


def check_vocab(vocab: List[str]) -> None:
    """keras-hub's BertTokenizer needs every special token in the vocabulary, each once.

    Raises:
      ConversionError: naming the first missing or repeated token.
    """
    missing = [token for token in SPECIAL_TOKENS if token not in vocab]
    if missing:
        raise ConversionError(f"the vocabulary has no {', '.join(missing)}: keras-hub's BertTokenizer needs "
                              f"{', '.join(SPECIAL_TOKENS)}")
    if len(set(vocab)) != len(vocab):
        repeated = next(token for index, token in enumerate(vocab) if token in vocab[:index])
        raise ConversionError(f"the vocabulary lists {repeated!r} twice: keras-hub's tokenizer cannot")


def head_from_task(serialized: Optional[Dict[str, Any]], path: str) -> Tuple[str, Optional[int]]:
    """(head, number of classes) of a `task.json` (None: a backbone preset, the base model).

    Raises:
      ConversionError: a task without a counterpart in the released format, named.
    """
    if serialized is None:
        return pm.BASE, None
    class_name = serialized.get("class_name")
    config = serialized.get("config") if isinstance(serialized.get("config"), dict) else {}
    if class_name == CLASSIFIER_CLASS:
        activation = config.get("activation")
        if activation not in LINEAR_ACTIVATIONS:
            logging.info("%s: activation %s after the logits is not kept: the released classifier outputs logits "
                         "(the scripts apply softmax or sigmoid)", path, activation)
        num_classes = config.get("num_classes")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ConversionError(f"{path}: num_classes {num_classes!r} must be a positive integer")
        return pm.CLASSIFICATION, num_classes
    if class_name == EMBEDDER_CLASS:
        logging.info("%s: %s (pooling_mode %s, normalize %s) has no weights of its own: the base model is "
                     "converted", path, class_name, config.get("pooling_mode", "mean"), config.get("normalize", True))
        return pm.BASE, None
    if class_name == MASKED_LM_CLASS:
        raise ConversionError(f"{path}: {class_name} has a masked-LM head without the next-sentence head: it has no "
                              "counterpart in the released format, which keeps them together (remove task.json and "
                              "task.weights.h5 to convert the base model)")
    raise ConversionError(f"{path}: task {class_name!r} has no counterpart in the released format (keras-hub's "
                          f"{CLASSIFIER_CLASS} and {EMBEDDER_CLASS} have)")


def classifier_task(backbone: Dict[str, Any], do_lower_case: bool, num_classes: int, dropout: float,
                    sequence_length: int) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(`task.json`, `preprocessor.json`) of a `BertTextClassifier` on `backbone` (its `config.json`)."""
    preprocessor = serialization(CLASSIFIER_PREPROCESSOR_CLASS, {
        "name": "bert_text_classifier_preprocessor", "trainable": True, "dtype": FLOAT32_POLICY,
        "tokenizer": tokenizer_config(do_lower_case), "config_file": PREPROCESSOR_CONFIG_FILE,
        "sequence_length": sequence_length, "truncate": "round_robin"})
    task = serialization(CLASSIFIER_CLASS, {"backbone": backbone, "preprocessor": preprocessor,
                                            "name": "bert_text_classifier", "num_classes": num_classes,
                                            "activation": "linear", "dropout": dropout})
    return task, preprocessor


def installed_version(package: str, default: Optional[str]) -> Optional[str]:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return default


def metadata(parameter_count: int) -> Dict[str, Any]:
    """The `metadata.json` of a BertBackbone preset of `parameter_count` weights, saved now."""
    return {"keras_version": installed_version("keras", None),
            "keras_hub_version": installed_version("keras-hub", KERAS_HUB_VERSION),
            "parameter_count": int(parameter_count),
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
            "tasks": ["MaskedLM", "TextClassifier", "TextEmbedder"]}


def json_text(value: Dict[str, Any]) -> str:
    """A preset file's text, indented as keras-hub writes it."""
    return json.dumps(value, indent=4)
