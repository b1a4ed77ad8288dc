"""SavedModel export of a fine-tuned `BertTokenClassifier` (NER) for TensorFlow Serving.

`export_ner` writes `<export_dir>/<version>/` like `bert_tf.serving.classifier.export_classifier` (same
version numbering, temporary folder, `assets/vocab.txt`; the labels also go to
`assets.extra/labels.txt`). Everything `run_ner` does between a sentence and its entities runs in
the graph:

1. The text is split into words on whitespace (Python's `str.split()`); each word is word-piece
   tokenized on its own (`InGraphBertTokenizer`, exactly `FullTokenizer`), keeping the characters every
   piece came from (`bert_tf.serving.text_offsets`).
2. A text longer than `max_seq_length - 2` pieces is cut into windows `window_stride` pieces apart
   (default half a window), `[CLS] pieces [SEP]`, as `bert_tf.tasks.ner.features.sentence_windows`.
3. The model runs on all windows of the request batch, padded to the longest window rounded up to a
   multiple of 8 (`pad_to_max_length=True`: to `max_seq_length`).
4. Every word takes the argmax label at its first piece, in the window where that piece has the most
   context (SQuAD's rule, first window on ties); a word without pieces is `O`.
5. The word labels are decoded into entities with conlleval's chunk rules
   (as `bert_tf.tasks.ner.metrics.chunks`: an `I-X` after `O` or after another type starts an entity).

Signatures:

`serving_default`
  inputs:  `text` string [batch].
  outputs: `num_entities` int32 [batch]; padded to the batch's largest count `E`:
           `entity_text` string [batch, E] (the text's characters from the entity's first word to its
           last, `text[start:end]`), `entity_type` string [batch, E] (`PER`, `LOC`, ...),
           `entity_start`, `entity_end` int32 [batch, E] (Unicode code-point offsets into `text`,
           `[start, end)`); padding: "" and -1.
`serve_ids`
  inputs:  int32 `input_ids`, `input_mask`, `segment_ids` [batch, seq].
  outputs: `probabilities` float32 [batch, seq, num_labels] (softmax of the logits).

The SavedModel needs only `tensorflow` and `tensorflow_text`; see `bert_tf.serving.classifier` for TF
Serving versions and variable tracking.
"""
from __future__ import annotations

import sys
from typing import Optional, Sequence

import tensorflow as tf

from bert_tf.conventions import split_tag
from bert_tf.errors import InputError, require_int
from bert_tf.serving import export
from bert_tf.serving.text_offsets import max_context_windows_in_graph, window_spans_in_graph, words_and_pieces
from bert_tf.tokenization.in_graph import InGraphBertTokenizer, padded_length_in_graph

__all__ = ["NerServingModule", "export_ner", "WORD_WHITESPACE"]

# Python's `str.split()` whitespace: the words of a text.
WORD_WHITESPACE = tuple(code_point for code_point in range(sys.maxunicode + 1) if chr(code_point).isspace())
# conlleval tag prefixes; any other prefix (a label without "-" that is not O) counts as "other".
_PREFIXES = ("O", "B", "I", "E", "S", ".")
_O, _B, _I, _E, _S, _DOT, _OTHER = range(7)


class NerServingModule(export.ServingModule):
    """The exported object: in-graph tokenizer, model variables and the two serving functions.

    Args:
      model: a built `bert_tf.BertTokenClassifier` (the three int32 [B, S] inputs -> dict with float
        `logits` [B, S, num_labels]).
      tokenizer: an `InGraphBertTokenizer`; its `max_seq_length` is the windows' packed length.
      label_list: the labels in id order (`O`, `B-PER`, `I-PER`, ...).
      window_stride: pieces between window starts (default: half of `max_seq_length - 2`).
      pad_to_max_length: pad every window to `max_seq_length` instead of per batch.
    """

    def __init__(self, model, tokenizer: InGraphBertTokenizer, label_list: Sequence[str],
                 window_stride: Optional[int] = None, pad_to_max_length: bool = False):
        super().__init__(model, tokenizer, name="bert_ner_serving")
        self.max_seq_length = int(tokenizer.max_seq_length)
        if self.max_seq_length < 3:
            raise InputError(f"max_seq_length must be >= 3 ([CLS] word [SEP]), got {self.max_seq_length}")
        max_pieces = self.max_seq_length - 2
        self.window_stride = (max(1, max_pieces // 2) if window_stride is None
                              else require_int("window_stride", window_stride))
        self.label_strings = [str(label) for label in label_list]
        num_labels = getattr(model, "num_labels", None)
        if not self.label_strings or (num_labels is not None and num_labels != len(self.label_strings)):
            raise InputError(f"label_list has {len(self.label_strings)} labels but the model has {num_labels}")
        self.pad_to_max_length = bool(pad_to_max_length)
        prefixes, types = [], []
        for label in self.label_strings:
            prefix, entity_type = split_tag(label)
            prefixes.append(_PREFIXES.index(prefix) if prefix in _PREFIXES else _OTHER)
            types.append(entity_type)
        self.type_strings = sorted(set(types))
        self.label_prefixes = prefixes
        self.label_types = [self.type_strings.index(entity_type) for entity_type in types]
        self.empty_type = self.type_strings.index("") if "" in self.type_strings else len(self.type_strings)

        self._model_logits = export.model_function(model, ("logits",))
        self.serve_ids = export.serving_function(self._serve_ids, self.ids_inputs(), same="shape")
        self.serve_text = export.serving_function(self._serve_text,
                                                  [export.ServingInput("text", tf.string, ("batch",))])

    def _logits(self, input_ids, input_mask, segment_ids) -> tf.Tensor:
        return self._model_logits(input_ids, input_mask, segment_ids)[0]

    def _serve_ids(self, input_ids, input_mask, segment_ids):
        input_mask = export.mask_batcher_padding(input_ids, input_mask, self.tokenizer.cls_id)
        return {"probabilities": tf.nn.softmax(self._logits(input_ids, input_mask, segment_ids), axis=-1)}

    def _word_labels(self, text):
        """(words dict of `words_and_pieces`, int32 label id per word, -1 for a word without pieces)."""
        tokenizer = self.tokenizer
        seq = self.max_seq_length
        words = words_and_pieces(tokenizer, text, WORD_WHITESPACE)
        ids = words["ids"]
        num_pieces = tf.cast(ids.row_lengths(), tf.int32)
        row_piece_start = tf.cumsum(num_pieces, exclusive=True)
        max_pieces = tf.fill(tf.shape(num_pieces), seq - 2)
        num_windows, window_row, _, w_start, w_length = window_spans_in_graph(
            num_pieces, max_pieces, self.window_stride)
        width = seq if self.pad_to_max_length else padded_length_in_graph(
            w_length + 2, seq, pad_to_multiple_of=export.PAD_TO_MULTIPLE_OF)
        position = tf.broadcast_to(tf.range(width)[tf.newaxis, :], [tf.shape(window_row)[0], width])
        length = w_length[:, tf.newaxis]
        in_doc = (position >= 1) & (position <= length)
        num_all = tf.size(ids.flat_values)
        piece = tf.clip_by_value(tf.gather(row_piece_start, window_row)[:, tf.newaxis] + w_start[:, tf.newaxis]
                                 + position - 1, 0, tf.maximum(num_all - 1, 0))
        piece_ids = tf.gather(tf.concat([ids.flat_values, [0]], 0), piece)
        input_ids = tf.where(tf.equal(position, 0), tokenizer.cls_id,
                             tf.where(in_doc, piece_ids, tf.where(tf.equal(position, length + 1),
                                                                  tokenizer.sep_id, 0)))
        input_mask = tf.cast(position <= length + 1, tf.int32)
        predicted = tf.argmax(self._logits(input_ids, input_mask, tf.zeros_like(input_mask)), axis=-1,
                              output_type=tf.int32)  # [windows, width]

        first_piece = words["word_first_piece"]
        has_piece = first_piece >= 0
        safe_first = tf.maximum(first_piece, 0)
        row = words["word_row"]
        index_in_row = safe_first - tf.gather(row_piece_start, row)
        best_k = max_context_windows_in_graph(row, index_in_row, num_pieces, max_pieces, self.window_stride,
                                              num_windows)
        window = tf.gather(tf.cumsum(num_windows, exclusive=True), row) + best_k
        window = tf.minimum(window, tf.maximum(tf.size(window_row) - 1, 0))
        column = tf.clip_by_value(index_in_row - tf.gather(tf.concat([w_start, [0]], 0), window) + 1, 0, width - 1)
        flat = tf.reshape(predicted, [-1])
        label = tf.gather(tf.concat([flat, [0]], 0), tf.where(has_piece, window * width + column, tf.size(flat)))
        return words, tf.where(has_piece, label, -1)

    def _serve_text(self, text):
        text = export.require_utf8(text, "text")
        words, label = self._word_labels(text)
        batch_size = tf.shape(text)[0]
        row = words["word_row"]
        num_words = tf.size(row)
        prefix = tf.gather(tf.constant(self.label_prefixes + [_O], tf.int32),
                           tf.where(label >= 0, label, len(self.label_strings)))
        kind = tf.gather(tf.constant(self.label_types + [self.empty_type], tf.int32),
                         tf.where(label >= 0, label, len(self.label_strings)))
        # conlleval's previous tag and type: "O" / "" at each row's first word.
        row_first_word = tf.cumsum(words["words_per_row"], exclusive=True)
        is_first = tf.equal(tf.range(num_words), tf.gather(row_first_word, row))
        previous = tf.where(is_first, _O, tf.concat([[_O], prefix[:-1]], 0))
        previous_kind = tf.where(is_first, self.empty_type, tf.concat([[self.empty_type], kind[:-1]], 0))

        def is_in(values, members):
            return tf.reduce_any(tf.equal(values[:, tf.newaxis], tf.constant(members, tf.int32)), axis=1)

        def end_of_chunk(before, tag, before_kind, tag_kind):
            return (is_in(before, [_E, _S]) | (is_in(before, [_B, _I]) & is_in(tag, [_B, _S, _O]))
                    | (~is_in(before, [_O, _DOT]) & tf.not_equal(before_kind, tag_kind)))

        starts = (is_in(prefix, [_B, _S]) | (is_in(previous, [_E, _S, _O]) & is_in(prefix, [_E, _I]))
                  | (~is_in(prefix, [_O, _DOT]) & tf.not_equal(previous_kind, kind)))
        ends = end_of_chunk(previous, prefix, previous_kind, kind)  # an entity ended at the word before
        # Each row's end (conlleval's final "O") ends any open entity.
        row_end = row_first_word + words["words_per_row"]
        end_positions = tf.sort(tf.concat([tf.cast(tf.where(ends)[:, 0], tf.int32), row_end], 0))
        start_word = tf.cast(tf.where(starts)[:, 0], tf.int32)
        end_word = tf.gather(end_positions, tf.searchsorted(end_positions, start_word, side="right")) - 1
        first_char = tf.gather(words["word_first_char"], start_word)
        end_char = tf.gather(words["word_end_char"], end_word)
        entity_row = tf.gather(row, start_word)
        row_start = tf.gather(words["row_char_start"], entity_row)
        byte_start = tf.gather(words["char_byte_start"], first_char)
        byte_end = tf.gather(words["char_byte_end"], end_char - 1)
        entity_text = tf.strings.substr(tf.gather(text, entity_row), byte_start, byte_end - byte_start)
        entity_type = tf.gather(tf.constant(self.type_strings + [""], tf.string), tf.gather(kind, start_word))

        def padded(values, default):
            ragged = tf.RaggedTensor.from_value_rowids(values, tf.cast(entity_row, tf.int64),
                                                       nrows=tf.cast(batch_size, tf.int64))
            return ragged.to_tensor(default_value=default)

        return {"num_entities": tf.math.unsorted_segment_sum(tf.ones_like(entity_row), entity_row, batch_size),
                "entity_text": padded(entity_text, ""), "entity_type": padded(entity_type, ""),
                "entity_start": padded(first_char - row_start, -1), "entity_end": padded(end_char - row_start, -1)}


def export_ner(model, vocab_file, do_lower_case: bool, label_list: Sequence[str], export_dir,
               max_seq_length: int = 128, window_stride: Optional[int] = None, pad_to_max_length: bool = False,
               serving_dtype: str = "float32") -> str:
    """Writes `model` as a SavedModel under `export_dir/<version>/` for TF Serving.

    Args:
      model: a `bert_tf.BertTokenClassifier` with its fine-tuned weights loaded.
      vocab_file: the model's `vocab.txt`; copied into the SavedModel's `assets/`.
      do_lower_case: as for `FullTokenizer`.
      label_list: the labels in id order (`run_ner`'s `label_map.json`).
      export_dir: the model base path TF Serving watches; created if needed.
      max_seq_length, window_stride: `run_ner`'s flags (window length, `[CLS]`/`[SEP]` included).
      pad_to_max_length: pad every window to `max_seq_length`.
      serving_dtype: `float32` or `mixed_bfloat16`.

    Returns:
      The path of the new version folder, `export_dir/<version>`.
    Raises:
      InputError: bad flags, labels that do not fit the model, or `serving_dtype`.
      ValueError: a vocabulary that does not fit the model.
    """
    model, tokenizer = export.model_and_tokenizer(model, vocab_file, do_lower_case, max_seq_length, serving_dtype)
    module = NerServingModule(model, tokenizer, label_list, window_stride=window_stride,
                              pad_to_max_length=pad_to_max_length)
    return export.save_and_publish(module, export_dir, labels=module.label_strings)
