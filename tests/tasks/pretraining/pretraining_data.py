"""Helpers of the pretraining-data tests in tests/tasks/pretraining/: generated corpora, the creation call,
the records read back, their masking statistics, the original tool's reference records."""
import random

import numpy as np
import tensorflow as tf

from bert_tf.tasks.pretraining import create as pretraining
from bert_tf.tasks.pretraining import records as pretraining_records


def write_generated_corpus(path, vocab, num_documents, sentences_per_document, words_per_sentence=(6, 14),
                           seed=0):
    """Deterministic text built from the vocabulary's words: one sentence per line, a blank line
    between documents. About one word in five gets a '##' suffix glued on (a multi-piece word)."""
    rng = random.Random(seed)
    words = sorted(token for token in vocab if token.isascii() and token.isalpha() and token.islower()
                   and len(token) >= 3)
    suffixes = sorted(token[2:] for token in vocab if token.startswith("##") and token[2:].isascii()
                      and token[2:].isalpha() and len(token) >= 5)
    with open(path, "w", encoding="utf-8") as writer:
        for _ in range(num_documents):
            for _ in range(sentences_per_document):
                sentence = []
                for _ in range(rng.randint(*words_per_sentence)):
                    word = rng.choice(words)
                    if rng.random() < 0.2:
                        word += rng.choice(suffixes)
                    sentence.append(word)
                writer.write(" ".join(sentence) + " .\n")
            writer.write("\n")
    return str(path)


def read_records(path, max_seq_length, max_predictions_per_seq):
    """All records of a file parsed with the public feature spec: dict name -> [N, length] array."""
    spec = pretraining_records.pretraining_feature_spec(max_seq_length, max_predictions_per_seq)
    dataset = tf.data.TFRecordDataset([str(path)]).batch(4096).map(
        lambda serialized: tf.io.parse_example(serialized, spec))
    parts = list(dataset.as_numpy_iterator())
    return {name: np.concatenate([part[name] for part in parts]) for name in spec}


def raw_records(path):
    return [record.numpy() for record in tf.data.TFRecordDataset([str(path)])]


def masking_statistics(features, mask_id):
    """Masked fraction of real tokens, [MASK]/kept/random shares, NSP share, mean tokens, count."""
    weights = features["masked_lm_weights"] > 0
    positions = features["masked_lm_positions"]
    rows = np.nonzero(weights)[0]
    masked_input = features["input_ids"][rows, positions[weights]]
    labels = features["masked_lm_ids"][weights]
    num_tokens = features["input_mask"].sum()
    return {
        "masked_fraction": weights.sum() / num_tokens,
        "mask_share": np.mean(masked_input == mask_id),
        "kept_share": np.mean(masked_input == labels),
        "random_share": np.mean((masked_input != mask_id) & (masked_input != labels)),
        "random_next_share": features["next_sentence_labels"].mean(),
        "mean_tokens": num_tokens / len(weights),
        "count": len(weights),
    }


def original_groups(tokens, vocab_by_id):
    """Whole-word candidate groups exactly as the original builds them (a '##' piece joins the
    previous candidate; [CLS]/[SEP] are skipped)."""
    groups = []
    for position, token_id in enumerate(tokens):
        token = vocab_by_id[token_id]
        if token in ("[CLS]", "[SEP]"):
            continue
        if groups and token.startswith("##"):
            groups[-1].append(position)
        else:
            groups.append([position])
    return groups


def run(input_file, output_file, tokenizer, **config):
    """`create_pretraining_data` with a `PretrainingDataConfig` of `config`; returns its summary."""
    return pretraining.create_pretraining_data(
        str(input_file), str(output_file), tokenizer, pretraining.PretrainingDataConfig(**config))


# The original tool's records in refs/ and how they were made (refs/README.md: uncased vocabulary, lower
# case, seed 12345, 128 / 20).
REFERENCE_RUNS = {
    "original_sample_text_seq128.tfrecord": dict(input="sample_text.txt", dupe_factor=5),
    "original_wikitext2_wwm_seq128.tfrecord": dict(input="wikitext2_test_sentences.txt", dupe_factor=1,
                                                   do_whole_word_mask=True),
}
