"""SQuAD 1.1 fine-tuning with the MiniLM checkpoint: EM / F1 (official script) and training speed.

Data: SQuAD v1.1 dev (`../shared/data/squad/v1.1/dev-v1.1.json`, 48 articles), split in file order: the
first 38 articles train (each question's first answer is its target), the last 10 are predicted and scored
against all their answers with the official `evaluate-v1.1.py`. Recipe: the original README's SQuAD 1.1
command (max_seq_length 384, doc_stride 128, max_query_length 64, train_batch_size 12, learning_rate
3e-5, warmup 10%), 1 epoch, seed 12345; one `bert_tf.tasks.driver.run` of the SQuAD task (train, then predict).

Prints a markdown table: EM, F1, training examples/s (windows/s, leaving out the first step, which traces
the step function) and, when `torch` and `transformers` are importable (by `--peer_python`), the training
step of Hugging Face's PyTorch `BertForQuestionAnswering` built from the same weights (converted in memory,
handed over as arrays: the peer runs in a process of its own), on random batches of 12 of the same training
windows padded to each batch's longest (the issue's peer; `--peer_seq_length` pads to a fixed length), with
the speed ratio.

  python bench/squad.py                                          # the full run (about 1.5 h on 2 CPU cores)
  python bench/squad.py --max_steps=3 --max_predict_articles=1   # quick check that everything runs
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

# oneDNN kernels are off by default on CPUs without AVX-512 VNNI; on AVX2 CPUs they train ~25% faster.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import hf_peer  # noqa: E402  (bench/hf_peer.py)
import numpy as np  # noqa: E402
import timing  # noqa: E402  (bench/timing.py)

# TensorFlow and bert_tf are imported in the functions that need them: the peer runs in a process of its
# own (`--peer_worker`), since importing torch and transformers next to TensorFlow can crash.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(PROJECT_ROOT), "shared"))
NUM_TRAIN_ARTICLES = 38
PEER_WARMUP_STEPS = 2


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad_file", default=os.path.join(SHARED, "data", "squad", "v1.1", "dev-v1.1.json"))
    parser.add_argument("--eval_script", default=os.path.join(SHARED, "data", "squad", "eval", "evaluate-v1.1.py"))
    parser.add_argument("--bert_dir", default=os.path.join(SHARED, "checkpoints", "minilm_l6_h384_uncased"))
    parser.add_argument("--output_dir", default=None, help="the run's output_dir (default: a temp dir)")
    parser.add_argument("--max_seq_length", type=int, default=384)
    parser.add_argument("--doc_stride", type=int, default=128)
    parser.add_argument("--max_query_length", type=int, default=64)
    parser.add_argument("--train_batch_size", type=int, default=12)
    parser.add_argument("--learning_rate", type=float, default=3e-5)
    parser.add_argument("--num_train_epochs", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--max_steps", type=int, default=None, help="stop training after this many steps (checks)")
    parser.add_argument("--max_predict_articles", type=int, default=None,
                        help="predict only the first this many of the 10 held-out articles (checks)")
    parser.add_argument("--use_xla", action="store_true", help="compile the training step with XLA")
    parser.add_argument("--pad_to_max_length", action="store_true", help="pad every batch to max_seq_length")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--group_by_length", action="store_true",
                        help="train on batches of similar-length windows (run_squad.py --group_by_length)")
    parser.add_argument("--strategy", default="one_device")
    parser.add_argument("--peer_steps", type=int, default=20, help="timed PyTorch steps (0: skip the peer)")
    parser.add_argument("--peer_seq_length", type=int, default=None,
                        help="pad the peer's batches to this length (default: each batch's longest window)")
    parser.add_argument("--peer_python", default=sys.executable,
                        help="the Python that has torch and transformers (default: this one)")
    parser.add_argument("--peer_worker", default=None, help=argparse.SUPPRESS)  # internal: weights .npz
    parser.add_argument("--verbose", action="store_true", help="log progress (absl INFO)")
    return parser.parse_args(argv)


# ------------------------------------------------------------------------------------------------ data
def split_squad(squad_file: str, folder: str, max_predict_articles=None):
    """Writes `train.json` (first 38 articles, first answers only) and `predict.json` (the other 10)."""
    with open(squad_file, encoding="utf-8") as reader:
        data = json.load(reader)
    train_articles = json.loads(json.dumps(data["data"][:NUM_TRAIN_ARTICLES]))
    for article in train_articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                qa["answers"] = qa["answers"][:1]
    predict_articles = data["data"][NUM_TRAIN_ARTICLES:]
    if max_predict_articles:
        predict_articles = predict_articles[:max_predict_articles]
    paths = {}
    for name, articles in (("train", train_articles), ("predict", predict_articles)):
        paths[name] = os.path.join(folder, f"{name}.json")
        with open(paths[name], "w", encoding="utf-8") as writer:
            json.dump({"version": data.get("version", "1.1"), "data": articles}, writer)
    return paths


def official_scores(eval_script: str, data_file: str, predictions_file: str) -> dict:
    completed = subprocess.run([sys.executable, eval_script, data_file, predictions_file], capture_output=True,
                               text=True, check=True)
    return json.loads(completed.stdout)


# ------------------------------------------------------------------------------------------------ the peer
def write_peer_batches(args, train_file: str, path: str) -> None:
    """Random batches of our training windows for the peer, in a `.npz` file: `train_batch_size` windows
    each, padded to the batch's longest (the issue's peer: dynamic padding), or to `--peer_seq_length`."""
    import random

    sys.path.insert(0, PROJECT_ROOT)
    from bert_tf.tasks.squad import examples, features
    from bert_tf.training.run_options import load_tokenizer, resolve_model_files

    train_examples, _ = examples.squad_examples(examples.read_squad_file(train_file, "train_file"), is_training=True)
    tokenizer = load_tokenizer(resolve_model_files(args.bert_dir))
    windows = list(features.convert_examples_to_features(train_examples, tokenizer, args.max_seq_length,
                                                         args.doc_stride, args.max_query_length, is_training=True))
    rng = random.Random(1)
    arrays = {}
    for index in range(args.peer_steps + PEER_WARMUP_STEPS):
        batch = rng.sample(windows, args.train_batch_size)
        length = args.peer_seq_length or max(sum(window.input_mask) for window in batch)
        for name in ("input_ids", "input_mask", "segment_ids"):
            arrays[f"{name}_{index}"] = np.array([getattr(window, name)[:length] for window in batch], np.int64)
        arrays[f"start_positions_{index}"] = np.array([window.start_position for window in batch], np.int64)
        arrays[f"end_positions_{index}"] = np.array([window.end_position for window in batch], np.int64)
    np.savez(path, **arrays)


def time_peer_step(args) -> float:
    """Training examples/s of the peer (forward, backward, clipping, AdamW step) on the batches of
    `write_peer_batches`, after 2 untimed steps. Runs in the `--peer_worker` process."""
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(os.cpu_count() or 1)
    model = hf_peer.peer_model(os.path.join(args.bert_dir, "bert_config.json"),
                               os.path.join(args.peer_worker, "weights.npz"), "BertForQuestionAnswering",
                               ["qa_outputs."])
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01, eps=1e-6)
    names = ("input_ids", "input_mask", "segment_ids", "start_positions", "end_positions")

    def loss_of(model, batch):
        return model(input_ids=batch["input_ids"], attention_mask=batch["input_mask"],
                     token_type_ids=batch["segment_ids"], start_positions=batch["start_positions"],
                     end_positions=batch["end_positions"]).loss

    with np.load(os.path.join(args.peer_worker, "batches.npz")) as arrays:
        batches = [{name: torch.from_numpy(arrays[f"{name}_{index}"]) for name in names}
                   for index in range(args.peer_steps + PEER_WARMUP_STEPS)]
    return timing.torch_training_examples_per_second(model, optimizer, batches, PEER_WARMUP_STEPS, loss_of)


def measure_peer(args, folder: str, train_file: str):
    """Examples/s of the peer, measured by `--peer_python` in a process of its own; None when it has no torch
    or transformers."""
    if not hf_peer.has_torch(args.peer_python):
        return None
    peer_folder = os.path.join(folder, "peer")
    os.makedirs(peer_folder, exist_ok=True)
    hf_peer.write_peer_weights(args.bert_dir, os.path.join(peer_folder, "weights.npz"))
    write_peer_batches(args, train_file, os.path.join(peer_folder, "batches.npz"))
    result = hf_peer.run_peer_worker(args.peer_python, __file__, peer_folder, f"--bert_dir={args.bert_dir}",
                                     f"--learning_rate={args.learning_rate}", f"--peer_steps={args.peer_steps}")
    return float(result["examples_per_second"])


# ------------------------------------------------------------------------------------------------ the run
def run_bert_tf(args, paths: dict, output_dir: str) -> dict:
    """Trains and predicts with the SQuAD task (`bert_tf.tasks.driver.run`); scores with the official script."""
    sys.path.insert(0, PROJECT_ROOT)
    from bert_tf.tasks import driver
    from bert_tf.tasks.squad.task import SquadConfig, SquadTask
    from bert_tf.training.run_options import FineTuningOptions, RunOptions, resolve_model_files

    config = SquadConfig(
        model=resolve_model_files(args.bert_dir, checkpoint_required=True),
        options=RunOptions(output_dir=output_dir, strategy=args.strategy, use_xla=args.use_xla, dtype=args.dtype,
                           seed=args.seed, save_checkpoints_steps=100000, keep_checkpoint_max=1,
                           max_train_steps=args.max_steps, progress_bar=sys.stderr.isatty()),
        recipe=FineTuningOptions(train_batch_size=args.train_batch_size, predict_batch_size=32,
                                 learning_rate=args.learning_rate, num_train_epochs=args.num_train_epochs),
        train_file=paths["train"], predict_file=paths["predict"], do_train=True, do_predict=True,
        max_seq_length=args.max_seq_length, doc_stride=args.doc_stride, max_query_length=args.max_query_length,
        pad_to_max_length=args.pad_to_max_length, group_by_length=args.group_by_length)
    started = time.perf_counter()
    result = driver.run(SquadTask(config))
    scores = official_scores(args.eval_script, paths["predict"], result.output_files["predictions.json"])
    return {"exact_match": scores["exact_match"], "f1": scores["f1"], "ours_eval": result.eval_results,
            "examples_per_second": result.train.examples_per_second, "steps": result.train.global_step,
            "train_seconds": result.train.train_seconds, "total_seconds": time.perf_counter() - started}


def format_table(args, row: dict, peer) -> str:
    import tensorflow as tf

    peer_padding = f"padded to {args.peer_seq_length}" if args.peer_seq_length else "padded to each batch's longest"
    lines = [
        f"# SQuAD 1.1 (dev articles 1-{NUM_TRAIN_ARTICLES} train, {NUM_TRAIN_ARTICLES + 1}-48 predict), "
        f"{os.path.basename(os.path.normpath(args.bert_dir))}: {args.max_seq_length}/{args.doc_stride}/"
        f"{args.max_query_length}, batch {args.train_batch_size}, lr {args.learning_rate}, "
        f"{args.num_train_epochs} epoch(s), seed {args.seed}" + (f" (max {args.max_steps} steps)" if args.max_steps
                                                                  else "")
        + ("; padded to max_seq_length" if args.pad_to_max_length else "; per-batch padding")
        + ("; length-grouped batches" if args.group_by_length else "")
        + f"; XLA {args.use_xla}; {args.dtype}; {args.strategy}",
        f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
        f"TensorFlow {tf.__version__}; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS')}",
        "",
        "| | EM | F1 | train examples/s | steps | train time (s) |",
        "|---|---|---|---|---|---|",
        f"| bert_tf | {row['exact_match']:.2f} | {row['f1']:.2f} | {row['examples_per_second']:.2f} | {row['steps']} "
        f"| {row['train_seconds']:.0f} |",
    ]
    if peer is None:
        lines.append("| HF PyTorch peer | | | not measured (needs torch and transformers) | | |")
    else:
        lines.append(f"| HF PyTorch peer ({peer_padding}) | | | {peer:.2f} | {args.peer_steps} | |")
        lines.append(f"| speed ratio bert_tf / peer | | | {row['examples_per_second'] / peer:.2f}x | | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.peer_worker:
        print(json.dumps({"examples_per_second": time_peer_step(args)}))
        return 0
    from absl import logging

    logging.set_verbosity(logging.INFO if args.verbose else logging.WARNING)
    folder = tempfile.mkdtemp(prefix="bench_squad_")
    paths = split_squad(args.squad_file, folder, args.max_predict_articles)
    row = run_bert_tf(args, paths, args.output_dir or os.path.join(folder, "out"))
    if abs(row["ours_eval"]["f1"] - row["f1"]) > 1e-9:
        print(f"warning: eval_results.txt F1 {row['ours_eval']['f1']} != official {row['f1']}", file=sys.stderr)
    print(f"bert_tf: EM {row['exact_match']:.2f}, F1 {row['f1']:.2f}, {row['examples_per_second']:.2f} "
          "examples/s", file=sys.stderr, flush=True)
    peer = measure_peer(args, folder, paths["train"]) if args.peer_steps else None
    print(format_table(args, row, peer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
