"""`encode.py` output: the vectors as a `.npy` array or as JSON lines, written through a temporary name.

* `.npy`: `numpy.save` of a float32 array [texts, dimension], row i the i-th text of the input.
* `.jsonl`: one line per text, `{"index": i, "embedding": [...]}` (the float32 values, exactly).
"""
from __future__ import annotations

import json

import numpy as np

from bert_tf import files
from bert_tf.errors import InputError

NPY, JSONL = ".npy", ".jsonl"
OUTPUT_FORMATS = (NPY, JSONL)


def output_format(output_file: str) -> str:
    """`.npy` or `.jsonl`, by the name's extension.

    Raises:
      InputError: another extension.
    """
    for extension in OUTPUT_FORMATS:
        if str(output_file).lower().endswith(extension):
            return extension
    raise InputError(f"--output_file {output_file}: the name must end in .npy (a float32 array [texts, dimension]) "
                     "or .jsonl (one JSON object per text)")


def write_embeddings(output_file: str, vectors: np.ndarray) -> None:
    """Writes `vectors` (float32 [texts, dimension]) to `output_file` in the format its name says; the file
    appears complete or not at all, and never replaces a protected input (`files.atomic_writer`)."""
    vectors = np.asarray(vectors, np.float32)
    if output_format(output_file) == NPY:
        with files.atomic_writer(output_file, "wb") as writer:
            np.save(writer, vectors)
        return
    with files.atomic_writer(output_file) as writer:
        for index, vector in enumerate(vectors.tolist()):
            writer.write(json.dumps({"index": index, "embedding": vector}) + "\n")
