"""CoNLL-2003 NER with the MiniLM checkpoint: entity F1 on valid.txt and test.txt, and training speed.

The recipe of run_ner.py's README command: max_seq_length 128, train_batch_size 32, learning_rate 5e-5, 3
epochs, warmup 10%, AdamWeightDecay; batches padded to their longest window (multiple of 8). One full
`bert_tf.tasks.driver.run` of the NER task (train on train.txt, evaluate on valid.txt, tag and score test.txt)
in a fresh output folder per seed. Prints a markdown table: per seed dev F1, test F1 (entity level, conlleval) and
training examples/s (windows; leaving out the first step, which traces the step function).

With PyTorch and Hugging Face `transformers` importable by `--peer_python` (optional), the peer's training
step is timed on batches of the same training windows: `BertForTokenClassification` with the same pretrained
weights (converted from the TF checkpoint and handed over as arrays: the peer runs in a process of its own,
since torch next to TensorFlow can crash), first-piece labels (-100 elsewhere), dynamic padding to the
batch's longest window (multiple of 8), torch AdamW and gradient clipping at 1.0; the table then gives the
speed ratio (bert_tf / PyTorch).

With `--document_context` the windows run over whole `-DOCSTART-` documents (run_ner.py's flag). Each run also
tags test.txt given as paragraphs: every document one JSON line of its words (IOB2 tags, converted per
sentence), what the raw-text NER export receives; the table's "paragraph test F1" scores those tags
(`--no-paragraph_test` skips it).

  python bench/ner.py                                       # seed 1 (about an hour on 2 CPU cores)
  python bench/ner.py --document_context --peer_steps=0     # document windows; paragraph input scored too
  python bench/ner.py --max_steps=5 --peer_steps=3           # quick check that everything runs
  python bench/ner.py --peer_python=/path/to/python-with-torch
"""
import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hf_peer  # noqa: E402  (bench/hf_peer.py)
import numpy as np  # noqa: E402
import timing  # noqa: E402  (bench/timing.py)

# TensorFlow and bert_tf are imported in the functions that need them: the peer runs in a process of its
# own (`--peer_worker`), since importing torch and transformers next to TensorFlow can crash.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(PROJECT_ROOT), "shared"))
LENGTH_MULTIPLE = 8
PEER_WARMUP_STEPS = 2


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="1", help="comma-separated seeds, one run each")
    parser.add_argument("--data_dir", default=os.path.join(SHARED, "data", "conll2003"))
    parser.add_argument("--bert_dir", default=os.path.join(SHARED, "checkpoints", "minilm_l6_h384_uncased"))
    parser.add_argument("--output_root", default=None, help="where the runs' output_dirs go (default: a temp dir)")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=5e-5)
    parser.add_argument("--num_train_epochs", type=float, default=3.0)
    parser.add_argument("--max_steps", type=int, default=None, help="stop each run after this many steps (checks)")
    parser.add_argument("--use_xla", action="store_true", help="compile the training step with XLA")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--group_by_length", action=argparse.BooleanOptionalAction, default=True,
                        help="train on batches of similar-length windows (run_ner.py's default; "
                             "--no-group_by_length: random batches)")
    parser.add_argument("--strategy", default="one_device")
    parser.add_argument("--document_context", action="store_true", help="windows over whole documents")
    parser.add_argument("--paragraph_test", action=argparse.BooleanOptionalAction, default=True,
                        help="also tag and score test.txt given as one line per document")
    parser.add_argument("--peer_steps", type=int, default=30, help="timed PyTorch steps (0: skip the peer)")
    parser.add_argument("--peer_threads", type=int, default=None,
                        help="torch threads (default: all cores; on a busy machine 1 can be faster)")
    parser.add_argument("--peer_python", default=sys.executable,
                        help="the Python that has torch and transformers (default: this one)")
    parser.add_argument("--peer_worker", default=None, help=argparse.SUPPRESS)  # internal: the peer's folder
    parser.add_argument("--verbose", action="store_true", help="log progress (absl INFO)")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------ ours
def run_seed(args, seed: int, output_root: str) -> dict:
    """Trains on train.txt, evaluates on valid.txt and tags test.txt with the NER task (`bert_tf.tasks.driver`)."""
    sys.path.insert(0, PROJECT_ROOT)
    from bert_tf.tasks import driver
    from bert_tf.tasks.ner.task import NerConfig, NerTask
    from bert_tf.training.run_options import FineTuningOptions, RunOptions, resolve_model_files

    options = RunOptions(output_dir=os.path.join(output_root, f"seed_{seed}"), strategy=args.strategy,
                         use_xla=args.use_xla, dtype=args.dtype, seed=seed, save_checkpoints_steps=100000,
                         keep_checkpoint_max=1, max_train_steps=args.max_steps, progress_bar=sys.stderr.isatty())
    recipe = FineTuningOptions(train_batch_size=args.train_batch_size, eval_batch_size=64, predict_batch_size=64,
                               learning_rate=args.learning_rate, num_train_epochs=args.num_train_epochs)
    model = resolve_model_files(args.bert_dir, checkpoint_required=True)
    config = NerConfig(data_dir=args.data_dir, model=model, options=options, recipe=recipe,
                       max_seq_length=args.max_seq_length, do_train=True, do_eval=True, do_predict=True,
                       group_by_length=args.group_by_length, document_context=args.document_context)
    started = time.perf_counter()
    task = NerTask(config)
    result = driver.run(task)
    paragraph_f1 = None
    if args.paragraph_test:
        paragraphs = write_paragraphs(os.path.join(args.data_dir, "test.txt"),
                                      os.path.join(options.output_dir, "test_paragraphs.jsonl"))
        tagged = driver.run(NerTask(NerConfig(
            data_dir=args.data_dir, model=model, options=options, recipe=recipe, max_seq_length=args.max_seq_length,
            do_predict=True, predict_file=paragraphs, data_format="jsonl", document_context=args.document_context)))
        paragraph_f1 = tagged.test_results["test_f1"]
    return {
        "seed": seed,
        "dev_f1": result.eval_results["eval_f1"],
        "test_f1": result.test_results["test_f1"],
        "paragraph_test_f1": paragraph_f1,
        "num_labels": len(task.label_list),
        "examples_per_second": result.train.examples_per_second,
        "steps": result.train.global_step,
        "train_seconds": result.train.train_seconds,
        "total_seconds": time.perf_counter() - started,
    }


def write_paragraphs(conll_path: str, path: str) -> str:
    """`conll_path`'s documents as JSON lines, one per document: its words and IOB2 tags (each sentence's
    IOB1 tags converted on their own, so that no entity runs across a sentence boundary); returns `path`."""
    from bert_tf.tasks.ner import examples

    conll = examples.read_conll_file(conll_path)
    with open(path, "w", encoding="utf-8") as writer:
        for number, document in enumerate(examples.documents(conll)):
            sentences = [conll.sentences[index] for index in document]
            writer.write(json.dumps({"tokens": [word for sentence in sentences for word in sentence.words],
                                     "tags": [label for sentence in sentences for label in sentence.labels],
                                     "doc_id": str(number)}) + "\n")
    return path


# ------------------------------------------------------------------------------------------------ the peer
def write_peer_batches(args, path: str) -> int:
    """Random batches of our training windows for the peer, in a `.npz` file; returns the label count.

    Each batch is padded to its longest window rounded up to 8 (as ours); labels are -100 except at the
    words' first pieces.
    """
    sys.path.insert(0, PROJECT_ROOT)
    from bert_tf.tasks.ner import examples, features
    from bert_tf.tasks.ner.task import TRAIN_FILE
    from bert_tf.training.run_options import load_tokenizer, resolve_model_files

    train = examples.read_conll_file(os.path.join(args.data_dir, TRAIN_FILE))
    label_list = examples.label_list_from_training(train)
    tokenizer = load_tokenizer(resolve_model_files(args.bert_dir))
    windows = features.convert_file(train, label_list, tokenizer, args.max_seq_length).windows
    rng = random.Random(1)
    arrays = {}
    for index in range(args.peer_steps + PEER_WARMUP_STEPS):
        batch = rng.sample(windows, args.train_batch_size)
        length = -(-max(len(window.input_ids) for window in batch) // LENGTH_MULTIPLE) * LENGTH_MULTIPLE
        input_ids = np.zeros((len(batch), length), np.int64)
        labels = np.full((len(batch), length), -100, np.int64)
        for row, window in enumerate(batch):
            input_ids[row, :len(window.input_ids)] = window.input_ids
            labels[row, window.positions] = window.label_ids
        arrays[f"input_ids_{index}"], arrays[f"labels_{index}"] = input_ids, labels
    np.savez(path, **arrays)
    return len(label_list)


def time_peer_step(args) -> float:
    """Training examples/s of Hugging Face's `BertForTokenClassification` (forward, backward, clipping, AdamW
    step) on the batches of `write_peer_batches`, after 2 untimed steps. Runs in the `--peer_worker` process."""
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(args.peer_threads or os.cpu_count() or 1)
    with open(os.path.join(args.peer_worker, "meta.json"), encoding="utf-8") as reader:
        num_labels = json.load(reader)["num_labels"]
    model = hf_peer.peer_model(os.path.join(args.bert_dir, "bert_config.json"),
                               os.path.join(args.peer_worker, "weights.npz"), "BertForTokenClassification",
                               ["classifier."], num_labels=num_labels)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01, eps=1e-6)

    def loss_of(model, batch):
        input_ids = batch["input_ids"]
        return model(input_ids=input_ids, attention_mask=(input_ids > 0).long(),
                     token_type_ids=torch.zeros_like(input_ids), labels=batch["labels"]).loss

    with np.load(os.path.join(args.peer_worker, "batches.npz")) as arrays:
        batches = [{name: torch.from_numpy(arrays[f"{name}_{index}"]) for name in ("input_ids", "labels")}
                   for index in range(args.peer_steps + PEER_WARMUP_STEPS)]
    return timing.torch_training_examples_per_second(model, optimizer, batches, PEER_WARMUP_STEPS, loss_of)


def measure_peer(args, folder: str):
    """Examples/s of the peer, measured by `--peer_python` in a process of its own; None when it has no torch
    or transformers."""
    if not hf_peer.has_torch(args.peer_python):
        return None
    peer_folder = os.path.join(folder, "peer")
    os.makedirs(peer_folder, exist_ok=True)
    hf_peer.write_peer_weights(args.bert_dir, os.path.join(peer_folder, "weights.npz"))
    num_labels = write_peer_batches(args, os.path.join(peer_folder, "batches.npz"))
    with open(os.path.join(peer_folder, "meta.json"), "w", encoding="utf-8") as writer:
        json.dump({"num_labels": num_labels}, writer)
    extra = [f"--peer_threads={args.peer_threads}"] if args.peer_threads else []
    result = hf_peer.run_peer_worker(args.peer_python, __file__, peer_folder, f"--bert_dir={args.bert_dir}",
                                     f"--learning_rate={args.learning_rate}", f"--peer_steps={args.peer_steps}",
                                     *extra)
    return float(result["examples_per_second"])


# ------------------------------------------------------------------------------------------------ report
def format_table(args, rows, peer) -> str:
    import tensorflow as tf

    lines = [
        f"# CoNLL-2003 NER, {os.path.basename(os.path.normpath(args.bert_dir))}: max_seq_length "
        f"{args.max_seq_length}, batch {args.train_batch_size}, lr {args.learning_rate}, {args.num_train_epochs} "
        f"epochs" + (f" (max {args.max_steps} steps)" if args.max_steps else "")
        + ("; per-batch padding, length-grouped batches" if args.group_by_length else "; per-batch padding")
        + ("; document context" if args.document_context else "")
        + f"; XLA {args.use_xla}; {args.dtype}; {args.strategy}",
        f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"TensorFlow {tf.__version__}; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}",
        "",
        "| run | dev F1 (valid.txt) | test F1 (test.txt) | paragraph test F1 | train examples/s | steps | "
        "train time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        paragraph = "" if row["paragraph_test_f1"] is None else f"{row['paragraph_test_f1']:.4f}"
        lines.append(f"| bert_tf, seed {row['seed']} | {row['dev_f1']:.4f} | {row['test_f1']:.4f} | {paragraph} | "
                     f"{row['examples_per_second']:.1f} | {row['steps']} | {row['train_seconds']:.0f} |")
    ours = statistics.mean(row["examples_per_second"] for row in rows)
    if len(rows) > 1:
        lines.append(f"| bert_tf, mean | {statistics.mean(row['dev_f1'] for row in rows):.4f} | "
                     f"{statistics.mean(row['test_f1'] for row in rows):.4f} | | {ours:.1f} | | |")
    if peer is not None:
        lines.append(f"| PyTorch BertForTokenClassification ({args.peer_steps} steps) | | | | {peer:.1f} | | |")
        lines.append(f"\nspeed ratio (bert_tf / PyTorch): {ours / peer:.2f}")
    elif args.peer_steps:
        lines.append(f"\n(PyTorch peer not timed: {args.peer_python} cannot import torch and transformers)")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.peer_worker:
        print(json.dumps({"examples_per_second": time_peer_step(args)}))
        return 0
    from absl import logging

    logging.set_verbosity(logging.INFO if args.verbose else logging.WARNING)
    seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
    output_root = args.output_root or tempfile.mkdtemp(prefix="bench_ner_")
    rows = []
    for seed in seeds:
        rows.append(run_seed(args, seed, output_root))
        print(f"seed {seed}: dev F1 {rows[-1]['dev_f1']:.4f}, test F1 {rows[-1]['test_f1']:.4f} (paragraphs: "
              f"{rows[-1]['paragraph_test_f1']}), "
              f"{rows[-1]['examples_per_second']:.1f} examples/s", file=sys.stderr, flush=True)
    peer = measure_peer(args, output_root) if args.peer_steps else None
    print(format_table(args, rows, peer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
