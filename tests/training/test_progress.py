"""Tests for bert_tf.training.progress: the progress bar, and log lines at least every 30 seconds without a
terminal."""
import io

from bert_tf.training.progress import ProgressReporter


def test_progress_bar_and_log_lines():
    stream = io.StringIO()
    reporter = ProgressReporter(total_steps=10, initial_step=2, log_every_steps=5, stream=stream, use_bar=True)
    reporter.update(3, loss=0.6931, examples_per_second=12.5, learning_rate=2e-5, force=True)
    reporter.close()
    text = stream.getvalue()
    assert text.startswith("\rstep 3/10 [") and text.endswith("\n")
    assert "loss 0.6931" in text and "lr 2.00e-05" in text and "12.5 ex/s" in text and "eta" in text
    line = ProgressReporter(total_steps=10, use_bar=False).line(5, 0.5, 10.0, None)
    assert line.startswith("step 5/10 loss 0.5000 10.0 ex/s")


def test_progress_lines_at_least_every_30_seconds_without_a_terminal(monkeypatch):
    from absl import logging as absl_logging

    from bert_tf.training import progress

    clock = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    lines = []
    monkeypatch.setattr(absl_logging, "info", lambda fmt, *args: lines.append(fmt % args))
    reporter = ProgressReporter(total_steps=1000, log_every_steps=100, stream=io.StringIO(), use_bar=False)
    for step in range(1, 6):  # 5 steps, 40 s apart: each logs although none is a multiple of 100
        clock[0] += 40
        reporter.update(step, loss=1.0, examples_per_second=2.0)
    assert [line.split()[1] for line in lines] == ["1/1000", "2/1000", "3/1000", "4/1000", "5/1000"]
    lines.clear()
    reporter.update(6, loss=1.0, examples_per_second=2.0)  # 0 s later: quiet
    assert lines == []

    batches = progress.BatchProgress("evaluation", total_batches=10)
    for _ in range(4):
        clock[0] += 31
        batches.update(8)
    batches.close()
    assert len(lines) == 5 and lines[0].startswith("evaluation: batch 1/10") and "32 examples" in lines[-1]
