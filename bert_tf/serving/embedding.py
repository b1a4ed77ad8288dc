"""SavedModel export of a sentence-embedding model (`BertSentenceEmbedding`) for TensorFlow Serving.

`export_embedding` writes `<export_dir>/<version>/` like the other exports (version numbering, temporary folder,
`assets/vocab.txt`). What `bert_tf.encode` does between a text and its vector runs in the graph, with the same
settings, so the vectors are the same (1e-5):

1. The text is word-piece tokenized (`InGraphBertTokenizer`, exactly `FullTokenizer`).
2. A text of more than `max_seq_length - 2` pieces is cut into windows `window_stride` pieces apart, each
   `[CLS] pieces [SEP]` (`bert_tf.tasks.embedding.features` cuts the same ones in Python); with `truncate`
   only the first window is kept. A text without pieces (empty) is one window `[CLS] [SEP]`.
3. The model pools every window (its pooling and layers are part of the model), on length-sorted sub-batches
   of 8 windows, each padded to its longest window rounded up to a multiple of 8.
4. A text's window vectors are averaged weighted by their token counts and L2-normalized when the export was
   made with `normalize` (`bert_tf.modeling.sentence_embedding.combine_windows`).

The settings are baked into the graph and recorded in `assets.extra/embedding.json` (not read by the graph):
`pooling`, `layers`, `normalize`, `max_seq_length`, `long_texts` (`windows` or `truncate`), `window_stride`,
`do_lower_case`, `dimension`.

Signatures:

`serving_default`
  inputs:  `text` string [batch].
  outputs: `embeddings` float32 [batch, dimension].
`serve_ids`
  inputs:  int32 `input_ids`, `input_mask`, `segment_ids` [batch, seq] (each row one packed window).
  outputs: `embeddings` float32 [batch, dimension] (each row's pooled vector, normalized with `normalize`).

The SavedModel needs only `tensorflow` and `tensorflow_text`.
"""
from __future__ import annotations

import json
from typing import Dict, Optional

import tensorflow as tf

from bert_tf.errors import InputError, require_int
from bert_tf.modeling.sentence_embedding import combine_windows
from bert_tf.serving.export import (
    PAD_TO_MULTIPLE_OF,
    SUB_BATCH_SIZE,
    ServingInput,
    ServingModule,
    mask_batcher_padding,
    model_and_tokenizer,
    model_function,
    require_utf8,
    save_and_publish,
    serving_function,
)
from bert_tf.serving.sub_batches import map_sorted_sub_batches
from bert_tf.serving.text_offsets import window_spans_in_graph
from bert_tf.tokenization.in_graph import InGraphBertTokenizer, padded_length_in_graph

__all__ = ["EmbeddingServingModule", "export_embedding", "SETTINGS_FILE"]

# The export's settings, beside the graph (TF Serving ignores assets.extra).
SETTINGS_FILE = "embedding.json"


def window_inputs_in_graph(ids: tf.RaggedTensor, window_row: tf.Tensor, window_start: tf.Tensor,
                           window_length: tf.Tensor, width, cls_id: int, sep_id: int) -> Dict[str, tf.Tensor]:
    """Packed windows `[CLS] pieces [SEP]`, zero padded to `width`.

    Args:
      ids: int RaggedTensor [batch, (pieces)], each text's word-piece ids.
      window_row, window_start, window_length: int32 [windows]: each window's text, first piece and number of
        pieces (`window_length + 2 <= width`).
      width: int32 scalar, the padded length.
    Returns:
      int32 `input_ids`, `input_mask`, `segment_ids` [windows, width].
    """
    flat = tf.cast(ids.flat_values, tf.int32)
    row_start = tf.cumsum(tf.cast(ids.row_lengths(), tf.int32), exclusive=True)
    position = tf.broadcast_to(tf.range(width)[tf.newaxis, :], [tf.shape(window_row)[0], width])
    length = window_length[:, tf.newaxis]
    in_text = (position >= 1) & (position <= length)
    piece = tf.clip_by_value(tf.gather(row_start, window_row)[:, tf.newaxis] + window_start[:, tf.newaxis]
                             + position - 1, 0, tf.maximum(tf.size(flat) - 1, 0))
    piece_ids = tf.gather(tf.concat([flat, [0]], 0), piece)
    input_ids = tf.where(tf.equal(position, 0), cls_id,
                         tf.where(in_text, piece_ids, tf.where(tf.equal(position, length + 1), sep_id, 0)))
    input_mask = tf.cast(position <= length + 1, tf.int32)
    return {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": tf.zeros_like(input_mask)}


class EmbeddingServingModule(ServingModule):
    """The exported object: in-graph tokenizer, model variables and the two serving functions.

    Args:
      model: a built `bert_tf.modeling.sentence_embedding.BertSentenceEmbedding` (dict of int32 [B, S] inputs ->
        `embeddings` float32 [B, H]).
      tokenizer: an `InGraphBertTokenizer`; its `max_seq_length` is the windows' packed length (>= 3).
      normalize: L2-normalize each text's vector.
      truncate: keep only a long text's first window.
      window_stride: pieces between window starts (default: half of `max_seq_length - 2`).
      sub_batch_size: windows per length-sorted sub-batch (None: all windows at once).
      jit_compile: XLA-compile the model part.
    """

    def __init__(self, model, tokenizer: InGraphBertTokenizer, normalize: bool = False, truncate: bool = False,
                 window_stride: Optional[int] = None, sub_batch_size: Optional[int] = SUB_BATCH_SIZE,
                 jit_compile: bool = False):
        super().__init__(model, tokenizer, name="bert_embedding_serving")
        self.max_seq_length = int(tokenizer.max_seq_length)
        if self.max_seq_length < 3:
            raise InputError(f"max_seq_length must be >= 3 ([CLS] piece [SEP]), got {self.max_seq_length}")
        max_pieces = self.max_seq_length - 2
        self.window_stride = (max(1, max_pieces // 2) if window_stride is None
                              else require_int("window_stride", window_stride))
        self.normalize = bool(normalize)
        self.truncate = bool(truncate)
        self.sub_batch_size = None if sub_batch_size is None else require_int("sub_batch_size", sub_batch_size)
        self.dimension = int(model.config.hidden_size)
        self.settings = {"pooling": model.pooling, "layers": list(model.layer_indexes), "normalize": self.normalize,
                         "max_seq_length": self.max_seq_length,
                         "long_texts": "truncate" if self.truncate else "windows",
                         "window_stride": self.window_stride, "do_lower_case": tokenizer.do_lower_case,
                         "dimension": self.dimension}
        self._model_embeddings = model_function(model, ("embeddings",), jit_compile=jit_compile)
        self.serve_ids = serving_function(self._serve_ids, self.ids_inputs(), same="shape")
        self.serve_text = serving_function(self._serve_text, [ServingInput("text", tf.string, ("batch",))])

    def _window_vectors(self, features: Dict[str, tf.Tensor]) -> tf.Tensor:
        return self._model_embeddings(features["input_ids"], features["input_mask"], features["segment_ids"])[0]

    def _serve_ids(self, input_ids, input_mask, segment_ids):
        input_mask = mask_batcher_padding(input_ids, input_mask, self.tokenizer.cls_id)
        vectors = self._window_vectors({"input_ids": input_ids, "input_mask": input_mask,
                                        "segment_ids": segment_ids})
        rows = tf.shape(input_ids)[0]
        return {"embeddings": combine_windows(vectors, tf.reduce_sum(input_mask, axis=1), tf.range(rows), rows,
                                              self.normalize)}

    def _serve_text(self, text):
        text = require_utf8(text, "text")
        tokenizer = self.tokenizer
        ids = tokenizer.tokenize(text)
        num_pieces = tf.cast(ids.row_lengths(), tf.int32)
        max_pieces = self.max_seq_length - 2
        batch_size = tf.shape(num_pieces)[0]
        if self.truncate:
            window_row = tf.range(batch_size)
            window_start = tf.zeros_like(num_pieces)
            window_length = tf.minimum(num_pieces, max_pieces)
        else:
            _, window_row, _, window_start, window_length = window_spans_in_graph(
                num_pieces, tf.fill(tf.shape(num_pieces), max_pieces), self.window_stride)
        width = padded_length_in_graph(window_length + 2, self.max_seq_length, pad_to_multiple_of=PAD_TO_MULTIPLE_OF)
        windows = window_inputs_in_graph(ids, window_row, window_start, window_length, width, tokenizer.cls_id,
                                         tokenizer.sep_id)
        if self.sub_batch_size:
            vectors = map_sorted_sub_batches(self._window_vectors, windows, self.sub_batch_size, self.max_seq_length,
                                             pad_to_multiple_of=PAD_TO_MULTIPLE_OF, output_shape=(self.dimension,))
        else:
            vectors = self._window_vectors(windows)
        embeddings = combine_windows(vectors, window_length + 2, window_row, batch_size, self.normalize)
        return {"embeddings": tf.reshape(embeddings, [batch_size, self.dimension])}


def export_embedding(model, vocab_file, do_lower_case: bool, export_dir, max_seq_length: int = 128,
                     normalize: bool = False, truncate: bool = False, window_stride: Optional[int] = None,
                     serving_dtype: str = "float32", sub_batch_size: Optional[int] = SUB_BATCH_SIZE,
                     jit_compile: bool = False) -> str:
    """Writes `model` as an embedding SavedModel under `export_dir/<version>/` for TF Serving.

    Args:
      model: a `BertSentenceEmbedding` with its weights loaded (its pooling and layers are the export's).
      vocab_file: the model's `vocab.txt`; copied into the SavedModel's `assets/`.
      do_lower_case: as for `FullTokenizer`.
      export_dir: the model base path TF Serving watches; created if needed.
      max_seq_length, normalize, truncate, window_stride: as for `bert_tf.encode`.
      serving_dtype: `float32` or `mixed_bfloat16`.
      sub_batch_size: windows per length-sorted sub-batch (None: all at once).
      jit_compile: XLA-compile the model part (TF Serving then needs `--xla_cpu_compilation_enabled=true`).

    Returns:
      The path of the new version folder, `export_dir/<version>`.
    Raises:
      InputError: bad settings or `serving_dtype`. ValueError: a vocabulary that does not fit the model.
    """
    model, tokenizer = model_and_tokenizer(model, vocab_file, do_lower_case, max_seq_length, serving_dtype,
                                           pad_to_multiple_of=PAD_TO_MULTIPLE_OF)
    module = EmbeddingServingModule(model, tokenizer, normalize=normalize, truncate=truncate,
                                    window_stride=window_stride, sub_batch_size=sub_batch_size,
                                    jit_compile=jit_compile)
    settings = dict(module.settings, serving_dtype=serving_dtype)
    return save_and_publish(module, export_dir,
                            extra_files={SETTINGS_FILE: json.dumps(settings, indent=2, sort_keys=True) + "\n"})
