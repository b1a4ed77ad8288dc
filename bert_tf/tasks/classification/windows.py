"""Documents longer than the model (`run_classifier.py --long_documents=windows`): windows in, one answer
per document out.

Instead of truncating (the original), each document's first text is cut into overlapping windows
(`bert_tf.tokenization.packing.document_windows`: a document that fits is one window, the same features as
truncation would give; a pair keeps its second text). Training sees every window with its document's label,
weighted so that every document counts the same (`window_weights`: a document of n windows gives each
1/n of a document's weight); evaluation and prediction combine the windows' logits per document
(`pool_logits`: their mean, or their element-wise max) and score and write documents, so `eval_results.txt`
and `test_results.tsv` have one row per document as usual. The classifier export does the same in the graph
(`bert_tf.serving.classifier`).
"""
from __future__ import annotations

import dataclasses
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
from absl import logging

from bert_tf.errors import InputError
from bert_tf.tasks.classification.features import (
    InputFeatures,
    PaddingInputExample,
    convert_single_example,
    label_id_of,
)
from bert_tf.tokenization import packing

MODES = ("truncate", "windows")
POOLINGS = ("mean", "max")


@dataclasses.dataclass
class DocumentWindows:
    """The windows of a split's documents.

    Attributes:
      windows: `(document index, window of text_a's pieces, text_b's pieces)` per window, documents in order.
      document_index: int64 [num_windows], each window's document.
      num_documents: how many documents (every document has at least one window).
    """

    windows: List[Tuple[int, List[str], List[str]]]
    document_index: np.ndarray
    num_documents: int

    @property
    def num_long_documents(self) -> int:
        """Documents of more than one window."""
        return int(np.sum(np.bincount(self.document_index, minlength=self.num_documents) > 1))


def check_settings(long_documents: str, doc_stride: Optional[int], window_pooling: str) -> None:
    """Raises InputError for an unknown mode or pooling, or a stride below 1."""
    if long_documents not in MODES:
        raise InputError(f"--long_documents must be one of {', '.join(MODES)}, got {long_documents!r}")
    if window_pooling not in POOLINGS:
        raise InputError(f"--window_pooling must be one of {', '.join(POOLINGS)}, got {window_pooling!r}")
    if doc_stride is not None and doc_stride < 1:
        raise InputError(f"--doc_stride must be at least 1, got {doc_stride}")


def split_into_windows(examples: Sequence, tokenizer, max_seq_length: int, doc_stride: Optional[int],
                       split_name: str = "") -> DocumentWindows:
    """Tokenizes each example's `text_a` (and `text_b`) and cuts it into windows (`packing.document_windows`)."""
    windows, document_index = [], []
    for index, example in enumerate(examples):
        tokens_a = tokenizer.tokenize(example.text_a)
        tokens_b = tokenizer.tokenize(example.text_b) if example.text_b else []
        for window_a, window_b in packing.document_windows(tokens_a, tokens_b, max_seq_length, doc_stride):
            windows.append((index, window_a, window_b))
            document_index.append(index)
    result = DocumentWindows(windows, np.asarray(document_index, np.int64), len(examples))
    if split_name:
        logging.info("%s: %d documents -> %d windows (%d documents longer than one window)", split_name,
                     result.num_documents, len(windows), result.num_long_documents)
    return result


def window_weights(windows: DocumentWindows) -> np.ndarray:
    """float64 [num_windows]: each window's weight in the training loss, 1/n for a document of n windows,
    scaled so that the weights average 1 (the loss keeps its scale): every document weighs the same, and a
    long document's windows, most of which may not say what its label is about, do not outweigh the rest."""
    counts = np.bincount(windows.document_index, minlength=windows.num_documents)[windows.document_index]
    return (len(windows.windows) / max(windows.num_documents, 1)) / counts


def window_features(examples: Sequence, windows: DocumentWindows, label_list: Sequence, max_seq_length: int,
                    tokenizer, num_padding: int, is_regression: bool = False,
                    multi_label: bool = False) -> Iterator[InputFeatures]:
    """The model inputs of every window (its document's label and `window_weights`), then `num_padding`
    padding records (weight 0)."""
    label_map = {} if is_regression else {label: index for index, label in enumerate(label_list)}
    for (document, window_a, window_b), weight in zip(windows.windows, window_weights(windows)):
        packed = packing.pack_tokens(window_a, window_b, max_seq_length)
        padded = packing.packed_input_to_features(packed, tokenizer, max_seq_length)
        yield InputFeatures(padded.input_ids, padded.input_mask, padded.segment_ids,
                            label_id_of(examples[document], label_map, is_regression, multi_label),
                            window_weight=float(weight))
    for _ in range(num_padding):
        padding = convert_single_example(PaddingInputExample(), label_map, max_seq_length, tokenizer,
                                         is_regression, multi_label)
        padding.window_weight = 0.0
        yield padding


def pool_logits(window_logits: np.ndarray, document_index: np.ndarray, num_documents: int,
                pooling: str = "mean") -> np.ndarray:
    """Each document's logits from its windows': float32 [num_documents, K] from [num_windows, K].

    `mean`: the windows' mean; `max`: the element-wise max (each class's best window).
    """
    window_logits = np.asarray(window_logits, np.float64)
    shape = (num_documents,) + window_logits.shape[1:]
    if pooling == "max":
        pooled = np.full(shape, -np.inf)
        np.maximum.at(pooled, document_index, window_logits)
    else:
        pooled = np.zeros(shape)
        np.add.at(pooled, document_index, window_logits)
        counts = np.bincount(document_index, minlength=num_documents).reshape((-1,) + (1,) * (len(shape) - 1))
        pooled /= np.maximum(counts, 1)
    return pooled.astype(np.float32)


def first_windows(document_index: np.ndarray, num_documents: int) -> np.ndarray:
    """int64 [num_documents]: the index of each document's first window (where its label is read)."""
    first = np.full(num_documents, -1, np.int64)
    positions = np.arange(len(document_index))
    first[document_index[::-1]] = positions[::-1]
    return first
