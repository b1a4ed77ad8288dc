"""Tests for bert_tf.training.restore: the workers of a run must have restored the same weights."""
import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("the training loop is TensorFlow-backend only", allow_module_level=True)

from bert_tf.checkpoint import CheckpointError  # noqa: E402
from bert_tf.training import restore, sharding, strategies  # noqa: E402


def test_workers_that_restored_different_weights_are_stopped(monkeypatch):
    """A worker that does not see the chief's output_dir (no shared file system) would train other weights."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    info = restore.RestoreInfo("output_dir", "out/model.ckpt-7", 7)
    monkeypatch.setattr(sharding, "num_workers", lambda strategy: 2)
    gathered = []
    monkeypatch.setattr(strategies, "values_of_all_workers", lambda strategy, values: np.array(gathered))
    mine = [7.0] + restore.weights_fingerprint(model)
    gathered[:] = [mine, mine]
    restore.check_workers_agree(model, info, "out")
    gathered[:] = [mine, [0.0] + mine[1:]]
    with pytest.raises(CheckpointError, match=r"the workers restored different weights \(global_step per replica: "
                       r"7, 0; this worker: out/model.ckpt-7\): every worker must see the same --output_dir out"):
        restore.check_workers_agree(model, info, "out")
