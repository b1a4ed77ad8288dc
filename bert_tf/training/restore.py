"""Where a model's weights come from: the newest checkpoint of `output_dir`, else an `init_checkpoint`.

Like the original Estimator, a checkpoint in `output_dir` (model, Adam slots and `global_step`: a re-run of an
interrupted command continues where it stopped) wins over `init_checkpoint` (pretrained weights; new heads
stay randomly initialized).
"""
from __future__ import annotations

import dataclasses
import os
from typing import List, Optional, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf import checkpoint as checkpoint_io
from bert_tf.checkpoint import CheckpointError
from bert_tf.training import sharding, strategies

_MISMATCHES_SHOWN = 3


@dataclasses.dataclass
class RestoreInfo:
    """Where a model's weights came from.

    Attributes:
      source: "output_dir" (resumed), "init_checkpoint" or "none" (random initialization).
      checkpoint: the checkpoint prefix read, or None.
      global_step: the step training continues from (0 unless resumed).
      report: the `bert_tf.checkpoint.LoadReport`, or None.
    """

    source: str
    checkpoint: Optional[str]
    global_step: int
    report: Optional[checkpoint_io.LoadReport] = None


def check_output_dir_checkpoint(model, output_dir: str) -> Optional[str]:
    """The newest checkpoint in `output_dir` if it fits `model`.

    Args:
      model: the model the checkpoint must fit (variable names and shapes).
      output_dir: the directory to look in (it may not exist).

    Returns:
      The checkpoint prefix, or None if `output_dir` holds no checkpoint.

    Raises:
      CheckpointError: one line naming output_dir, the checkpoint and the first 3 mismatching variables, when
        the checkpoint was written for a model of another shape (another bert_config.json or task).
    """
    latest = checkpoint_io.latest_checkpoint(output_dir) if tf.io.gfile.isdir(output_dir) else None
    if latest is None:
        return None
    problems = checkpoint_io.checkpoint_mismatches(model, latest)
    if problems:
        shown = _MISMATCHES_SHOWN
        more = f" (and {len(problems) - shown} more)" if len(problems) > shown else ""
        raise CheckpointError(
            f"output_dir {output_dir} holds checkpoint {os.path.basename(latest)} of another model: "
            f"{'; '.join(problems[:shown])}{more}; use a new output_dir, or delete its checkpoints to start over"
        )
    return latest


def restore_or_initialize(model, output_dir: Optional[str], init_checkpoint: Optional[str] = None,
                          expected_missing: Sequence[str] = (), optimizer=None) -> RestoreInfo:
    """Loads the newest checkpoint of `output_dir` (with the optimizer's slots and step), else `init_checkpoint`.

    Call in the cross-replica context (inside `strategy.scope()` or outside any strategy), after building the
    optimizer.

    Args:
      model: a built model whose variable paths are the checkpoint names.
      output_dir: the run's directory; its newest checkpoint wins. None: only `init_checkpoint` is read.
      init_checkpoint: a pretrained checkpoint prefix (or directory) used when `output_dir` holds none.
      expected_missing: regular expressions of model variables absent from `init_checkpoint` (new heads).
      optimizer: a built optimizer whose slots and step are restored from an `output_dir` checkpoint.

    Returns:
      A `RestoreInfo` (source "output_dir", "init_checkpoint" or "none").

    Raises:
      CheckpointError: a checkpoint that does not fit the model, or an unreadable `init_checkpoint`.
    """
    latest = check_output_dir_checkpoint(model, output_dir) if output_dir else None
    if latest is not None:
        info = _resume(model, latest, optimizer)
    elif init_checkpoint:
        report = checkpoint_io.load_checkpoint(model, init_checkpoint, expected_missing=expected_missing)
        logging.info("Initialized from %s: %s", report.checkpoint, report.summary())
        info = RestoreInfo("init_checkpoint", report.checkpoint, 0, report)
    else:
        logging.warning("No checkpoint in %s and no init_checkpoint: the model starts from random weights",
                        output_dir)
        info = RestoreInfo("none", None, 0, None)
    check_workers_agree(model, info, output_dir)
    return info


def weights_fingerprint(model) -> List[float]:
    """[sum, sum of absolute values] of all of `model`'s weights (float64): equal weights, equal fingerprints."""
    total = magnitude = 0.0
    for variable in model.weights:
        values = np.asarray(variable.numpy(), dtype=np.float64)
        total += float(values.sum())
        magnitude += float(np.abs(values).sum())
    return [total, magnitude]


def check_workers_agree(model, info: RestoreInfo, output_dir: Optional[str]) -> None:
    """Under several workers (inside their strategy's scope), checks that all restored the same step and weights.

    Every worker reads the newest checkpoint of the same `output_dir`; one that sees another folder (not a shared
    file system) or another `init_checkpoint` would train mirrored variables that differ, silently.

    Raises:
      CheckpointError: the workers' steps or weights differ (on every worker).
    """
    strategy = tf.distribute.get_strategy()
    if sharding.num_workers(strategy) == 1:
        return
    values = strategies.values_of_all_workers(strategy, [info.global_step] + weights_fingerprint(model))
    if np.all(values == values[:1]):
        return
    steps = ", ".join(str(int(step)) for step in values[:, 0])
    raise CheckpointError(
        f"the workers restored different weights (global_step per replica: {steps}; this worker: "
        f"{info.checkpoint or 'random initialization'}): every worker must see the same --output_dir {output_dir} "
        "(a shared file system or a bucket) and the same --init_checkpoint")


def _resume(model, latest: str, optimizer) -> RestoreInfo:
    """Loads `latest` (an `output_dir` checkpoint) into `model` and `optimizer`, warning about missing state."""
    report = checkpoint_io.load_checkpoint(model, latest, optimizer=optimizer)
    step = report.global_step or 0
    if optimizer is not None:
        expected_slots = len(optimizer.slot_variables_by_name())
        if report.optimizer_slots_restored < expected_slots:
            logging.warning("%s has %d of %d optimizer slots; the others start at zero", latest,
                            report.optimizer_slots_restored, expected_slots)
        if report.global_step is None:
            logging.warning("%s has no global_step; continuing from step 0", latest)
    logging.info("Resuming from %s (global_step %d)", latest, step)
    return RestoreInfo("output_dir", latest, step, report)
