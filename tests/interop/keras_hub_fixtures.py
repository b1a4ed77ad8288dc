"""The keras-hub fixtures of the conversion tests (`tests/interop/data`, written by
`bench/keras_hub_interop_fixtures.py` with keras-hub itself).

* `write_preset(folder, task=True)`: the BertTextClassifier preset keras-hub saved (`task=False`: without its task
  files, the BertBackbone preset `BertBackbone.save_to_preset` writes).
* `keras_hub_outputs()`: the fixed inputs and keras-hub's outputs on them (`sequence_output`, `pooled_output`,
  `logits`).
* `h5_datasets(path)`: every dataset of an h5 file, by path, as numpy arrays.
"""
import pathlib
import shutil
import tarfile
import tempfile

import numpy as np

DATA_DIR = pathlib.Path(__file__).resolve().parent / "data"
PRESET = "keras_hub_classifier"
TASK_FILES = ("task.json", "task.weights.h5", "preprocessor.json")


def write_preset(folder, task=True) -> pathlib.Path:
    """Writes the fixture preset into the new folder `folder` and returns it."""
    folder = pathlib.Path(folder)
    with tempfile.TemporaryDirectory() as scratch:
        with tarfile.open(DATA_DIR / f"{PRESET}.tar.gz") as archive:
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.10.12
            archive.extractall(scratch, **safe)
        shutil.copytree(pathlib.Path(scratch) / PRESET, folder)
    if not task:
        for name in TASK_FILES:
            (folder / name).unlink()
    return folder


def keras_hub_outputs() -> dict:
    return dict(np.load(DATA_DIR / "keras_hub_outputs.npz"))


def h5_datasets(path) -> dict:
    import h5py

    found = {}
    with h5py.File(path, "r") as h5_file:
        h5_file.visititems(lambda name, item: found.__setitem__(name, item[()]) if hasattr(item, "shape") else None)
    return found
