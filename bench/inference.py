"""Encoder forward throughput (sequences/s): bert_tf's BertModel against keras-hub's BertBackbone.

Both models get the same BERT-Base-sized config (random weights), the same inputs, and the same
harness: a `tf.function` around the forward pass, with XLA (`jit_compile=True`) and without, warmed up,
then timed in interleaved rounds so that both see the same machine load. Prints a markdown table with
sequences/s, achieved GFLOP/s and the ratio to the peer.

  python bench/inference.py                       # float32 and mixed_bfloat16, batch 32, seq 128
  python bench/inference.py --dtypes=float32 --rounds=3

keras-hub is optional (`pip install -e '.[bench]'`); without it only bert_tf is measured.
"""
import argparse
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import bert_tf  # noqa: E402

BASE = dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
            intermediate_size=3072, max_position_embeddings=512, type_vocab_size=2)


def forward_flops_per_sequence(config: dict, seq_length: int) -> float:
    """Multiply-adds x 2 of one encoder forward pass (dense layers and attention; no embeddings)."""
    hidden, inter, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    dense = 2 * seq_length * (4 * hidden * hidden + 2 * hidden * inter)
    attention = 2 * 2 * seq_length * seq_length * hidden
    pooler = 2 * hidden * hidden
    return layers * (dense + attention) + pooler


def make_inputs(batch_size, seq_length, vocab_size, seed=0):
    rng = np.random.RandomState(seed)
    input_ids = rng.randint(1000, vocab_size, size=(batch_size, seq_length)).astype(np.int32)
    mask = np.ones((batch_size, seq_length), np.int32)
    segments = np.zeros((batch_size, seq_length), np.int32)
    segments[:, seq_length // 2:] = 1
    return tf.constant(input_ids), tf.constant(mask), tf.constant(segments)


def bert_tf_forward(dtype, jit_compile):
    model = bert_tf.BertModel(bert_tf.BertConfig(**BASE), dtype=dtype)

    @tf.function(jit_compile=jit_compile)
    def forward(input_ids, input_mask, segment_ids):
        outputs = model({"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids})
        return outputs["sequence_output"], outputs["pooled_output"]

    return forward


def keras_hub_forward(dtype, jit_compile):
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=BASE["vocab_size"], num_layers=BASE["num_hidden_layers"],
        num_heads=BASE["num_attention_heads"], hidden_dim=BASE["hidden_size"],
        intermediate_dim=BASE["intermediate_size"], max_sequence_length=BASE["max_position_embeddings"],
        num_segments=BASE["type_vocab_size"], dtype=dtype,
    )

    @tf.function(jit_compile=jit_compile)
    def forward(input_ids, input_mask, segment_ids):
        outputs = backbone({"token_ids": input_ids, "padding_mask": input_mask, "segment_ids": segment_ids})
        return outputs["sequence_output"], outputs["pooled_output"]

    return forward


def time_call(forward, inputs):
    start = time.perf_counter()
    sequence_output, _ = forward(*inputs)
    sequence_output.numpy()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--seq_length", type=int, default=128)
    parser.add_argument("--dtypes", default="float32,mixed_bfloat16")
    parser.add_argument("--jit", default="false,true", help="comma list of jit_compile settings to measure")
    parser.add_argument("--rounds", type=int, default=5, help="timed calls per model (interleaved)")
    parser.add_argument("--no_peer", action="store_true", help="skip keras-hub")
    args = parser.parse_args()

    try:
        import keras_hub  # noqa: F401
        have_peer = not args.no_peer
    except ImportError:
        have_peer = False
        print("keras-hub not installed: measuring bert_tf only (pip install -e '.[bench]')", file=sys.stderr)

    inputs = make_inputs(args.batch_size, args.seq_length, BASE["vocab_size"])
    flops = forward_flops_per_sequence(BASE, args.seq_length) * args.batch_size
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"tensorflow {tf.__version__}, keras {keras.__version__}; batch {args.batch_size}, seq {args.seq_length}")
    print("| model | dtype | XLA | seq/s (median) | GFLOP/s | ratio to keras-hub |")
    print("|---|---|---|---|---|---|")
    for dtype in args.dtypes.split(","):
        for jit in [value.strip().lower() == "true" for value in args.jit.split(",")]:
            candidates = {"bert_tf": bert_tf_forward(dtype, jit)}
            if have_peer:
                candidates["keras-hub"] = keras_hub_forward(dtype, jit)
            timings = {name: [] for name in candidates}
            for name, forward in candidates.items():  # trace, compile, warm up
                time_call(forward, inputs)
                time_call(forward, inputs)
            for _ in range(args.rounds):
                for name, forward in candidates.items():
                    timings[name].append(time_call(forward, inputs))
            medians = {name: statistics.median(values) for name, values in timings.items()}
            for name, seconds in medians.items():
                ratio = f"{medians['keras-hub'] / seconds:.2f}" if have_peer else "n/a"
                print(f"| {name} | {dtype} | {jit} | {args.batch_size / seconds:.2f} | "
                      f"{flops / seconds / 1e9:.0f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
