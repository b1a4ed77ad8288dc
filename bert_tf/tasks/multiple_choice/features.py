"""Multiple-choice features: each question -> C packed pairs -> one TFRecord, and their `record_layout`.

Every choice is packed with the context as `run_classifier.py` packs a pair (`[CLS] context [SEP] choice
[SEP]`, segments 0 then 1, the longer side popped first down to `max_seq_length - 3` pieces;
`bert_tf.tokenization.packing`). A file's questions all get its largest choice count C: a question with
fewer choices is padded with empty pairs whose `choice_mask` is 0 (the model gives them probability 0).

TFRecord layout (`tf.train.Example`)::

    input_ids, input_mask, segment_ids   int64 [C * max_seq_length]  (C pairs, row after row)
    choice_mask                          int64 [C]  (1: a real choice)
    label_ids                            int64 [1]  (the right choice; -1 in a file without labels)
"""
from __future__ import annotations

import dataclasses
import os
from typing import Iterable, Iterator, List, Sequence

from bert_tf import files
from bert_tf.tasks.multiple_choice.examples import MultipleChoiceExample
from bert_tf.tokenization import packing

SEQUENCE_FEATURES = ("input_ids", "input_mask", "segment_ids")
NO_LABEL = -1


@dataclasses.dataclass
class ChoiceFeatures:
    """One question's model inputs.

    Attributes:
      input_ids, input_mask, segment_ids: C lists of `max_seq_length` ints each (padded choices: zeros).
      choice_mask: C ints, 1 for a real choice.
      label_id: the right choice, or `NO_LABEL`.
    """

    input_ids: List[List[int]]
    input_mask: List[List[int]]
    segment_ids: List[List[int]]
    choice_mask: List[int]
    label_id: int


def num_choices(examples: Sequence[MultipleChoiceExample]) -> int:
    """The choice count of a file's records: its questions' largest."""
    return max(len(example.choices) for example in examples)


def convert_example(example: MultipleChoiceExample, num_choices_: int, max_seq_length: int,
                    tokenizer) -> ChoiceFeatures:
    """Packs each (context, choice) pair and pads the question to `num_choices_` choices."""
    tokens_a = tokenizer.tokenize(example.context)
    rows = [packing.packed_input_to_features(packing.pack_tokens(list(tokens_a), tokenizer.tokenize(choice),
                                                                 max_seq_length), tokenizer, max_seq_length)
            for choice in example.choices]
    padding = num_choices_ - len(rows)
    zeros = [0] * max_seq_length
    return ChoiceFeatures(
        input_ids=[row.input_ids for row in rows] + [zeros] * padding,
        input_mask=[row.input_mask for row in rows] + [zeros] * padding,
        segment_ids=[row.segment_ids for row in rows] + [zeros] * padding,
        choice_mask=[1] * len(rows) + [0] * padding,
        label_id=NO_LABEL if example.label is None else example.label)


def _padding_features(num_choices_: int, max_seq_length: int) -> ChoiceFeatures:
    zeros = [[0] * max_seq_length for _ in range(num_choices_)]
    return ChoiceFeatures(zeros, zeros, zeros, [0] * num_choices_, NO_LABEL)


def iter_features(examples: Iterable[MultipleChoiceExample], num_choices_: int, max_seq_length: int,
                  tokenizer, num_padding: int = 0) -> Iterator[ChoiceFeatures]:
    """The features of `examples`, then `num_padding` all-padding questions (whole batches on TPUs)."""
    for example in examples:
        yield convert_example(example, num_choices_, max_seq_length, tokenizer)
    for _ in range(num_padding):
        yield _padding_features(num_choices_, max_seq_length)


def _serialize(features: Iterable[ChoiceFeatures]) -> Iterator[bytes]:
    import tensorflow as tf

    example = tf.train.Example()
    values = {name: example.features.feature[name].int64_list.value
              for name in SEQUENCE_FEATURES + ("choice_mask", "label_ids")}
    for feature in features:
        for name in SEQUENCE_FEATURES:
            values[name][:] = [value for row in getattr(feature, name) for value in row]
        values["choice_mask"][:] = feature.choice_mask
        values["label_ids"][:] = [feature.label_id]
        yield example.SerializeToString(deterministic=True)


def write_features(features: Iterable[ChoiceFeatures], path: str) -> int:
    """Writes the records (see the module docstring) through a temporary name; returns their count."""
    return files.write_tfrecord(_serialize(features), os.fspath(path))


def record_layout(num_choices_: int, max_seq_length: int):
    """How the records are batched (`bert_tf.training.datasets`): features `input_ids`, `input_mask`,
    `segment_ids` int32 [B, C, L] (L: the batch's longest pair rounded up to 8) and `choice_mask` int32
    [B, C]; labels `label_ids` int32 [B]."""
    import tensorflow as tf

    from bert_tf.training.datasets import RecordLayout

    spec = {name: tf.io.FixedLenFeature([num_choices_, max_seq_length], tf.int64) for name in SEQUENCE_FEATURES}
    spec["choice_mask"] = tf.io.FixedLenFeature([num_choices_], tf.int64)
    spec["label_ids"] = tf.io.FixedLenFeature([], tf.int64)
    return RecordLayout(spec, max_seq_length, label_keys=("label_ids",))
