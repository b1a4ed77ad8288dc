"""SavedModel export of a fine-tuned `BertMultipleChoice` for TensorFlow Serving.

`export_multiple_choice` writes `<export_dir>/<version>/` like `bert_tf.serving.classifier.export_classifier`
(the same version numbering, temporary folder and `assets/vocab.txt`). What `run_swag.py` does between a
question and its choice probabilities runs in the graph:

1. The context is tokenized once and each choice on its own (`InGraphBertTokenizer`, exactly
   `FullTokenizer`); every (context, choice) pair is packed as `[CLS] context [SEP] choice [SEP]` with the
   original pair truncation at `max_seq_length`, each request batch padded only to its longest pair rounded
   up to a multiple of 8.
2. The model scores the pairs on length-sorted sub-batches of 8 (`bert_tf.serving.sub_batches`; each cut to
   its own longest pair), and the scores of a question's choices go through a softmax across them.

Signatures:

`serving_default`
  inputs:  `context` string [batch] (the first segment; SWAG: `sent1`), `choices` string [batch, num_choices]
           (each the whole second segment; SWAG: `sent2 + " " + ending`). Any number of choices; a choice
           that is empty (or tokenizes to nothing) is no choice: probability 0, so questions with fewer
           choices can share a request.
  outputs: `probabilities` float32 [batch, num_choices] (softmax across the question's choices; all 0 for a
           question without any choice) and `choice` int32 [batch] (the most probable choice; -1 without any).
`serve_ids`
  inputs:  int32 `input_ids`, `input_mask`, `segment_ids` [batch, num_choices, seq] (already packed pairs).
  outputs: `probabilities` float32 [batch, num_choices].

The SavedModel needs only `tensorflow` and `tensorflow_text`; see `bert_tf.serving.classifier` for TF
Serving versions and `bert_tf.serving.export` for variable tracking.
"""
from __future__ import annotations

from typing import Dict, Optional

import tensorflow as tf

from bert_tf.errors import require_int
from bert_tf.serving.export import (
    MODEL_INPUTS,
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
from bert_tf.tokenization.in_graph import InGraphBertTokenizer

__all__ = ["MultipleChoiceServingModule", "export_multiple_choice"]


class MultipleChoiceServingModule(ServingModule):
    """The exported object: in-graph tokenizer, model variables and the two serving functions.

    Args:
      model: a built `bert_tf.BertMultipleChoice` (int32 [B, C, S] inputs -> float32 `logits` [B, C]).
      tokenizer: an `InGraphBertTokenizer`; its `max_seq_length` is the pairs' packed length, its padding
        the per-batch padding.
      sub_batch_size: run the model on length-sorted sub-batches of this many pairs; None: all at once.
      jit_compile: XLA-compile the model part of both signatures.
    """

    def __init__(self, model, tokenizer: InGraphBertTokenizer, sub_batch_size: Optional[int] = SUB_BATCH_SIZE,
                 jit_compile: bool = False):
        super().__init__(model, tokenizer, name="bert_multiple_choice_serving")
        self.sub_batch_size = None if sub_batch_size is None else require_int("sub_batch_size", sub_batch_size)
        self._model_logits = model_function(model, ("logits",), jit_compile)
        self.serve_ids = serving_function(self._serve_ids, self.ids_inputs(("batch", "choices", "length")),
                                          same="shape")
        self.serve_text = serving_function(
            self._serve_text, [ServingInput("context", tf.string, ("batch",)),
                               ServingInput("choices", tf.string, ("batch", "choices"))], same="rows")

    def _logits(self, input_ids, input_mask, segment_ids) -> tf.Tensor:
        """[B, C, S] pairs -> float32 logits [B, C]."""
        return self._model_logits(input_ids, input_mask, segment_ids)[0]

    def _serve_ids(self, input_ids, input_mask, segment_ids):
        shape = tf.shape(input_ids)
        flat_ids = tf.reshape(input_ids, [-1, shape[2]])
        flat_mask = mask_batcher_padding(flat_ids, tf.reshape(input_mask, [-1, shape[2]]), self.tokenizer.cls_id)
        logits = self._logits(input_ids, tf.reshape(flat_mask, shape), segment_ids)
        return {"probabilities": tf.nn.softmax(logits, axis=-1)}

    def _pair_scores(self, pairs: Dict[str, tf.Tensor]) -> tf.Tensor:
        """Packed pairs [N, L] -> one float32 score each [N] (each pair a question of one choice)."""
        return self._logits(*(pairs[name][:, tf.newaxis, :] for name in MODEL_INPUTS))[:, 0]

    def _serve_text(self, context, choices):
        num_choices = tf.shape(choices)[1]
        tokenizer = self.tokenizer
        context, choices = require_utf8(context, "context"), require_utf8(choices, "choices")
        context_ids = tokenizer.tokenize(context)
        choice_ids = tokenizer.tokenize(tf.reshape(choices, [-1]))
        rows = tf.repeat(tf.range(tf.size(context)), num_choices)  # each context once per choice
        pairs = tokenizer.pack(tf.gather(context_ids, rows), choice_ids)
        if self.sub_batch_size:
            scores = map_sorted_sub_batches(self._pair_scores, pairs, self.sub_batch_size, tokenizer.max_seq_length,
                                            tokenizer.pad_to_multiple_of, tokenizer.padded_lengths)
        else:
            scores = self._pair_scores(pairs)
        shape = tf.shape(choices)  # [B, C], not [-1, C]: a request of rows without choices has C = 0
        is_choice = tf.reshape(choice_ids.row_lengths() > 0, shape)
        logits = tf.where(is_choice, tf.reshape(scores, shape), tf.float32.min)
        any_choice = tf.reduce_any(is_choice, axis=1)
        probabilities = tf.where(is_choice, tf.nn.softmax(logits, axis=-1), 0.0)
        # A column past the choices keeps the argmax defined for rows without choices (C = 0); they get -1.
        padded_logits = tf.concat([logits, tf.fill([shape[0], 1], tf.float32.min)], axis=1)
        choice = tf.where(any_choice, tf.argmax(padded_logits, axis=-1, output_type=tf.int32), -1)
        return {"probabilities": probabilities, "choice": choice}


def export_multiple_choice(model, vocab_file, do_lower_case: bool, export_dir, max_seq_length: int = 128,
                           serving_dtype: str = "float32", sub_batch_size: Optional[int] = SUB_BATCH_SIZE,
                           pad_to_max_length: bool = False, jit_compile: bool = False) -> str:
    """Writes `model` as a SavedModel under `export_dir/<version>/` for TF Serving.

    Args:
      model: a `bert_tf.BertMultipleChoice` with its fine-tuned weights loaded.
      vocab_file: the model's `vocab.txt`; copied into the SavedModel's `assets/`.
      do_lower_case: as for `FullTokenizer`.
      export_dir: the model base path TF Serving watches; created if needed.
      max_seq_length: `run_swag`'s flag: each pair is truncated to this many word pieces.
      serving_dtype: `float32` or `mixed_bfloat16`.
      sub_batch_size: pairs per length-sorted sub-batch (None: the whole batch at once).
      pad_to_max_length: pad every pair to `max_seq_length` and score all at once (for comparisons).
      jit_compile: XLA-compile the model part (TF Serving then needs `--xla_cpu_compilation_enabled=true`).

    Returns:
      The path of the new version folder, `export_dir/<version>`.
    Raises:
      InputError: bad settings or `serving_dtype`. ValueError: a vocabulary that does not fit the model.
    """
    padding = {} if pad_to_max_length else {"pad_to_multiple_of": PAD_TO_MULTIPLE_OF}
    model, tokenizer = model_and_tokenizer(model, vocab_file, do_lower_case, max_seq_length, serving_dtype, **padding)
    module = MultipleChoiceServingModule(model, tokenizer, None if pad_to_max_length else sub_batch_size,
                                         jit_compile=jit_compile)
    return save_and_publish(module, export_dir)
