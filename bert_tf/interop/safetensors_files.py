"""Reading and writing the tensors of a Hugging Face folder: `model.safetensors`, or shards named by
`model.safetensors.index.json` (`{"weight_map": {tensor name: shard file}}`).

Each file's header (8 bytes of little-endian length, then JSON: name -> dtype, shape, data offsets) is read
first, so names, shapes and dtypes are checked before any data is. Float32 tensors are read with
`safetensors.numpy`; float16 and bfloat16 ones only on request (`dtype="float32"`, converted exactly: every
half-precision value is a float32 value). A folder with only PyTorch's `pytorch_model.bin` (a pickle) is refused:
this package has no torch dependency.
"""
from __future__ import annotations

import json
import os
import struct
from typing import Dict, Optional, Tuple

import numpy as np

from bert_tf.files import check_not_an_input, temporary_name
from bert_tf.interop.formats import ConversionError

SAFETENSORS_FILE = "model.safetensors"
SAFETENSORS_INDEX_FILE = "model.safetensors.index.json"
PYTORCH_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
HALF_DTYPES = ("F16", "BF16")
# The `format` metadata transformers expects in a safetensors file it loads into PyTorch.
METADATA = {"format": "pt"}


def _safetensors():
    try:
        import safetensors.numpy
    except ImportError:
        raise ConversionError("Hugging Face folders need the safetensors package: pip install 'bert_tf[hub]' "
                              "(or pip install safetensors)") from None
    return safetensors


def read_header(path: str) -> Dict[str, dict]:
    """Tensor name -> {"dtype", "shape", "data_offsets"} of one safetensors file (its `__metadata__` dropped)."""
    try:
        with open(path, "rb") as reader:
            length_bytes = reader.read(8)
            if len(length_bytes) != 8:
                raise ConversionError(f"{path}: not a safetensors file (shorter than its header)")
            (length,) = struct.unpack("<Q", length_bytes)
            if length > os.path.getsize(path):
                raise ConversionError(f"{path}: not a safetensors file (header length {length})")
            header = json.loads(reader.read(length))
    except OSError as error:
        raise ConversionError(f"cannot read {path}: {error.strerror or error}") from None
    except ValueError:
        raise ConversionError(f"{path}: not a safetensors file (its header is not JSON)") from None
    if not isinstance(header, dict):
        raise ConversionError(f"{path}: not a safetensors file")
    header.pop("__metadata__", None)
    return header


def weight_files(folder: str) -> Dict[str, str]:
    """Tensor name -> the safetensors file holding it.

    Raises:
      ConversionError: no safetensors file (a PyTorch `.bin` is named: convert it to safetensors first), or an
        index naming a missing shard.
    """
    single = os.path.join(folder, SAFETENSORS_FILE)
    index = os.path.join(folder, SAFETENSORS_INDEX_FILE)
    if os.path.exists(index):
        try:
            with open(index, encoding="utf-8") as reader:
                weight_map = json.load(reader)["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ConversionError(f"{index}: not a safetensors index (no weight_map: {error})") from None
        files = {}
        for name, shard in weight_map.items():
            path = os.path.join(folder, shard)
            if not os.path.exists(path):
                raise ConversionError(f"{index}: tensor {name} is in {shard}, which is missing")
            files[name] = path
        return files
    if os.path.exists(single):
        return {name: single for name in read_header(single)}
    for name in PYTORCH_FILES:
        if os.path.exists(os.path.join(folder, name)):
            raise ConversionError(
                f"{os.path.join(folder, name)} is a PyTorch pickle, which this package does not read (no torch "
                "dependency): convert it to model.safetensors first, e.g. with transformers: "
                "AutoModel.from_pretrained(folder).save_pretrained(folder) (safetensors is its default)")
    raise ConversionError(f"{folder}: no {SAFETENSORS_FILE} or {SAFETENSORS_INDEX_FILE}")


def tensor_specs(files: Dict[str, str]) -> Dict[str, Tuple[str, Tuple[int, ...]]]:
    """Tensor name -> (safetensors dtype, shape), from the headers only."""
    specs, headers = {}, {}
    for name, path in files.items():
        if path not in headers:
            headers[path] = read_header(path)
        if name not in headers[path]:
            raise ConversionError(f"{path}: has no tensor {name}, which the index places there")
        entry = headers[path][name]
        specs[name] = (entry["dtype"], tuple(entry["shape"]))
    return specs


def check_dtypes(specs: Dict[str, Tuple[str, Tuple[int, ...]]], folder: str, dtype: Optional[str]) -> None:
    """Refuses any tensor that is not float32, except float16/bfloat16 ones when `dtype` is "float32".

    Raises:
      ConversionError: `<folder>: tensor <name> is BF16: ...` naming the first one.
    """
    for name, (kind, _) in sorted(specs.items()):
        if kind == "F32" or (kind in HALF_DTYPES and dtype == "float32"):
            continue
        if kind in HALF_DTYPES:
            raise ConversionError(f"{folder}: tensor {name} is {kind}: the released format is float32; pass "
                                  "--dtype=float32 to convert the weights (exactly: no value changes)")
        raise ConversionError(f"{folder}: tensor {name} is {kind}, not a floating-point weight of BERT")


def _read_bfloat16(path: str, header_length: int, offsets, shape) -> np.ndarray:
    """A bfloat16 tensor as float32: each value's 16 bits are the high half of its float32 bits."""
    start, end = offsets
    with open(path, "rb") as reader:
        reader.seek(8 + header_length + start)
        raw = np.frombuffer(reader.read(end - start), dtype="<u2")
    return (raw.astype(np.uint32) << 16).view(np.float32).reshape(shape)


def read_tensors(files: Dict[str, str], names) -> Dict[str, np.ndarray]:
    """The float32 arrays of the tensors `names` (after `check_dtypes`); half precision converted exactly."""
    safetensors = _safetensors()
    by_file: Dict[str, list] = {}
    for name in names:
        by_file.setdefault(files[name], []).append(name)
    tensors = {}
    for path, file_names in by_file.items():
        header = read_header(path)
        with open(path, "rb") as reader:
            (header_length,) = struct.unpack("<Q", reader.read(8))
        with safetensors.safe_open(path, framework="np") as opened:
            for name in file_names:
                entry = header[name]
                if entry["dtype"] == "BF16":
                    tensors[name] = _read_bfloat16(path, header_length, entry["data_offsets"], entry["shape"])
                else:
                    tensors[name] = np.asarray(opened.get_tensor(name)).astype(np.float32, copy=False)
    return tensors


def write_tensors(path: str, tensors: Dict[str, np.ndarray]) -> None:
    """Writes one `model.safetensors` through a temporary name (safetensors.numpy, `format: pt` metadata)."""
    safetensors = _safetensors()
    check_not_an_input(path)
    temporary = temporary_name(path)
    try:
        safetensors.numpy.save_file({name: np.ascontiguousarray(value) for name, value in tensors.items()},
                                    temporary, metadata=METADATA)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as any other file written here, not safetensors' private mode
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
