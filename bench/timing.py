"""Timing helper shared by the bench scripts (imported from their own folder)."""
import statistics
import time


def median_seconds(call, repeats: int, warmup: int = 2) -> float:
    """Median wall time of `call()` over `repeats` calls after `warmup` untimed ones.

    `call` must block until its result is ready (e.g. `.numpy()` or `.block_until_ready()`).
    """
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)
