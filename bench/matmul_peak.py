"""Peak matmul throughput of this machine in float32 and bfloat16: the roofline for every other figure.

A BERT step is almost all matmuls, so a `mixed_bfloat16` policy can only beat float32 where the hardware
multiplies bfloat16 faster than float32 (AVX-512 BF16 or AMX on x86, tensor cores on GPUs). This script
measures a [M, K] x [K, N] matmul (BERT-Base's feed-forward shape by default) in both dtypes with every
engine available in the environment:

* TensorFlow eager (oneDNN kernels when `TF_ENABLE_ONEDNN_OPTS=1`, Eigen otherwise);
* TensorFlow with XLA (`tf.function(jit_compile=True)`);
* JAX (`jax.jit`), when `jax` is installed;

and prints GFLOP/s per engine and dtype, the bfloat16 / float32 ratio, and the CPU's bfloat16-related
instruction flags from /proc/cpuinfo.

  TF_ENABLE_ONEDNN_OPTS=1 python bench/matmul_peak.py
  python bench/matmul_peak.py --m=4096 --k=768 --n=3072 --repeats=20
"""
import argparse
import os
import platform
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from timing import median_seconds  # noqa: E402  (bench/timing.py)

BF16_CPU_FLAGS = ("avx512f", "avx512_bf16", "amx_bf16", "avx_vnni", "avx2", "fma")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--m", type=int, default=4096, help="rows of the left operand (batch 32 x seq 128)")
    parser.add_argument("--k", type=int, default=768, help="contraction size (BERT-Base hidden size)")
    parser.add_argument("--n", type=int, default=3072, help="columns of the right operand (intermediate size)")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per engine and dtype (median)")
    parser.add_argument("--no-jax", dest="jax", action="store_false", help="skip JAX even if installed")
    return parser.parse_args(argv)


def cpu_flags() -> list:
    """The flags of `BF16_CPU_FLAGS` that /proc/cpuinfo lists (empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return [flag for flag in BF16_CPU_FLAGS if flag in present]
    except OSError:
        pass
    return []


def tensorflow_timings(args) -> dict:
    import tensorflow as tf

    results = {}
    for dtype in ("float32", "bfloat16"):
        left = tf.cast(tf.random.normal([args.m, args.k]), dtype)
        right = tf.cast(tf.random.normal([args.k, args.n]), dtype)
        compiled = tf.function(tf.matmul, jit_compile=True)
        results[("tensorflow", dtype)] = median_seconds(lambda: tf.matmul(left, right).numpy(), args.repeats)
        results[("tensorflow XLA", dtype)] = median_seconds(lambda: compiled(left, right).numpy(), args.repeats)
    return results


def jax_timings(args) -> dict:
    import jax
    import jax.numpy as jnp

    results = {}
    multiply = jax.jit(jnp.matmul)
    for dtype in ("float32", "bfloat16"):
        keys = jax.random.split(jax.random.PRNGKey(0))
        left = jax.random.normal(keys[0], (args.m, args.k)).astype(dtype)
        right = jax.random.normal(keys[1], (args.k, args.n)).astype(dtype)
        results[("jax", dtype)] = median_seconds(lambda: multiply(left, right).block_until_ready(), args.repeats)
    return results


def format_table(args, seconds: dict) -> str:
    flops = 2.0 * args.m * args.k * args.n
    lines = [
        f"# matmul [{args.m},{args.k}]x[{args.k},{args.n}], median of {args.repeats}; machine: "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; CPU flags: "
        f"{', '.join(cpu_flags()) or 'unknown'}; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}",
        "",
        "| engine | float32 GFLOP/s | bfloat16 GFLOP/s | bfloat16 / float32 |",
        "|---|---|---|---|",
    ]
    for engine in dict.fromkeys(engine for engine, _ in seconds):
        float32 = flops / seconds[(engine, "float32")] / 1e9
        bfloat16 = flops / seconds[(engine, "bfloat16")] / 1e9
        lines.append(f"| {engine} | {float32:.1f} | {bfloat16:.1f} | {bfloat16 / float32:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    seconds = tensorflow_timings(args)
    if args.jax:
        try:
            seconds.update(jax_timings(args))
        except ImportError:
            print("jax is not installed: skipping it", file=sys.stderr)
    print(format_table(args, seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
