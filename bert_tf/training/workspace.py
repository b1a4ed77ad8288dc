"""The `--output_dir` of a run: which task it belongs to, one run at a time, no stale temporaries.

`claim_output_dir(output_dir, task)` is entered by every task's `run` before it writes anything:

* `output_dir/bert_tf_run.json` records the task (`classification/mrpc`, `squad`, ...) once the folder
  holds checkpoints. A folder that holds another task's run is refused (resuming it would train the
  wrong head, or silently exit 0).
* `output_dir/bert_tf.lock` holds the process id while the run lasts; a second run into the same folder
  is refused while that process lives (a lock left by a killed run is taken over).
* Temporary files (`*.tmp-*`) that a killed run left are removed.

It yields the folder this process writes its files to (features, results, predictions, exports): `output_dir`
itself, except on the non-chief workers of a multi-worker run, which write to a temporary folder of their own,
deleted at the end, and only read `output_dir` (the chief's checkpoints).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from typing import Iterator

from absl import logging

from bert_tf import files
from bert_tf.errors import InputError, UserError

RUN_FILE = "bert_tf_run.json"
LOCK_FILE = "bert_tf.lock"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_json(path: str) -> dict:
    gfile = files.tf_gfile()
    try:
        with gfile.GFile(path, "r") as reader:
            return json.load(reader)
    except (ValueError, OSError):
        return {}


def _has_checkpoint(output_dir: str) -> bool:
    return files.tf_gfile().exists(os.path.join(output_dir, "checkpoint"))


def _recorded_task(output_dir: str):
    run_file = os.path.join(output_dir, RUN_FILE)
    return _read_json(run_file).get("task") if files.tf_gfile().exists(run_file) else None


def check_task(output_dir: str, task: str) -> None:
    """Raises InputError if `output_dir` holds checkpoints of a run of another task."""
    recorded = _recorded_task(output_dir)
    if recorded and recorded != task and _has_checkpoint(output_dir):
        raise InputError(f"--output_dir {output_dir} holds a {recorded} run, not {task}: use another "
                         f"--output_dir (or delete its checkpoints to start over)")


def record_task(output_dir: str, task: str) -> None:
    """Records `task` in `output_dir` once it holds checkpoints (a run that wrote nothing leaves no trace)."""
    if _has_checkpoint(output_dir) and _recorded_task(output_dir) != task:
        files.atomic_write_text(os.path.join(output_dir, RUN_FILE), json.dumps({"task": task}) + "\n")


def _acquire_lock(output_dir: str) -> str:
    """Creates the lock file with this process id; raises InputError while another live run holds it."""
    path = os.path.join(output_dir, LOCK_FILE)
    for _ in range(2):
        try:
            descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                with open(path, encoding="utf-8") as reader:
                    owner = int(reader.read().strip() or 0)
            except (OSError, ValueError):
                owner = 0
            if owner and owner != os.getpid() and _process_alive(owner):
                raise InputError(f"--output_dir {output_dir} is in use by another run (process {owner}); "
                                 f"wait for it to finish or use another --output_dir") from None
            logging.info("Taking over the lock %s left by process %s", path, owner or "?")
            os.remove(path)
            continue
        with os.fdopen(descriptor, "w") as writer:
            writer.write(str(os.getpid()))
        return path
    raise InputError(f"cannot lock --output_dir {output_dir}")


@contextlib.contextmanager
def claim_output_dir(output_dir: str, task: str, chief: bool = True) -> Iterator[str]:
    """Holds `output_dir` for one run of `task` (see the module docstring); yields the folder to write to.

    Args:
      output_dir: the run's folder (created if missing).
      task: the task's name, recorded and compared.
      chief: False for non-chief workers of a multi-worker run: they neither lock nor record, and write to
        a temporary folder (yielded, deleted at the end) instead of `output_dir`.
    """
    files.tf_gfile().makedirs(output_dir)
    if not chief:
        scratch = tempfile.mkdtemp(prefix="bert_tf_worker_")
        try:
            yield scratch
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return
    local = not files.is_remote(output_dir)
    lock = _acquire_lock(output_dir) if local else None
    try:
        check_task(output_dir, task)
        removed = files.remove_stale_temporaries(output_dir)
        if removed:
            logging.info("Removed %d temporary files an interrupted run left in %s", removed, output_dir)
        yield output_dir
    except UserError:
        raise  # a run refused for bad input leaves the folder as it was
    except BaseException:
        record_task(output_dir, task)  # interrupted or crashed: its checkpoints are this task's
        raise
    else:
        record_task(output_dir, task)
    finally:
        if lock is not None and os.path.exists(lock):
            os.remove(lock)
