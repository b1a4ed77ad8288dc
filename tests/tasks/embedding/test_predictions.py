"""`bert_tf.tasks.embedding.predictions`: the `.npy` and `.jsonl` outputs, written whole or not at all."""
import json

import numpy as np
import pytest

from bert_tf import files
from bert_tf.errors import InputError
from bert_tf.tasks.embedding.predictions import output_format, write_embeddings

VECTORS = np.array([[0.1, -2.5, 3.0], [1e-8, 0.0, 7.25]], np.float32)


def test_npy_and_jsonl_hold_the_float32_values_exactly(tmp_path):
    write_embeddings(str(tmp_path / "v.npy"), VECTORS)
    loaded = np.load(tmp_path / "v.npy")
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, VECTORS)
    write_embeddings(str(tmp_path / "v.jsonl"), VECTORS)
    rows = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert [row["index"] for row in rows] == [0, 1]
    np.testing.assert_array_equal(np.array([row["embedding"] for row in rows], np.float32), VECTORS)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["v.jsonl", "v.npy"]  # no temporary left


def test_other_names_and_protected_inputs_are_refused(tmp_path):
    assert output_format("A.NPY") == ".npy"
    with pytest.raises(InputError, match="must end in .npy"):
        output_format("vectors.csv")
    source = tmp_path / "input.jsonl"
    source.write_text("{}\n")
    with files.protected_inputs({"--input_file": str(source)}):
        with pytest.raises(InputError, match="refusing to overwrite"):
            write_embeddings(str(source), VECTORS)
    assert source.read_text() == "{}\n"
