"""SavedModel export of a fine-tuned `BertQuestionAnswering` (SQuAD) for TensorFlow Serving.

`export_squad` writes `<export_dir>/<version>/` like `bert_tf.serving.classifier.export_classifier`
(the same version numbering, temporary folder and `assets/vocab.txt`). Everything `run_squad`
does between a question/context pair and its answer runs in the graph:

1. The context is split into the original's "doc tokens" on `run_squad`'s whitespace (space, tab, CR,
   LF, U+202F); each doc token is word-piece tokenized on its own (`InGraphBertTokenizer`, exactly
   `FullTokenizer`), keeping for every piece the characters of the context it came from.
2. The question is tokenized and cut to `max_query_length` pieces; the context pieces are cut into
   windows of at most `max_seq_length - len(query) - 3` pieces every `doc_stride` pieces, packed as
   `[CLS] query [SEP] window [SEP]` (segment 1 from the window on), exactly the original's features.
3. The model runs once on all windows of the request batch, padded to the longest window rounded up
   to a multiple of 8 (`pad_to_max_length=True`: to `max_seq_length`, as the original).
4. The original `write_predictions` choice: per window the `n_best_size` best start and end positions,
   pairs with start <= end, both in the window's context part, at most `max_answer_length` pieces,
   the start in the window where it has maximum context; the best `start_logit + end_logit` over all
   windows of a question wins (ties: first window, then start rank, then end rank, as the original's
   stable sort). SQuAD 2.0: the null score is the smallest `start_logit[0] + end_logit[0]` over the
   windows, and the question is unanswerable when `null score - best span score` exceeds
   `null_score_diff_threshold`.

Signatures:

`serving_default`
  inputs:  `question`, `context`: string [batch].
  outputs: `answer` string [batch]: the characters of `context` from the answer's first to its last
           character, `context[start:end]` with each run of whitespace made one space, as the
           original's answers ("" when there is no answer);
           `start`, `end` int32 [batch]: Unicode code-point offsets into `context` (`[start, end)`,
           Python string indexing), -1 when there is no answer;
           `score` float32 [batch]: `start_logit + end_logit` of the best span (-inf if none).
           With `version_2_with_negative`: also `is_impossible` bool [batch] (then `answer` is "",
           `start`/`end` -1) and `null_score_diff` float32 [batch] (null score minus best span
           score, the original's `null_odds.json`; 1e6 when no span qualifies).
`serve_ids`
  inputs:  int32 `input_ids`, `input_mask`, `segment_ids` [batch, seq].
  outputs: float32 `start_logits`, `end_logits` [batch, seq].

Answer text and the original's `predictions.json`: the original joins the answer's doc tokens with
single spaces and cuts the predicted pieces out of that text (`get_final_text`). The export cuts the
context itself between the first character of the first piece and the last character of the last
piece, and follows `get_final_text`'s fallback: where that returns whole doc tokens (the characters of
the doc tokens do not align one to one with their normalized form -- deleted control or zero-width
characters, no-break spaces inside a doc token, combining accents that lower-casing strips -- or a
piece is `[UNK]`), the answer covers the whole doc tokens too. Remaining differences:

* `get_final_text` searches the predicted text in its doc tokens and takes the FIRST match, so when the
  same (normalized) text occurs earlier in the same doc tokens it returns that earlier occurrence,
  which can differ in case or accents ("Apple-apple": the original may answer "Apple" for the second
  piece; here "apple");
* no valid span at all: the original answers "empty" (SQuAD 1.1); here "".

The SavedModel needs only `tensorflow` and `tensorflow_text` (the ops of
`bert_tf.tokenization.in_graph.TENSORFLOW_TEXT_OPS`); see `bert_tf.serving.classifier` for TF Serving
versions and variable tracking.
"""
from __future__ import annotations

import tensorflow as tf

from bert_tf.conventions import NO_SPAN_NULL_ODDS
from bert_tf.conventions import SQUAD_WHITESPACE as _SQUAD_WHITESPACE_CHARS
from bert_tf.errors import InputError, require_int
from bert_tf.serving.export import (
    PAD_TO_MULTIPLE_OF,
    ServingInput,
    ServingModule,
    mask_batcher_padding,
    model_and_tokenizer,
    model_function,
    require_utf8,
    save_and_publish,
    serving_function,
)
from bert_tf.serving.text_offsets import (
    max_context_windows_in_graph,
    window_spans_in_graph,
    words_and_pieces,
)
from bert_tf.tokenization.in_graph import InGraphBertTokenizer, padded_length_in_graph

__all__ = ["SquadServingModule", "export_squad", "NO_SPAN_NULL_ODDS", "SQUAD_WHITESPACE"]

# run_squad's whitespace (narrower than the tokenizer's): doc tokens are split on these code points.
SQUAD_WHITESPACE = tuple(sorted(ord(char) for char in _SQUAD_WHITESPACE_CHARS))
# A run of the original's whitespace characters (RE2 syntax).
_WHITESPACE_RUN = "[" + "".join(f"\\x{{{code:04X}}}" for code in SQUAD_WHITESPACE) + "]+"


class SquadServingModule(ServingModule):
    """The exported object: in-graph tokenizer, model variables and the two serving functions.

    Args:
      model: a built `bert_tf.BertQuestionAnswering` (any Keras model mapping the three int32 [B, S]
        inputs to a dict with float32 `start_logits`, `end_logits` [B, S]).
      tokenizer: an `InGraphBertTokenizer`; its `max_seq_length` is the windows' packed length.
      doc_stride, max_query_length, n_best_size, max_answer_length: `run_squad`'s flags.
      version_2_with_negative: add `is_impossible` and `null_score_diff`.
      null_score_diff_threshold: unanswerable when the null score minus the best span score exceeds it.
      pad_to_max_length: pad every window to `max_seq_length` (the original, whose n-best ranks the
        padding positions too); else to the batch's longest window rounded up to a multiple of 8.
    """

    def __init__(self, model, tokenizer: InGraphBertTokenizer, doc_stride: int = 128,
                 max_query_length: int = 64, n_best_size: int = 20, max_answer_length: int = 30,
                 version_2_with_negative: bool = False, null_score_diff_threshold: float = 0.0,
                 pad_to_max_length: bool = False):
        super().__init__(model, tokenizer, name="bert_squad_serving")
        self.max_seq_length = int(tokenizer.max_seq_length)
        self.doc_stride = require_int("doc_stride", doc_stride)
        self.max_query_length = require_int("max_query_length", max_query_length)
        self.n_best_size = require_int("n_best_size", n_best_size)
        self.max_answer_length = require_int("max_answer_length", max_answer_length)
        if self.max_seq_length <= self.max_query_length + 3:
            raise InputError(f"The max_seq_length ({self.max_seq_length}) must be greater than "
                             f"max_query_length ({self.max_query_length}) + 3")
        self.version_2_with_negative = bool(version_2_with_negative)
        self.null_score_diff_threshold = float(null_score_diff_threshold)
        self.pad_to_max_length = bool(pad_to_max_length)

        self._logits = model_function(model, ("start_logits", "end_logits"))
        self.serve_ids = serving_function(self._serve_ids, self.ids_inputs(), same="shape")
        self.serve_text = serving_function(
            self._serve_text, [ServingInput("question", tf.string, ("batch",)),
                               ServingInput("context", tf.string, ("batch",))], same="rows")

    # -- serve_ids ----------------------------------------------------------------------------------
    def _serve_ids(self, input_ids, input_mask, segment_ids):
        input_mask = mask_batcher_padding(input_ids, input_mask, self.tokenizer.cls_id)
        start_logits, end_logits = self._logits(input_ids, input_mask, segment_ids)
        return {"start_logits": start_logits, "end_logits": end_logits}

    # -- serving_default ----------------------------------------------------------------------------
    def _serve_text(self, question, context):
        question, context = require_utf8(question, "question"), require_utf8(context, "context")
        tokenizer = self.tokenizer
        seq = self.max_seq_length
        batch_size = tf.shape(context)[0]

        query = tf.cast(tokenizer.tokenize(question), tf.int32)[:, :self.max_query_length]
        query_length = tf.cast(query.row_lengths(), tf.int32)
        doc = words_and_pieces(tokenizer, context, SQUAD_WHITESPACE)
        doc_ids = doc["ids"]
        num_pieces = tf.cast(doc_ids.row_lengths(), tf.int32)
        row_piece_start = tf.cumsum(num_pieces, exclusive=True)

        # Windows (the original's doc spans) of at most max_seq_length - len(query) - 3 pieces.
        max_tokens = seq - query_length - 3
        num_windows, window_row, window_k, w_start, w_length = window_spans_in_graph(
            num_pieces, max_tokens, self.doc_stride)
        w_query = tf.gather(query_length, window_row)
        w_tokens = w_query + w_length + 3
        if self.pad_to_max_length:
            width = seq
        else:
            width = padded_length_in_graph(w_tokens, seq, pad_to_multiple_of=PAD_TO_MULTIPLE_OF)
        num_windows_total = tf.shape(window_row)[0]
        position = tf.broadcast_to(tf.range(width)[tf.newaxis, :], [num_windows_total, width])
        doc_begin = (w_query + 2)[:, tf.newaxis]
        doc_stop = doc_begin + w_length[:, tf.newaxis]
        in_doc = tf.logical_and(position >= doc_begin, position < doc_stop)
        # Index of each doc position's piece within its example.
        piece_in_row = w_start[:, tf.newaxis] + position - doc_begin
        flat_piece = tf.gather(row_piece_start, window_row)[:, tf.newaxis] + piece_in_row
        num_all_pieces = tf.size(doc_ids.flat_values)
        safe_piece = tf.clip_by_value(flat_piece, 0, tf.maximum(num_all_pieces - 1, 0))
        piece_ids = tf.gather(tf.concat([doc_ids.flat_values, [0]], 0), safe_piece)
        query_dense = query.to_tensor(default_value=0, shape=[None, self.max_query_length])
        query_ids = tf.gather(tf.gather(query_dense, window_row),
                              tf.clip_by_value(position - 1, 0, self.max_query_length - 1), batch_dims=1)
        in_query = tf.logical_and(position >= 1, position <= w_query[:, tf.newaxis])
        is_sep = tf.logical_or(tf.equal(position, w_query[:, tf.newaxis] + 1), tf.equal(position, doc_stop))
        input_ids = tf.where(tf.equal(position, 0), tokenizer.cls_id,
                             tf.where(in_query, query_ids,
                                      tf.where(is_sep, tokenizer.sep_id, tf.where(in_doc, piece_ids, 0))))
        input_mask = tf.cast(position <= doc_stop, tf.int32)
        segment_ids = tf.cast(tf.logical_and(position >= doc_begin, position <= doc_stop), tf.int32)
        start_logits, end_logits = self._logits(input_ids, input_mask, segment_ids)

        # Max-context window of every piece (the first best window on ties).
        piece_row = tf.cast(doc_ids.value_rowids(), tf.int32)
        best_window = max_context_windows_in_graph(
            piece_row, tf.range(num_all_pieces) - tf.gather(row_piece_start, piece_row), num_pieces,
            max_tokens, self.doc_stride, num_windows)
        piece_best = tf.gather(tf.concat([best_window, [-1]], 0),
                               tf.where(in_doc, safe_piece, num_all_pieces))  # [windows, width]
        is_max_context = tf.logical_and(in_doc, tf.equal(piece_best, window_k[:, tf.newaxis]))

        # Candidates: n_best starts x n_best ends per window.
        top = tf.minimum(self.n_best_size, width)
        _, start_index = tf.math.top_k(start_logits, k=top)
        _, end_index = tf.math.top_k(end_logits, k=top)
        start_i = start_index[:, :, tf.newaxis]
        end_i = end_index[:, tf.newaxis, :]
        start_ok = tf.gather(is_max_context, start_index, batch_dims=1)[:, :, tf.newaxis]
        end_ok = tf.gather(in_doc, end_index, batch_dims=1)[:, tf.newaxis, :]
        valid = start_ok & end_ok & (end_i >= start_i) & (end_i - start_i + 1 <= self.max_answer_length)
        start_value = tf.cast(tf.gather(start_logits, start_index, batch_dims=1), tf.float64)
        end_value = tf.cast(tf.gather(end_logits, end_index, batch_dims=1), tf.float64)
        score = start_value[:, :, tf.newaxis] + end_value[:, tf.newaxis, :]
        num_candidates = top * top
        valid = tf.reshape(valid, [-1])
        score = tf.reshape(score, [-1])
        candidate_window = tf.repeat(tf.range(num_windows_total), num_candidates)
        candidate_row = tf.gather(window_row, candidate_window)
        neg_inf = tf.constant(-float("inf"), tf.float64)
        score = tf.where(valid, score, neg_inf)
        # (An empty segment's maximum is the lowest finite float, not -inf.)
        has_span = tf.math.unsorted_segment_max(tf.cast(valid, tf.int32), candidate_row, batch_size) > 0
        best = tf.where(has_span, tf.math.unsorted_segment_max(score, candidate_row, batch_size), neg_inf)
        candidate_number = tf.range(tf.size(score))
        is_best = tf.logical_and(valid, tf.equal(score, tf.gather(best, candidate_row)))
        winner = tf.math.unsorted_segment_min(tf.where(is_best, candidate_number, tf.size(score)),
                                              candidate_row, batch_size)
        winner = tf.minimum(winner, tf.maximum(tf.size(score) - 1, 0))
        win_window = winner // num_candidates
        win_start_pos = tf.gather(tf.reshape(tf.repeat(start_index, top, axis=1), [-1]), winner)
        win_end_pos = tf.gather(tf.reshape(tf.tile(end_index, [1, top]), [-1]), winner)
        first_piece = tf.gather(tf.reshape(safe_piece, [-1]), win_window * width + win_start_pos)
        last_piece = tf.gather(tf.reshape(safe_piece, [-1]), win_window * width + win_end_pos)

        # Characters: those of the first and last piece, or of the whole doc tokens where the original's
        # get_final_text falls back to them.
        # One element more than any answered row reads: a batch whose contexts hold no piece at all
        # (empty, whitespace, zero-width) still gathers in range; its rows are unanswered below.
        padded = lambda values: tf.concat([values, [0]], 0)  # noqa: E731  (empty batches / contexts)
        first_token = tf.gather(padded(doc["piece_word"]), first_piece)
        last_token = tf.gather(padded(doc["piece_word"]), last_piece)
        delta_cumsum = padded(tf.concat([[0], tf.cumsum(doc["word_delta"])], 0))
        delta = tf.gather(delta_cumsum, last_token + 1) - tf.gather(delta_cumsum, first_token)
        unk_cumsum = padded(tf.concat([[0], tf.cumsum(tf.cast(tf.equal(doc_ids.flat_values, tokenizer.unk_id),
                                                              tf.int32))], 0))
        has_unk = tf.gather(unk_cumsum, last_piece + 1) - tf.gather(unk_cumsum, first_piece) > 0
        whole_tokens = tf.logical_or(tf.not_equal(delta, 0), has_unk)
        char_start = tf.where(whole_tokens, tf.gather(padded(doc["word_first_char"]), first_token),
                              tf.gather(padded(doc["char_start"]), first_piece))
        char_end = tf.where(whole_tokens, tf.gather(padded(doc["word_end_char"]), last_token),
                            tf.gather(padded(doc["char_end"]), last_piece))
        byte_start = tf.gather(padded(doc["char_byte_start"]), char_start)
        byte_end = tf.gather(padded(doc["char_byte_end"]), tf.maximum(char_end - 1, 0))
        row_start = doc["row_char_start"]

        outputs = {"score": tf.cast(best, tf.float32)}
        answered = has_span
        if self.version_2_with_negative:
            window_null = tf.cast(start_logits[:, 0], tf.float64) + tf.cast(end_logits[:, 0], tf.float64)
            null_score = tf.math.unsorted_segment_min(window_null, window_row, batch_size)
            null_diff = tf.where(has_span, null_score - best, tf.constant(NO_SPAN_NULL_ODDS, tf.float64))
            is_impossible = null_diff > self.null_score_diff_threshold
            outputs["is_impossible"] = is_impossible
            outputs["null_score_diff"] = tf.cast(null_diff, tf.float32)
            answered = tf.logical_and(answered, tf.logical_not(is_impossible))
        # Rows without an answer cut nothing (their positions may point into another row's context).
        byte_start = tf.where(answered, byte_start, 0)
        answer = tf.strings.substr(context, byte_start, tf.where(answered, byte_end - byte_start, 0))
        # As the original, which joins the answer's doc tokens with single spaces.
        outputs["answer"] = tf.strings.regex_replace(answer, _WHITESPACE_RUN, " ")
        outputs["start"] = tf.where(answered, char_start - row_start, -1)
        outputs["end"] = tf.where(answered, char_end - row_start, -1)
        return outputs


def export_squad(model, vocab_file, do_lower_case: bool, export_dir, max_seq_length: int = 384,
                 doc_stride: int = 128, max_query_length: int = 64, n_best_size: int = 20,
                 max_answer_length: int = 30, version_2_with_negative: bool = False,
                 null_score_diff_threshold: float = 0.0, pad_to_max_length: bool = False,
                 serving_dtype: str = "float32") -> str:
    """Writes `model` as a SavedModel under `export_dir/<version>/` for TF Serving.

    Args:
      model: a `bert_tf.BertQuestionAnswering` with its fine-tuned weights loaded.
      vocab_file: the model's `vocab.txt`; copied into the SavedModel's `assets/`.
      do_lower_case: as for `FullTokenizer` (True for uncased models).
      export_dir: the model base path TF Serving watches; created if needed.
      max_seq_length, doc_stride, max_query_length, n_best_size, max_answer_length,
        version_2_with_negative, null_score_diff_threshold: `run_squad`'s flags of the same names.
      pad_to_max_length: pad every window to `max_seq_length` (reproduces the original's n-best
        exactly: it ranks padding positions too); default: per-batch padding to a multiple of 8.
      serving_dtype: `float32` or `mixed_bfloat16` (see `bert_tf.serving.classifier`).

    Returns:
      The path of the new version folder, `export_dir/<version>`.
    Raises:
      InputError: bad flags (non-positive sizes, `max_seq_length <= max_query_length + 3`, a
        `max_seq_length` beyond the model's `max_position_embeddings`) or `serving_dtype`.
      ValueError: a vocabulary that does not fit the model.
    """
    model, tokenizer = model_and_tokenizer(model, vocab_file, do_lower_case, max_seq_length, serving_dtype)
    module = SquadServingModule(model, tokenizer, doc_stride=doc_stride, max_query_length=max_query_length,
                                n_best_size=n_best_size, max_answer_length=max_answer_length,
                                version_2_with_negative=version_2_with_negative,
                                null_score_diff_threshold=null_score_diff_threshold,
                                pad_to_max_length=pad_to_max_length)
    return save_and_publish(module, export_dir)
