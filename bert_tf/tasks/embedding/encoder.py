"""`bert_tf.encode`: texts -> sentence embeddings, float32 [texts, hidden size], from a released model folder.

`SentenceEncoder` loads the model once (`BertSentenceEmbedding` restored from the folder's checkpoint) and
encodes any number of texts: each text is tokenized with the original `FullTokenizer` and cut into windows
(`features.text_windows`); the windows are sorted by length and run in batches of `batch_size`, each padded
only to its longest window, in one `tf.function` traced once for every shape; a text's window vectors are
averaged weighted by their token counts and L2-normalized when asked
(`bert_tf.modeling.sentence_embedding.combine_windows`). The rows come back in input order. Progress is logged
after every `log_every_n_windows` windows on inputs longer than that.

The empty text (and any text without word pieces: whitespace, control characters) gets the vector of
`[CLS] [SEP]`, as sentence-transformers gives it.

The casing (`do_lower_case=None`) is decided from the folder as by the other scripts' checks: the released
checkpoint's name when it is one the original knows (`uncased_L-12_H-768_A-12`, `cased_...`), else the
vocabulary (cased when more than 1% of its entries start with a capital letter).
"""
from __future__ import annotations

import os
import time
from typing import Optional, Sequence, Union

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import tokenization
from bert_tf.checkpoint import load_checkpoint
from bert_tf.errors import InputError, require_int
from bert_tf.modeling.sentence_embedding import BertSentenceEmbedding, combine_windows
from bert_tf.tasks.embedding.features import batch_inputs, check_window_settings, parse_layers, text_windows
from bert_tf.training.run_options import (
    CASED_VOCAB_FRACTION,
    ModelFiles,
    load_bert_config,
    load_tokenizer,
    resolve_model_files,
)

DEFAULT_LOG_EVERY_N_WINDOWS = 1000


def folder_casing(model_files: ModelFiles) -> bool:
    """`do_lower_case` for a model folder: the released checkpoint's name when the original knows it, else its
    vocabulary's (uncased unless more than `CASED_VOCAB_FRACTION` of the entries start with a capital)."""
    vocab = tokenization.load_vocab(model_files.vocab_file)
    lower_case = sum(1 for token in vocab if token[:1].isupper()) <= CASED_VOCAB_FRACTION * len(vocab)
    try:
        tokenization.validate_case_matches_checkpoint(lower_case, model_files.init_checkpoint)
    except ValueError:  # the checkpoint's name says the other casing
        lower_case = not lower_case
    return lower_case


class SentenceEncoder:
    """A model folder loaded once for `encode`.

    Args:
      model_dir: a released model folder (`bert_config.json`, `vocab.txt`, a checkpoint) or a fine-tuning
        run's `output_dir` holding those; a Hugging Face folder is converted first (`bert_tf.interop`).
      pooling: `mean` (default), `max`, `cls` or `pooler` (`bert_tf.modeling.sentence_embedding`).
      layers: encoder block indexes averaged before pooling: -1 (the last block), "-4,-3,-2,-1", [-2, -1].
      normalize: L2-normalize each vector.
      max_seq_length: tokens per window, `[CLS]` and `[SEP]` included (at least 3).
      batch_size: windows per model call.
      truncate: keep only the first window of a long text (default: every window, averaged).
      do_lower_case: None: from the folder (see the module docstring).
      window_stride: pieces between window starts (default: half a window, `(max_seq_length - 2) // 2`).
      log_every_n_windows: progress is logged after every this many windows (0: never).

    Raises:
      InputError: a folder or file that is missing or does not fit, an unknown pooling, a layer index the
        model does not have, bad sizes. CheckpointError: a checkpoint of another model.
    """

    def __init__(self, model_dir, pooling: str = "mean", layers: Union[str, int, Sequence[int]] = (-1,),
                 normalize: bool = False, max_seq_length: int = 128, batch_size: int = 32, truncate: bool = False,
                 do_lower_case: Optional[bool] = None, window_stride: Optional[int] = None,
                 log_every_n_windows: int = DEFAULT_LOG_EVERY_N_WINDOWS):
        self.max_seq_length, self.window_stride = check_window_settings(max_seq_length, window_stride)
        self.batch_size = require_int("--batch_size", batch_size)
        self.log_every_n_windows = require_int("log_every_n_windows", log_every_n_windows, minimum=0)
        self.normalize = bool(normalize)
        self.truncate = bool(truncate)
        layer_indexes = parse_layers(layers)
        if not model_dir:
            raise InputError("no model folder: give --bert_dir (a released model folder)")
        model_files = resolve_model_files(os.fspath(model_dir), checkpoint_required=True)
        if do_lower_case is None:
            do_lower_case = folder_casing(model_files)
        model_files.do_lower_case = bool(do_lower_case)
        self.model_files = model_files
        bert_config = load_bert_config(model_files.bert_config_file, self.max_seq_length)
        self.tokenizer = load_tokenizer(model_files, bert_config)
        self.model = BertSentenceEmbedding(bert_config, pooling, layer_indexes)
        load_checkpoint(self.model, model_files.init_checkpoint)  # logs what it restored
        self.cls_id, self.sep_id = self.tokenizer.vocab["[CLS]"], self.tokenizer.vocab["[SEP]"]
        spec = tf.TensorSpec([None, None], tf.int32)
        self._forward = tf.function(self._window_vectors, input_signature=[spec, spec, spec], autograph=False)

    @property
    def dimension(self) -> int:
        """The length of each vector (the model's hidden size)."""
        return self.model.config.hidden_size

    @property
    def pooling(self) -> str:
        return self.model.pooling

    @property
    def layers(self):
        return list(self.model.layer_indexes)

    def _window_vectors(self, input_ids, input_mask, segment_ids):
        inputs = {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids}
        return self.model(inputs, training=False)["embeddings"]

    def windows(self, texts: Sequence[str]):
        """The packed windows of `texts` (`features.Window`), text by text."""
        windows = []
        for index, text in enumerate(texts):
            piece_ids = self.tokenizer.convert_tokens_to_ids(self.tokenizer.tokenize(text))
            windows.extend(text_windows(index, piece_ids, self.max_seq_length, self.window_stride, self.truncate,
                                        self.cls_id, self.sep_id))
        return windows

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """float32 [len(texts), dimension]: one vector per text, in input order.

        Raises:
          InputError: `texts` is a single string, or holds something that is not a string (its index named).
        """
        texts = check_texts(texts)
        start = time.perf_counter()
        windows = self.windows(texts)
        order = sorted(range(len(windows)), key=lambda index: len(windows[index].input_ids))
        vectors = np.zeros((len(windows), self.dimension), np.float32)
        report = self.log_every_n_windows if 0 < self.log_every_n_windows < len(windows) else 0
        next_report = report
        for begin in range(0, len(order), self.batch_size):
            rows = order[begin:begin + self.batch_size]
            vectors[rows] = self._forward(*batch_inputs([windows[row] for row in rows])).numpy()
            done = begin + len(rows)
            if report and done >= next_report:
                logging.info("embedded %d of %d windows (%.1f windows/s)", done, len(windows),
                             done / max(time.perf_counter() - start, 1e-9))
                next_report += report
        combined = combine_windows(vectors, [len(window.input_ids) for window in windows],
                                   np.array([window.text_index for window in windows], np.int32), len(texts),
                                   self.normalize)
        if report:
            logging.info("embedded %d texts (%d windows) in %.1f s", len(texts), len(windows),
                         time.perf_counter() - start)
        return np.asarray(combined, np.float32).reshape(len(texts), self.dimension)

    def export(self, export_dir, serving_dtype: str = "float32", **options) -> str:
        """This encoder as an embedding SavedModel under `export_dir/<version>/` (the same vectors from raw text;
        `bert_tf.serving.embedding.export_embedding`, whose `options` pass through); returns the version folder."""
        from bert_tf.serving.embedding import export_embedding  # tensorflow_text: only to export

        return export_embedding(self.model, self.model_files.vocab_file, self.model_files.do_lower_case, export_dir,
                                max_seq_length=self.max_seq_length, normalize=self.normalize,
                                truncate=self.truncate, window_stride=self.window_stride,
                                serving_dtype=serving_dtype, **options)


def check_texts(texts) -> list:
    """`texts` as a list of strings; InputError for a single string or an item that is not a string."""
    if isinstance(texts, (str, bytes)):
        raise InputError("texts must be a sequence of strings, not one string: pass [text]")
    texts = list(texts)
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"texts[{index}] is a {type(text).__name__}, not a string")
    return texts


def encode(texts: Sequence[str], model_dir, pooling: str = "mean", layers: Union[str, int, Sequence[int]] = (-1,),
           normalize: bool = False, max_seq_length: int = 128, batch_size: int = 32, truncate: bool = False,
           do_lower_case: Optional[bool] = None, window_stride: Optional[int] = None) -> np.ndarray:
    """Sentence embeddings of `texts`: float32 [len(texts), hidden size], rows in input order.

    Loads `model_dir` and encodes once; to encode several times, make a `SentenceEncoder` (same arguments) and
    call its `encode`. all-MiniLM-L6-v2's own set-up is `pooling="mean", normalize=True`.

    Args: see `SentenceEncoder`.
    Raises:
      InputError (a `bert_tf.errors.UserError`): see `SentenceEncoder` and `SentenceEncoder.encode`.
    """
    texts = check_texts(texts)
    encoder = SentenceEncoder(model_dir, pooling=pooling, layers=layers, normalize=normalize,
                              max_seq_length=max_seq_length, batch_size=batch_size, truncate=truncate,
                              do_lower_case=do_lower_case, window_stride=window_stride)
    return encoder.encode(texts)
