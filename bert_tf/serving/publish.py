"""Shared steps of the task exports (`bert_tf.serving.squad`, `bert_tf.serving.ner`): checks and publishing.

The publishing is the classifier's (`bert_tf.serving.classifier`): the SavedModel is written to a temporary
folder under `export_dir` whose name is not a number (TF Serving ignores it) and renamed to the next
version folder when complete.
"""
from __future__ import annotations

import os
import uuid
from typing import Optional, Sequence

import tensorflow as tf

from bert_tf.errors import InputError
from bert_tf.serving.classifier import (
    _TEMPORARY_PREFIX,
    LABELS_FILE,
    _check_vocab_fits,
    _model_for_dtype,
    _publish,
    canonical_serving_dtype,
)
from bert_tf.tokenization.in_graph import InGraphBertTokenizer, positive_int

__all__ = ["check_model_fits", "model_and_tokenizer", "save_and_publish"]


def check_model_fits(model, vocab_file: str, max_seq_length) -> int:
    """Checks `max_seq_length` and the vocabulary against the model; returns `max_seq_length` as an int.

    Raises:
      InputError: `max_seq_length` is not a positive integer or exceeds `max_position_embeddings`.
      ValueError: the vocabulary has more tokens than the model's `vocab_size`.
    """
    max_seq_length = positive_int("max_seq_length", max_seq_length)
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if limit is not None and max_seq_length > limit:
        raise InputError(f"max_seq_length={max_seq_length} is longer than the model's "
                         f"max_position_embeddings={limit}")
    _check_vocab_fits(model, vocab_file)
    return max_seq_length


def model_and_tokenizer(model, vocab_file, do_lower_case: bool, max_seq_length, serving_dtype: str):
    """The checks of `check_model_fits`, then `(model to serve, InGraphBertTokenizer)`.

    Returns:
      `model` itself, or its copy built under `serving_dtype` (`float32` or `mixed_bfloat16`), and a
      tokenizer with `max_seq_length` (no per-batch padding of its own).
    Raises:
      InputError / ValueError: see `check_model_fits`; InputError for another `serving_dtype`.
    """
    vocab_file = os.fspath(vocab_file)
    serving_dtype = canonical_serving_dtype(serving_dtype)
    max_seq_length = check_model_fits(model, vocab_file, max_seq_length)
    tokenizer = InGraphBertTokenizer(vocab_file, do_lower_case=do_lower_case, max_seq_length=max_seq_length)
    return _model_for_dtype(model, serving_dtype), tokenizer


def save_and_publish(module: tf.Module, export_dir: str, labels: Optional[Sequence[str]] = None) -> str:
    """Saves `module` with its `signatures()` and publishes it as `export_dir/<version>`; returns that path.

    Args:
      module: a serving module with a `signatures()` method.
      export_dir: the model base path; created if needed.
      labels: written one per line to `assets.extra/labels.txt` (not read by the graph), if given.
    """
    export_dir = os.fspath(export_dir)
    tf.io.gfile.makedirs(export_dir)
    temporary = os.path.join(export_dir, f"{_TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}")
    try:
        tf.saved_model.save(module, temporary, signatures=module.signatures())
        if labels is not None:
            tf.io.gfile.makedirs(os.path.join(temporary, "assets.extra"))
            with tf.io.gfile.GFile(os.path.join(temporary, LABELS_FILE), "w") as writer:
                writer.write("".join(f"{label}\n" for label in labels))
        return _publish(temporary, export_dir)
    finally:
        if tf.io.gfile.exists(temporary):
            tf.io.gfile.rmtree(temporary)


def check_export_dir(export_dir: str) -> None:
    """Checks, before a run reads or writes anything, that `export_dir` can receive SavedModels.

    Raises:
      InputError: `export_dir` exists and is not a folder, or tensorflow_text is missing.
    """
    if tf.io.gfile.exists(export_dir) and not tf.io.gfile.isdir(export_dir):
        raise InputError(f"--export_dir {export_dir} exists and is not a folder")
    try:
        import tensorflow_text  # noqa: F401
    except ImportError as error:
        raise InputError(f"--export_dir needs tensorflow_text: {error}") from None
