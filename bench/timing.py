"""Timing helpers shared by the bench scripts (imported from their own folder)."""
import platform
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


def torch_training_examples_per_second(model, optimizer, batches, warmup_steps: int, loss_of) -> float:
    """Training examples/s of a PyTorch peer: for each batch, `loss_of(model, batch)` (the forward pass),
    backward, gradient clipping at 1.0 and `optimizer.step()`; the first `warmup_steps` batches are not
    timed. `batches`: an iterable of dicts of tensors, each with `input_ids` [B, L]."""
    import torch

    model.train()
    seconds, examples = 0.0, 0
    for index, batch in enumerate(batches):
        started = time.perf_counter()
        loss = loss_of(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if index >= warmup_steps:
            seconds += time.perf_counter() - started
            examples += len(batch["input_ids"])
    return examples / seconds


def cpu_model() -> str:
    """The CPU's model name and its vector/matrix flags that matter here (avx2, avx512f, avx512_bf16,
    avx512_vnni, amx*), from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as reader:
            info = reader.read()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    wanted = [flag for flag in flags if flag.startswith(("avx512f", "avx512_bf16", "avx512_vnni", "amx", "avx2"))]
    return f"{model} ({', '.join(wanted)})"
