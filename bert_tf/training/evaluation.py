"""Evaluation during training (`--eval_every_steps`, `--keep_best`, `--early_stopping_patience`).

An `EvalMonitor` is what `Trainer.train` calls every `every_steps` steps (after writing that step's
checkpoint), and what the driver calls once more at the end:

* each evaluation's results (the `eval_results.txt` keys, `global_step` included) are logged, appended as
  one JSON line to `eval_history.jsonl` and written as TensorBoard scalars to `eval/` in the run's folder;
* with `keep_best=<key>`, the model of the best evaluation so far is written to `best/model.ckpt-<step>`
  with its `best/eval_results.txt` (higher is better, except for keys ending in `loss`, `mse`, `mae`,
  `error` or `perplexity`); `restore_best` loads it back for prediction and export;
* with `patience` K, training stops after K evaluations in a row without a better value.

A resumed run (`resume`) reads the history back: evaluations after the step it resumes from are dropped
(training redoes them), the best value and the count of evaluations without improvement carry on, and a
run that had stopped early does not train again.
"""
from __future__ import annotations

import json
import math
import os
from typing import Callable, Dict, List, Optional

import tensorflow as tf
from absl import logging

from bert_tf import checkpoint as checkpoint_io
from bert_tf import files
from bert_tf.errors import InputError
from bert_tf.training.summaries import write_scalars

HISTORY_FILE = "eval_history.jsonl"
BEST_FOLDER = "best"
SUMMARY_FOLDER = "eval"
BEST_CHECKPOINT_BASENAME = "model.ckpt"
LOWER_IS_BETTER_SUFFIXES = ("loss", "mse", "mae", "error", "perplexity")

# evaluate(global_step) -> the eval_results.txt values of the model as it is now.
EvaluateFn = Callable[[int], Dict[str, float]]


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of `metric` is better (`eval_loss`, `eval_mse`, ...)."""
    return metric.lower().endswith(LOWER_IS_BETTER_SUFFIXES)


def read_history(path: str) -> List[Dict[str, float]]:
    """The evaluations of an `eval_history.jsonl` (none when the file is absent).

    Raises:
      InputError: a line that is not a JSON object with a `global_step`.
    """
    if not tf.io.gfile.exists(path):
        return []
    entries = []
    for line_number, entry in files.json_objects(path, files.read_text_file(path)):
        if "global_step" not in entry:
            raise InputError(f"{path}:{line_number}: an evaluation without global_step")
        entries.append(entry)
    return entries


class EvalMonitor:
    """Evaluations during training, the best checkpoint and early stopping (see the module docstring).

    Args:
      folder: the run's folder (`output_dir`; another worker's temporary folder).
      every_steps: evaluate every this many steps (None: only at the end).
      evaluate: `evaluate(global_step)` -> the model's `eval_results.txt` values now.
      model: the model being trained (written to `best/`, and loaded back by `restore_best`).
      keep_best: the results key to keep the best checkpoint by (None: keep none).
      patience: stop after this many evaluations without improvement (None: never).
      log: `log(text)` writes a progress line (default: `logging.info`).
    """

    def __init__(self, folder: str, every_steps: Optional[int], evaluate: EvaluateFn, model,
                 keep_best: Optional[str] = None, patience: Optional[int] = None,
                 log: Optional[Callable[[str], None]] = None):
        self.folder = folder
        self.every_steps = every_steps
        self._evaluate = evaluate
        self.model = model
        self.keep_best = keep_best
        self.patience = patience
        self.log = log or (lambda text: logging.info("%s", text))
        self.history: List[Dict[str, float]] = []
        self.best: Optional[Dict[str, float]] = None
        self.evaluations_without_improvement = 0
        self._writer = None

    @property
    def history_path(self) -> str:
        return os.path.join(self.folder, HISTORY_FILE)

    @property
    def best_folder(self) -> str:
        return os.path.join(self.folder, BEST_FOLDER)

    # -- state ------------------------------------------------------------------------------------------
    def resume(self, start_step: int) -> None:
        """Takes back the history of the evaluations up to `start_step` (the step training resumes from),
        rewriting `eval_history.jsonl` without later ones, and the best evaluation and patience count."""
        entries = read_history(self.history_path)
        kept = [entry for entry in entries if int(entry["global_step"]) <= start_step]
        if len(kept) != len(entries):
            logging.info("Resuming at step %d: dropping %d later evaluation(s) from %s", start_step,
                         len(entries) - len(kept), self.history_path)
        self.history = []
        for entry in kept:
            self._update_best(entry, write=False)
            self.history.append(entry)
        if len(kept) != len(entries):
            self._write_history()
        if self.best is not None and self._best_checkpoint_step() != int(self.best["global_step"]):
            logging.warning("%s does not hold the checkpoint of the best evaluation (step %d): the next "
                            "evaluation starts the comparison again", self.best_folder, self.best["global_step"])
            self.best, self.evaluations_without_improvement = None, 0
        if self.history:
            self.log(f"Resumed the evaluation history: {len(self.history)} evaluation(s){self._best_note()}")

    def evaluated(self, step: int) -> bool:
        """Whether the history holds an evaluation at `step`."""
        return any(int(entry["global_step"]) == step for entry in self.history)

    def stopped(self) -> bool:
        """Whether early stopping has ended training (patience used up)."""
        return self.patience is not None and self.evaluations_without_improvement >= self.patience

    def due(self, previous_step: int, step: int) -> bool:
        """Whether the call that moved training from `previous_step` to `step` crossed an evaluation step."""
        every = self.every_steps
        return bool(every) and step // every != previous_step // every and not self.evaluated(step)

    # -- evaluating -------------------------------------------------------------------------------------
    def evaluate(self, step: int) -> Dict[str, float]:
        """Evaluates the model at `step`; records, logs and keeps the results (see the module docstring).

        Raises:
          InputError: `keep_best` is not one of the results' keys (naming those there are).
        """
        results = {key: _plain(value) for key, value in self._evaluate(step).items()}
        results["global_step"] = int(step)
        if self.keep_best and self.keep_best not in results:
            raise InputError(f"--keep_best={self.keep_best} is not an evaluation result; the results are "
                             f"{', '.join(sorted(key for key in results if key != 'global_step'))}")
        improved = self._update_best(results, write=True)
        self.history.append(results)
        self._write_history()
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.folder, SUMMARY_FOLDER))
        write_scalars(self._writer, step, {key: value for key, value in results.items()
                                           if key != "global_step" and isinstance(value, (int, float))})
        shown = ", ".join(f"{key} {_format(value)}" for key, value in sorted(results.items())
                          if key != "global_step")
        note = " (best so far)" if improved and self.keep_best else self._best_note()
        if self.stopped():
            note += f"; {self.patience} evaluation(s) without improvement: stopping early"
        self.log(f"evaluation at step {step}: {shown}{note}")
        return results

    def _write_history(self) -> None:
        """`eval_history.jsonl` rewritten whole (through a temporary name): one JSON line per evaluation."""
        files.atomic_write_text(self.history_path, "".join(json.dumps(entry) + "\n" for entry in self.history))

    def _update_best(self, results: Dict[str, float], write: bool) -> bool:
        """Compares `results` with the best so far; keeps them (and, with `write`, the model) when better."""
        if not self.keep_best or self.keep_best not in results:
            return False
        value = float(results[self.keep_best])
        best = None if self.best is None else float(self.best[self.keep_best])
        better = best is None or (math.isfinite(value) and (value < best if lower_is_better(self.keep_best)
                                                            else value > best))
        if better:
            self.best, self.evaluations_without_improvement = results, 0
            if write:
                self._write_best(results)
        else:
            self.evaluations_without_improvement += 1
        return better

    def _write_best(self, results: Dict[str, float]) -> None:
        """`best/model.ckpt-<step>` (the model only; the older one deleted) and `best/eval_results.txt`."""
        prefix = os.path.join(self.best_folder, f"{BEST_CHECKPOINT_BASENAME}-{int(results['global_step'])}")
        checkpoint_io.save_checkpoint(self.model, prefix, global_step=int(results["global_step"]), max_to_keep=1)
        files.write_eval_results(os.path.join(self.best_folder, files.EVAL_RESULTS_FILE), results)

    def _best_checkpoint_step(self) -> Optional[int]:
        prefix = checkpoint_io.latest_checkpoint(self.best_folder)
        if prefix is None:
            return None
        suffix = prefix.rsplit("-", 1)[-1]
        return int(suffix) if suffix.isdigit() else None

    def _best_note(self) -> str:
        if not self.keep_best or self.best is None:
            return ""
        return (f" (best {self.keep_best} {_format(self.best[self.keep_best])} at step "
                f"{int(self.best['global_step'])})")

    # -- the end ----------------------------------------------------------------------------------------
    def final(self, step: int) -> Dict[str, float]:
        """The run's last evaluation: at `step` unless the history has it; with `keep_best`, the best
        model is loaded back and the best evaluation's results are returned."""
        latest = next((entry for entry in reversed(self.history) if int(entry["global_step"]) == step), None)
        results = latest if latest is not None else self.evaluate(step)
        if self.keep_best and self.best is not None:
            self.restore_best()
            return dict(self.best)
        return results

    def restore_best(self) -> str:
        """Loads `best/`'s checkpoint into the model; returns its prefix."""
        prefix = checkpoint_io.latest_checkpoint(self.best_folder)
        if prefix is None:
            raise InputError(f"{self.best_folder} holds no checkpoint")
        checkpoint_io.load_checkpoint(self.model, prefix)
        self.log(f"Using the best evaluation's checkpoint {prefix}{self._best_note()}")
        return prefix

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _plain(value):
    """A results value as a JSON-writable Python number (numpy scalars included)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return int(number) if isinstance(value, int) or (hasattr(value, "dtype") and value.dtype.kind in "iu") \
        else number


def _format(value) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
