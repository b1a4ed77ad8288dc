"""Multiple choice (run_swag.py's task) on CommonsenseQA or OpenBookQA with the MiniLM checkpoint: dev accuracy
and training speed, ours and the Hugging Face PyTorch peer in one run, same weights, split, recipe and seed.

Data: the published JSON-lines files in `../shared/data/multiple_choice/` (CommonsenseQA `train_rand_split`
/ `dev_rand_split`, 9,741 / 1,221 questions of 5 choices; OpenBookQA `Main/train` / `Main/dev`, 4,957 / 500
questions of 4 choices), converted to run_swag.py's JSON lines with the README's one-line conversion
(`CONVERSION`, run here as it is written there).

Recipe (both): max_seq_length 128, batch 16 questions, learning rate 2e-5, 3 epochs, warmup 10% and linear
decay, weight decay 0.01 (not on biases and LayerNorm), gradient clipping 1.0, seed 1; `num_train_steps =
int(questions / batch * epochs)`.

* Ours: one `bert_tf.tasks.driver.run` of the multiple-choice task (train, then evaluate on dev), run_swag.py's
  defaults: each batch padded to its longest pair (multiple of 8), batches of similar-length questions.
* The peer (`--peer_python`, a Python with torch and transformers; a process of its own, since torch next to
  TensorFlow can crash): Hugging Face `BertForMultipleChoice` with the same pretrained weights (encoder and
  pooler converted from the checkpoint; its own random head), trained on the same packed pairs (ours,
  handed over as arrays) for the same number of steps, random batches each padded to its longest pair
  (dynamic padding), torch AdamW with the same schedule; then evaluated on the same dev pairs.

Examples/s are training questions per second, leaving out our first step (tracing) and the peer's first 2 (warm-up).

  python bench/multiple_choice.py --peer_python=/path/to/python-with-torch          # CommonsenseQA, full
  python bench/multiple_choice.py --dataset=openbookqa --peer_python=...
  python bench/multiple_choice.py --max_steps=5 --peer_steps=5 --peer_python=...    # quick check
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hf_peer  # noqa: E402  (bench/hf_peer.py)
import numpy as np  # noqa: E402
import timing  # noqa: E402  (bench/timing.py)

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(PROJECT_ROOT), "shared"))
DATASETS = {
    "commonsenseqa": ("commonsenseqa/train_rand_split.jsonl", "commonsenseqa/dev_rand_split.jsonl"),
    "openbookqa": ("openbookqa/Main/train.jsonl", "openbookqa/Main/dev.jsonl"),
}
# The README's conversion of CommonsenseQA / OpenBookQA / ARC JSON lines to run_swag.py's, word for word.
CONVERSION = (
    """python -c 'import json,sys; [print(json.dumps({"context": q["question"]["stem"], "choices": """
    """[c["text"] for c in q["question"]["choices"]], **({"label": [c["label"] for c in q["question"]["choices"]]"""
    """.index(q["answerKey"])} if "answerKey" in q else {})})) for q in map(json.loads, sys.stdin)]'""")
WARMUP_STEPS = 2
LENGTH_MULTIPLE = 8


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="commonsenseqa")
    parser.add_argument("--bert_dir", default=os.path.join(SHARED, "checkpoints", "minilm_l6_h384_uncased"))
    parser.add_argument("--output_root", default=None, help="where the run's files go (default: a temp dir)")
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--train_batch_size", type=int, default=16)
    parser.add_argument("--learning_rate", type=float, default=2e-5)
    parser.add_argument("--num_train_epochs", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max_steps", type=int, default=None, help="stop our training after this many steps")
    parser.add_argument("--group_by_length", action=argparse.BooleanOptionalAction, default=True,
                        help="ours: batches of similar-length questions (run_swag.py's default)")
    parser.add_argument("--peer_python", default=sys.executable,
                        help="the Python that has torch and transformers (default: this one)")
    parser.add_argument("--peer_steps", type=int, default=None,
                        help="train the peer this many steps only (speed, no accuracy); default: the full recipe")
    parser.add_argument("--peer_threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--peer_worker", default=None, help=argparse.SUPPRESS)  # internal: the peer's folder
    parser.add_argument("--verbose", action="store_true", help="log progress (absl INFO)")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------ data
def convert_data(args, folder: str) -> str:
    """`folder/data/{train,dev}.jsonl`: the published files through the README's conversion."""
    data_dir = os.path.join(folder, "data")
    os.makedirs(data_dir, exist_ok=True)
    for source, name in zip(DATASETS[args.dataset], ("train.jsonl", "dev.jsonl")):
        command = f"{CONVERSION} < {os.path.join(SHARED, 'data', 'multiple_choice', source)} > {name}"
        subprocess.run(["bash", "-c", command.replace("python -c", f"{sys.executable} -c", 1)], cwd=data_dir,
                       check=True)
    return data_dir


# ------------------------------------------------------------------------------------------------ ours
def run_ours(args, data_dir: str, output_dir: str) -> dict:
    """Trains on train.jsonl and evaluates on dev.jsonl with the multiple-choice task."""
    sys.path.insert(0, PROJECT_ROOT)
    from bert_tf.tasks import driver
    from bert_tf.tasks.multiple_choice.task import MultipleChoiceConfig, MultipleChoiceTask
    from bert_tf.training.run_options import FineTuningOptions, RunOptions, resolve_model_files

    config = MultipleChoiceConfig(
        data_dir=data_dir, model=resolve_model_files(args.bert_dir, checkpoint_required=True),
        options=RunOptions(output_dir=output_dir, seed=args.seed, save_checkpoints_steps=100000,
                           keep_checkpoint_max=1, max_train_steps=args.max_steps, progress_bar=sys.stderr.isatty()),
        recipe=FineTuningOptions(train_batch_size=args.train_batch_size, eval_batch_size=64,
                                 learning_rate=args.learning_rate, num_train_epochs=args.num_train_epochs),
        max_seq_length=args.max_seq_length, do_train=True, do_eval=True, group_by_length=args.group_by_length)
    started = time.perf_counter()
    result = driver.run(MultipleChoiceTask(config))
    return {"eval_accuracy": result.eval_results["eval_accuracy"], "eval_loss": result.eval_results["eval_loss"],
            "examples_per_second": result.train.examples_per_second, "steps": result.train.global_step,
            "train_seconds": result.train.train_seconds, "total_seconds": time.perf_counter() - started}


# ------------------------------------------------------------------------------------------------ the peer
def write_peer_arrays(args, data_dir: str, path: str) -> int:
    """Our packed pairs of train and dev (int32 [N, C, max_seq_length]) and labels, in a `.npz` file; returns
    the number of training steps of the recipe."""
    sys.path.insert(0, PROJECT_ROOT)
    from bert_tf.tasks.multiple_choice import examples, features
    from bert_tf.training.run_options import load_tokenizer, resolve_model_files

    tokenizer = load_tokenizer(resolve_model_files(args.bert_dir))
    arrays = {}
    for split, name in (("train", "train.jsonl"), ("dev", "dev.jsonl")):
        questions = examples.read_split(os.path.join(data_dir, name), split, require_labels=True)
        count = features.num_choices(questions)
        converted = list(features.iter_features(questions, count, args.max_seq_length, tokenizer))
        for key in features.SEQUENCE_FEATURES:
            arrays[f"{split}_{key}"] = np.array([getattr(feature, key) for feature in converted], np.int32)
        arrays[f"{split}_labels"] = np.array([feature.label_id for feature in converted], np.int64)
        if split == "train":
            num_steps = int(len(questions) / args.train_batch_size * args.num_train_epochs)
    np.savez(path, **arrays)
    return num_steps


def _trimmed(arrays, split: str, rows):
    """The rows' pairs cut to their longest pair rounded up to a multiple of 8 (dynamic padding), as torch."""
    import torch

    mask = arrays[f"{split}_input_mask"][rows]
    length = int(-(-mask.sum(axis=-1).max() // LENGTH_MULTIPLE) * LENGTH_MULTIPLE)
    return {key: torch.from_numpy(arrays[f"{split}_{key}"][rows][..., :length].astype(np.int64))
            for key in ("input_ids", "input_mask", "segment_ids")}


def train_peer(args) -> dict:
    """Trains and evaluates Hugging Face's `BertForMultipleChoice` on the arrays of `write_peer_arrays`. Runs in
    the `--peer_worker` process."""
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.peer_threads or os.cpu_count() or 1)
    model = hf_peer.peer_model(os.path.join(args.bert_dir, "bert_config.json"),
                               os.path.join(args.peer_worker, "weights.npz"), "BertForMultipleChoice", ["classifier."])
    with open(os.path.join(args.peer_worker, "meta.json"), encoding="utf-8") as reader:
        num_steps = json.load(reader)["num_steps"]
    num_steps = min(num_steps, args.peer_steps or num_steps)
    arrays = dict(np.load(os.path.join(args.peer_worker, "arrays.npz")))
    def batches():
        for rows in hf_peer.random_rows(len(arrays["train_labels"]), args.train_batch_size, args.seed):
            batch = _trimmed(arrays, "train", rows)
            yield {"input_ids": batch["input_ids"], "attention_mask": batch["input_mask"],
                   "token_type_ids": batch["segment_ids"], "labels": torch.from_numpy(arrays["train_labels"][rows])}

    seconds, examples = hf_peer.train_peer_steps(model, batches(), num_steps, args.learning_rate, WARMUP_STEPS)
    return {"examples_per_second": examples / seconds if seconds else float("nan"), "steps": num_steps,
            "train_seconds": seconds, "eval_accuracy": evaluate_peer(model, arrays)}


def evaluate_peer(model, arrays) -> float:
    """The peer's accuracy on the dev pairs (batches of 64 questions, dynamic padding)."""
    import torch

    model.eval()
    correct, total = 0, len(arrays["dev_labels"])
    with torch.no_grad():
        for start in range(0, total, 64):
            rows = list(range(start, min(start + 64, total)))
            batch = _trimmed(arrays, "dev", rows)
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["input_mask"],
                           token_type_ids=batch["segment_ids"]).logits
            correct += int((logits.argmax(-1).numpy() == arrays["dev_labels"][rows]).sum())
    return correct / total


def run_peer(args, data_dir: str, folder: str):
    """The peer's figures, from `--peer_python` in a process of its own; None when it has no torch."""
    if not hf_peer.has_torch(args.peer_python):
        return None
    peer_folder = os.path.join(folder, "peer")
    os.makedirs(peer_folder, exist_ok=True)
    hf_peer.write_peer_weights(args.bert_dir, os.path.join(peer_folder, "weights.npz"), pooler=True)
    num_steps = write_peer_arrays(args, data_dir, os.path.join(peer_folder, "arrays.npz"))
    with open(os.path.join(peer_folder, "meta.json"), "w", encoding="utf-8") as writer:
        json.dump({"num_steps": num_steps}, writer)
    options = [f"--{name}={getattr(args, name)}" for name in ("bert_dir", "learning_rate", "train_batch_size", "seed")
               if getattr(args, name) is not None]
    options += [f"--{name}={getattr(args, name)}" for name in ("peer_steps", "peer_threads") if getattr(args, name)]
    return hf_peer.run_peer_worker(args.peer_python, __file__, peer_folder, *options)


# ------------------------------------------------------------------------------------------------ report
def format_table(args, ours: dict, peer) -> str:
    import tensorflow as tf

    lines = [
        f"# {args.dataset} (dev accuracy), {os.path.basename(os.path.normpath(args.bert_dir))}: max_seq_length "
        f"{args.max_seq_length}, batch {args.train_batch_size}, lr {args.learning_rate}, {args.num_train_epochs} "
        f"epochs, seed {args.seed}; ours {'grouped by length' if args.group_by_length else 'random batches'}",
        f"# machine: {timing.cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}",
        "",
        "| | dev accuracy | train examples/s | steps | train time (s) |",
        "|---|---|---|---|---|",
        f"| bert_tf | {ours['eval_accuracy']:.4f} | {ours['examples_per_second']:.2f} | {ours['steps']} | "
        f"{ours['train_seconds']:.0f} |",
    ]
    if peer is None:
        lines.append(f"| HF PyTorch peer | | not measured ({args.peer_python} has no torch and transformers) | | |")
        return "\n".join(lines)
    lines.append(f"| HF PyTorch `BertForMultipleChoice` | {peer['eval_accuracy']:.4f} | "
                 f"{peer['examples_per_second']:.2f} | {peer['steps']} | {peer['train_seconds']:.0f} |")
    difference = 100 * (ours["eval_accuracy"] - peer["eval_accuracy"])
    ratio = ours["examples_per_second"] / peer["examples_per_second"]
    lines.append(f"\naccuracy difference (bert_tf - peer): {difference:+.2f} points; speed ratio (bert_tf / peer): "
                 f"{ratio:.2f}x")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.peer_worker:
        print(json.dumps(train_peer(args)))
        return 0
    from absl import logging

    logging.set_verbosity(logging.INFO if args.verbose else logging.WARNING)
    folder = args.output_root or tempfile.mkdtemp(prefix="bench_multiple_choice_")
    data_dir = convert_data(args, folder)
    ours = run_ours(args, data_dir, os.path.join(folder, "ours"))
    print(f"ours: dev accuracy {ours['eval_accuracy']:.4f}, {ours['examples_per_second']:.2f} examples/s",
          file=sys.stderr, flush=True)
    print(format_table(args, ours, run_peer(args, data_dir, folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
