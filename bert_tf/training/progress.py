"""Training progress on stderr: a one-line bar on a terminal, absl log lines otherwise.

    step 120/344 [########............] 35% loss 0.5123 lr 1.6e-05 43.2 ex/s eta 0:00:52
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
        elif force or last or step % self.log_every_steps == 0:
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
