"""The public export layer every SavedModel export builds on (classifier, SQuAD, NER, multiple choice).

* `ServingModule`: the `tf.Module` that is saved. It holds the in-graph tokenizer and the `tf.Variable`s
  behind the model's weights, and a subclass adds the traced functions `serve_text` (signature
  `serving_default`) and `serve_ids` (signature `serve_ids`). `signatures()` checks that the traced
  functions read only those variables.
* Checks before anything is written: `check_export_dir`, `check_model_fits` (sequence length and
  vocabulary against the model), `canonical_serving_dtype`.
* `model_and_tokenizer`: the model to serve (a `mixed_bfloat16` copy when asked) and its tokenizer.
* Publishing: `save_and_publish` writes to a temporary folder under `export_dir` whose name is not a
  number (TF Serving ignores it) and renames it to the next version folder (`next_version`: the Unix
  time, bumped past the newest existing version) when complete.

Why the `tf.Variable`s are tracked explicitly (`tf_variables`): Keras-level tracking of layers kept in
plain Python lists is not guaranteed, and tracking Keras' variable wrappers would leave the TF 1 graph that
TF Serving runs reading variables that are never restored.

The SavedModel is self-contained: loading and calling it needs only `tensorflow` and `tensorflow_text`
(`import tensorflow_text` registers the ops of `TENSORFLOW_TEXT_OPS`); no Keras objects and no `bert_tf`
code are saved. Minimum server: TensorFlow Serving `MIN_TF_SERVING_VERSION` (see `bert_tf.serving.classifier`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging as python_logging
import os
import re
import time
import uuid
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import tensorflow as tf
from absl import logging as absl_logging

from bert_tf import tokenization
from bert_tf.errors import InputError, require_int
from bert_tf.tokenization.in_graph import TENSORFLOW_TEXT_OPS, InGraphBertTokenizer

__all__ = [
    "SERVING_SIGNATURE",
    "IDS_SIGNATURE",
    "TENSORFLOW_TEXT_OPS",
    "MIN_TF_SERVING_VERSION",
    "PAD_TO_MULTIPLE_OF",
    "SUB_BATCH_SIZE",
    "SERVING_DTYPES",
    "LABELS_FILE",
    "MODEL_INPUTS",
    "ServingInput",
    "ServingModule",
    "canonical_serving_dtype",
    "check_export_dir",
    "check_model_fits",
    "check_vocab_fits",
    "mask_batcher_padding",
    "model_and_tokenizer",
    "model_for_dtype",
    "model_function",
    "next_version",
    "publish",
    "require_rank",
    "require_utf8",
    "save_and_publish",
    "serving_function",
    "tf_variables",
]

SERVING_SIGNATURE = "serving_default"
IDS_SIGNATURE = "serve_ids"
MIN_TF_SERVING_VERSION = "2.12"
# Raw-text signatures pad each batch to its longest row rounded up to a multiple of this,
PAD_TO_MULTIPLE_OF = 8
# and the classifier runs the model on length-sorted sub-batches of this many rows.
SUB_BATCH_SIZE = 8
# Dtype policies an export can serve under (`serving_dtype`).
SERVING_DTYPES = ("float32", "mixed_bfloat16")
LABELS_FILE = os.path.join("assets.extra", "labels.txt")
MODEL_INPUTS = ("input_ids", "input_mask", "segment_ids")

_VERSION_PATTERN = re.compile(r"^\d+$")
_TEMPORARY_PREFIX = "tmp-export-"


class ServingModule(tf.Module):
    """The exported object: the in-graph tokenizer, the model's variables and the serving functions.

    A subclass sets `serve_text` and `serve_ids` (`tf.function`s with input signatures) in its
    `__init__`. The Keras model itself is not an attribute (it is only captured by the traced functions),
    so the saved object graph holds plain variables, the tokenizer's vocabulary asset and lookup table,
    and the functions.

    Args:
      model: a built Keras model whose weights are backed by `tf.Variable`s (the TensorFlow backend).
      tokenizer: the `InGraphBertTokenizer` of the export.
      name: the module's name.
    """

    def __init__(self, model, tokenizer: InGraphBertTokenizer, name: str):
        super().__init__(name=name)
        self.tokenizer = tokenizer
        # The tf.Variables themselves (not Keras' wrappers), tracked explicitly: see `tf_variables`.
        self.model_variables = tf_variables(model.weights)

    @staticmethod
    def ids_inputs(dims: Sequence[str] = ("batch", "length")) -> List["ServingInput"]:
        """The `serve_ids` inputs: int32 `input_ids`, `input_mask`, `segment_ids` of shape `dims`."""
        return [ServingInput(name, tf.int32, tuple(dims)) for name in MODEL_INPUTS]

    def signatures(self) -> Dict[str, object]:
        """`{"serving_default": ..., "serve_ids": ...}` concrete functions for `tf.saved_model.save`.

        Raises:
          ValueError: a traced function reads a variable that is not in `model_variables` (it would be
            saved but never restored in the graph TF Serving runs).
        """
        signatures = {
            SERVING_SIGNATURE: self.serve_text.get_concrete_function(),
            IDS_SIGNATURE: self.serve_ids.get_concrete_function(),
        }
        tracked = {id(variable) for variable in self.model_variables}
        for name, function in signatures.items():
            untracked = [variable.name for variable in function.variables if id(variable) not in tracked]
            if untracked:
                raise ValueError(f"signature {name!r} reads variables that are not model weights: "
                                 f"{untracked[:5]}")
        return signatures


@dataclasses.dataclass(frozen=True)
class ServingInput:
    """One input of a serving signature: its key, dtype and the names of its dimensions.

    Example: `ServingInput("text_a", tf.string, ("batch",))` is a string tensor [batch].
    """

    name: str
    dtype: tf.DType
    dims: Tuple[str, ...]

    def describe(self) -> str:
        """E.g. `text_a: a string tensor [batch]`, `input_ids: an int32 tensor [batch, length]`."""
        article = "an" if self.dtype.name[0] in "aeiou" else "a"
        return f"{self.name}: {article} {self.dtype.name} tensor [{', '.join(self.dims)}]"


def serving_function(body: Callable[..., Dict[str, tf.Tensor]], inputs: Sequence[ServingInput],
                     same: Optional[str] = None) -> tf.types.experimental.GenericFunction:
    """`body` as a `tf.function` of `inputs` whose ranks (and agreement) are checked in the graph.

    A signature declared with shape [None] is not checked when called: a [1, 2] request runs into the
    graph and fails deep inside it (`Incompatible shapes`, `slice index out of bounds`), and a rank check
    on it is folded away when the function is traced, since its rank is known then. So each input is
    declared with an unknown shape and checked at run time (`require_rank`); a request of the wrong rank fails with
    `text_a: a string tensor [batch] is expected; got rank 2`, and `body` gets tensors of the declared rank.
    A wrong dtype or a missing or unknown key is refused by TensorFlow before the graph runs, naming the
    key (keys) or the input's position in `inputs` (dtypes).

    Args:
      body: the traced function, taking the inputs positionally (or by their names) in `inputs`' order.
      inputs: the signature's inputs.
      same: None; "rows": every input has the same first dimension (e.g. `text_a` and `text_b`);
        "shape": every input has the same shape (`input_ids`, `input_mask`, `segment_ids`).
    """
    inputs = tuple(inputs)
    names = " and ".join(spec.name for spec in inputs) if len(inputs) < 3 else (
        ", ".join(spec.name for spec in inputs[:-1]) + f" and {inputs[-1].name}")

    @functools.wraps(body)
    def checked_body(*tensors):
        tensors = [require_rank(tensor, spec) for tensor, spec in zip(tensors, inputs)]
        if same and len(tensors) > 1:
            sizes = [tf.shape(tensor)[:1] if same == "rows" else tf.shape(tensor) for tensor in tensors]
            agree = tf.reduce_all([tf.reduce_all(tf.equal(size, sizes[0])) for size in sizes[1:]])
            what = "number of rows" if same == "rows" else "shape"
            check = tf.debugging.Assert(agree, [f"{names} must have the same {what}; got", *sizes])
            with tf.control_dependencies([check]):
                tensors = [tf.identity(tensor) for tensor in tensors]
        return body(*tensors)

    return tf.function(checked_body, autograph=False,
                       input_signature=[tf.TensorSpec(None, spec.dtype, name=spec.name) for spec in inputs])


def require_rank(tensor: tf.Tensor, spec: ServingInput) -> tf.Tensor:
    """`tensor` (any shape) with the static rank of `spec`, after an in-graph check of its rank.

    Not `tf.ensure_shape`: when a request's shape is known, TensorFlow's graph optimizer evaluates every
    shape check ahead of the run (even in a branch not taken) and fails with its own message first. So a
    tensor of the wrong rank is reshaped (never failing: [size, 1, ...]) and the check fails the request.
    """
    rank = len(spec.dims)
    shape = tf.shape(tensor)
    is_expected = tf.equal(tf.size(shape), rank)
    check = tf.debugging.Assert(is_expected, [f"{spec.describe()} is expected; got rank", tf.size(shape)])
    same_shape = tf.concat([shape, tf.ones([rank], tf.int32)], 0)[:rank]
    any_shape = tf.concat([[tf.size(tensor)], tf.ones([rank - 1], tf.int32)], 0)
    new_shape = tf.where(is_expected, same_shape, any_shape)
    new_shape.set_shape([rank])
    with tf.control_dependencies([check]):
        return tf.reshape(tensor, new_shape)


def model_function(model, output_keys: Sequence[str], jit_compile: bool = False
                   ) -> Callable[[tf.Tensor, tf.Tensor, tf.Tensor], Tuple[tf.Tensor, ...]]:
    """`(input_ids, input_mask, segment_ids) -> float32 outputs` (one per `output_keys`), training=False.

    A plain function closing over the model keeps the Keras model out of the saved object graph. With
    `jit_compile`, a `tf.function` that XLA compiles (once per input shape, cached): the exported graph
    calls it as a function marked `_XlaMustCompile`.
    """
    keys = tuple(output_keys)

    def outputs(input_ids, input_mask, segment_ids):
        values = model({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids},
                       training=False)
        return tuple(tf.cast(values[key], tf.float32) for key in keys)

    return tf.function(outputs, jit_compile=True, autograph=False) if jit_compile else outputs


def mask_batcher_padding(input_ids: tf.Tensor, input_mask: tf.Tensor, cls_id: int) -> tf.Tensor:
    """`input_mask` with 0 on each row's trailing run of `[CLS]` ids (never at position 0).

    TF Serving's batching with `pad_variable_length_inputs` pads every request's inputs to the longest
    request with that request's first element, so padded positions arrive as `[CLS]` with mask 1.
    Packed BERT rows hold `[CLS]` only at position 0, so this mask is the one before that padding.

    Args:
      input_ids, input_mask: int32 [batch, seq].
      cls_id: the id of `[CLS]`.
    Returns:
      int32 [batch, seq].
    """
    is_cls = tf.cast(tf.equal(input_ids, cls_id), input_mask.dtype)
    trailing_cls = tf.math.cumprod(is_cls, axis=1, reverse=True)
    not_first = 1 - tf.one_hot(0, tf.shape(input_ids)[1], dtype=input_mask.dtype)
    return input_mask * (1 - trailing_cls * not_first)


def require_utf8(texts: tf.Tensor, name: str) -> tf.Tensor:
    """`texts` (tf.string, any shape) after an in-graph check that every string is valid UTF-8.

    A request holding bytes that are not UTF-8 fails with `<name> holds a string that is not valid UTF-8`
    and the row of the first one, instead of being answered with offsets counted on replacement characters.
    """
    flat = tf.reshape(texts, [-1])
    # Transcoding drops what is not UTF-8 (errors="ignore"): a valid string comes back unchanged.
    is_valid = tf.equal(tf.strings.unicode_transcode(flat, "UTF-8", "UTF-8", errors="ignore"), flat)
    first_invalid = tf.argmin(tf.concat([tf.cast(is_valid, tf.int32), [0]], 0), output_type=tf.int32)
    check = tf.debugging.Assert(tf.reduce_all(is_valid), [f"{name} holds a string that is not valid UTF-8 at row",
                                                          first_invalid])
    with tf.control_dependencies([check]):
        return tf.identity(texts)


def tf_variables(weights) -> List[tf.Variable]:
    """The `tf.Variable` behind each Keras weight (a TF-backend `keras.Variable` wraps one).

    Tracking Keras' wrappers is not enough: on export each wrapper becomes a *copy* of its variable,
    which the checkpoint restores, while the traced functions read the original. TF 2 loading hides
    this, but the TF 1 session graph that TF Serving runs would read never-restored variables.

    Raises:
      TypeError: a weight is not backed by a `tf.Variable` (another Keras backend).
    """
    variables = []
    for weight in weights:
        variable = weight if isinstance(weight, tf.Variable) else getattr(weight, "value", None)
        if not isinstance(variable, tf.Variable):
            raise TypeError(f"model weight {getattr(weight, 'path', weight)!r} is not backed by a "
                            "tf.Variable: export needs the TensorFlow Keras backend")
        variables.append(variable)
    return variables


# ---------------------------------------------------------------------------------------------- checks
def check_export_dir(export_dir: str) -> None:
    """Checks, before a run reads or writes anything, that `export_dir` can receive SavedModels.

    Raises:
      InputError: `export_dir`, or the nearest of its parents that exists, is not a folder (it could not be
        created), or tensorflow_text is missing.
    """
    if not export_dir:
        raise InputError("--export_dir is empty")
    existing = export_dir
    while existing and not tf.io.gfile.exists(existing) and os.path.dirname(existing) != existing:
        existing = os.path.dirname(existing)
    if existing and tf.io.gfile.exists(existing) and not tf.io.gfile.isdir(existing):
        if existing == export_dir:
            raise InputError(f"--export_dir {export_dir} exists and is not a folder")
        raise InputError(f"--export_dir {export_dir} cannot be created: {existing} is a file, not a folder")
    try:
        import tensorflow_text  # noqa: F401
    except ImportError as error:
        raise InputError(f"--export_dir needs tensorflow_text: {error}") from None


def canonical_serving_dtype(serving_dtype: str) -> str:
    """Validates a `serving_dtype` (`float32`, `mixed_bfloat16`, or an alias such as `bf16`).

    Returns:
      One of `SERVING_DTYPES`.
    Raises:
      InputError: another dtype (`mixed_float16` is not offered for serving).
    """
    from bert_tf.training.precision import canonical_dtype

    try:
        name = canonical_dtype(serving_dtype)
    except ValueError:
        name = None
    if name not in SERVING_DTYPES:
        raise InputError(f"serving_dtype must be one of {', '.join(SERVING_DTYPES)}, got {serving_dtype!r}")
    return name


def check_vocab_fits(model, vocab_file: str) -> None:
    """Raises ValueError when `vocab_file` is missing or has more tokens than the model's `vocab_size`."""
    vocab_size = getattr(getattr(model, "config", None), "vocab_size", None)
    if vocab_size is None:
        return
    if not tf.io.gfile.exists(vocab_file):
        raise ValueError(f"vocab file not found: {vocab_file}")
    num_tokens = len(tokenization.load_vocab(vocab_file))
    if num_tokens > vocab_size:
        raise ValueError(f"{vocab_file} has {num_tokens} tokens but the model's vocab_size is {vocab_size}: "
                         "is this the model's vocab.txt?")


def check_model_fits(model, vocab_file: str, max_seq_length) -> int:
    """Checks `max_seq_length` and the vocabulary against the model; returns `max_seq_length` as an int.

    Raises:
      InputError: `max_seq_length` is not a positive integer or exceeds `max_position_embeddings`.
      ValueError: the vocabulary has more tokens than the model's `vocab_size`.
    """
    max_seq_length = require_int("max_seq_length", max_seq_length)
    limit = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if limit is not None and max_seq_length > limit:
        raise InputError(f"max_seq_length={max_seq_length} is longer than the model's "
                         f"max_position_embeddings={limit}")
    check_vocab_fits(model, vocab_file)
    return max_seq_length


def model_for_dtype(model, serving_dtype: str):
    """`model` itself if it runs under `serving_dtype`, else a copy built under that dtype policy.

    The copy is `type(model).from_config(...)` with the same weights (variables are float32 under every
    policy; they are matched by path).

    Raises:
      TypeError: the model cannot be rebuilt from its `get_config()`.
    """
    from bert_tf.training.precision import dtype_policy

    if getattr(model.dtype_policy, "name", None) == serving_dtype:
        return model
    try:
        copy = type(model).from_config({**model.get_config(), "dtype": dtype_policy(serving_dtype)})
    except (NotImplementedError, TypeError) as error:
        raise TypeError(f"serving_dtype={serving_dtype!r} rebuilds the model from its get_config(), "
                        f"which {type(model).__name__} does not support: {error}") from None
    sources = {weight.path: weight for weight in model.weights}
    if sorted(sources) != sorted(weight.path for weight in copy.weights):
        raise ValueError(f"the {serving_dtype} copy of {type(model).__name__} has other weights")
    for weight in copy.weights:
        weight.assign(sources[weight.path])
    return copy


def model_and_tokenizer(model, vocab_file, do_lower_case: bool, max_seq_length, serving_dtype: str,
                        **tokenizer_options) -> Tuple[object, InGraphBertTokenizer]:
    """The checks of `check_model_fits`, then `(model to serve, InGraphBertTokenizer)`.

    Args:
      tokenizer_options: `InGraphBertTokenizer`'s padding options (`pad_to_multiple_of`, `padded_lengths`);
        none: rows padded to `max_seq_length` by its packer.

    Returns:
      `model` itself, or its copy built under `serving_dtype` (`float32` or `mixed_bfloat16`), and a
      tokenizer with `max_seq_length`.
    Raises:
      InputError / ValueError: see `check_model_fits`; InputError for another `serving_dtype`.
    """
    vocab_file = os.fspath(vocab_file)
    serving_dtype = canonical_serving_dtype(serving_dtype)
    max_seq_length = check_model_fits(model, vocab_file, max_seq_length)
    tokenizer = InGraphBertTokenizer(vocab_file, do_lower_case=do_lower_case, max_seq_length=max_seq_length,
                                     **tokenizer_options)
    return model_for_dtype(model, serving_dtype), tokenizer


# -------------------------------------------------------------------------------------- version folders
def _existing_versions(export_dir: str) -> List[int]:
    if not tf.io.gfile.isdir(export_dir):
        return []
    return [int(name.rstrip("/")) for name in tf.io.gfile.listdir(export_dir)
            if _VERSION_PATTERN.match(name.rstrip("/"))]


def next_version(export_dir: str, now: Optional[float] = None) -> int:
    """The version number for a new export: the Unix time in seconds, or one more than the newest
    existing version folder if that is not older (two exports in one second, a clock set back)."""
    version = int(time.time() if now is None else now)
    existing = _existing_versions(export_dir)
    if existing:
        version = max(version, max(existing) + 1)
    return version


def publish(temporary: str, export_dir: str, attempts: int = 100) -> str:
    """Renames the finished `temporary` folder to a new, unused version folder; returns its path."""
    for _ in range(attempts):
        target = os.path.join(export_dir, str(next_version(export_dir)))
        if tf.io.gfile.exists(target):  # created meanwhile by a concurrent export
            continue
        try:
            tf.io.gfile.rename(temporary, target, overwrite=False)
        except tf.errors.OpError:
            if tf.io.gfile.exists(target):
                continue
            raise
        return target
    raise OSError(f"could not find a free version folder under {export_dir}")


@contextlib.contextmanager
def _tensorflow_info_hidden():
    """TensorFlow's own Python log (its `tensorflow` logger, and the absl log its saver writes to) at WARNING
    and above while the block runs."""
    logger = python_logging.getLogger("tensorflow")
    level, verbosity = logger.level, absl_logging.get_verbosity()
    logger.setLevel(max(level, python_logging.WARNING))
    absl_logging.set_verbosity(min(verbosity, absl_logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)
        absl_logging.set_verbosity(verbosity)


def save_and_publish(module: ServingModule, export_dir, labels: Optional[Sequence[str]] = None,
                     extra_files: Optional[Dict[str, str]] = None) -> str:
    """Saves `module` with its `signatures()` and publishes it as `export_dir/<version>`; returns that path.

    Args:
      module: the `ServingModule` to save.
      export_dir: the model base path TF Serving watches; created if needed.
      labels: written one per line to `assets.extra/labels.txt` (not read by the graph), if given.
      extra_files: file name -> text, each written to `assets.extra/<name>` (not read by the graph), if given.
    """
    export_dir = os.fspath(export_dir)
    tf.io.gfile.makedirs(export_dir)
    temporary = os.path.join(export_dir, f"{_TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}")
    try:
        with _tensorflow_info_hidden():  # its notes on renamed inputs (3,000 characters), shard timings, temp paths
            tf.saved_model.save(module, temporary, signatures=module.signatures())
        extra = dict(extra_files or {})
        if labels is not None:
            extra[os.path.basename(LABELS_FILE)] = "".join(f"{label}\n" for label in labels)
        for name, text in extra.items():
            tf.io.gfile.makedirs(os.path.join(temporary, "assets.extra"))
            with tf.io.gfile.GFile(os.path.join(temporary, "assets.extra", name), "w") as writer:
                writer.write(text)
        return publish(temporary, export_dir)
    finally:
        if tf.io.gfile.exists(temporary):
            tf.io.gfile.rmtree(temporary)
