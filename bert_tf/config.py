"""`BertConfig`: the model hyper-parameters, read from and written to the original `bert_config.json`.

The 11 original fields keep the original names and defaults. Extra keys found in some released configs
(`directionality`, `pooler_fc_size`, `pooler_num_attention_heads`, ... in the multilingual and Chinese
models) are kept in `extra` and written back unchanged, but do not affect the model.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import os
from typing import Any, Dict

# Activations the original `modeling.get_activation` accepts. "gelu" is the tanh approximation. "gelu_exact"
# (the erf form, Hugging Face's "gelu") is this project's own: models converted from the hub keep their numerics
# with it, but the original code does not accept it (change it to "gelu" there, at about 1e-3 of the outputs).
SUPPORTED_ACTIVATIONS = ("gelu", "relu", "tanh", "linear", "gelu_exact")

_POSITIVE_INT_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
    "type_vocab_size",
)
_PROBABILITY_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob")
# What a bert_config.json must name: the shapes of the checkpoint's variables depend on them.
_ARCHITECTURE_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size")


@dataclasses.dataclass
class BertConfig:
    """Hyper-parameters of a BERT encoder, field for field the original `modeling.BertConfig`.

    Attributes:
      vocab_size: number of WordPiece ids (rows of `bert/embeddings/word_embeddings`).
      hidden_size: H, width of every hidden state.
      num_hidden_layers: L, number of transformer blocks.
      num_attention_heads: A; `hidden_size` must be divisible by it.
      intermediate_size: width of the feed-forward layer inside each block.
      hidden_act: "gelu" (tanh approximation, as the original), "relu", "tanh", "linear", or "gelu_exact" (the
        erf form, not in the original; see `SUPPORTED_ACTIVATIONS`).
      hidden_dropout_prob: dropout on embeddings and block outputs (training only).
      attention_probs_dropout_prob: dropout on attention probabilities (training only).
      max_position_embeddings: longest sequence the model accepts.
      type_vocab_size: number of segment (token type) ids.
      initializer_range: stddev of the truncated-normal initializer.
      extra: keys of the json file that are not original fields; kept, written back, ignored.
    """

    vocab_size: int
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 16
    initializer_range: float = 0.02
    extra: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.validate()

    # ----------------------------------------------------------------------------------------- checks
    def validate(self) -> None:
        """Raises ValueError naming the first invalid field."""
        for name in _POSITIVE_INT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"BertConfig.{name} must be a positive integer, got {value!r}")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"BertConfig.hidden_size ({self.hidden_size}) is not a multiple of "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if not isinstance(self.hidden_act, str) or self.hidden_act.lower() not in SUPPORTED_ACTIVATIONS:
            raise ValueError(
                f"BertConfig.hidden_act {self.hidden_act!r} is not supported; "
                f"use one of {', '.join(SUPPORTED_ACTIVATIONS)}"
            )
        for name in _PROBABILITY_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"BertConfig.{name} must be a probability in [0, 1), got {value!r}")
        if (
            isinstance(self.initializer_range, bool)
            or not isinstance(self.initializer_range, (int, float))
            or self.initializer_range <= 0
        ):
            raise ValueError(
                f"BertConfig.initializer_range must be a positive number, got {self.initializer_range!r}"
            )

    @property
    def attention_head_size(self) -> int:
        return self.hidden_size // self.num_attention_heads

    # ----------------------------------------------------------------------------------- conversion
    @classmethod
    def from_dict(cls, json_object: Dict[str, Any]) -> "BertConfig":
        """Builds a config from a dict; unknown keys go to `extra`."""
        if not isinstance(json_object, dict):
            raise ValueError(f"a BERT config must be a JSON object, got {type(json_object).__name__}")
        field_names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {key: value for key, value in json_object.items() if key in field_names}
        extra = {key: value for key, value in json_object.items() if key not in field_names}
        if "vocab_size" not in known:
            raise ValueError("BertConfig.vocab_size is missing")
        return cls(**known, extra=extra)

    @classmethod
    def from_json_file(cls, json_file: str | os.PathLike) -> "BertConfig":
        """Reads an original `bert_config.json`. Errors name the file."""
        json_file = os.fspath(json_file)
        try:
            with open(json_file, "r", encoding="utf-8") as reader:
                text = reader.read()
        except OSError as error:
            raise ValueError(f"cannot read BERT config {json_file}: {error.strerror or error}") from None
        try:
            json_object = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{json_file}: not valid JSON ({error})") from None
        if isinstance(json_object, dict):
            missing = [name for name in _ARCHITECTURE_FIELDS if name not in json_object]
            if missing:  # the original would take BERT-Base's value for these and fail far from the cause
                raise ValueError(f"{json_file}: missing {', '.join(missing)} (a bert_config.json gives "
                                 f"{', '.join(_ARCHITECTURE_FIELDS)})")
        try:
            return cls.from_dict(json_object)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{json_file}: {error}") from None

    def to_dict(self) -> Dict[str, Any]:
        output = {f.name: copy.deepcopy(getattr(self, f.name)) for f in dataclasses.fields(self)}
        extra = output.pop("extra")
        output.update(extra)
        return output

    def to_json_string(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    def to_json_file(self, json_file: str | os.PathLike) -> None:
        """Writes the original json layout (temp file, then rename)."""
        json_file = os.fspath(json_file)
        temporary = json_file + ".tmp"
        with open(temporary, "w", encoding="utf-8") as writer:
            writer.write(self.to_json_string())
        os.replace(temporary, json_file)
