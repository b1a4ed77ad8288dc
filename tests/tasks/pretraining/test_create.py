"""Tests for bert_tf.tasks.pretraining.create (the driver of create_pretraining_data.py): determinism, parity
with the records written by the original tool, and bad input. (The stages: test_corpus, test_instances,
test_workers, test_sampling, test_records.)"""
import numpy as np
import pytest

from bert_tf.errors import InputError
from bert_tf.tasks.pretraining import create as pretraining
from bert_tf.tasks.pretraining import records as pretraining_records
from tests.conftest import tokenizer_of_vocabulary
from tests.tasks.pretraining.pretraining_data import REFERENCE_RUNS, read_records, run


# ----------------------------------------------------------------------------------------------------
# Determinism
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("num_workers", [1, 2])
def test_same_seed_same_bytes(tmp_path, uncased_tokenizer, generated_corpus, num_workers):
    outputs = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        output = tmp_path / f"{name}.tfrecord"
        run(generated_corpus, output, uncased_tokenizer, max_seq_length=64, max_predictions_per_seq=10,
            dupe_factor=2, random_seed=seed, num_workers=num_workers)
        outputs.append(output.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0] != outputs[2]


# ----------------------------------------------------------------------------------------------------
# Parity with the original tool (refs/README.md: uncased vocabulary, lower case, seed 12345, 128 / 20)
# ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reference", sorted(REFERENCE_RUNS))
def test_one_worker_reproduces_the_original_records(tmp_path, uncased_tokenizer, data_dir, refs_dir, reference):
    settings = dict(REFERENCE_RUNS[reference])
    input_file = data_dir / "pretraining_text" / settings.pop("input")
    output = tmp_path / "out.tfrecord"
    run(input_file, output, uncased_tokenizer, max_seq_length=128, max_predictions_per_seq=20, masked_lm_prob=0.15,
        random_seed=12345, num_workers=1, **settings)
    ours, original = read_records(output, 128, 20), read_records(refs_dir / reference, 128, 20)
    for name in original:
        np.testing.assert_array_equal(ours[name], original[name], err_msg=name)


# ----------------------------------------------------------------------------------------------------
# Bad input
# ----------------------------------------------------------------------------------------------------
SMALL_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", ".", "##s"]


@pytest.fixture()
def small_tokenizer(tmp_path):
    return tokenizer_of_vocabulary(tmp_path / "vocab.txt", SMALL_VOCAB)


def test_small_vocabulary_end_to_end(tmp_path, small_tokenizer):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat .\nthe cats sat on the mat .\n\nthe mat .\ncats sat .\n", encoding="utf-8")
    summary = run(corpus, tmp_path / "out.tfrecord", small_tokenizer, max_seq_length=12,
                  max_predictions_per_seq=3, dupe_factor=3, num_workers=1)
    assert summary.num_documents == 2 and summary.num_instances > 0
    pretraining_records.check_pretraining_tfrecord(str(tmp_path / "out.tfrecord"), 12, 3)


def test_empty_corpus(tmp_path, small_tokenizer):
    corpus = tmp_path / "empty.txt"
    corpus.write_text("\n\n   \n\x07\n", encoding="utf-8")
    with pytest.raises(pretraining.PretrainingDataError, match=r"no text in .*empty\.txt"):
        run(corpus, tmp_path / "out.tfrecord", small_tokenizer, max_seq_length=12, max_predictions_per_seq=3)
    assert not (tmp_path / "out.tfrecord").exists()


@pytest.mark.parametrize("missing", ["[CLS]", "[SEP]", "[MASK]", "[UNK]"])
def test_vocabulary_without_special_token(tmp_path, missing):
    tokenizer = tokenizer_of_vocabulary(tmp_path / "vocab.txt", [token for token in SMALL_VOCAB if token != missing])
    vocab_file = tokenizer.vocab_file
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat .\n", encoding="utf-8")
    with pytest.raises(pretraining.PretrainingDataError, match=rf"vocab\.txt lacks .*{missing[1:-1]}"):
        pretraining.create_pretraining_data(str(corpus), str(tmp_path / "out.tfrecord"), tokenizer,
                                            vocab_file=vocab_file)


@pytest.mark.parametrize("flags, message", [
    (dict(max_predictions_per_seq=126), r"--max_predictions_per_seq=126: must be between 1 and .*125"),
    (dict(max_predictions_per_seq=0), r"--max_predictions_per_seq=0"),
    (dict(max_seq_length=4, max_predictions_per_seq=1), r"--max_seq_length=4"),
    (dict(masked_lm_prob=0.0), r"--masked_lm_prob"),
    (dict(short_seq_prob=1.5), r"--short_seq_prob"),
    (dict(dupe_factor=0), r"--dupe_factor"),
    (dict(num_workers=0), r"--num_workers"),
])
def test_bad_config(flags, message):
    with pytest.raises(pretraining.PretrainingDataError, match=message):
        pretraining.PretrainingDataConfig(**flags).validate()


def test_missing_files(tmp_path, small_tokenizer):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat .\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"--input_file: no file matches .*nope\*\.txt"):
        run(f"{corpus},{tmp_path}/nope*.txt", tmp_path / "out.tfrecord", small_tokenizer)
    with pytest.raises(InputError, match="--input_file is empty"):
        run(" , ", tmp_path / "out.tfrecord", small_tokenizer)
    with pytest.raises(pretraining.PretrainingDataError, match=r"--output_file .*no_such_folder"):
        run(corpus, tmp_path / "no_such_folder" / "out.tfrecord", small_tokenizer)
