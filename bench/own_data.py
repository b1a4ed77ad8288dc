"""Your own data (run_classifier.py `--task=tsv|jsonl`, run_ner.py `--data_format=spans`) on real sets with
the MiniLM checkpoint: dev scores and training speed, ours and the Hugging Face PyTorch peer in one run, same
weights, split, features, recipe and seed.

Datasets (`../shared/data/`, read as a user's files, with the flags the README gives):

* `chnsenticorp`: Chinese sentiment, TSV with a header (`label`, `text_a`); dev accuracy.
* `goemotions`: 28-label multi-label, headerless TSV (text, comma-separated label ids, comment id);
  `--multi_label`, threshold 0.5; dev micro and macro F1 (and exact match). Both heads start with our
  multi-label bias (each label's log-odds in the training file); from a zero bias both sides' outputs
  collapse to the label frequencies (F1 0 after 800 steps).
* `cluener`: CLUENER2020 Chinese NER, JSON lines with character spans; dev entity F1 (conlleval rules).

Both sides train on the same features: ours writes them (`train.tf_record`, `eval.tf_record` in its
output folder) and the peer reads the same arrays. Both are scored by the same code: the peer's dev logits go
through our task's `evaluate` (the metrics of `eval_results.txt`).

* Ours: one `bert_tf.tasks.driver.run` (train, then evaluate on dev); batches grouped by length (the
  `--group_by_length` flag; run_ner.py's default) and padded to their longest example (multiple of 8).
* The peer (`--peer_python`, a Python with torch and transformers; a process of its own, since torch next to
  TensorFlow can crash): `BertForSequenceClassification` (`problem_type="multi_label_classification"` for
  GoEmotions: BCE with logits) or `BertForTokenClassification` (first word pieces labelled, -100 elsewhere)
  with the same pretrained encoder and pooler (its own random head), random batches each padded to their
  longest example (dynamic padding, multiple of 8), torch AdamW (weight decay 0.01, not on biases and
  LayerNorm), linear warmup 10% and decay, gradient clipping 1.0, the same number of steps.

Examples/s are training examples (NER: windows) per second, leaving out our first step (tracing) and the
peer's first 2 (warm-up).

  python bench/own_data.py --dataset=chnsenticorp --peer_python=/path/to/python-with-torch
  python bench/own_data.py --dataset=goemotions --num_train_epochs=1 --peer_python=...
  python bench/own_data.py --dataset=cluener --max_steps=5 --peer_python=...    # quick check
"""
import argparse
import dataclasses
import json
import os
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
WARMUP_STEPS = 2
LENGTH_MULTIPLE = 8
EVAL_BATCH = 64


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One bench set: its folder, how the scripts read it (config fields), its recipe and its scores."""

    folder: str
    kind: str  # classification | multi_label | ner
    config: dict
    max_seq_length: int
    learning_rate: float
    scores: tuple


DATASETS = {
    "chnsenticorp": Dataset("chnsenticorp", "classification",
                            dict(task_name="tsv", text_a_column="text_a", label_column="label"),
                            128, 2e-5, ("eval_accuracy",)),
    "goemotions": Dataset("goemotions", "multi_label",
                          dict(task_name="tsv", header=False, text_a_column=0, label_column=1, multi_label=True),
                          64, 5e-5, ("eval_micro_f1", "eval_macro_f1", "eval_exact_match")),
    "cluener": Dataset("cluener", "ner", dict(data_format="spans"), 64, 5e-5, ("eval_f1",)),
}
PEER_MODELS = {"classification": "BertForSequenceClassification", "multi_label": "BertForSequenceClassification",
               "ner": "BertForTokenClassification"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", choices=sorted(DATASETS), required=True)
    parser.add_argument("--bert_dir", default=os.path.join(SHARED, "checkpoints", "minilm_l6_h384_uncased"))
    parser.add_argument("--output_root", default=None, help="where the run's files go (default: a temp dir)")
    parser.add_argument("--max_seq_length", type=int, default=None, help="default: the dataset's")
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=None, help="default: the dataset's")
    parser.add_argument("--num_train_epochs", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max_steps", type=int, default=None, help="stop both trainings after this many steps")
    parser.add_argument("--group_by_length", action=argparse.BooleanOptionalAction, default=True,
                        help="our batches grouped by length (default); --no-group_by_length: random batches, as "
                             "the peer's")
    parser.add_argument("--peer_python", default=sys.executable,
                        help="the Python that has torch and transformers (default: this one)")
    parser.add_argument("--peer_threads", type=int, default=None, help="torch threads (default: all cores)")
    parser.add_argument("--peer_worker", default=None, help=argparse.SUPPRESS)  # internal: the peer's folder
    parser.add_argument("--verbose", action="store_true", help="log progress (absl INFO)")
    args = parser.parse_args(argv)
    dataset = DATASETS[args.dataset]
    args.max_seq_length = args.max_seq_length or dataset.max_seq_length
    args.learning_rate = args.learning_rate or dataset.learning_rate
    return args


# ------------------------------------------------------------------------------------------------ ours
def make_task(args, output_dir: str):
    """Our task for the dataset, configured as the script flags in the module docstring would."""
    sys.path.insert(0, PROJECT_ROOT)
    from bert_tf.tasks.classification.task import ClassificationTask, ClassifierConfig
    from bert_tf.tasks.ner.task import NerConfig, NerTask
    from bert_tf.training.run_options import FineTuningOptions, RunOptions, resolve_model_files

    dataset = DATASETS[args.dataset]
    common = dict(
        data_dir=os.path.join(SHARED, "data", dataset.folder),
        model=resolve_model_files(args.bert_dir, checkpoint_required=True),
        options=RunOptions(output_dir=output_dir, seed=args.seed, save_checkpoints_steps=1000000,
                           keep_checkpoint_max=1, max_train_steps=args.max_steps, progress_bar=sys.stderr.isatty()),
        recipe=FineTuningOptions(train_batch_size=args.train_batch_size, eval_batch_size=EVAL_BATCH,
                                 learning_rate=args.learning_rate, num_train_epochs=args.num_train_epochs),
        max_seq_length=args.max_seq_length, do_train=True, do_eval=True, group_by_length=args.group_by_length,
        **dataset.config)
    if dataset.kind == "ner":
        return NerTask(NerConfig(**common))
    return ClassificationTask(ClassifierConfig(**common))


def run_ours(args, output_dir: str):
    """Trains and evaluates; returns (figures, the task, the driver's result)."""
    from bert_tf.tasks import driver

    task = make_task(args, output_dir)
    started = time.perf_counter()
    result = driver.run(task)
    figures = {name: result.eval_results[name] for name in DATASETS[args.dataset].scores}
    figures.update(examples_per_second=result.train.examples_per_second, steps=result.train.global_step,
                   train_seconds=result.train.train_seconds, total_seconds=time.perf_counter() - started)
    return figures, task, result


def record_arrays(task, output_dir: str, path: str) -> None:
    """Our `train.tf_record` and `eval.tf_record` (full length, with labels) as arrays in a `.npz` file."""
    import tensorflow as tf

    arrays = {}
    for split, name in (("train", "train.tf_record"), ("dev", "eval.tf_record")):
        layout = task.record_layout(None, training=True)
        records = tf.data.TFRecordDataset(os.path.join(output_dir, name)).map(
            lambda serialized: layout.parse(serialized, pad_to_max_length=True))
        columns = {}
        for record in records.batch(1024):
            for key, value in record.items():
                columns.setdefault(key, []).append(value.numpy())
        for key, parts in columns.items():
            arrays[f"{split}_{key}"] = np.concatenate(parts)
    np.savez(path, **arrays)


def score_peer(task, logits: np.ndarray, arrays, folder: str) -> dict:
    """The peer's dev logits scored by our task's `evaluate` (eval_results.txt's metrics)."""
    from bert_tf.training.predict import PredictResult
    from bert_tf.training.run_options import load_tokenizer

    splits = task.read_inputs(load_tokenizer(task.config.model))
    count = len(logits)
    sizes = [min(EVAL_BATCH, count - start) for start in range(0, count, EVAL_BATCH)]
    features = {key[len("dev_"):]: value for key, value in arrays.items()
                if key.startswith("dev_") and value.ndim == 1 and key != "dev_label_ids"}
    prediction = PredictResult(outputs={"logits": logits}, labels=arrays["dev_label_ids"], features=features,
                               batch_sizes=sizes)
    os.makedirs(folder, exist_ok=True)
    return task.evaluate(splits["dev"], prediction, 0, folder)


# ------------------------------------------------------------------------------------------------ the peer
def _trimmed(arrays, split: str, rows, kind: str):
    """The rows cut to their longest example rounded up to a multiple of 8 (dynamic padding), as torch."""
    import torch

    mask = arrays[f"{split}_input_mask"][rows]
    length = int(-(-mask.sum(axis=-1).max() // LENGTH_MULTIPLE) * LENGTH_MULTIPLE)
    batch = {name: torch.from_numpy(arrays[f"{split}_{key}"][rows][..., :length].astype(np.int64))
             for name, key in (("input_ids", "input_ids"), ("attention_mask", "input_mask"),
                               ("token_type_ids", "segment_ids"))}
    labels = arrays[f"{split}_label_ids"][rows]
    if kind == "ner":
        labels = np.where(labels[:, :length] < 0, -100, labels[:, :length]).astype(np.int64)
    elif kind == "multi_label":
        labels = labels.astype(np.float32)
    else:
        labels = labels.astype(np.int64)
    return batch, torch.from_numpy(labels)


def train_peer(args) -> dict:
    """Trains the peer on the arrays of `record_arrays` and writes its dev logits (`dev_logits.npy`, padded to
    max_seq_length for NER). Runs in the `--peer_worker` process."""
    import torch

    with open(os.path.join(args.peer_worker, "meta.json"), encoding="utf-8") as reader:
        meta = json.load(reader)
    kind, num_steps, num_labels = meta["kind"], meta["num_steps"], meta["num_labels"]
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.peer_threads or os.cpu_count() or 1)
    overrides = {"num_labels": num_labels}
    if kind == "multi_label":
        overrides["problem_type"] = "multi_label_classification"
    model = hf_peer.peer_model(os.path.join(args.bert_dir, "bert_config.json"),
                               os.path.join(args.peer_worker, "weights.npz"), PEER_MODELS[kind], ["classifier."],
                               **overrides)
    if "initial_output_bias" in meta:
        with torch.no_grad():
            model.classifier.bias.copy_(torch.tensor(meta["initial_output_bias"], dtype=torch.float32))
    arrays = dict(np.load(os.path.join(args.peer_worker, "arrays.npz")))
    def batches():
        for rows in hf_peer.random_rows(len(arrays["train_input_ids"]), args.train_batch_size, args.seed):
            batch, labels = _trimmed(arrays, "train", rows, kind)
            yield {**batch, "labels": labels}

    seconds, examples = hf_peer.train_peer_steps(model, batches(), num_steps, args.learning_rate, WARMUP_STEPS)
    np.save(os.path.join(args.peer_worker, "dev_logits.npy"), peer_logits(model, arrays, kind))
    return {"examples_per_second": examples / seconds if seconds else float("nan"), "steps": num_steps,
            "train_seconds": seconds}


def peer_logits(model, arrays, kind: str) -> np.ndarray:
    """The peer's dev logits, float32 [N, num_labels] (NER: [N, max_seq_length, num_labels], zeros past each
    batch's length)."""
    import torch

    model.eval()
    total, max_seq_length = arrays["dev_input_ids"].shape
    parts = []
    with torch.no_grad():
        for start in range(0, total, EVAL_BATCH):
            batch, _ = _trimmed(arrays, "dev", list(range(start, min(start + EVAL_BATCH, total))), kind)
            logits = model(**batch).logits.numpy().astype(np.float32)
            if kind == "ner":
                logits = np.pad(logits, ((0, 0), (0, max_seq_length - logits.shape[1]), (0, 0)))
            parts.append(logits)
    return np.concatenate(parts)


def run_peer(args, task, result, output_dir: str, folder: str):
    """The peer's figures (scored by our task), from `--peer_python` in a process of its own; None when it has
    no torch."""
    if not hf_peer.has_torch(args.peer_python):
        return None
    peer_folder = os.path.join(folder, "peer")
    os.makedirs(peer_folder, exist_ok=True)
    hf_peer.write_peer_weights(args.bert_dir, os.path.join(peer_folder, "weights.npz"), pooler=True)
    record_arrays(task, output_dir, os.path.join(peer_folder, "arrays.npz"))
    kind = DATASETS[args.dataset].kind
    num_labels = len(task.label_list) if kind == "ner" else len(task.processor.get_labels())
    with open(os.path.join(peer_folder, "meta.json"), "w", encoding="utf-8") as writer:
        meta = {"kind": kind, "num_steps": result.train.global_step, "num_labels": num_labels}
        if getattr(task, "initial_output_bias", None) is not None:  # multi-label: the same head start as ours
            meta["initial_output_bias"] = task.initial_output_bias.tolist()
        json.dump(meta, writer)
    options = [f"--{name}={getattr(args, name)}" for name in
               ("dataset", "bert_dir", "learning_rate", "train_batch_size", "seed")]
    options += [f"--peer_threads={args.peer_threads}"] if args.peer_threads else []
    figures = hf_peer.run_peer_worker(args.peer_python, __file__, peer_folder, *options)
    arrays = dict(np.load(os.path.join(peer_folder, "arrays.npz")))
    results = score_peer(task, np.load(os.path.join(peer_folder, "dev_logits.npy")), arrays,
                         os.path.join(peer_folder, "scored"))
    figures.update({name: results[name] for name in DATASETS[args.dataset].scores})
    return figures


# ------------------------------------------------------------------------------------------------ report
def format_table(args, ours: dict, peer) -> str:
    import tensorflow as tf

    dataset = DATASETS[args.dataset]
    scores = dataset.scores
    lines = [
        f"# {args.dataset} ({', '.join(scores)} on dev), {os.path.basename(os.path.normpath(args.bert_dir))}: "
        f"max_seq_length {args.max_seq_length}, batch {args.train_batch_size}, lr {args.learning_rate}, "
        f"{args.num_train_epochs} epochs{f', max {args.max_steps} steps' if args.max_steps else ''}, seed "
        f"{args.seed}; ours {'grouped by length' if args.group_by_length else 'random batches'}, the peer random "
        "batches (both padded per batch)",
        f"# machine: {timing.cpu_model()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}",
        "",
        f"| | {' | '.join(scores)} | train examples/s | steps | train time (s) |",
        "|---|" + "---|" * (len(scores) + 3),
        f"| bert_tf | {' | '.join(f'{ours[name]:.4f}' for name in scores)} | {ours['examples_per_second']:.2f} | "
        f"{ours['steps']} | {ours['train_seconds']:.0f} |",
    ]
    if peer is None:
        lines.append(f"| HF PyTorch peer | not measured ({args.peer_python} has no torch and transformers) |")
        return "\n".join(lines)
    lines.append(f"| HF PyTorch `{PEER_MODELS[dataset.kind]}` | {' | '.join(f'{peer[name]:.4f}' for name in scores)} "
                 f"| {peer['examples_per_second']:.2f} | {peer['steps']} | {peer['train_seconds']:.0f} |")
    differences = ", ".join(f"{name} {100 * (ours[name] - peer[name]):+.2f}" for name in scores)
    ratio = ours["examples_per_second"] / peer["examples_per_second"]
    lines.append(f"\ndifference (bert_tf - peer, points): {differences}; speed ratio (bert_tf / peer): {ratio:.2f}x")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.peer_worker:
        print(json.dumps(train_peer(args)))
        return 0
    from absl import logging

    logging.set_verbosity(logging.INFO if args.verbose else logging.WARNING)
    folder = args.output_root or tempfile.mkdtemp(prefix=f"bench_{args.dataset}_")
    output_dir = os.path.join(folder, "ours")
    ours, task, result = run_ours(args, output_dir)
    print("ours: " + ", ".join(f"{name} {ours[name]:.4f}" for name in DATASETS[args.dataset].scores)
          + f", {ours['examples_per_second']:.2f} examples/s", file=sys.stderr, flush=True)
    print(format_table(args, ours, run_peer(args, task, result, output_dir, folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
