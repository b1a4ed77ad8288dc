"""extend_vocab.py on the MiniLM checkpoint with 200 frequent words of a domain corpus, then 200 steps of
run_pretraining.py (issue 23, acceptance 2).

Domain corpus: GoEmotions Reddit comments (`../shared/data/goemotions`; social-media slang such as "lol",
"lmao", "subreddit", "upvote" that the uncased vocabulary spells in several pieces). Steps:

1. The 200 most frequent alphabetic words of train.tsv that MiniLM's vocabulary splits into more than one
   piece -> `<work>/words.txt`; `extend_vocab.py` puts them into [unused] slots (`<work>/extended`).
2. Tokens per word on the corpus, before and after (for those words, and for all of the text); the old rows
   of the word embeddings are checked bit-identical.
3. `create_pretraining_data.py` with the extended vocabulary: train.tsv (20 comments a document) for training,
   test.tsv for the held-out lines.
4. `run_pretraining.py --do_eval` from the extended checkpoint (step 0), then `--do_train` 200 steps and
   `--do_eval` again: the held-out masked-LM loss and accuracy before and after.

  python bench/extend_vocab.py [--work_dir=out/bench_extend_vocab] [--num_train_steps=200]

Prints one JSON object with the measurements (and writes it to `<work>/results.json`).
"""
import argparse
import collections
import json
import os
import subprocess
import sys

import numpy as np

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PROJECT_ROOT)
SHARED = os.environ.get("BERT_TF_SHARED", os.path.join(os.path.dirname(PROJECT_ROOT), "shared"))
MINILM = os.path.join(SHARED, "checkpoints", "minilm_l6_h384_uncased")
GOEMOTIONS = os.path.join(SHARED, "data", "goemotions")


def script(name, *flags):
    """Runs a project script in a new process; raises with its stderr tail when it fails."""
    result = subprocess.run([sys.executable, os.path.join(PROJECT_ROOT, name), *flags], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if result.returncode != 0:
        raise SystemExit(f"{name} failed:\n{result.stderr[-3000:]}")
    return result


def comments(split):
    with open(os.path.join(GOEMOTIONS, f"{split}.tsv"), encoding="utf-8") as reader:
        return [line.split("\t")[0].strip() for line in reader if line.strip()]


def pieces_per_word(tokenizer, basic, lines, words):
    """(mean pieces per occurrence of `words`, total pieces of `lines`)."""
    counts, total = [], 0
    for line in lines:
        for word in basic.tokenize(line):
            pieces = len(tokenizer.wordpiece_tokenizer.tokenize_word(word))
            total += pieces
            if word in words:
                counts.append(pieces)
    return float(np.mean(counts)), total


def read_eval(output_dir):
    with open(os.path.join(output_dir, "eval_results.txt"), encoding="utf-8") as reader:
        return {key: float(value) for key, value in (line.strip().split(" = ") for line in reader)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work_dir", default=os.path.join(PROJECT_ROOT, "out", "bench_extend_vocab"))
    parser.add_argument("--num_words", type=int, default=200)
    parser.add_argument("--num_train_steps", type=int, default=200)
    parser.add_argument("--train_batch_size", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--max_eval_steps", type=int, default=50)
    args = parser.parse_args(argv)

    from bert_tf.checkpoint import read_tensors
    from bert_tf.tokenization import BasicTokenizer, FullTokenizer

    work = args.work_dir
    os.makedirs(work, exist_ok=True)
    train, held_out = comments("train"), comments("test")
    old = FullTokenizer(os.path.join(MINILM, "vocab.txt"))
    basic = BasicTokenizer(do_lower_case=True)
    frequency = collections.Counter(word for line in train for word in basic.tokenize(line))
    words = [word for word, _ in frequency.most_common() if word.isalpha() and len(word) > 1
             and word not in old.vocab and len(old.tokenize(word)) > 1][:args.num_words]
    with open(os.path.join(work, "words.txt"), "w", encoding="utf-8") as writer:
        writer.write("".join(word + "\n" for word in words))
    extended = os.path.join(work, "extended")
    script("extend_vocab.py", f"--bert_dir={MINILM}", f"--words_file={work}/words.txt", f"--output_dir={extended}")

    new = FullTokenizer(os.path.join(extended, "vocab.txt"))
    chosen = set(words)
    before_word, before_total = pieces_per_word(old, basic, held_out, chosen)
    after_word, after_total = pieces_per_word(new, basic, held_out, chosen)
    old_rows, new_rows = (read_tensors(path)["bert/embeddings/word_embeddings"] for path in (MINILM, extended))
    replaced = sorted(new.vocab[word] for word in words)
    kept = np.setdiff1d(np.arange(old_rows.shape[0]), replaced)
    old_rows_identical = old_rows[kept].tobytes() == new_rows[kept].tobytes()

    def write_corpus(lines, path, per_document):
        with open(path, "w", encoding="utf-8") as writer:
            for start in range(0, len(lines), per_document):
                writer.write("".join(line + "\n" for line in lines[start:start + per_document]) + "\n")

    write_corpus(train, f"{work}/train.txt", 20)
    write_corpus(held_out, f"{work}/held_out.txt", 20)
    data_flags = [f"--vocab_file={extended}/vocab.txt", "--max_seq_length=128", "--max_predictions_per_seq=20",
                  "--noprogress"]
    script("create_pretraining_data.py", f"--input_file={work}/train.txt", f"--output_file={work}/train.tfrecord",
           "--dupe_factor=2", *data_flags)
    script("create_pretraining_data.py", f"--input_file={work}/held_out.txt",
           f"--output_file={work}/held_out.tfrecord", "--dupe_factor=1", "--random_seed=7", *data_flags)

    common = ["--max_seq_length=128", "--max_predictions_per_seq=20", "--eval_batch_size=32",
              f"--max_eval_steps={args.max_eval_steps}", f"--input_file={work}/held_out.tfrecord"]
    script("run_pretraining.py", f"--bert_dir={extended}", f"--output_dir={work}/step0", "--do_eval", *common)
    step0 = read_eval(f"{work}/step0")
    train_flags = [f"--input_file={work}/train.tfrecord", "--do_train", f"--num_train_steps={args.num_train_steps}",
                   f"--num_warmup_steps={args.num_train_steps // 10}", f"--train_batch_size={args.train_batch_size}",
                   f"--learning_rate={args.learning_rate}", f"--save_checkpoints_steps={args.num_train_steps}",
                   "--max_seq_length=128", "--max_predictions_per_seq=20", "--seed=1"]
    script("run_pretraining.py", f"--bert_dir={extended}", f"--output_dir={work}/trained", *train_flags)
    script("run_pretraining.py", f"--bert_config_file={extended}/bert_config.json",
           f"--init_checkpoint={work}/trained", f"--output_dir={work}/trained_eval", "--do_eval", *common)
    trained = read_eval(f"{work}/trained_eval")
    results = {
        "corpus": "goemotions train.tsv (words, training), test.tsv (held-out)",
        "words": len(words), "first_words": words[:12],
        "pieces_per_word_before": round(before_word, 3), "pieces_per_word_after": round(after_word, 3),
        "held_out_pieces_before": before_total, "held_out_pieces_after": after_total,
        "old_rows_bit_identical": bool(old_rows_identical),
        "masked_lm_loss_step0": step0["masked_lm_loss"], "masked_lm_accuracy_step0": step0["masked_lm_accuracy"],
        f"masked_lm_loss_step{args.num_train_steps}": trained["masked_lm_loss"],
        f"masked_lm_accuracy_step{args.num_train_steps}": trained["masked_lm_accuracy"],
    }
    with open(os.path.join(work, "results.json"), "w", encoding="utf-8") as writer:
        json.dump(results, writer, indent=2)
    print(json.dumps(results, indent=2))
    return 0 if old_rows_identical and after_word < before_word and trained["masked_lm_loss"] < step0[
        "masked_lm_loss"] else 1


if __name__ == "__main__":
    sys.exit(main())
