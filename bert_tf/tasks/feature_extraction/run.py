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

import dataclasses
import itertools
import os
import time
from typing import Iterable, Iterator, List, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import files, tokenization
from bert_tf.checkpoint import load_checkpoint, resolve_checkpoint
from bert_tf.config import BertConfig
from bert_tf.modeling import BertModel
from bert_tf.tasks.feature_extraction.examples import FeatureExtractionError, iter_examples
from bert_tf.tasks.feature_extraction.features import (
    InputFeatures,
    batch_inputs,
    convert_single_example,
    feature_to_json,
    parse_layer_indexes,
)
from bert_tf.training.run_options import load_bert_config


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


# ---------------------------------------------------------------------------------------- settings
def _check_settings(config: ExtractionConfig, bert_config: BertConfig) -> List[int]:
    """Validates the run's numbers against the model; returns the parsed layer indexes."""
    if config.max_seq_length > bert_config.max_position_embeddings:
        raise FeatureExtractionError(
            f"cannot use --max_seq_length={config.max_seq_length}: the model ({config.bert_config_file}) "
            f"was only trained up to max_position_embeddings={bert_config.max_position_embeddings}"
        )
    if config.max_seq_length < 2:
        raise FeatureExtractionError(
            f"--max_seq_length must be >= 2 (room for [CLS] and [SEP]), got {config.max_seq_length}")
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
    if os.path.abspath(config.input_file) == os.path.abspath(config.output_file):
        raise FeatureExtractionError(f"--output_file {config.output_file} is the --input_file: it would be "
                                     "overwritten; write the features to another file")
    _require_file(config.vocab_file, "vocab file")
    _require_file(config.bert_config_file, "BERT config file")
    bert_config = load_bert_config(config.bert_config_file)
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
    start = time.perf_counter()
    num_examples = 0
    next_report = config.log_every_n_examples
    with files.atomic_writer(output_file) as writer:
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
    seconds = time.perf_counter() - start
    summary = ExtractionSummary(num_examples=num_examples, seconds=seconds, checkpoint=checkpoint,
                                output_file=output_file)
    logging.info("wrote %d examples to %s in %.1f s (%.1f examples/s)", num_examples, output_file, seconds,
                 summary.examples_per_second)
    return summary
