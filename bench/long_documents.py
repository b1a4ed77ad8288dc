"""Documents longer than the model: ChnSentiCorp with `--max_seq_length=64`, truncation (the original) against
`--long_documents=windows`, same checkpoint, recipe and seed; dev accuracy of each, and the windowed export's
raw-text probabilities against its `test_results.tsv` for the test reviews longer than the model.

  python bench/long_documents.py                       # MiniLM, 1 epoch, both runs (about half an hour, 2 cores)
  python bench/long_documents.py --train_rows=2000     # on the first 2,000 training reviews
  python bench/long_documents.py --runs=windows        # the windows run only

Each run is `run_classifier.py --task=tsv` as the README gives it (`bert_tf.tasks.driver.run` in this process),
batch 32, learning rate 5e-5, 1 epoch, seed 1, batches grouped by length; the windows run with the default
stride (half a window) and mean pooling. Output folders under `--work_dir` (default: a temporary folder).
"""
import argparse
import csv
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import timing  # noqa: E402  (bench/timing.py)

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(PROJECT_ROOT), "shared"))


def subset(source: str, target: str, train_rows: int) -> None:
    """The ChnSentiCorp files, the training file cut to its first `train_rows` reviews (0: all)."""
    os.makedirs(target, exist_ok=True)
    for name in ("train", "dev", "test"):
        with open(os.path.join(source, f"{name}.tsv"), encoding="utf-8") as reader:
            lines = reader.read().splitlines()
        if name == "train" and train_rows:
            lines = lines[:train_rows + 1]
        with open(os.path.join(target, f"{name}.tsv"), "w", encoding="utf-8") as writer:
            writer.write("\n".join(lines) + "\n")


def run_classifier(data_dir: str, output_dir: str, args, *extra: str) -> dict:
    """One run_classifier.py run in a process of its own; returns eval_results.txt and the seconds it took."""
    command = [sys.executable, os.path.join(PROJECT_ROOT, "run_classifier.py"), "--task=tsv",
               f"--data_dir={data_dir}", f"--bert_dir={args.bert_dir}", f"--output_dir={output_dir}",
               "--do_train", "--do_eval", "--do_predict", f"--max_seq_length={args.max_seq_length}",
               "--train_batch_size=32", "--learning_rate=5e-5", f"--num_train_epochs={args.num_train_epochs}",
               "--seed=1", "--group_by_length", *extra]
    start = time.time()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    seconds = time.time() - start
    with open(os.path.join(output_dir, "eval_results.txt"), encoding="utf-8") as reader:
        results = dict(line.split(" = ") for line in reader.read().splitlines())
    with open(os.path.join(output_dir, "train.tf_record.meta.json"), encoding="utf-8") as reader:
        records = json.load(reader)["settings"]["num_records"]
    return {"eval_accuracy": float(results["eval_accuracy"]), "eval_loss": float(results["eval_loss"]),
            "train_records": records, "seconds": round(seconds, 1)}


def export_agreement(data_dir: str, output_dir: str, bert_dir: str, max_seq_length: int) -> dict:
    """The windowed export's raw-text probabilities against test_results.tsv, over the test reviews of more
    word pieces than the model takes."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    from bert_tf.tokenization import FullTokenizer

    with open(os.path.join(data_dir, "test.tsv"), encoding="utf-8") as reader:
        texts = [row[1] for row in list(csv.reader(reader, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]]
    expected = np.loadtxt(os.path.join(output_dir, "test_results.tsv"), ndmin=2)
    version = sorted(glob.glob(os.path.join(output_dir, "export", "[0-9]*")))[-1]
    serve = tf.saved_model.load(version).signatures["serving_default"]
    served = np.concatenate([serve(text_a=tf.constant(texts[start:start + 32]))["probabilities"].numpy()
                             for start in range(0, len(texts), 32)])
    tokenizer = FullTokenizer(os.path.join(bert_dir, "vocab.txt"), do_lower_case=True)
    long = np.array([len(tokenizer.tokenize(text)) > max_seq_length - 2 for text in texts])
    return {"test_reviews": len(texts), "longer_than_the_model": int(long.sum()),
            "max_abs_diff_long": float(np.abs(served[long] - expected[long]).max()),
            "max_abs_diff_all": float(np.abs(served - expected).max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bert_dir", default=os.path.join(SHARED, "checkpoints", "minilm_l6_h384_uncased"))
    parser.add_argument("--max_seq_length", type=int, default=64)
    parser.add_argument("--num_train_epochs", type=float, default=1.0)
    parser.add_argument("--train_rows", type=int, default=0, help="first N training reviews (0: all 9,600)")
    parser.add_argument("--work_dir", default=None)
    parser.add_argument("--runs", default="truncate,windows", help="which runs: truncate, windows or both")
    args = parser.parse_args()
    work_dir = args.work_dir or tempfile.mkdtemp(prefix="bench_long_documents_")
    data_dir = os.path.join(work_dir, "data")
    subset(os.path.join(SHARED, "data", "chnsenticorp"), data_dir, args.train_rows)
    report = {"cpu": timing.cpu_model(), "max_seq_length": args.max_seq_length, "train_rows": args.train_rows or 9600,
              "num_train_epochs": args.num_train_epochs}
    runs = args.runs.split(",")
    if "truncate" in runs:
        report["truncate"] = run_classifier(data_dir, os.path.join(work_dir, "truncate"), args)
        print(json.dumps(report), flush=True)
    if "windows" in runs:
        windows_dir = os.path.join(work_dir, "windows")
        report["windows"] = run_classifier(data_dir, windows_dir, args, "--long_documents=windows",
                                           f"--export_dir={os.path.join(windows_dir, 'export')}")
        report["export"] = export_agreement(data_dir, windows_dir, args.bert_dir, args.max_seq_length)
    print(json.dumps(report, indent=1), flush=True)


if __name__ == "__main__":
    main()
