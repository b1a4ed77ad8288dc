"""Tests for bert_tf.tasks.pretraining.instances: masked-LM and next-sentence instances (masking and
next-sentence statistics, whole-word masking, the fast paths against the original's loop)."""
import random

import pytest

from bert_tf.tasks.pretraining import corpus as pretraining_corpus
from bert_tf.tasks.pretraining import create as pretraining
from bert_tf.tasks.pretraining import instances as pretraining_instances
from tests.tasks.pretraining.pretraining_data import (
    masking_statistics,
    original_groups,
    read_records,
    run,
    write_generated_corpus,
)


@pytest.mark.parametrize("num_workers", [1, 2])
def test_masking_statistics(tmp_path, uncased_tokenizer, generated_corpus, num_workers):
    output = tmp_path / "out.tfrecord"
    summary = run(generated_corpus, output, uncased_tokenizer, max_seq_length=64, max_predictions_per_seq=10,
                  dupe_factor=4, num_workers=num_workers)
    features = read_records(output, 64, 10)
    stats = masking_statistics(features, uncased_tokenizer.vocab["[MASK]"])
    assert stats["count"] == summary.num_instances > 1500
    # round(len * 0.15) masked tokens per instance (max_predictions_per_seq never binds at 64 tokens)
    assert abs(stats["masked_fraction"] - 0.15) < 0.02
    assert abs(stats["mask_share"] - 0.8) < 0.02
    assert abs(stats["kept_share"] - 0.1) < 0.02
    assert abs(stats["random_share"] - 0.1) < 0.02
    assert summary.num_masked_with_mask_token == round(stats["mask_share"] * summary.num_masked_positions)


@pytest.mark.parametrize("num_workers", [1, 2])
def test_next_sentence_labels_are_balanced(tmp_path, uncased_tokenizer, num_workers):
    # The original labels every one-sentence chunk "random" and a short target length makes most chunks
    # one sentence: with short sentences, long documents and short_seq_prob=0 such chunks are rare, and
    # B is random for half of the instances.
    corpus = write_generated_corpus(tmp_path / "corpus.txt", uncased_tokenizer.vocab, 40, 240,
                                    words_per_sentence=(2, 6), seed=1)
    output = tmp_path / "out.tfrecord"
    summary = run(corpus, output, uncased_tokenizer, max_seq_length=64, max_predictions_per_seq=10, dupe_factor=4,
                  short_seq_prob=0.0, num_workers=num_workers)
    labels = read_records(output, 64, 10)["next_sentence_labels"]
    assert len(labels) == summary.num_instances > 4000
    assert abs(labels.mean() - 0.5) < 0.02


@pytest.mark.parametrize("num_workers", [1, 2])
def test_whole_word_masking_never_splits_a_word(tmp_path, uncased_tokenizer, generated_corpus, num_workers):
    output = tmp_path / "out.tfrecord"
    run(generated_corpus, output, uncased_tokenizer, max_seq_length=64, max_predictions_per_seq=10, dupe_factor=1,
        do_whole_word_mask=True, num_workers=num_workers)
    features = read_records(output, 64, 10)
    vocab_by_id = uncased_tokenizer.inv_vocab
    multi_piece_masked = 0
    for row in range(len(features["input_ids"])):
        num_masked = int(features["masked_lm_weights"][row].sum())
        positions = features["masked_lm_positions"][row][:num_masked]
        tokens = features["input_ids"][row].copy()
        tokens[positions] = features["masked_lm_ids"][row][:num_masked]
        tokens = tokens[:int(features["input_mask"][row].sum())]
        masked = set(positions.tolist())
        for group in original_groups(tokens, vocab_by_id):
            covered = masked.intersection(group)
            assert not covered or covered == set(group), (row, group, sorted(masked))
            multi_piece_masked += len(group) > 1 and bool(covered)
    assert multi_piece_masked > 100


@pytest.mark.parametrize("whole_words", [False, True])
@pytest.mark.parametrize("original_draws", [True, False])
def test_fast_paths_equal_general_path(uncased_tokenizer, generated_corpus, whole_words, original_draws):
    """Masking candidates found by position / by numpy equal the original's token loop."""
    corpus = pretraining_corpus.read_corpus([generated_corpus], uncased_tokenizer)
    config = pretraining.PretrainingDataConfig(max_seq_length=48, max_predictions_per_seq=7,
                                               do_whole_word_mask=whole_words)
    vocabulary = pretraining_instances.VocabularyIds.from_vocab(uncased_tokenizer.vocab, corpus.documents)
    assert not vocabulary.text_has_special_ids
    batches = []
    for fast in (True, False):
        builder = pretraining_instances.InstanceBuilder(corpus.documents[:12], vocabulary, config,
                                                        random.Random(3), original_draws=original_draws)
        if not fast:
            builder._mask_by_position = builder._whole_words_by_position = False
        for document_index in range(12):
            builder.build_document(document_index)
        batches.append(builder.batch)
    assert len(batches[0]) > 100
    assert batches[0] == batches[1]
