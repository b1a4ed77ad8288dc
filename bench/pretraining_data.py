"""Pretraining data creation throughput (instances/s): ``bert_tf.tasks.pretraining.create`` on WikiText-2 test.

Same work as the original ``create_pretraining_data.py`` run: read and tokenize
``shared/data/pretraining_text/wikitext2_test_sentences.txt`` (uncased vocabulary), ``dupe_factor`` 10,
``max_seq_length`` 128, ``max_predictions_per_seq`` 20, write one TFRecord file. Timed from after the
imports (tokenizer construction, reading, instance creation, serialisation and writing all count), once
with one process (the original's exact random sequence) and once with all cores; best of ``--repeats``,
each repeat with a fresh tokenizer (no warm caches). Prints markdown table rows; the original tool takes
about 12 s for this input (~2,350 instances/s).

  python bench/pretraining_data.py
  python bench/pretraining_data.py --workers=1,2,4 --repeats=5
"""
import argparse
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402,F401  (start-up: imported before timing; used to write records)

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bert_tf import tokenization  # noqa: E402
from bert_tf.tasks.pretraining import create as pretraining  # noqa: E402

ORIGINAL_INSTANCES_PER_SECOND = 2350.0  # the original tool on this input: 27,987 instances in ~12 s


def _shared_dir() -> str:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(root), "shared"))


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def measure(input_file: str, vocab_file: str, num_workers: int, dupe_factor: int, max_seq_length: int,
            output_file: str):
    """One full run; returns (seconds, summary)."""
    start = time.perf_counter()
    tokenizer = tokenization.FullTokenizer(vocab_file, do_lower_case=True)
    config = pretraining.PretrainingDataConfig(max_seq_length=max_seq_length, dupe_factor=dupe_factor,
                                               num_workers=num_workers)
    summary = pretraining.create_pretraining_data(input_file, output_file, tokenizer, config)
    return time.perf_counter() - start, summary


def main() -> None:
    shared = _shared_dir()
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input_file", default=os.path.join(
        shared, "data", "pretraining_text", "wikitext2_test_sentences.txt"))
    parser.add_argument("--vocab_file", default=os.path.join(shared, "data", "vocab", "bert-base-uncased",
                                                             "vocab.txt"))
    parser.add_argument("--dupe_factor", type=int, default=10)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--workers", default="1,all",
                        help="comma-separated worker counts; 'all' = every available core")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    worker_counts = [_cores() if item.strip() == "all" else int(item) for item in args.workers.split(",")]
    print(f"# {platform.processor() or platform.machine()}, {_cores()} cores, Python "
          f"{platform.python_version()}; input {os.path.basename(args.input_file)}, dupe_factor "
          f"{args.dupe_factor}, max_seq_length {args.max_seq_length}; best of {args.repeats}", flush=True)
    print("| tool | workers | instances | seconds (read / create / write) | instances/s | vs original |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        output_file = os.path.join(folder, "instances.tfrecord")
        for num_workers in worker_counts:
            best = None
            for _ in range(args.repeats):
                seconds, summary = measure(args.input_file, args.vocab_file, num_workers, args.dupe_factor,
                                           args.max_seq_length, output_file)
                if best is None or seconds < best[0]:
                    best = (seconds, summary)
            seconds, summary = best
            rate = summary.num_instances / seconds
            print(f"| bert_tf create_pretraining_data | {num_workers} | {summary.num_instances:,} | "
                  f"{seconds:.2f} ({summary.seconds_reading:.2f} / {summary.seconds_creating:.2f} / "
                  f"{summary.seconds_writing:.2f}) | {rate:,.0f} | "
                  f"{rate / ORIGINAL_INSTANCES_PER_SECOND:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
