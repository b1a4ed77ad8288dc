"""`extract_features.py` features: packing (`[CLS] A [SEP] (B [SEP])`), batching, and the JSON-lines output."""
from __future__ import annotations

import collections
import dataclasses
import json
from typing import Iterable, List, Sequence, Tuple

import numpy as np

from bert_tf.tasks.feature_extraction.examples import FeatureExtractionError, InputExample
from bert_tf.tokenization.packing import pack_tokens


@dataclasses.dataclass(frozen=True)
class InputFeatures:
    """A packed example, as the original's `InputFeatures`.

    Attributes:
      unique_id: the example's line index.
      tokens: the real tokens, `[CLS] A [SEP] (B [SEP])` (no padding).
      input_ids, input_mask, input_type_ids: int lists of length `max_seq_length`, zero-padded;
        `input_mask` is 1 exactly on the `len(tokens)` real positions.
    """

    unique_id: int
    tokens: List[str]
    input_ids: List[int]
    input_mask: List[int]
    input_type_ids: List[int]


def convert_single_example(example: InputExample, seq_length: int, tokenizer) -> InputFeatures:
    """Tokenizes and packs one example, zero-padded to `seq_length` (original packing).

    Raises FeatureExtractionError naming the line when it cannot be packed or a token has no id.
    """
    tokens_a = tokenizer.tokenize(example.text_a)
    tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else None
    try:
        packed = pack_tokens(tokens_a, tokens_b, seq_length)
        input_ids = tokenizer.convert_tokens_to_ids(packed.tokens)
    except (ValueError, KeyError) as error:
        message = error.args[0] if error.args else str(error)
        raise FeatureExtractionError(f"input line {example.unique_id + 1}: {message}") from None
    padding = [0] * (seq_length - len(input_ids))
    return InputFeatures(
        unique_id=example.unique_id,
        tokens=list(packed.tokens),
        input_ids=list(input_ids) + padding,
        input_mask=list(packed.input_mask) + padding,
        input_type_ids=list(packed.segment_ids) + padding,
    )


def convert_examples_to_features(examples: Iterable[InputExample], seq_length: int,
                                 tokenizer) -> List[InputFeatures]:
    """`convert_single_example` over `examples` (original API)."""
    return [convert_single_example(example, seq_length, tokenizer) for example in examples]


def parse_layer_indexes(layers: str, num_hidden_layers: int) -> List[int]:
    """Parses the `--layers` value, e.g. "-1,-2,-3,-4", into ints, each in [-L, L-1].

    Indexes address the encoder blocks' outputs (`all_encoder_layers` of the original): -1 is the last
    block, 0 the first; the embedding output is not one of them.
    """
    pieces = [piece.strip() for piece in str(layers).split(",")]
    if not pieces or any(not piece for piece in pieces):
        raise FeatureExtractionError(f"--layers={layers!r}: expected comma-separated integers, e.g. -1,-2,-3,-4")
    indexes = []
    for piece in pieces:
        try:
            index = int(piece)
        except ValueError:
            raise FeatureExtractionError(f"--layers={layers!r}: {piece!r} is not an integer") from None
        if not -num_hidden_layers <= index < num_hidden_layers:
            raise FeatureExtractionError(
                f"--layers={layers!r}: layer {index} does not exist; the model has {num_hidden_layers} "
                f"layers (valid indexes {-num_hidden_layers}..{num_hidden_layers - 1})"
            )
        indexes.append(index)
    return indexes


def batch_inputs(features: Sequence[InputFeatures]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stacks features into int32 arrays [B, S_batch], S_batch the longest real length in the batch.

    Returns (input_ids, input_mask, segment_ids).
    """
    length = max(len(feature.tokens) for feature in features)
    input_ids = np.array([feature.input_ids[:length] for feature in features], dtype=np.int32)
    input_mask = np.array([feature.input_mask[:length] for feature in features], dtype=np.int32)
    segment_ids = np.array([feature.input_type_ids[:length] for feature in features], dtype=np.int32)
    return input_ids, input_mask, segment_ids


def feature_to_json(feature: InputFeatures, layer_outputs: np.ndarray, layer_indexes: Sequence[int]) -> str:
    """One output line (without the newline) in the original format.

    Args:
      feature: the packed example; a feature is written for each of its `tokens`.
      layer_outputs: float [len(layer_indexes), S, H] with S >= len(feature.tokens).
      layer_indexes: the `--layers` indexes, written as each layer's "index".
    """
    num_tokens = len(feature.tokens)
    # float32 -> Python float is exact; round() then gives the original's values digit for digit.
    values = np.asarray(layer_outputs[:, :num_tokens, :], dtype=np.float32).tolist()
    all_features = []
    for position, token in enumerate(feature.tokens):
        all_layers = []
        for layer_number, layer_index in enumerate(layer_indexes):
            layer = collections.OrderedDict()
            layer["index"] = layer_index
            layer["values"] = [round(value, 6) for value in values[layer_number][position]]
            all_layers.append(layer)
        token_features = collections.OrderedDict()
        token_features["token"] = token
        token_features["layers"] = all_layers
        all_features.append(token_features)
    output = collections.OrderedDict()
    output["linex_index"] = feature.unique_id
    output["features"] = all_features
    return json.dumps(output)
