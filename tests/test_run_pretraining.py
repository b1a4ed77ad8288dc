"""run_pretraining.py end to end on the tiny model: original records, checkpoints, resume, accumulation,
one-line errors."""
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from bert_tf.checkpoint import latest_checkpoint, list_checkpoint, load_checkpoint
from bert_tf.tasks.pretraining import losses
from bert_tf.tasks.pretraining import run as pretrain
from bert_tf.training.run_options import ModelFiles, RunOptions
from tests.conftest import PROJECT_ROOT
from tests.harness.scripts import assert_fails_cleanly, error_lines, run_script

TINY = "tiny_uncased_L-2_H-64_A-4"


@pytest.fixture(scope="module")
def wikitext_records(tmp_path_factory, shared):
    """Records made by create_pretraining_data.py from the shared wikitext sentences (dupe_factor 1)."""
    output = tmp_path_factory.mktemp("records") / "wikitext.tfrecord"
    result = run_script(
        "create_pretraining_data.py",
        f"--input_file={shared / 'data' / 'pretraining_text' / 'wikitext2_test_sentences.txt'}",
        f"--output_file={output}", f"--vocab_file={shared / 'data' / 'vocab' / 'bert-base-uncased' / 'vocab.txt'}",
        "--dupe_factor=1", "--max_seq_length=128", "--max_predictions_per_seq=20", "--num_workers=2", timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return str(output)


def _config(tmp_path, shared, **changes):
    values = dict(
        bert_config_file=str(shared / "checkpoints" / TINY / "bert_config.json"),
        input_file=str(shared / "refs" / "original_sample_text_seq128.tfrecord"),
        output_dir=str(tmp_path / "out"),
        do_train=True, train_batch_size=8, num_train_steps=6, num_warmup_steps=2, learning_rate=1e-3,
        save_checkpoints_steps=3, max_eval_steps=4, log_every_steps=3, seed=3,
    )
    values.update(changes)
    model = ModelFiles(values.pop("bert_config_file"), "", values.pop("init_checkpoint", None))
    option_names = {field.name for field in dataclasses.fields(RunOptions)}
    options = RunOptions(**{name: values.pop(name) for name in list(values) if name in option_names})
    return pretrain.PretrainingConfig(model=model, options=options, **values)


def test_trains_on_original_records_and_writes_original_checkpoints(tmp_path, shared, tiny_ckpt_dir):
    config = _config(tmp_path, shared, init_checkpoint=str(tiny_ckpt_dir / "bert_model.ckpt"), do_eval=True)
    results = pretrain.run(config)
    assert results["train"].global_step == 6
    prefix = latest_checkpoint(config.options.output_dir)
    assert prefix.endswith("model.ckpt-6")
    written = list_checkpoint(prefix)
    # The same names, shapes and dtypes as the original run_pretraining.py writes (the tiny checkpoint).
    assert written == list_checkpoint(tiny_ckpt_dir)
    assert tf.train.load_checkpoint(prefix).get_tensor("global_step") == 6
    with open(os.path.join(config.options.output_dir, "eval_results.txt")) as reader:
        keys = [line.split(" = ")[0] for line in reader]
    assert keys == sorted(losses.EVAL_RESULT_KEYS)
    # The pretrained checkpoint initializes a classifier.
    classifier = bert_tf.BertClassifier(bert_tf.BertConfig.from_json_file(config.model.bert_config_file), num_labels=2)
    report = load_checkpoint(classifier, config.options.output_dir, expected_missing=["output_weights", "output_bias"])
    assert len(report.restored) == len(classifier.weights) - 2


@pytest.mark.slow
def test_masked_lm_loss_drops_by_a_third(tmp_path, shared, wikitext_records):
    """A tiny model from scratch on wikitext text: a few hundred steps cut the masked-LM loss by > 1/3."""
    before = pretrain.run(_config(tmp_path, shared, input_file=wikitext_records, do_train=False, do_eval=True,
                                  eval_batch_size=32, max_eval_steps=10))["eval"]
    config = _config(tmp_path, shared, input_file=wikitext_records, do_eval=True, train_batch_size=32,
                     num_train_steps=400, num_warmup_steps=40, learning_rate=2e-3, save_checkpoints_steps=400,
                     eval_batch_size=32, max_eval_steps=10)
    after = pretrain.run(config)["eval"]
    assert after["global_step"] == 400
    assert after["masked_lm_loss"] < before["masked_lm_loss"] * 2 / 3, (before, after)


@pytest.mark.slow
def test_accumulation_of_four_batches_of_8_equals_one_batch_of_32(tmp_path, shared, tiny_ckpt_dir):
    config_path = tmp_path / "bert_config.json"
    bert_config = json.loads((tiny_ckpt_dir / "bert_config.json").read_text())
    bert_config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config_path.write_text(json.dumps(bert_config))
    common = dict(bert_config_file=str(config_path), init_checkpoint=str(tiny_ckpt_dir / "bert_model.ckpt"),
                  num_train_steps=1, num_warmup_steps=0, learning_rate=1e-3, save_checkpoints_steps=1)
    pretrain.run(_config(tmp_path / "big", shared, train_batch_size=32, **common))
    pretrain.run(_config(tmp_path / "accumulated", shared, train_batch_size=8, num_accumulation_steps=4, **common))
    big = tf.train.load_checkpoint(latest_checkpoint(tmp_path / "big" / "out"))
    accumulated = tf.train.load_checkpoint(latest_checkpoint(tmp_path / "accumulated" / "out"))
    original = tf.train.load_checkpoint(str(tiny_ckpt_dir / "bert_model.ckpt"))
    assert accumulated.get_tensor("global_step") == big.get_tensor("global_step") == 1
    moved = 0
    for name in big.get_variable_to_shape_map():
        if name == "global_step":
            continue
        np.testing.assert_allclose(accumulated.get_tensor(name), big.get_tensor(name), atol=1e-5, rtol=0, err_msg=name)
        if not name.endswith(("adam_m", "adam_v")):
            moved += not np.array_equal(big.get_tensor(name), original.get_tensor(name))
    assert moved > 40  # the update really changed the weights


def _command(tmp_path, shared, steps):
    return [
        sys.executable, str(PROJECT_ROOT / "run_pretraining.py"),
        f"--bert_config_file={shared / 'checkpoints' / TINY / 'bert_config.json'}",
        f"--input_file={shared / 'refs' / 'original_sample_text_seq128.tfrecord'}",
        f"--output_dir={tmp_path / 'out'}", "--do_train", "--train_batch_size=4",
        f"--num_train_steps={steps}", "--num_warmup_steps=2", "--save_checkpoints_steps=5",
        "--log_every_steps=5", "--seed=1",
    ]


@pytest.mark.slow
def test_resumes_after_sigkill(tmp_path, shared):
    command = _command(tmp_path, shared, steps=400)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=PROJECT_ROOT)
    deadline = time.time() + 240
    try:
        while latest_checkpoint(tmp_path / "out") is None:
            assert process.poll() is None, "run_pretraining.py ended before its first checkpoint"
            assert time.time() < deadline, "no checkpoint within 240 s"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    killed_at = int(tf.train.load_checkpoint(latest_checkpoint(tmp_path / "out")).get_tensor("global_step"))
    assert 5 <= killed_at < 400
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"global_step {killed_at}" in rerun.stderr
    final = latest_checkpoint(tmp_path / "out")
    assert final.endswith("model.ckpt-400")
    assert tf.train.load_checkpoint(final).get_tensor("global_step") == 400


@pytest.mark.slow
def test_bad_inputs_get_one_line_errors(tmp_path, shared):
    base = _command(tmp_path, shared, steps=2)
    cases = {
        "--max_seq_length=64": "max_seq_length",  # records were written with 128
        "--input_file=" + str(tmp_path / "missing*.tfrecord"): "missing",
        "--do_train=false": "do_train",
    }
    for flag, expected in cases.items():
        result = subprocess.run(base + [flag], capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT)
        assert result.returncode == 1, (flag, result.stderr[-1000:])
        assert "Traceback" not in result.stderr
        lines = error_lines(result.stderr, "run_pretraining")
        assert len(lines) == 1 and expected in lines[0], result.stderr[-1000:]


def test_corrupted_pretraining_record_names_the_file(tmp_path, refs_dir, tiny_ckpt_dir, capsys):
    data = bytearray((refs_dir / "original_sample_text_seq128.tfrecord").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)  # the first records stay intact: the damage shows mid-training
    records = tmp_path / "corrupted.tfrecord"
    records.write_bytes(bytes(data))
    assert_fails_cleanly(capsys, "run_pretraining", [f"--input_file={records}", f"--bert_dir={tiny_ckpt_dir}",
                                                     f"--output_dir={tmp_path / 'out'}", "--do_train",
                                                     "--train_batch_size=8", "--num_train_steps=40",
                                                     "--num_warmup_steps=1", "--max_seq_length=128",
                                                     "--max_predictions_per_seq=20", "--seed=1"],
                         "corrupted.tfrecord", "truncated or corrupted", "no checkpoint was written")
    (tmp_path / "not_records.txt").write_text("plain text, not TFRecords\n" * 100, encoding="utf-8")
    line = assert_fails_cleanly(capsys, "run_pretraining", [
        f"--input_file={tmp_path / 'not_records.txt'}", f"--bert_dir={tiny_ckpt_dir}",
        f"--output_dir={tmp_path / 'out2'}", "--do_train", "--train_batch_size=8", "--num_train_steps=4",
        "--max_seq_length=128", "--max_predictions_per_seq=20"], "not_records.txt")
    for internal in ("Graph execution error", "{{function_node", "[Op:", "name: )"):
        assert internal not in line, line


def test_tensorflow_error_text_keeps_what_went_wrong():
    from bert_tf.errors import tensorflow_error_text

    message = ("Graph execution error:\n\nDetected at node IteratorGetNext defined at (most recent call last):\n"
               "<stack traces unavailable>\ncorrupted record at 12345\n\t [[{{node IteratorGetNext}}]] "
               "[Op:__inference_train_function_9]")
    assert tensorflow_error_text(message) == "corrupted record at 12345"
    assert tensorflow_error_text("{{function_node __wrapped__X_device_/job:localhost/replica:0}} bad record "
                                 "(Is this even a TFRecord file?) [Op:IteratorGetNext] name: ") == (
        "bad record (Is this even a TFRecord file?)")
    assert tensorflow_error_text("a plain message\nsecond line") == "a plain message\nsecond line"
