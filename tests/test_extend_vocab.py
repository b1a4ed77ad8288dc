"""extend_vocab.py: the command line, run_pretraining.py and run_classifier.py on a grown model, one-line errors
with nothing written."""
import json
import shutil

import numpy as np
import pytest

from bert_tf.checkpoint import latest_checkpoint, list_checkpoint
from tests.harness.scripts import assert_fails_cleanly, glue_subset, run_main

NUM_WORDS = 1000  # the tiny model's vocabulary has 994 [unused] slots: 6 words grow it


@pytest.fixture(scope="module")
def grown_model(tmp_path_factory, tiny_ckpt_dir):
    folder = tmp_path_factory.mktemp("grown")
    words = folder / "words.txt"
    words.write_text("".join(f"domainword{index}\n" for index in range(NUM_WORDS)), encoding="utf-8")
    assert run_main("extend_vocab", f"--bert_dir={tiny_ckpt_dir}", f"--words_file={words}",
                    f"--output_dir={folder / 'model'}", "--grow") == 0
    return folder / "model"


def test_grown_model_files(grown_model, tiny_ckpt_dir):
    vocab = (grown_model / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert len(vocab) == 30528 and vocab[-1] == f"domainword{NUM_WORDS - 1}" and "[unused993]" not in vocab
    assert json.loads((grown_model / "bert_config.json").read_text())["vocab_size"] == 30528
    shapes = list_checkpoint(grown_model)
    assert shapes["bert/embeddings/word_embeddings"] == ((30528, 64), "float32")
    assert shapes["cls/predictions/output_bias/adam_v"] == ((30528,), "float32")
    assert set(shapes) == set(list_checkpoint(tiny_ckpt_dir))


def test_run_pretraining_and_run_classifier_load_the_grown_model(tmp_path, grown_model, refs_dir, data_dir):
    output = tmp_path / "pretraining"
    assert run_main("run_pretraining", f"--bert_dir={grown_model}",
                    f"--input_file={refs_dir / 'original_sample_text_seq128.tfrecord'}", f"--output_dir={output}",
                    "--do_train", "--train_batch_size=4", "--num_train_steps=2", "--num_warmup_steps=1",
                    "--max_seq_length=128", "--max_predictions_per_seq=20", "--learning_rate=1e-3") == 0
    assert list_checkpoint(latest_checkpoint(output))["bert/embeddings/word_embeddings"][0] == (30528, 64)
    mrpc = glue_subset(data_dir / "glue" / "MRPC", tmp_path / "MRPC", rows=8)
    assert run_main("run_classifier", "--task_name=MRPC", f"--data_dir={mrpc}", f"--bert_dir={grown_model}",
                    f"--output_dir={tmp_path / 'classifier'}", "--do_train", "--max_seq_length=32",
                    "--train_batch_size=8", "--num_train_epochs=1") == 0


def test_bad_input_is_one_line_and_writes_nothing(tmp_path, tiny_ckpt_dir, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_ckpt_dir, model)
    words = tmp_path / "words.txt"
    output = tmp_path / "out"

    def refused(*expected, word_lines=("covid",), flags=()):
        words.write_text("".join(line + "\n" for line in word_lines), encoding="utf-8")
        assert_fails_cleanly(capsys, "extend_vocab", [f"--bert_dir={model}", f"--words_file={words}",
                                                      f"--output_dir={output}", *flags], *expected, output_dir=output)

    refused("words.txt:2: 'the' is already in the vocabulary", word_lines=("covid", "the"))
    refused("words.txt:3: 'covid' repeats line 1", word_lines=("covid", "", "covid"))
    refused("words.txt:1: the tokenizer never keeps 'Covid' whole", word_lines=("Covid",))
    refused("no words", word_lines=("",))
    refused("1000 words but", "only 994 [unusedN] slots", "add --grow",
            word_lines=[f"domainword{index}" for index in range(1000)])
    refused("missing --words_file", flags=["--words_file="])
    refused("is the input --bert_dir", flags=[f"--output_dir={model}"])
    lines = (tiny_ckpt_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert lines[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    (model / "vocab.txt").write_text("".join(line + "\n" for line in lines[:-1] + ["[CLS]"]))
    refused("vocab.txt:30522: duplicate entry '[CLS]' (also line 102)")
    (model / "vocab.txt").write_text("".join(line + "\n" for line in lines[:100] + ["[unk]"] + lines[101:]))
    refused("vocab.txt has no [UNK]")
    (model / "vocab.txt").write_text("".join(line + "\n" for line in lines + ["zzzextra"]))
    refused("has 30523 entries but", "vocab_size 30522")
    (model / "vocab.txt").write_text("".join(line + "\n" for line in lines))
    (tmp_path / "empty").mkdir()
    refused("has no bert_config.json", flags=[f"--bert_dir={tmp_path / 'empty'}"])
    assert np.array_equal(np.frombuffer((model / "bert_model.ckpt.index").read_bytes(), np.uint8),
                          np.frombuffer((tiny_ckpt_dir / "bert_model.ckpt.index").read_bytes(), np.uint8))
