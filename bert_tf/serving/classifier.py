"""SavedModel export of a fine-tuned `BertClassifier` for TensorFlow Serving.

`export_classifier` writes `<export_dir>/<version>/` (`saved_model.pb`, `variables/`,
`assets/vocab.txt`), the layout TF Serving's model server watches: `version` is the integer Unix
time of the export (bumped past the newest existing version, so a new export is always the newest and
an existing version folder is never touched). The model is written to a temporary folder whose name is
not a number (TF Serving ignores it) and renamed when complete.

Signatures:

`serving_default` (raw text; tokenization and packing run in the graph, see below)
  inputs:  `text_a` string [batch]; for pair tasks also `text_b` string [batch] (an empty string,
           or one that tokenizes to nothing, means "no second segment", as in `run_classifier`).
  outputs: classification: `probabilities` float32 [batch, num_labels] (softmax of the logits) and
           `label` string [batch] (`label_list[argmax(probabilities)]`);
           regression (STS-B): `predictions` float32 [batch] (the single logit) instead;
           multi-label: `probabilities` (each label's sigmoid), `labels` string [batch, K] (the labels of
           at least the threshold's probability, most probable first, padded with ""),
           `label_probabilities` float32 [batch, K] (padded with 0) and `num_labels` int32 [batch].
  long documents (`long_documents=True`): a `text_a` longer than the model is read in windows
           (`bert_tf.serving.text_offsets.document_windows_in_graph`) whose logits are pooled per row,
           as `run_classifier.py --long_documents=windows` does; the outputs are the same.
`serve_ids` (already packed features, e.g. from `bert_tf.tokenization.packing`)
  inputs:  int32 `input_ids`, `input_mask`, `segment_ids` [batch, seq] (any seq up to the model's
           `max_position_embeddings`, so any up to `max_seq_length`).
  outputs: `probabilities` float32 [batch, num_labels] (multi-label: sigmoids); regression: `predictions`
           float32 [batch].

The model runs with `training=False` (no dropout). For classification exports the label strings are
also written one per line to `assets.extra/labels.txt` (not read by the graph).

A third function, `text_features` (not a signature), maps the same raw-text inputs to the packed int32
`input_ids`, `input_mask`, `segment_ids` [batch, length] the model sees: `loaded.text_features(...)`
after `tf.saved_model.load`.

Per-batch padding: `serving_default` truncates like the original with `max_seq_length`, but pads each
request batch only to its longest packed row rounded up to a multiple of 8 (`pad_to_multiple_of`), never
beyond `max_seq_length`, so a batch of short texts costs a short computation. The model then runs on
length-sorted sub-batches of 8 rows (`sub_batch_size`), each cut to its own longest row rounded up to 8
(`bert_tf.serving.sub_batches`): a long row no longer makes the whole batch long, and the smaller
working set runs faster on CPU. The positions dropped are padding and masked out of attention, and no
row's outputs depend on the other rows, so the outputs equal those of the batch padded to
`max_seq_length` (to float rounding, 1e-5 in the tests). `export_classifier(pad_to_max_length=True)`
keeps the old behaviour (every row padded to `max_seq_length`, the whole batch at once; for
comparisons); `padded_lengths` pads to the smallest of a fixed set of lengths instead (measured slower
than multiples of 8 on MRPC text: BENCHMARKS.md); `sub_batch_size=None` runs the whole batch at once
(e.g. for a GPU, where large batches pay).

TF Serving request batching (`enable_batching`, with or without `pad_variable_length_inputs`) merges
requests along dimension 0. `serving_default`'s inputs and outputs have no other variable dimension, so
the merged batch is simply packed to its own longest row and every request gets the outputs it would
get alone. For `serve_ids`, `pad_variable_length_inputs` pads each request's int32 inputs to the
longest request with the request's first element: `[CLS]` in `input_ids`, 1 in `input_mask`. Packed
BERT rows never hold `[CLS]` after position 0, so `serve_ids` masks out each row's trailing run of
`[CLS]` ids (position 0 excepted), and such padded requests get their unpadded outputs too (as long as
each request's first row starts with `[CLS]`).

`serving_dtype="mixed_bfloat16"` serves a copy of the model built under Keras' `mixed_bfloat16` policy
(variables stay float32, matmuls run in bfloat16, logits and probabilities are float32): faster on CPUs
with bfloat16 instructions (AVX-512 BF16, AMX) and GPUs, within 2e-2 of float32 in probabilities (the
tests' tolerance; README has measured figures).

The SavedModel is self-contained: loading and calling it needs only `tensorflow` and
`tensorflow_text` (`import tensorflow_text` registers the two custom ops below); no Keras objects and
no `bert_tf` code are saved. The `tf.Variable` behind every model weight is tracked explicitly
(`model_variables`): Keras-level tracking of layers kept in plain Python lists is not guaranteed, and
tracking Keras' variable wrappers would leave the TF 1 graph that TF Serving runs reading variables
that are never restored (see `bert_tf.serving.export.tf_variables`).

Ops and TF Serving:

* Tokenization is `bert_tf.tokenization.in_graph.InGraphBertTokenizer` (exactly `FullTokenizer`'s ids and the
  original packing). Besides core TensorFlow ops it needs the `tensorflow_text` ops
  `WordpieceTokenizeWithOffsets` (always) and `NormalizeUTF8` (`do_lower_case=True` only) --
  `TENSORFLOW_TEXT_OPS`. Truncation is plain TF ops: no `RoundRobinTrimmer`,
  `combine_segments` or other recent tensorflow_text ops.
* Minimum server: TensorFlow Serving 2.12 (`tensorflow_model_server` / the `tensorflow/serving`
  Docker images 2.12 or newer). The stock model server links tensorflow_text's `ops_lib` (which
  contains both ops) into the binary, so the official images serve this model as they are. A custom
  model-server build must link tensorflow_text's ops (`@org_tensorflow_text//tensorflow_text:ops_lib`,
  or at least its `wordpiece_tokenizer` and `normalize_ops` kernels); without them loading fails
  with "Op type not registered 'WordpieceTokenizeWithOffsets'". From Python, `import tensorflow_text`
  before `tf.saved_model.load`.
* Checked (tests/serving/test_classifier.py, opt-in `BERT_TF_COMPAT_PYTHON`): an export written by TF 2.21 loads
  in tensorflow 2.12.1 + tensorflow-text 2.12.1, both with `tf.saved_model.load` and as the TF 1
  session graph TF Serving runs, and gives the same outputs (1e-5); every other op is registered in
  core TF 2.12. TF 2.12 logs a harmless error line, "NodeDef mentions attribute debug_name
  which is not in the op definition ... Unknown attributes will be ignored" (an attribute newer TFs
  add to `VarHandleOp`).
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Sequence

import tensorflow as tf

from bert_tf.errors import require_int
from bert_tf.serving.export import (
    MODEL_INPUTS,
    PAD_TO_MULTIPLE_OF,
    SUB_BATCH_SIZE,
    ServingInput,
    ServingModule,
    canonical_serving_dtype,
    check_vocab_fits,
    mask_batcher_padding,
    model_for_dtype,
    model_function,
    require_utf8,
    save_and_publish,
    serving_function,
)
from bert_tf.serving.sub_batches import map_sorted_sub_batches
from bert_tf.serving.text_offsets import document_windows_in_graph
from bert_tf.tokenization.in_graph import InGraphBertTokenizer

__all__ = ["ClassifierServingModule", "export_classifier"]


class ClassifierServingModule(ServingModule):
    """The exported object: in-graph tokenizer + classifier variables + two serving functions.

    The Keras model itself is not an attribute (it is only captured by the traced functions), so the
    saved object graph holds plain variables, the tokenizer's vocabulary asset and lookup table, and the
    functions `serve_text` (signature `serving_default`), `serve_ids` (signature `serve_ids`) and
    `text_features` (not a signature; see the module docstring).

    Args:
      model: a built `bert_tf.BertClassifier` (any Keras model mapping the three int32 [B, S] inputs
        to a dict with float `logits` [B, num_labels]).
      tokenizer: an `InGraphBertTokenizer` with the export's `max_seq_length` and padding.
      label_list: label strings, index = class id (ignored for regression).
      is_regression: one output, returned as `predictions` [batch].
      is_pair_task: `serving_default` also takes `text_b`.
      sub_batch_size: run the raw-text signature's model on length-sorted sub-batches of this many rows
        (`bert_tf.serving.sub_batches`); None: the whole batch at once.
      jit_compile: the model runs XLA-compiled in both signatures (see `export_classifier`).
      multi_label_threshold: a multi-label model (one sigmoid per label): the labels whose probability is at
        least this are the answer (None: one softmax over the labels).
      long_documents: `text_a` longer than the model is read in windows (`document_windows_in_graph`, as
        `run_classifier.py --long_documents=windows`), their logits pooled per row; else truncated.
      doc_stride, window_pooling: the windows' stride (None: half a window) and pooling (`mean` or `max`).
    """

    def __init__(self, model, tokenizer: InGraphBertTokenizer, label_list: Sequence[str],
                 is_regression: bool = False, is_pair_task: bool = True,
                 sub_batch_size: Optional[int] = None, jit_compile: bool = False,
                 multi_label_threshold: Optional[float] = None, long_documents: bool = False,
                 doc_stride: Optional[int] = None, window_pooling: str = "mean"):
        super().__init__(model, tokenizer, name="bert_classifier_serving")
        self.is_regression = bool(is_regression)
        self.multi_label_threshold = None if multi_label_threshold is None else float(multi_label_threshold)
        self.is_pair_task = bool(is_pair_task)
        self.label_strings = [str(label) for label in label_list]
        self.cls_id = int(tokenizer.cls_id)
        self.sub_batch_size = (None if sub_batch_size is None
                               else require_int("sub_batch_size", sub_batch_size))
        self.long_documents = bool(long_documents)
        self.doc_stride = None if doc_stride is None else require_int("doc_stride", doc_stride)
        if window_pooling not in ("mean", "max"):
            raise ValueError(f"window_pooling must be mean or max, got {window_pooling!r}")
        self.window_pooling = window_pooling
        # A plain function closing over the model: keeps the Keras model out of the object graph.
        self._model_logits = model_function(model, ("logits",), jit_compile)
        self.serve_ids = serving_function(self._serve_ids, self.ids_inputs(), same="shape")
        text_inputs = [ServingInput("text_a", tf.string, ("batch",))]
        if self.is_pair_task:
            text_inputs.append(ServingInput("text_b", tf.string, ("batch",)))
            self.serve_text = serving_function(self._serve_text_pair, text_inputs, same="rows")
            self.text_features = serving_function(self._features_pair, text_inputs, same="rows")
        else:
            self.serve_text = serving_function(self._serve_text_single, text_inputs)
            self.text_features = serving_function(self._features_single, text_inputs)

    # -- traced bodies ------------------------------------------------------------------------------
    def _outputs(self, logits) -> Dict[str, tf.Tensor]:
        if self.is_regression:
            return {"predictions": logits[:, 0]}
        if self.multi_label_threshold is not None:
            return {"probabilities": tf.math.sigmoid(logits)}
        return {"probabilities": tf.nn.softmax(logits, axis=-1)}

    def _multi_label_outputs(self, probabilities) -> Dict[str, tf.Tensor]:
        """The labels at or over the threshold, most probable first, padded per batch ("" and 0)."""
        order = tf.argsort(probabilities, axis=-1, direction="DESCENDING", stable=True)
        ranked = tf.gather(probabilities, order, batch_dims=1)
        chosen = ranked >= self.multi_label_threshold
        count = tf.reduce_sum(tf.cast(chosen, tf.int32), axis=-1)
        width = tf.reduce_max(tf.concat([count, [0]], 0))
        names = tf.where(chosen, tf.gather(tf.constant(self.label_strings, tf.string), order), "")
        return {"labels": names[:, :width], "label_probabilities": tf.where(chosen, ranked, 0.0)[:, :width],
                "num_labels": count}

    def _logits(self, input_ids, input_mask, segment_ids) -> tf.Tensor:
        return self._model_logits(input_ids, input_mask, segment_ids)[0]

    def _serve_ids(self, input_ids, input_mask, segment_ids):
        input_mask = mask_batcher_padding(input_ids, input_mask, self.cls_id)
        return self._outputs(self._logits(input_ids, input_mask, segment_ids))

    def _features_logits(self, features: Dict[str, tf.Tensor]) -> tf.Tensor:
        return self._logits(features["input_ids"], features["input_mask"], features["segment_ids"])

    def _text_logits(self, features: Dict[str, tf.Tensor]) -> tf.Tensor:
        """Packed raw-text features [rows, length] -> float32 logits [rows, num_outputs]."""
        if self.sub_batch_size:
            num_outputs = 1 if self.is_regression else len(self.label_strings)
            tokenizer = self.tokenizer
            return map_sorted_sub_batches(
                self._features_logits, features, self.sub_batch_size, tokenizer.max_seq_length,
                tokenizer.pad_to_multiple_of, tokenizer.padded_lengths, output_shape=[num_outputs])
        return self._features_logits(features)

    def _text_outputs(self, features: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
        logits = self._text_logits({name: features[name] for name in MODEL_INPUTS})
        if self.long_documents:  # one row of features per window: pool them per document
            pool = tf.math.unsorted_segment_max if self.window_pooling == "max" else tf.math.unsorted_segment_mean
            logits = pool(logits, features["document"], features["num_documents"])
        outputs = self._outputs(logits)
        if self.multi_label_threshold is not None:
            outputs.update(self._multi_label_outputs(outputs["probabilities"]))
        elif not self.is_regression:
            labels = tf.constant(self.label_strings, tf.string)
            outputs["label"] = tf.gather(labels, tf.argmax(outputs["probabilities"], axis=-1,
                                                           output_type=tf.int32))
        return outputs

    def _features(self, text_a, text_b=None) -> Dict[str, tf.Tensor]:
        """The packed model inputs of raw texts [batch]; with `long_documents`, of every window, plus its
        row (`document` [windows]) and the batch size (`num_documents`)."""
        if not self.long_documents:
            return self.tokenizer(text_a, text_b)
        ids_b = None if text_b is None else self.tokenizer.tokenize(text_b)
        window_a, window_b, row = document_windows_in_graph(self.tokenizer.tokenize(text_a), ids_b,
                                                            self.tokenizer.max_seq_length, self.doc_stride)
        features = self.tokenizer.pack(window_a, window_b)
        features.update(document=row, num_documents=tf.size(text_a))
        return features

    def _features_pair(self, text_a, text_b):
        return self._features(require_utf8(text_a, "text_a"), require_utf8(text_b, "text_b"))

    def _serve_text_pair(self, text_a, text_b):
        return self._text_outputs(self._features_pair(text_a, text_b))

    def _features_single(self, text_a):
        return self._features(require_utf8(text_a, "text_a"))

    def _serve_text_single(self, text_a):
        return self._text_outputs(self._features_single(text_a))


def _check_export_settings(model, max_seq_length: int, label_list: Sequence, is_regression: bool,
                           is_pair_task: bool) -> None:
    num_outputs = getattr(model, "num_labels", None)
    if is_regression:
        if num_outputs not in (None, 1):
            raise ValueError(f"a regression export needs a model with 1 output, the model has {num_outputs}")
    else:
        labels = [str(label) for label in label_list]
        if not labels:
            raise ValueError("label_list is empty")
        if any(label is None for label in label_list):
            raise ValueError(f"label_list {list(label_list)} contains None: a regression task? "
                             "pass is_regression=True")
        if num_outputs is not None and len(labels) != num_outputs:
            raise ValueError(f"label_list has {len(labels)} labels but the model has {num_outputs} outputs")
    minimum = 3 if is_pair_task else 2
    if int(max_seq_length) < minimum:
        raise ValueError(f"max_seq_length must be >= {minimum} (room for [CLS] and [SEP]), "
                         f"got {max_seq_length}")
    config = getattr(model, "config", None)
    limit = getattr(config, "max_position_embeddings", None)
    if limit is not None and int(max_seq_length) > limit:
        raise ValueError(f"max_seq_length={max_seq_length} is longer than the model's "
                         f"max_position_embeddings={limit}")


def export_classifier(model, vocab_file, do_lower_case: bool, max_seq_length: int,
                      label_list: Sequence, export_dir, is_regression: bool = False,
                      is_pair_task: bool = True, pad_to_max_length: bool = False,
                      pad_to_multiple_of: Optional[int] = None,
                      padded_lengths: Optional[Sequence[int]] = None,
                      serving_dtype: str = "float32",
                      sub_batch_size: Optional[int] = SUB_BATCH_SIZE, jit_compile: bool = False,
                      multi_label_threshold: Optional[float] = None, long_documents: bool = False,
                      doc_stride: Optional[int] = None, window_pooling: str = "mean") -> str:
    """Writes `model` as a SavedModel under `export_dir/<version>/` for TF Serving.

    Args:
      model: a `bert_tf.BertClassifier` with its fine-tuned weights loaded.
      vocab_file: the model's `vocab.txt`; copied into the SavedModel's `assets/`.
      do_lower_case: as for `FullTokenizer` (True for uncased models).
      max_seq_length: packed length of the raw-text signature (`run_classifier`'s flag).
      label_list: the task's labels (`processor.get_labels()`), index = class id; for regression
        `[None]` or anything (ignored).
      export_dir: the model base path TF Serving watches; created if needed.
      is_regression: export `predictions` [batch] instead of `probabilities`/`label`.
      is_pair_task: `serving_default` takes `text_a` and `text_b` (else `text_a` only).
      pad_to_max_length: pad every raw-text request to `max_seq_length` and run the whole batch at
        once (the behaviour before per-batch padding; kept for comparisons). Overrides
        `pad_to_multiple_of`, `padded_lengths` and `sub_batch_size`.
      pad_to_multiple_of: pad each raw-text batch to its longest row rounded up to a multiple of this
        (at most `max_seq_length`); default `PAD_TO_MULTIPLE_OF` (8) unless `padded_lengths` is given.
      padded_lengths: instead, pad each batch to the smallest of these lengths that holds its longest
        row (`max_seq_length` is always one).
      serving_dtype: `float32`, or `mixed_bfloat16` to serve a copy of the model built under that
        Keras dtype policy (see the module docstring).
      sub_batch_size: run `serving_default`'s model on length-sorted sub-batches of this many rows,
        each cut to its own padded length (`bert_tf.serving.sub_batches`); None: the whole batch at
        once.
      jit_compile: XLA-compile the model part of both signatures (tokenization stays plain TF):
        fewer, fused kernels, which matters most for short requests on CPU (BENCHMARKS.md). Each new
        input shape compiles once (about a second) and is cached per process. TF Serving must be
        started with `--xla_cpu_compilation_enabled=true` to serve such a model on CPU.
      multi_label_threshold: a multi-label model: `probabilities` are each label's sigmoid, and
        `serving_default` also returns `labels` (the labels of at least this probability, most probable
        first, padded with ""), `label_probabilities` (theirs, padded with 0) and `num_labels` [batch].
      long_documents, doc_stride, window_pooling: a `text_a` longer than the model is read in windows
        `doc_stride` pieces apart (None: half a window) and its windows' logits pooled (`mean`/`max`), as
        `run_classifier.py --long_documents=windows` does; else truncated (the original).

    Returns:
      The path of the new version folder, `export_dir/<version>`.
    Raises:
      ValueError for settings that do not fit the model (label count, max_seq_length) or a bad vocab;
      InputError for bad padding settings or `serving_dtype`.
    """
    export_dir = os.fspath(export_dir)
    vocab_file = os.fspath(vocab_file)
    serving_dtype = canonical_serving_dtype(serving_dtype)
    _check_export_settings(model, max_seq_length, label_list, is_regression, is_pair_task)
    check_vocab_fits(model, vocab_file)
    if pad_to_max_length:
        pad_to_multiple_of = padded_lengths = sub_batch_size = None
    elif pad_to_multiple_of is None and padded_lengths is None:
        pad_to_multiple_of = PAD_TO_MULTIPLE_OF
    tokenizer = InGraphBertTokenizer(vocab_file, do_lower_case=do_lower_case,
                                     max_seq_length=int(max_seq_length),
                                     pad_to_multiple_of=pad_to_multiple_of, padded_lengths=padded_lengths)
    model = model_for_dtype(model, serving_dtype)
    module = ClassifierServingModule(model, tokenizer, [] if is_regression else label_list,
                                     is_regression=is_regression, is_pair_task=is_pair_task,
                                     sub_batch_size=sub_batch_size, jit_compile=jit_compile,
                                     multi_label_threshold=multi_label_threshold, long_documents=long_documents,
                                     doc_stride=doc_stride, window_pooling=window_pooling)

    return save_and_publish(module, export_dir, labels=None if is_regression else module.label_strings)
