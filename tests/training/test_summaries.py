"""Tests for bert_tf.training.summaries: the throughput timer (examples per second)."""
import pytest

from bert_tf.training.summaries import ThroughputTimer


def test_throughput_timer_leaves_out_the_first_call():
    timer = ThroughputTimer()
    timer.add(10.0, 8)
    assert timer.examples_per_second == pytest.approx(0.8)  # a single call counts although it traced
    timer.add(1.0, 8)
    timer.add(1.0, 8)
    assert timer.examples_per_second == pytest.approx(8.0)
    assert (timer.total_seconds, timer.total_examples) == (12.0, 24)
    assert ThroughputTimer().examples_per_second == 0.0
