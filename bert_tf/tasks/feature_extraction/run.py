"""Per-token contextual features from BERT: the library behind `extract_features.py`.

Behaviour of the original google-research/bert `extract_features.py`:

* Input: one example per line, `text_a` or `text_a ||| text_b` (split with the original regex
  `^(.*) \\|\\|\\| (.*)$`, so the last ` ||| ` separates the pair); the line is stripped first; the
  example's `unique_id` is its 0-based line index; an empty line is an example with empty `text_a`.
* Packing: `[CLS] A [SEP] (B [SEP])`, segment 0 then 1; a pair is truncated to `max_seq_length - 3`
  word pieces by popping from the longer side, a single segment cut to `max_seq_length - 2`.
* Output: one JSON object per input line, in input order:
  `{"linex_index": unique_id, "features": [{"token": token, "layers": [{"index": layer_index,
  "values": [round(float(x), 6), ...]}, ...]}, ...]}`, with a feature per real token (the padding is
  not written); `layer_index` as given (e.g. -1 is the last encoder block, 0 the first).

Unlike the original, the file is streamed (memory stays constant whatever its length), each batch is
padded only to its longest example (the attention mask makes the real-token values independent of the
padding), the model runs in one `tf.function` traced once for every batch shape, and the output is
written to a temporary name that is renamed when complete.
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
import json
import os
import re
import time
import uuid
from typing import Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import tokenization
from bert_tf.checkpoint import load_checkpoint, resolve_checkpoint
from bert_tf.config import BertConfig
from bert_tf.tokenization.packing import pack_tokens
from bert_tf.modeling import BertModel

__all__ = [
    "FeatureExtractionError",
    "InputExample",
    "InputFeatures",
    "ExtractionConfig",
    "ExtractionSummary",
    "FeatureExtractor",
    "parse_line",
    "iter_examples",
    "read_examples",
    "convert_single_example",
    "convert_examples_to_features",
    "parse_layer_indexes",
    "batch_inputs",
    "feature_to_json",
    "resolve_model_files",
    "run_extraction",
]

# The original's pair separator: the last " ||| " on the (stripped) line splits text_a from text_b.
_PAIR_PATTERN = re.compile(r"^(.*) \|\|\| (.*)$")

# File names inside a released model folder (`--bert_dir`).
BERT_CONFIG_NAME = "bert_config.json"
VOCAB_NAME = "vocab.txt"
CHECKPOINT_NAME = "bert_model.ckpt"


class FeatureExtractionError(ValueError):
    """Bad input to feature extraction: a missing file, an invalid setting, an unreadable line."""


@dataclasses.dataclass(frozen=True)
class InputExample:
    """One input line. `unique_id`: its 0-based line index; `text_b` is None without ` ||| `."""

    unique_id: int
    text_a: str
    text_b: Optional[str] = None


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


@dataclasses.dataclass
class ExtractionConfig:
    """Settings of one extraction run (the script's flags, with `--bert_dir` already resolved).

    Attributes:
      input_file: text file, one `text_a` or `text_a ||| text_b` per line (UTF-8).
      output_file: JSON-lines file to write.
      vocab_file, bert_config_file: the model's `vocab.txt` and `bert_config.json`.
      init_checkpoint: checkpoint prefix, one of its files, or its folder.
      layers: comma-separated encoder block indexes, Python style (-1 is the last block).
      max_seq_length: packed length limit (at most the model's `max_position_embeddings`).
      do_lower_case: tokenizer casing; checked against released checkpoint names.
      batch_size: examples per model call.
      log_every_n_examples: progress is logged after every this many examples.
    """

    input_file: str
    output_file: str
    vocab_file: str
    bert_config_file: str
    init_checkpoint: str
    layers: str = "-1,-2,-3,-4"
    max_seq_length: int = 128
    do_lower_case: bool = True
    batch_size: int = 32
    log_every_n_examples: int = 1000


@dataclasses.dataclass
class ExtractionSummary:
    """What `run_extraction` did: examples written, wall time, and the resolved checkpoint."""

    num_examples: int
    seconds: float
    checkpoint: str
    output_file: str

    @property
    def examples_per_second(self) -> float:
        return self.num_examples / self.seconds if self.seconds > 0 else float("inf")


# -------------------------------------------------------------------------------------------- input
def parse_line(line: str, unique_id: int) -> InputExample:
    """Splits one (unstripped) line into an `InputExample` the way the original `read_examples` does."""
    line = line.strip()
    match = _PAIR_PATTERN.match(line)
    if match is None:
        return InputExample(unique_id=unique_id, text_a=line, text_b=None)
    return InputExample(unique_id=unique_id, text_a=match.group(1), text_b=match.group(2))


def iter_examples(input_file: str) -> Iterator[InputExample]:
    """Streams the examples of `input_file` (local path or any `tf.io.gfile` URL), one per line.

    Lines end at `\\n` only (as the original's `GFile.readline`); each must be valid UTF-8.
    Raises FeatureExtractionError naming the file and line for a missing file or undecodable line.
    """
    input_file = os.fspath(input_file)
    if not tf.io.gfile.exists(input_file):
        raise FeatureExtractionError(f"input file not found: {input_file}")
    with tf.io.gfile.GFile(input_file, "rb") as reader:
        for unique_id in itertools.count():
            raw_line = reader.readline()
            if not raw_line:
                return
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise FeatureExtractionError(
                    f"{input_file}:{unique_id + 1}: not valid UTF-8 ({error.reason} at byte {error.start})"
                ) from None
            yield parse_line(line, unique_id)


def read_examples(input_file: str) -> List[InputExample]:
    """All examples of `input_file` in a list (original API; `iter_examples` streams them)."""
    return list(iter_examples(input_file))


# ---------------------------------------------------------------------------------------- packing
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


# ------------------------------------------------------------------------------------------- model
class FeatureExtractor:
    """Runs a `BertModel` and returns the chosen encoder blocks' outputs.

    Call with int32 `input_ids`, `input_mask`, `segment_ids` [B, S] (any B and S up to
    `max_position_embeddings`); returns float32 numpy [len(layer_indexes), B, S, H], block
    `layer_indexes[j]` at `[j]`. One `tf.function` with a [None, None] signature serves every shape.
    """

    def __init__(self, model: BertModel, layer_indexes: Sequence[int]):
        num_layers = model.config.num_hidden_layers
        for index in layer_indexes:
            if not -num_layers <= index < num_layers:
                raise FeatureExtractionError(f"layer {index} does not exist in a {num_layers}-layer model")
        self.model = model
        self.layer_indexes = list(layer_indexes)
        spec = tf.TensorSpec([None, None], tf.int32)
        self._forward = tf.function(self._selected_layers, input_signature=[spec, spec, spec])

    @classmethod
    def from_checkpoint(cls, bert_config: BertConfig, init_checkpoint: str,
                        layer_indexes: Sequence[int]) -> "FeatureExtractor":
        """Builds the encoder of `bert_config` and restores it from `init_checkpoint`."""
        model = BertModel(bert_config)
        report = load_checkpoint(model, init_checkpoint)
        logging.info("%s", report.summary())
        return cls(model, layer_indexes)

    def _selected_layers(self, input_ids, input_mask, segment_ids):
        outputs = self.model(
            {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}, training=False
        )
        encoder_outputs = outputs["encoder_outputs"]
        return tf.stack([tf.cast(encoder_outputs[index], tf.float32) for index in self.layer_indexes], axis=0)

    def __call__(self, input_ids, input_mask, segment_ids) -> np.ndarray:
        return self._forward(
            tf.convert_to_tensor(input_ids, tf.int32),
            tf.convert_to_tensor(input_mask, tf.int32),
            tf.convert_to_tensor(segment_ids, tf.int32),
        ).numpy()


# ------------------------------------------------------------------------------------------ output
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


# ---------------------------------------------------------------------------------------- settings
def resolve_model_files(bert_dir: Optional[str], vocab_file: Optional[str], bert_config_file: Optional[str],
                        init_checkpoint: Optional[str]) -> Tuple[str, str, str]:
    """Fills `vocab_file`, `bert_config_file`, `init_checkpoint` from a released model folder.

    Explicitly given values win; the others become `<bert_dir>/vocab.txt`, `<bert_dir>/bert_config.json`
    and the checkpoint in `<bert_dir>` (`bert_model.ckpt`). Returns (vocab_file, bert_config_file,
    init_checkpoint); raises FeatureExtractionError when one is neither given nor derivable.
    """
    if bert_dir:
        bert_dir = os.fspath(bert_dir)
        if not tf.io.gfile.isdir(bert_dir):
            raise FeatureExtractionError(f"--bert_dir {bert_dir} is not a folder")
        vocab_file = vocab_file or os.path.join(bert_dir, VOCAB_NAME)
        bert_config_file = bert_config_file or os.path.join(bert_dir, BERT_CONFIG_NAME)
        if not init_checkpoint:
            default_prefix = os.path.join(bert_dir, CHECKPOINT_NAME)
            try:
                init_checkpoint = resolve_checkpoint(bert_dir)
            except ValueError:
                init_checkpoint = default_prefix  # reported as missing below, with its expected name
    missing = [name for name, value in (("vocab_file", vocab_file), ("bert_config_file", bert_config_file),
                                        ("init_checkpoint", init_checkpoint)) if not value]
    if missing:
        raise FeatureExtractionError(
            "missing " + ", ".join(f"--{name}" for name in missing) + " (or give --bert_dir, a released model folder)"
        )
    return os.fspath(vocab_file), os.fspath(bert_config_file), os.fspath(init_checkpoint)


def _check_settings(config: ExtractionConfig, bert_config: BertConfig) -> List[int]:
    """Validates the run's numbers against the model; returns the parsed layer indexes."""
    if config.max_seq_length > bert_config.max_position_embeddings:
        raise FeatureExtractionError(
            f"cannot use --max_seq_length={config.max_seq_length}: the model ({config.bert_config_file}) "
            f"was only trained up to max_position_embeddings={bert_config.max_position_embeddings}"
        )
    if config.max_seq_length < 2:
        raise FeatureExtractionError(f"--max_seq_length must be >= 2 (room for [CLS] and [SEP]), got {config.max_seq_length}")
    if config.batch_size < 1:
        raise FeatureExtractionError(f"--batch_size must be >= 1, got {config.batch_size}")
    return parse_layer_indexes(config.layers, bert_config.num_hidden_layers)


def _require_file(path: str, what: str) -> None:
    if not tf.io.gfile.exists(path):
        raise FeatureExtractionError(f"{what} not found: {path}")
    if tf.io.gfile.isdir(path):
        raise FeatureExtractionError(f"{what} {path} is a folder, not a file")


# --------------------------------------------------------------------------------------------- run
def _batches(items: Iterable, batch_size: int) -> Iterator[list]:
    iterator = iter(items)
    while True:
        batch = list(itertools.islice(iterator, batch_size))
        if not batch:
            return
        yield batch


def _log_first_features(feature: InputFeatures) -> None:
    logging.info("*** Example ***")
    logging.info("unique_id: %s", feature.unique_id)
    logging.info("tokens: %s", " ".join(tokenization.printable_text(token) for token in feature.tokens))
    length = len(feature.tokens)
    logging.info("input_ids: %s", " ".join(str(value) for value in feature.input_ids[:length]))
    logging.info("input_type_ids: %s", " ".join(str(value) for value in feature.input_type_ids[:length]))


def run_extraction(config: ExtractionConfig) -> ExtractionSummary:
    """Extracts features for every line of `config.input_file` into `config.output_file`.

    Everything that can be checked is checked before the model is built: files, `max_seq_length`
    against the model, `layers`, casing against a released checkpoint name, a non-empty input.
    Raises FeatureExtractionError (or CheckpointError, also a ValueError) with a one-line message.
    """
    _require_file(config.input_file, "input file")
    _require_file(config.vocab_file, "vocab file")
    _require_file(config.bert_config_file, "BERT config file")
    bert_config = BertConfig.from_json_file(config.bert_config_file)
    layer_indexes = _check_settings(config, bert_config)
    # As the original, the casing is checked on the flag as given; checking the resolved prefix too
    # also covers a released model passed as its folder.
    tokenization.validate_case_matches_checkpoint(config.do_lower_case, config.init_checkpoint)
    checkpoint = resolve_checkpoint(config.init_checkpoint)
    if checkpoint != config.init_checkpoint:
        tokenization.validate_case_matches_checkpoint(config.do_lower_case, checkpoint)
    tokenizer = tokenization.FullTokenizer(vocab_file=config.vocab_file, do_lower_case=config.do_lower_case)

    examples = iter_examples(config.input_file)
    first = next(examples, None)
    if first is None:
        raise FeatureExtractionError(f"input file {config.input_file} is empty: nothing to extract")
    examples = itertools.chain([first], examples)

    extractor = FeatureExtractor.from_checkpoint(bert_config, checkpoint, layer_indexes)

    output_file = os.fspath(config.output_file)
    output_dir = os.path.dirname(output_file)
    if output_dir:
        tf.io.gfile.makedirs(output_dir)
    temporary = f"{output_file}.tmp-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    num_examples = 0
    next_report = config.log_every_n_examples
    try:
        with tf.io.gfile.GFile(temporary, "w") as writer:
            for batch in _batches(examples, config.batch_size):
                features = [convert_single_example(example, config.max_seq_length, tokenizer) for example in batch]
                for feature in features:
                    if feature.unique_id < 5:
                        _log_first_features(feature)
                layer_outputs = extractor(*batch_inputs(features))  # [num_layers, B, S, H]
                writer.write("".join(
                    feature_to_json(feature, layer_outputs[:, row], layer_indexes) + "\n"
                    for row, feature in enumerate(features)
                ))
                num_examples += len(features)
                if config.log_every_n_examples > 0 and num_examples >= next_report:
                    elapsed = time.perf_counter() - start
                    logging.info("processed %d examples (%.1f examples/s)", num_examples, num_examples / elapsed)
                    while next_report <= num_examples:
                        next_report += config.log_every_n_examples
        tf.io.gfile.rename(temporary, output_file, overwrite=True)
    except BaseException:
        if tf.io.gfile.exists(temporary):
            tf.io.gfile.remove(temporary)
        raise
    seconds = time.perf_counter() - start
    summary = ExtractionSummary(num_examples=num_examples, seconds=seconds, checkpoint=checkpoint,
                                output_file=output_file)
    logging.info("wrote %d examples to %s in %.1f s (%.1f examples/s)", num_examples, output_file, seconds,
                 summary.examples_per_second)
    return summary
