"""The weights of a keras-hub BERT preset (`model.weights.h5`, `task.weights.h5`) <-> released names and layouts.

Keras 3 saves weights by position in the model, not by variable name: a layer's variables are the datasets
`<path>/vars/0`, `/1`, ... where `<path>` is `layers/<the layer's class in snake case>[_<n>]` (the n-th layer of
that class in the functional model), then the layer's own attributes. keras-hub's `BertBackbone` (keras-hub 0.32,
Keras 3.15) has:

| released | `model.weights.h5` | Keras shape |
|---|---|---|
| `bert/embeddings/word_embeddings` | `layers/reversible_embedding/vars/0` | [V, H] |
| `bert/embeddings/position_embeddings` | `layers/position_embedding/vars/0` | [P, H] |
| `bert/embeddings/token_type_embeddings` | `layers/embedding/vars/0` | [T, H] |
| `bert/embeddings/LayerNorm/gamma`, `beta` | `layers/layer_normalization/vars/0`, `1` | [H] |
| `<layer N>/attention/self/query/*` | `<block N>/_self_attention_layer/query_dense/vars/0`, `1` | [H,A,H/A], [A,H/A] |
| (`key`, `value` alike) | `.../key_dense`, `.../value_dense` | |
| `.../attention/output/dense/*` | `<block N>/_self_attention_layer/output_dense/vars/0`, `1` | [A, H/A, H], [H] |
| `.../attention/output/LayerNorm/*` | `<block N>/_self_attention_layer_norm/vars/0`, `1` | [H] |
| `.../intermediate/dense/*` | `<block N>/_feedforward_intermediate_dense/vars/0`, `1` | [H, I], [I] |
| `.../output/dense/*` | `<block N>/_feedforward_output_dense/vars/0`, `1` | [I, H], [H] |
| `.../output/LayerNorm/*` | `<block N>/_feedforward_layer_norm/vars/0`, `1` | [H] |
| `bert/pooler/dense/kernel`, `bias` | `layers/dense/vars/0`, `1` | [H, H], [H] |
| `output_weights` [N, H], `output_bias` | `task.weights.h5`: `layers/dense/vars/0`, `1` (transposed) | [H, N], [N] |

`<layer N>` is `bert/encoder/layer_N`; `<block N>` is `layers/transformer_encoder` for N = 0,
`layers/transformer_encoder_N` after; the last row is `BertTextClassifier`'s `logits` layer. Every other conversion
is a reshape (the attention projections' heads are the released kernels' columns in order), so values are kept bit
for bit. Files written by older Keras versions name the attention projections with a leading underscore
(`_query_dense`): both spellings are read. `optimizer/*` and `preprocessor/*` entries of a task file are no
weights: left out when read; a classifier is written with the optimizer state keras-hub saves with a fresh one.
float16 and bfloat16 weights are converted to float32 exactly, on request (`dtype="float32"`).
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import numpy as np

from bert_tf.config import BertConfig
from bert_tf.files import check_not_an_input, temporary_name
from bert_tf.interop.formats import ConversionError

BACKBONE_WEIGHTS_FILE = "model.weights.h5"
TASK_WEIGHTS_FILE = "task.weights.h5"
SHARDED_WEIGHTS_FILE = "model.weights.json"
# Entries of a task file that are no weight of the model.
NOT_WEIGHTS = ("optimizer/", "preprocessor/")
# What keras-hub saves with a freshly compiled BertTextClassifier (Adam at 5e-5, no step taken): written with the
# classifier, so that loading it finds the optimizer's variables.
CLASSIFIER_OPTIMIZER_STATE = {"optimizer/vars/0": np.int64(0), "optimizer/vars/1": np.float32(5e-5)}
# (released name, h5 dataset path, Keras shape, transposed): one weight.
Entry = Tuple[str, str, Tuple[int, ...], bool]


def block_path(layer: int) -> str:
    """The h5 group of transformer block `layer` (Keras numbers the second layer of a class `_1`)."""
    return "layers/transformer_encoder" + (f"_{layer}" if layer else "")


def _pair(released: str, path: str, kernel_shape, bias_shape, kernel="kernel", bias="bias") -> List[Entry]:
    return [(f"{released}/{kernel}", f"{path}/vars/0", tuple(kernel_shape), False),
            (f"{released}/{bias}", f"{path}/vars/1", tuple(bias_shape), False)]


def backbone_entries(config: BertConfig) -> List[Entry]:
    """Every `bert/*` tensor of a `BertBackbone` of `config`, in `model.weights.h5`'s terms."""
    hidden, inner, heads = config.hidden_size, config.intermediate_size, config.num_attention_heads
    head_size = hidden // heads
    entries: List[Entry] = [
        ("bert/embeddings/word_embeddings", "layers/reversible_embedding/vars/0", (config.vocab_size, hidden), False),
        ("bert/embeddings/position_embeddings", "layers/position_embedding/vars/0",
         (config.max_position_embeddings, hidden), False),
        ("bert/embeddings/token_type_embeddings", "layers/embedding/vars/0", (config.type_vocab_size, hidden), False),
    ]
    entries += _pair("bert/embeddings/LayerNorm", "layers/layer_normalization", (hidden,), (hidden,), "gamma", "beta")
    for layer in range(config.num_hidden_layers):
        released, block = f"bert/encoder/layer_{layer}", block_path(layer)
        for projection in ("query", "key", "value"):
            entries += _pair(f"{released}/attention/self/{projection}",
                             f"{block}/_self_attention_layer/{projection}_dense", (hidden, heads, head_size),
                             (heads, head_size))
        entries += _pair(f"{released}/attention/output/dense", f"{block}/_self_attention_layer/output_dense",
                         (heads, head_size, hidden), (hidden,))
        entries += _pair(f"{released}/attention/output/LayerNorm", f"{block}/_self_attention_layer_norm", (hidden,),
                         (hidden,), "gamma", "beta")
        entries += _pair(f"{released}/intermediate/dense", f"{block}/_feedforward_intermediate_dense",
                         (hidden, inner), (inner,))
        entries += _pair(f"{released}/output/dense", f"{block}/_feedforward_output_dense", (inner, hidden), (hidden,))
        entries += _pair(f"{released}/output/LayerNorm", f"{block}/_feedforward_layer_norm", (hidden,), (hidden,),
                         "gamma", "beta")
    entries += _pair("bert/pooler/dense", "layers/dense", (hidden, hidden), (hidden,))
    return entries


def classifier_entries(config: BertConfig, num_classes: int) -> List[Entry]:
    """The `BertTextClassifier` head (`logits` Dense [H, N]) in `task.weights.h5`'s terms."""
    return [("output_weights", "layers/dense/vars/0", (config.hidden_size, num_classes), True),
            ("output_bias", "layers/dense/vars/1", (num_classes,), False)]


def layer_names(config: BertConfig) -> Dict[str, str]:
    """h5 group -> the keras-hub layer's name, for every group `backbone_entries` writes into: Keras records it
    beside each group (`vars` attribute `name`) for readers of the file; loading goes by path."""
    names = {"layers/reversible_embedding": "token_embedding", "layers/position_embedding": "position_embedding",
             "layers/embedding": "segment_embedding", "layers/layer_normalization": "embeddings_layer_norm",
             "layers/dense": "pooled_dense"}
    for layer in range(config.num_hidden_layers):
        block = block_path(layer)
        names[block] = f"transformer_layer_{layer}"
        names[f"{block}/_self_attention_layer"] = "self_attention_layer"
        for projection in ("query", "key", "value"):
            names[f"{block}/_self_attention_layer/{projection}_dense"] = projection
        names[f"{block}/_self_attention_layer/output_dense"] = "attention_output"
        for sublayer in ("self_attention_layer_norm", "feedforward_intermediate_dense", "feedforward_output_dense",
                         "feedforward_layer_norm"):
            names[f"{block}/_{sublayer}"] = sublayer
    return names


def _h5py():
    try:
        import h5py
    except ImportError:  # a dependency of keras: only missing in a broken environment
        raise ConversionError("keras-hub presets need the h5py package (pip install h5py)") from None
    return h5py


# The attention projections' attributes, spelled with a leading underscore by older Keras versions.
ATTENTION_PROJECTIONS = ("query_dense", "key_dense", "value_dense", "output_dense")


def _older_spelling(path: str) -> str:
    """The path as older Keras versions wrote it (`_query_dense` for the attention's `query_dense`)."""
    return "/".join("_" + part if part in ATTENTION_PROJECTIONS else part for part in path.split("/"))


def _dataset_paths(h5_file) -> Dict[str, object]:
    """Every dataset of an h5 file, by path (the task file's optimizer and preprocessor state left out)."""
    found = {}

    def visit(name, item):
        if hasattr(item, "shape") and not name.startswith(NOT_WEIGHTS):
            found[name] = item

    h5_file.visititems(visit)
    return found


def _as_float32(dataset, where: str, dtype: Optional[str]) -> np.ndarray:
    """A dataset's values as float32: float16 and bfloat16 (Keras marks it `dtype: bfloat16`) exactly, on request."""
    marked = dataset.attrs.get("dtype")
    marked = marked.decode() if isinstance(marked, bytes) else marked
    kind = "bfloat16" if marked == "bfloat16" else str(dataset.dtype)
    if kind == "float32":
        return np.asarray(dataset[()], dtype=np.float32)
    if kind not in ("float16", "bfloat16"):
        raise ConversionError(f"{where} is {kind}, not a floating-point weight of BERT")
    if dtype != "float32":
        raise ConversionError(f"{where} is {kind}: the released format is float32; pass --dtype=float32 to convert "
                              "the weights (exactly: no value changes)")
    raw = np.asarray(dataset[()])
    if kind == "float16":
        return raw.astype(np.float32)
    return (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)


def read_weights(path: str, entries: List[Entry], shapes: Dict[str, Tuple[int, ...]],
                 dtype: Optional[str] = None) -> Dict[str, np.ndarray]:
    """The tensors of `entries` from the h5 file `path`, float32 in the released names and layouts (`shapes`:
    released name -> shape, see `portable_model.expected_shapes`): transposed where the entry says so, else
    reshaped.

    Raises:
      ConversionError: `<file>: tensor <h5 path> ...` for the first missing, extra, misshapen or non-float32 one.
    """
    h5py = _h5py()
    tensors, used = {}, set()
    try:
        with h5py.File(path, "r") as h5_file:
            datasets = _dataset_paths(h5_file)
            for released, h5_path, shape, transposed in entries:
                found = h5_path if h5_path in datasets else _older_spelling(h5_path)
                if found not in datasets:
                    raise ConversionError(f"{path}: tensor {h5_path} is missing (a BERT model has it: {released}, "
                                          f"shape {list(shape)})")
                if tuple(datasets[found].shape) != shape:
                    raise ConversionError(f"{path}: tensor {found} has shape {list(datasets[found].shape)}, the "
                                          f"config gives {list(shape)}")
                value = _as_float32(datasets[found], f"{path}: tensor {found}", dtype)
                value = value.T if transposed else value.reshape(shapes[released])
                tensors[released] = np.ascontiguousarray(value)
                used.add(found)
    except OSError as error:
        raise ConversionError(f"{path}: not a Keras weights file ({error})") from None
    extra = sorted(set(datasets) - used)
    if extra:
        raise ConversionError(f"{path}: tensor {extra[0]} is not part of a BERT model"
                              + (f" (and {len(extra) - 1} more)" if len(extra) > 1 else ""))
    return tensors


def write_weights(path: str, tensors: Dict[str, np.ndarray], entries: List[Entry], names: Dict[str, str],
                  state: Optional[Dict[str, np.generic]] = None) -> None:
    """Writes the released `tensors` of `entries` as the h5 file `path` that Keras loads, through a temporary name.

    Args:
      names: h5 group -> layer name, recorded as Keras does (`vars` attribute `name`).
      state: other datasets to write as they are (h5 path -> value), e.g. `CLASSIFIER_OPTIMIZER_STATE`.
    """
    h5py = _h5py()
    check_not_an_input(path)
    temporary = temporary_name(path)
    try:
        with h5py.File(temporary, "w") as h5_file:
            for released, h5_path, shape, transposed in entries:
                value = tensors[released].T if transposed else tensors[released].reshape(shape)
                h5_file.create_dataset(h5_path, data=np.ascontiguousarray(value, dtype=np.float32))
            for h5_path, value in (state or {}).items():
                h5_file.create_dataset(h5_path, data=value)
            for group, name in names.items():
                if group in h5_file:
                    h5_file.require_group(f"{group}/vars").attrs["name"] = name
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
