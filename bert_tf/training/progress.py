"""Progress on stderr: a one-line bar on a terminal, absl log lines otherwise.

    step 120/344 [########............] 35% loss 0.5123 lr 1.6e-05 43.2 ex/s eta 0:00:52

Without a terminal a line is logged every `log_every_steps` steps and at least every
`LOG_INTERVAL_SECONDS` (30 s), so a log never goes quiet for long. `BatchProgress` does the same for
evaluation and prediction batches.
"""
from __future__ import annotations

import datetime
import math
import sys
import time
from typing import Optional, TextIO

from absl import logging

_BAR_WIDTH = 20
_MIN_REDRAW_SECONDS = 0.1
LOG_INTERVAL_SECONDS = 30.0


def _format_duration(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "?"
    return str(datetime.timedelta(seconds=int(round(seconds))))


class ProgressReporter:
    """Reports training steps.

    Args:
      total_steps: the step training ends at (num_train_steps).
      initial_step: the step training starts from (non-zero when resuming).
      log_every_steps: without a terminal, one absl INFO line every this many steps (and at the end).
      stream: where the bar goes (stderr).
      use_bar: draw a bar; None: only if `stream` is a terminal.
    """

    def __init__(self, total_steps: int, initial_step: int = 0, log_every_steps: int = 100,
                 stream: Optional[TextIO] = None, use_bar: Optional[bool] = None):
        self.total_steps = int(total_steps)
        self.initial_step = int(initial_step)
        self.log_every_steps = max(1, int(log_every_steps))
        self.stream = stream if stream is not None else sys.stderr
        if use_bar is None:
            use_bar = bool(getattr(self.stream, "isatty", lambda: False)())
        self.use_bar = use_bar
        self._start_time = time.monotonic()
        self._last_draw = 0.0
        self._last_log = self._start_time
        self._line_width = 0

    def line(self, step: int, loss: float, examples_per_second: float, learning_rate: Optional[float]) -> str:
        """The text of one progress report."""
        done = (step - self.initial_step) / max(1, self.total_steps - self.initial_step)
        elapsed = time.monotonic() - self._start_time
        eta = elapsed / done * (1 - done) if done > 0 else float("nan")
        fraction = step / max(1, self.total_steps)
        filled = int(round(_BAR_WIDTH * min(1.0, fraction)))
        parts = [f"step {step}/{self.total_steps}"]
        if self.use_bar:
            parts.append("[" + "#" * filled + "." * (_BAR_WIDTH - filled) + f"] {100 * fraction:3.0f}%")
        parts.append(f"loss {loss:.4f}")
        if learning_rate is not None:
            parts.append(f"lr {learning_rate:.2e}")
        parts.append(f"{examples_per_second:.1f} ex/s")
        parts.append(f"eta {_format_duration(eta)}")
        return " ".join(parts)

    def update(self, step: int, loss: float, examples_per_second: float,
               learning_rate: Optional[float] = None, force: bool = False) -> None:
        """Reports `step` (the global step after the update) and its loss, throughput and learning rate."""
        last = step >= self.total_steps
        if self.use_bar:
            now = time.monotonic()
            if not (force or last or now - self._last_draw >= _MIN_REDRAW_SECONDS):
                return
            self._last_draw = now
            text = self.line(step, loss, examples_per_second, learning_rate)
            padding = " " * max(0, self._line_width - len(text))
            self._line_width = len(text)
            self.stream.write("\r" + text + padding)
            self.stream.flush()
        else:
            now = time.monotonic()
            if force or last or step % self.log_every_steps == 0 or now - self._last_log >= LOG_INTERVAL_SECONDS:
                self._last_log = now
                logging.info("%s", self.line(step, loss, examples_per_second, learning_rate))

    def message(self, text: str) -> None:
        """Logs `text` without breaking the bar."""
        if self.use_bar and self._line_width:
            self.stream.write("\n")
            self._line_width = 0
        logging.info("%s", text)

    def close(self) -> None:
        if self.use_bar and self._line_width:
            self.stream.write("\n")
            self.stream.flush()
            self._line_width = 0


class BatchProgress:
    """Progress of an evaluation or prediction pass: `done/total` batches, examples/s and ETA.

    Logs a line at most every `LOG_INTERVAL_SECONDS` and at the end (`close`).

    Args:
      title: what runs (`evaluation`, `prediction`).
      total_batches: the number of batches, or None when unknown.
    """

    def __init__(self, title: str, total_batches: Optional[int] = None):
        self.title = title
        self.total_batches = total_batches
        self.batches = 0
        self.examples = 0
        self._start = self._last_log = time.monotonic()

    def update(self, examples: int) -> None:
        """Counts one batch of `examples` examples."""
        self.batches += 1
        self.examples += int(examples)
        now = time.monotonic()
        if now - self._last_log >= LOG_INTERVAL_SECONDS:
            self._last_log = now
            logging.info("%s", self.line(now))

    def line(self, now: Optional[float] = None) -> str:
        elapsed = (now or time.monotonic()) - self._start
        text = f"{self.title}: batch {self.batches}"
        if self.total_batches:
            done = self.batches / self.total_batches
            eta = elapsed / done * (1 - done) if done > 0 else float("nan")
            text += f"/{self.total_batches} eta {_format_duration(eta)}"
        return text + f", {self.examples / max(elapsed, 1e-9):.1f} ex/s"

    def close(self) -> None:
        elapsed = time.monotonic() - self._start
        logging.info("%s: %d examples in %s", self.title, self.examples, _format_duration(elapsed))
