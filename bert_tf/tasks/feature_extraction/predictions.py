"""Encoder outputs -> `extract_features.py`'s JSON lines, streamed.

`FeatureExtractor` runs a `BertModel` and returns the chosen encoder blocks; `write_features` converts,
runs and writes a stream of examples batch by batch (memory stays constant whatever the input's length),
each batch padded only to its longest example, into a file written through a temporary name.
"""
from __future__ import annotations

import itertools
import time
from typing import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import files, tokenization
from bert_tf.tasks.feature_extraction.examples import FeatureExtractionError
from bert_tf.tasks.feature_extraction.features import (
    InputFeatures,
    batch_inputs,
    convert_single_example,
    feature_to_json,
)


class FeatureExtractor:
    """Runs a `BertModel` and returns the chosen encoder blocks' outputs.

    Call with int32 `input_ids`, `input_mask`, `segment_ids` [B, S] (any B and S up to
    `max_position_embeddings`); returns float32 numpy [len(layer_indexes), B, S, H], block
    `layer_indexes[j]` at `[j]`. One `tf.function` with a [None, None] signature serves every shape.

    Raises:
      FeatureExtractionError: a layer index the model does not have.
    """

    def __init__(self, model, layer_indexes: Sequence[int]):
        num_layers = model.config.num_hidden_layers
        for index in layer_indexes:
            if not -num_layers <= index < num_layers:
                raise FeatureExtractionError(f"layer {index} does not exist in a {num_layers}-layer model")
        self.model = model
        self.layer_indexes = list(layer_indexes)
        spec = tf.TensorSpec([None, None], tf.int32)
        self._forward = tf.function(self._selected_layers, input_signature=[spec, spec, spec])

    @classmethod
    def from_checkpoint(cls, bert_config, init_checkpoint: str, layer_indexes: Sequence[int]) -> "FeatureExtractor":
        """Builds the encoder of `bert_config` and restores it from `init_checkpoint`."""
        from bert_tf.checkpoint import load_checkpoint
        from bert_tf.modeling import BertModel

        model = BertModel(bert_config)
        logging.info("%s", load_checkpoint(model, init_checkpoint).summary())
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


def write_features(output_file: str, examples: Iterable, extractor: FeatureExtractor, tokenizer,
                   max_seq_length: int, batch_size: int, log_every_n_examples: int = 1000) -> int:
    """Converts, runs and writes `examples` (an iterable, consumed once) as JSON lines; returns the count.

    Progress is logged after every `log_every_n_examples` examples (0: never) and at the end.
    """
    start = time.perf_counter()
    num_examples = 0
    next_report = log_every_n_examples
    with files.atomic_writer(output_file) as writer:
        for batch in _batches(examples, batch_size):
            features = [convert_single_example(example, max_seq_length, tokenizer) for example in batch]
            for feature in features:
                if feature.unique_id < 5:
                    _log_first_features(feature)
            layer_outputs = extractor(*batch_inputs(features))  # [num_layers, B, S, H]
            writer.write("".join(feature_to_json(feature, layer_outputs[:, row], extractor.layer_indexes) + "\n"
                                 for row, feature in enumerate(features)))
            num_examples += len(features)
            if log_every_n_examples > 0 and num_examples >= next_report:
                elapsed = time.perf_counter() - start
                logging.info("processed %d examples (%.1f examples/s)", num_examples, num_examples / elapsed)
                while next_report <= num_examples:
                    next_report += log_every_n_examples
    seconds = time.perf_counter() - start
    logging.info("wrote %d examples to %s in %.1f s (%.1f examples/s)", num_examples, output_file, seconds,
                 num_examples / seconds if seconds > 0 else float("inf"))
    return num_examples
