"""What a training run reports: TensorBoard scalars, the progress bar and its throughput.

`write_scalars` writes scalar summaries that TensorBoard reads without the `tensorboard` package installed.
`ThroughputTimer` measures a run's examples per second (for `TrainResult`); `TrainingReporter` moves the
progress bar after every call of the step function and writes `loss`, `learning_rate` and
`examples_per_second` every `log_every_steps` steps.
"""
from __future__ import annotations

import time
from typing import Mapping, Optional

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from bert_tf.training.progress import ProgressReporter


def scalar_metadata() -> bytes:
    """The serialized `SummaryMetadata` that marks a summary as a TensorBoard scalar."""
    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
    return metadata.SerializeToString()


def write_scalars(writer, step: int, scalars: Mapping[str, Optional[float]]) -> None:
    """Writes TensorBoard scalar summaries (None values skipped) without needing the tensorboard package.

    Args:
      writer: a `tf.summary` file writer.
      step: the step the scalars belong to.
      scalars: tag -> value; None values are left out.
    """
    metadata = scalar_metadata()
    with writer.as_default():
        for tag, value in scalars.items():
            if value is not None:
                tf.summary.write(tag, tf.constant(float(value), tf.float32), step=int(step), metadata=metadata)
    writer.flush()


class ThroughputTimer:
    """Examples per second over the calls of one run, leaving out the first call (it includes tracing).

    Feed it each call's wall time and examples with `add`. With a single call, that call counts anyway.
    """

    def __init__(self):
        self.total_seconds = 0.0
        self.total_examples = 0
        self._timed_seconds = 0.0
        self._timed_examples = 0
        self._first_call = True

    def add(self, seconds: float, examples: int) -> None:
        """Records one call of the step function."""
        self.total_seconds += seconds
        self.total_examples += examples
        if not self._first_call:
            self._timed_seconds += seconds
            self._timed_examples += examples
        self._first_call = False

    @property
    def examples_per_second(self) -> float:
        """The run's throughput (0.0 when nothing was timed)."""
        seconds, examples = self._timed_seconds, self._timed_examples
        if examples == 0:  # a single call: count it although it includes tracing
            seconds, examples = self.total_seconds, self.total_examples
        return examples / seconds if seconds > 0 else 0.0


class TrainingReporter:
    """The progress bar, and TensorBoard scalars every `log_every_steps` steps, of one training run.

    `examples_per_second` in both is measured over the window since the last write. Use as a context
    manager (or call `close`): it closes the bar and the event file.

    Args:
      total_steps: the step training stops at.
      start_step: the step this run starts from.
      log_every_steps: write scalars (and log lines when stderr is not a terminal) every this many steps.
      summary_dir: where the event file goes; None: no TensorBoard scalars.
      progress_bar: draw a bar on stderr; None: only when stderr is a terminal.
    """

    def __init__(self, total_steps: int, start_step: int, log_every_steps: int, summary_dir: Optional[str],
                 progress_bar: Optional[bool]):
        self.total_steps = total_steps
        self.log_every_steps = log_every_steps
        self._writer = tf.summary.create_file_writer(summary_dir) if summary_dir else None
        self._progress = ProgressReporter(total_steps, start_step, log_every_steps, use_bar=progress_bar)
        self._window_examples = 0
        self._window_start = time.perf_counter()

    def report(self, previous_step: int, step: int, loss: float, examples: int,
               learning_rate: Optional[float]) -> None:
        """Reports one call of the step function, which moved training from `previous_step` to `step`."""
        self._window_examples += examples
        now = time.perf_counter()
        examples_per_second = self._window_examples / max(1e-9, now - self._window_start)
        self._progress.update(step, loss, examples_per_second, learning_rate)
        if step // self.log_every_steps != previous_step // self.log_every_steps or step >= self.total_steps:
            if self._writer is not None:
                write_scalars(self._writer, step, {"loss": loss, "learning_rate": learning_rate,
                                                   "examples_per_second": examples_per_second})
            self._window_examples, self._window_start = 0, now

    def message(self, text: str) -> None:
        """Logs `text` without breaking the bar; the throughput window starts again after it (an
        evaluation's time is not training time)."""
        self._progress.message(text)
        self._window_examples, self._window_start = 0, time.perf_counter()

    def close(self) -> None:
        """Finishes the progress bar and closes the event file."""
        self._progress.close()
        if self._writer is not None:
            self._writer.close()

    def __enter__(self) -> "TrainingReporter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
