"""Serving speed of the raw-text SavedModel: per-batch padding against padding every request to 128.

Builds a MiniLM (L6, H384, uncased) classifier with a random 2-label head (speed does not depend on
fine-tuning), exports it with `bert_tf.serving.export_classifier` several ways into a temporary folder,
loads every export in this process (`tf.saved_model.load`, as a Python client of TF Serving's graph
would) and measures, interleaved batch by batch and request by request so that every variant sees the
same machine load:

* raw-text throughput: pairs/s over MRPC dev (408 pairs, in file order) in batches of 32;
* single-request latency, p50 and p95: short pairs (at most 16 word pieces packed) and long pairs (the
  longest MRPC dev pairs), one request at a time.

Variants (`serving_default` unless said otherwise):

  default         the export's defaults: each batch padded to its longest row rounded up to 8, and the
                  model run on length-sorted sub-batches of `--sub_batch_size` (8) rows, each cut to
                  its own longest row rounded up to 8
  xla             default, exported with `jit_compile=True` (the model part XLA-compiled)
  whole_batch     each batch padded to its longest row rounded up to 8, the whole batch at once
  fixed_lengths   whole_batch, but padded to the smallest of `--padded_lengths` that fits
  bfloat16        default, served under the mixed_bfloat16 dtype policy
  today           `pad_to_max_length=True`: every request padded to 128, the whole batch at once (the
                  behaviour before)
  serve_ids_128   the default export's `serve_ids` with FullTokenizer ids padded to 128 (model only,
                  no tokenization in the timing)
  keras_hub       keras-hub's `BertTextClassifier` (same MiniLM sizes, random weights) behind its
                  `BertTextClassifierPreprocessor` at sequence length 128, in one `tf.function`
                  (only when keras-hub is installed: `pip install -e '.[bench]'`)

Prints the figures and the ratios to `today` on stdout, with the CPU, TensorFlow's oneDNN setting and
the load average before and after.

  python bench/serving.py                    # 3 rounds, 100 single requests per kind
  python bench/serving.py --rounds=1 --latency_requests=20 --variants=default,today   # quick
"""
import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)
from matmul_peak import cpu_flags  # noqa: E402  (bench/matmul_peak.py)

import bert_tf  # noqa: E402
from bert_tf import serving, tokenization  # noqa: E402
from bert_tf.checkpoint import load_checkpoint  # noqa: E402
from bert_tf.tasks.classification import examples as glue  # noqa: E402
from bert_tf.tokenization import packing  # noqa: E402

SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(PROJECT_ROOT), "shared"))
VARIANTS = ("default", "xla", "whole_batch", "fixed_lengths", "bfloat16", "today", "serve_ids_128", "keras_hub")
SHORT_TOKENS = 16  # "short" requests: at most this many packed word pieces
LABELS = ["0", "1"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bert_dir", default=os.path.join(SHARED, "checkpoints", "minilm_l6_h384_uncased"))
    parser.add_argument("--data_dir", default=os.path.join(SHARED, "data", "glue", "MRPC"))
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed passes over MRPC dev per variant (median)")
    parser.add_argument("--latency_requests", type=int, default=100,
                        help="single requests per kind and variant")
    parser.add_argument("--long_pairs", type=int, default=50,
                        help="how many of the longest dev pairs are 'long'")
    parser.add_argument("--padded_lengths", default="16,32,64,96,128", help="the fixed_lengths variant's set")
    parser.add_argument("--sub_batch_size", type=int, default=serving.SUB_BATCH_SIZE,
                        help="rows per sub-batch of the default and bfloat16 variants")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated subset of: " + ", ".join(VARIANTS))
    parser.add_argument("--seed", type=int, default=0, help="seed of the random head")
    return parser.parse_args(argv)


# -------------------------------------------------------------------------------------------- inputs
def mrpc_pairs(args):
    examples = glue.get_processor("MRPC").get_dev_examples(args.data_dir)
    return [(example.text_a, example.text_b) for example in examples]


def packed_features(tokenizer, pairs, max_seq_length):
    """FullTokenizer + the original packing, padded to `max_seq_length`: int32 arrays [N, S]."""
    rows = [packing.encode_text_pair(tokenizer, a, b, max_seq_length) for a, b in pairs]
    return {key: np.array([getattr(row, key) for row in rows], np.int32)
            for key in ("input_ids", "input_mask", "segment_ids")}


def short_pairs(tokenizer, pairs, max_seq_length):
    """MRPC dev pairs cut to their first words so that each packs to at most `SHORT_TOKENS` pieces."""
    result = []
    for text_a, text_b in pairs:
        for words in (4, 3, 2, 1):
            short = (" ".join(text_a.split()[:words]), " ".join(text_b.split()[:words]))
            if packed_features(tokenizer, [short], max_seq_length)["input_mask"].sum() <= SHORT_TOKENS:
                result.append(short)
                break
    return result


# -------------------------------------------------------------------------------------------- models
def build_model(args):
    """MiniLM with a random 2-label head (seeded)."""
    config = bert_tf.BertConfig.from_json_file(os.path.join(args.bert_dir, "bert_config.json"))
    model = bert_tf.BertClassifier(config, num_labels=len(LABELS))
    load_checkpoint(model, args.bert_dir, expected_missing=["output_weights", "output_bias"])
    randomizer = np.random.default_rng(args.seed)
    head = model.classifier
    head.output_weights.assign(randomizer.normal(0.0, 0.05, head.output_weights.shape).astype(np.float32))
    head.output_bias.assign(np.zeros(head.output_bias.shape, np.float32))
    return model, config


def export_options(args) -> dict:
    """`export_classifier` keyword options of each variant that has its own export."""
    lengths = [int(length) for length in args.padded_lengths.split(",") if length]
    return {"default": {"sub_batch_size": args.sub_batch_size}, "whole_batch": {"sub_batch_size": None},
            "fixed_lengths": {"padded_lengths": lengths, "sub_batch_size": None},
            "bfloat16": {"serving_dtype": "mixed_bfloat16", "sub_batch_size": args.sub_batch_size},
            "xla": {"sub_batch_size": args.sub_batch_size, "jit_compile": True},
            "today": {"pad_to_max_length": True}}


def keras_hub_classifier(args, config):
    """keras-hub's text classifier with its preprocessor at `max_seq_length`, as one traced function of
    (text_a, text_b) -> probabilities; None (with a message) without keras-hub."""
    try:
        import keras_hub
    except ImportError as error:
        print(f"keras_hub: skipped ({error}; `pip install -e '.[bench]'`)")
        return None
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=config.vocab_size, num_layers=config.num_hidden_layers,
        num_heads=config.num_attention_heads, hidden_dim=config.hidden_size,
        intermediate_dim=config.intermediate_size, max_sequence_length=config.max_position_embeddings,
        num_segments=config.type_vocab_size)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=os.path.join(args.bert_dir, "vocab.txt"),
                                               lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer,
                                                                   sequence_length=args.max_seq_length)
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=len(LABELS), preprocessor=None)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)] * 2)
    def probabilities(text_a, text_b):
        features = preprocessor((text_a, text_b), y=None)  # y=None: the tuple is two segments, not (x, y)
        return tf.nn.softmax(classifier(features, training=False), axis=-1)

    print(f"keras_hub: {keras_hub.__version__}")
    return probabilities


def text_caller(loaded):
    signature = loaded.signatures["serving_default"]
    return lambda text_a, text_b: signature(text_a=text_a, text_b=text_b)["probabilities"].numpy()


def ids_caller(loaded, tokenizer, max_seq_length):
    """serve_ids with FullTokenizer ids padded to `max_seq_length`; tokenized before timing (cached)."""
    signature = loaded.signatures["serve_ids"]
    cache = {}

    def call(text_a, text_b):
        key = (text_a.ref(), text_b.ref())
        if key not in cache:
            pairs = list(zip((t.decode() for t in text_a.numpy()), (t.decode() for t in text_b.numpy())))
            cache[key] = {name: tf.constant(value)
                          for name, value in packed_features(tokenizer, pairs, max_seq_length).items()}
        return signature(**cache[key])["probabilities"].numpy()

    return call


def callers(args, model, config, tokenizer, folder, names):
    """{variant: call(text_a, text_b) -> probabilities} for the requested variants."""
    options = export_options(args)
    vocab_file = os.path.join(args.bert_dir, "vocab.txt")
    loaded = {}
    needed = set(names) | ({"default"} if "serve_ids_128" in names else set())
    for name in [name for name in options if name in needed]:
        path = serving.export_classifier(model, vocab_file, True, args.max_seq_length, LABELS,
                                         os.path.join(folder, name), **options[name])
        loaded[name] = tf.saved_model.load(path)
    result = {name: text_caller(loaded[name]) for name in options if name in names}
    if "serve_ids_128" in names:
        result["serve_ids_128"] = ids_caller(loaded["default"], tokenizer, args.max_seq_length)
    if "keras_hub" in names:
        peer = keras_hub_classifier(args, config)
        if peer is not None:
            result["keras_hub"] = lambda text_a, text_b: peer(text_a, text_b).numpy()
    return result


# -------------------------------------------------------------------------------------------- timing
def batches(pairs, batch_size):
    return [(tf.constant([a for a, _ in pairs[start:start + batch_size]]),
             tf.constant([b for _, b in pairs[start:start + batch_size]]))
            for start in range(0, len(pairs), batch_size)]


def throughput(calls, pairs, args) -> dict:
    """{variant: median pairs/s} over `args.rounds` passes over `pairs`.

    Interleaved batch by batch (every variant runs each batch in turn, in a rotating order), so that a
    change of machine load during a pass hits every variant alike.
    """
    inputs = batches(pairs, args.batch_size)
    for call in calls.values():  # warm-up: trace, and one call per padded length
        for text_a, text_b in inputs:
            call(text_a, text_b)
    names = list(calls)
    seconds = {name: [0.0] * args.rounds for name in names}
    for round_index in range(args.rounds):
        for batch_index, (text_a, text_b) in enumerate(inputs):
            shift = (round_index * len(inputs) + batch_index) % len(names)
            for name in names[shift:] + names[:shift]:
                started = time.perf_counter()
                calls[name](text_a, text_b)
                seconds[name][round_index] += time.perf_counter() - started
    return {name: len(pairs) / statistics.median(values) for name, values in seconds.items()}


def latency(calls, pairs, requests: int) -> dict:
    """{variant: (p50 ms, p95 ms)} of single requests cycling through `pairs`, variants interleaved
    request by request."""
    inputs = batches(pairs, 1)
    for call in calls.values():  # warm-up: every request once (XLA compiles each new length once)
        for text_a, text_b in inputs[:requests]:
            call(text_a, text_b)
    times = {name: [] for name in calls}
    for index in range(requests):
        text_a, text_b = inputs[index % len(inputs)]
        for name, call in calls.items():
            started = time.perf_counter()
            call(text_a, text_b)
            times[name].append(1000 * (time.perf_counter() - started))
    return {name: (float(np.percentile(values, 50)), float(np.percentile(values, 95)))
            for name, values in times.items()}


def max_difference(calls, pairs, batch_size, name, reference="default"):
    """Largest |probability difference| between two variants over `pairs`."""
    if name not in calls or reference not in calls:
        return None
    return max(float(np.abs(calls[name](a, b) - calls[reference](a, b)).max())
               for a, b in batches(pairs, batch_size))


# -------------------------------------------------------------------------------------------- report
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def onednn_enabled() -> str:
    try:
        from tensorflow.python.util import _pywrap_util_port
        return "on" if _pywrap_util_port.IsMklEnabled() else "off"
    except (ImportError, AttributeError):
        return "unknown"


def ratio(table, name, reference="today", column=None) -> str:
    """How many times faster `name` is than `reference` ("-" without the reference): a speed ratio, or
    a time ratio for a latency `column`."""
    if reference not in table:
        return "-"
    if column is None:
        return f"{table[name] / table[reference]:.2f}"
    return f"{table[reference][column] / table[name][column]:.2f}"


def print_report(args, speeds, short, long, lengths, differences) -> None:
    print()
    print(f"| variant | pairs/s (batch {args.batch_size}) | x today | short p50 ms | short p95 ms | "
          "x today (p50) | long p50 ms | long p95 ms | x today (p50) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in speeds:
        print(f"| {name} | {speeds[name]:.1f} | {ratio(speeds, name)} | {short[name][0]:.2f} | "
              f"{short[name][1]:.2f} | {ratio(short, name, column=0)} | {long[name][0]:.2f} | "
              f"{long[name][1]:.2f} | {ratio(long, name, column=0)} |")
    print()
    print("packed lengths (word pieces): " + ", ".join(f"{key} {value}" for key, value in lengths.items()))
    for name, value in differences.items():
        if value is not None:
            print(f"max |probability difference| {name} vs default over MRPC dev: {value:.2e}")


def main(argv=None) -> int:
    args = parse_args(argv)
    names = [name for name in args.variants.split(",") if name]
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        print(f"bench/serving.py: error: unknown variants {unknown}", file=sys.stderr)
        return 1
    load_before = os.getloadavg()
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores, flags: {', '.join(cpu_flags()) or 'none listed'}")
    print(f"Python {platform.python_version()}, TensorFlow {tf.__version__}, oneDNN {onednn_enabled()}, "
          f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f} (before)")

    tokenizer = tokenization.FullTokenizer(os.path.join(args.bert_dir, "vocab.txt"), do_lower_case=True)
    pairs = mrpc_pairs(args)
    pair_lengths = packed_features(tokenizer, pairs, args.max_seq_length)["input_mask"].sum(axis=1)
    long = [pairs[index] for index in np.argsort(-pair_lengths, kind="stable")[:args.long_pairs]]
    short = short_pairs(tokenizer, pairs, args.max_seq_length)
    lengths = {
        "MRPC dev mean": round(float(pair_lengths.mean()), 1),
        f"batch-{args.batch_size} longest mean": round(float(np.mean(
            [pair_lengths[start:start + args.batch_size].max()
             for start in range(0, len(pairs), args.batch_size)])), 1),
        "short mean": round(float(np.mean(packed_features(tokenizer, short, args.max_seq_length)["input_mask"]
                                          .sum(axis=1))), 1),
        "long mean": round(float(np.sort(pair_lengths)[::-1][:args.long_pairs].mean()), 1),
    }

    model, config = build_model(args)
    with tempfile.TemporaryDirectory() as folder:
        calls = callers(args, model, config, tokenizer, folder, names)
        differences = {name: max_difference(calls, pairs, args.batch_size, name)
                       for name in ("today", "whole_batch", "fixed_lengths", "bfloat16")}
        started = time.perf_counter()
        speeds = throughput(calls, pairs, args)
        short_latency = latency(calls, short, args.latency_requests)
        long_latency = latency(calls, long, args.latency_requests)
        elapsed = time.perf_counter() - started
    print_report(args, speeds, short_latency, long_latency, lengths, differences)
    load_after = os.getloadavg()
    print(f"timed part: {elapsed:.0f} s; load average {load_after[0]:.2f} {load_after[1]:.2f} "
          f"{load_after[2]:.2f} (after)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
