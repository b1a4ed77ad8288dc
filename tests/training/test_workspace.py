"""Tests for bert_tf.training.workspace: a run's `--output_dir` (which task it belongs to, one run at a
time, no stale temporaries, only the chief writes there)."""
import json
import os

import keras
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("the scripts train with the TensorFlow backend", allow_module_level=True)

from bert_tf.training import workspace  # noqa: E402
from tests.harness.scripts import assert_fails_cleanly, glue_subset, run_main  # noqa: E402


def test_only_the_chief_writes_to_output_dir(tmp_path):
    with workspace.claim_output_dir(str(tmp_path / "out"), "test") as folder:
        assert folder == str(tmp_path / "out")
    with workspace.claim_output_dir(str(tmp_path / "out"), "test", chief=False) as folder:
        assert folder != str(tmp_path / "out") and os.path.isdir(folder)
        (tmp_path / "marker").write_text(folder)
    assert not os.path.exists(folder)
    assert sorted(os.listdir(tmp_path / "out")) == []


def test_output_dir_of_another_task_is_refused_and_locked_while_in_use(tmp_path, data_dir, tiny_ckpt_dir, capsys):
    mrpc = glue_subset(data_dir / "glue" / "MRPC", tmp_path / "MRPC")
    output_dir = tmp_path / "out"
    common = [f"--data_dir={mrpc}", f"--bert_dir={tiny_ckpt_dir}", f"--output_dir={output_dir}",
              "--max_seq_length=32"]
    assert run_main("run_classifier", "--task=MRPC", "--do_train", "--max_train_steps=1", *common) == 0
    assert json.loads((output_dir / workspace.RUN_FILE).read_text())["task"] == "classification/mrpc"
    # RTE has two labels too: its checkpoint would fit, and the run would silently resume MRPC's.
    rte = glue_subset(data_dir / "glue" / "RTE", tmp_path / "RTE")
    assert_fails_cleanly(capsys, "run_classifier", ["--task=RTE", "--do_eval", f"--data_dir={rte}", *common[1:]],
                         "classification/mrpc", output_dir=output_dir)

    # A live process holds the lock (this test's own parent process stands in for a second run).
    (output_dir / workspace.LOCK_FILE).write_text(str(os.getppid()))
    assert_fails_cleanly(capsys, "run_classifier", ["--task=MRPC", "--do_eval", *common], "in use by another run",
                         output_dir=output_dir)
    # A lock left by a dead process, and temporary files of a killed run, are cleaned up.
    (output_dir / workspace.LOCK_FILE).write_text("999999999")
    (output_dir / "eval_results.txt.tmp-deadbeef").write_text("half")
    assert run_main("run_classifier", "--task=MRPC", "--do_eval", *common) == 0
    assert not (output_dir / workspace.LOCK_FILE).exists()
    assert not list(output_dir.glob("*.tmp-*"))
