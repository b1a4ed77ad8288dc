"""run_classifier.py end to end on small MRPC subsets with the tiny checkpoint (max_seq_length 32): the
original outputs, checkpoints, resuming after a killed run, bad input."""
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("run_classifier trains with the TensorFlow backend", allow_module_level=True)

import tensorflow as tf  # noqa: E402

import bert_tf  # noqa: E402
from bert_tf.checkpoint import list_checkpoint, save_checkpoint  # noqa: E402
from tests.conftest import PROJECT_ROOT  # noqa: E402
from tests.harness.scripts import (  # noqa: E402
    assert_fails_cleanly,
    read_eval_results,
    run_main,
    run_script,
    subprocess_environment,
)

NUM_TRAIN, NUM_DEV, NUM_TEST = 64, 24, 16
TRAIN_BATCH = 16
EPOCHS = 25
NUM_STEPS = NUM_TRAIN // TRAIN_BATCH * EPOCHS  # 100


def write_subset(source, target, num_rows, mark_labels=False):
    """The header and the first `num_rows` rows of `source`.

    With `mark_labels`, "yes " or "no " is put before each first sentence according to its label: the
    tiny checkpoint is random, and this makes the labels learnable in a hundred steps (it learns the
    real sentence pairs far more slowly).
    """
    lines = source.read_text(encoding="utf-8-sig").splitlines(keepends=True)[:num_rows + 1]
    if mark_labels:
        rows = [line.split("\t") for line in lines[1:]]
        lines[1:] = ["\t".join(row[:3] + [("yes " if row[0] == "1" else "no ") + row[3]] + row[4:]) for row in rows]
    target.write_text("".join(lines), encoding="utf-8")


@pytest.fixture(scope="module")
def mrpc_dir(tmp_path_factory, data_dir):
    source = data_dir / "glue" / "MRPC"
    target = tmp_path_factory.mktemp("MRPC")
    write_subset(source / "train.tsv", target / "train.tsv", NUM_TRAIN, mark_labels=True)
    write_subset(source / "dev.tsv", target / "dev.tsv", NUM_DEV)
    write_subset(source / "test.tsv", target / "test.tsv", NUM_TEST)
    return target


def command_flags(data_dir, output_dir, tiny_ckpt_dir, *extra):
    return [f"--data_dir={data_dir}", f"--output_dir={output_dir}", f"--bert_dir={tiny_ckpt_dir}",
            "--max_seq_length=32", f"--train_batch_size={TRAIN_BATCH}", f"--num_train_epochs={EPOCHS}",
            "--learning_rate=1e-3", "--warmup_proportion=0.1", "--seed=1", *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mrpc_dir, tiny_ckpt_dir):
    """One run with --do_train --do_eval --do_predict (and --task in lower case)."""
    output_dir = tmp_path_factory.mktemp("run") / "out"
    status = run_main("run_classifier", *command_flags(mrpc_dir, output_dir, tiny_ckpt_dir, "--task=mrpc", "--do_train",
                                                       "--do_eval", "--do_predict", "--save_checkpoints_steps=30",
                                                       "--log_every_steps=1"))
    assert status == 0
    return output_dir


def test_train_eval_predict_writes_the_original_outputs(trained):
    output_dir = trained
    lines = (output_dir / "eval_results.txt").read_text().splitlines()
    results = read_eval_results(output_dir / "eval_results.txt")
    assert [line.split(" = ")[0] for line in lines] == [
        "eval_accuracy", "eval_f1", "eval_loss", "global_step", "loss"]
    assert results["global_step"] == NUM_STEPS
    assert 0 <= results["eval_accuracy"] <= 1 and 0 <= results["eval_f1"] <= 1
    # eval_batch_size 8 divides the 24 dev examples: the mean of batch means is the mean.
    assert results["loss"] == pytest.approx(results["eval_loss"], rel=1e-6)

    rows = (output_dir / "test_results.tsv").read_text().splitlines()
    assert len(rows) == NUM_TEST
    probabilities = np.array([[float(value) for value in row.split("\t")] for row in rows])
    assert probabilities.shape == (NUM_TEST, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)

    for name in ("train.tf_record", "eval.tf_record", "predict.tf_record"):
        assert (output_dir / name).is_file()
    assert not [name for name in os.listdir(output_dir) if ".tmp" in name]


def test_short_training_lowers_the_loss(trained):
    output_dir = trained
    events = [name for name in os.listdir(output_dir) if name.startswith("events.out.tfevents")]
    losses = {}
    for event in tf.compat.v1.train.summary_iterator(str(output_dir / events[0])):
        for value in event.summary.value:
            if value.tag == "loss":
                losses[event.step] = tf.make_ndarray(value.tensor).item()
    assert sorted(losses) == list(range(1, NUM_STEPS + 1))
    first = np.mean([losses[step] for step in range(1, 11)])
    last = np.mean([losses[step] for step in range(NUM_STEPS - 9, NUM_STEPS + 1)])
    assert last < 0.5 * first, losses


def test_checkpoint_has_the_original_variable_names(trained, tiny_ckpt_dir):
    output_dir = trained
    assert sorted(name for name in os.listdir(output_dir) if name.endswith(".index")) == [
        "model.ckpt-100.index", "model.ckpt-30.index", "model.ckpt-60.index", "model.ckpt-90.index"]
    entries = list_checkpoint(output_dir / f"model.ckpt-{NUM_STEPS}")
    pretrained = {name for name in list_checkpoint(tiny_ckpt_dir) if name.startswith("bert/")
                  and not name.endswith(("/adam_m", "/adam_v"))}
    model_names = pretrained | {"output_weights", "output_bias"}
    assert set(entries) == model_names | {f"{name}/adam_{moment}" for name in model_names for moment in "mv"} | {
        "global_step"}
    assert entries["output_weights"][0] == (2, 64) and entries["output_bias"][0] == (2,)
    assert tf.train.load_checkpoint(str(output_dir / f"model.ckpt-{NUM_STEPS}")).get_tensor("global_step") == NUM_STEPS


def test_eval_only_reuses_features_and_the_trained_checkpoint_then_exports(trained, mrpc_dir, tiny_ckpt_dir,
                                                                          monkeypatch, tmp_path):
    output_dir = trained
    before = read_eval_results(output_dir / "eval_results.txt")
    record = output_dir / "eval.tf_record"
    record_mtime = record.stat().st_mtime_ns
    # The SavedModel itself is tested in tests/serving/test_classifier.py; here only what run_classifier passes to it.
    from bert_tf.serving import classifier as classifier_serving

    exported = []
    monkeypatch.setattr(classifier_serving, "export_classifier",
                        lambda *args, **kwargs: exported.append((args, kwargs)) or str(tmp_path / "1"))
    assert run_main("run_classifier", *command_flags(mrpc_dir, output_dir, tiny_ckpt_dir, "--task_name=MRPC",
                                                     "--do_eval", f"--export_dir={tmp_path}")) == 0
    after = read_eval_results(output_dir / "eval_results.txt")
    assert record.stat().st_mtime_ns == record_mtime
    assert after["global_step"] == NUM_STEPS
    for key in before:
        assert after[key] == pytest.approx(before[key], rel=1e-5, abs=1e-6), key

    [((model, vocab_file, do_lower_case, max_seq_length), options)] = exported
    assert vocab_file == str(tiny_ckpt_dir / "vocab.txt") and (do_lower_case, max_seq_length) == (True, 32)
    assert options == {"label_list": ["0", "1"], "export_dir": str(tmp_path), "is_regression": False,
                       "is_pair_task": True, "multi_label_threshold": None, "long_documents": False,
                       "doc_stride": None, "window_pooling": "mean"}
    trained_weights = tf.train.load_checkpoint(str(output_dir / f"model.ckpt-{NUM_STEPS}")).get_tensor("output_weights")
    np.testing.assert_array_equal(model.classifier.output_weights.numpy(), trained_weights)


# ------------------------------------------------------------------------------------------------
# Resuming after a killed run
# ------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_rerun_after_sigkill_resumes_from_the_newest_checkpoint(mrpc_dir, tiny_ckpt_dir, tmp_path):
    output_dir = tmp_path / "out"
    # 64 examples / batch 16 * 10 epochs = 40 steps, a checkpoint every 4.
    command = [sys.executable, str(PROJECT_ROOT / "run_classifier.py"), "--task_name=MRPC", "--do_train",
               f"--data_dir={mrpc_dir}", f"--output_dir={output_dir}", f"--bert_dir={tiny_ckpt_dir}",
               "--max_seq_length=32", "--train_batch_size=16", "--num_train_epochs=10", "--save_checkpoints_steps=4",
               "--keep_checkpoint_max=2"]
    process = subprocess.Popen(command, env=subprocess_environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    try:
        while not (output_dir / "checkpoint").exists():
            assert process.poll() is None, process.stderr.read()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
        process.stderr.close()
    assert process.returncode == -signal.SIGKILL
    newest = bert_tf.checkpoint.latest_checkpoint(output_dir)
    killed_at = int(newest.rsplit("-", 1)[1])
    assert 4 <= killed_at < 40

    rerun = subprocess.run(command, env=subprocess_environment(), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    resumed = [line for line in rerun.stderr.splitlines() if "Resuming from" in line]
    assert resumed, rerun.stderr[-3000:]
    resumed_step = int(resumed[0].rsplit("global_step ", 1)[1].rstrip(")"))
    assert resumed_step >= killed_at and resumed_step % 4 == 0
    assert bert_tf.checkpoint.latest_checkpoint(output_dir) == str(output_dir / "model.ckpt-40")
    assert tf.train.load_checkpoint(str(output_dir / "model.ckpt-40")).get_tensor("global_step") == 40
    assert sorted(name for name in os.listdir(output_dir) if name.endswith(".index")) == [
        "model.ckpt-36.index", "model.ckpt-40.index"]


# ------------------------------------------------------------------------------------------------
# Bad input: status 1, one line on stderr, no traceback, output_dir untouched
# ------------------------------------------------------------------------------------------------


def prepared_output_dir(tmp_path):
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    (output_dir / "keep.txt").write_text("user file\n")
    return output_dir


def copy_mrpc(mrpc_dir, target):
    target.mkdir()
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        (target / name).write_bytes((mrpc_dir / name).read_bytes())
    return target


def fails_cleanly(capsys, output_dir, flags_list, *expected):
    """The run is refused in one line and `output_dir` is left exactly as it was."""
    return assert_fails_cleanly(capsys, "run_classifier", flags_list, *expected, output_dir=output_dir)


def test_malformed_row_and_unknown_label_name_file_and_line(capsys, mrpc_dir, tiny_ckpt_dir, tmp_path):
    output_dir = prepared_output_dir(tmp_path)
    data = copy_mrpc(mrpc_dir, tmp_path / "data")
    lines = (data / "train.tsv").read_text().splitlines(keepends=True)
    lines[5] = "1\t123\tonly three columns\n"
    (data / "train.tsv").write_text("".join(lines))
    fails_cleanly(capsys, output_dir, command_flags(data, output_dir, tiny_ckpt_dir, "--task_name=MRPC", "--do_train"),
                  f"{data / 'train.tsv'}:6", "malformed row")
    lines = (mrpc_dir / "dev.tsv").read_text().splitlines(keepends=True)
    lines[3] = "maybe" + lines[3][1:]
    (data / "dev.tsv").write_text("".join(lines))
    fails_cleanly(capsys, output_dir, command_flags(data, output_dir, tiny_ckpt_dir, "--task_name=MRPC", "--do_eval"),
                  f"{data / 'dev.tsv'}:4", "unknown label 'maybe'")


def test_empty_or_missing_data_files(capsys, mrpc_dir, tiny_ckpt_dir, tmp_path):
    output_dir = prepared_output_dir(tmp_path)
    data = copy_mrpc(mrpc_dir, tmp_path / "data")
    (data / "train.tsv").write_text("")
    fails_cleanly(capsys, output_dir, command_flags(data, output_dir, tiny_ckpt_dir, "--task_name=MRPC", "--do_train"),
                  "empty", "train.tsv")
    (data / "test.tsv").unlink()
    fails_cleanly(capsys, output_dir,
                  command_flags(data, output_dir, tiny_ckpt_dir, "--task_name=MRPC", "--do_predict"),
                  "not found", "test.tsv")


def test_flag_errors(capsys, mrpc_dir, tiny_ckpt_dir, tmp_path):
    output_dir = prepared_output_dir(tmp_path)
    base = command_flags(mrpc_dir, output_dir, tiny_ckpt_dir, "--task_name=MRPC")
    # No mode flag now means train + evaluate (see tests/test_cli.py); a bad recipe still fails first.
    fails_cleanly(capsys, output_dir, base + ["--num_train_epochs=0"], "--num_train_epochs must be > 0")
    fails_cleanly(capsys, output_dir, base + ["--do_train", "--max_seq_length=256"],
                  "Cannot use sequence length 256 because the BERT model was only trained up to sequence length 128")
    fails_cleanly(capsys, output_dir, command_flags(mrpc_dir, output_dir, tiny_ckpt_dir, "--task=QQQ", "--do_train"),
                  "unknown GLUE task 'QQQ'")
    fails_cleanly(capsys, output_dir, base + ["--do_train", f"--init_checkpoint={tmp_path / 'nowhere.ckpt'}"],
                  "checkpoint not found", "nowhere.ckpt")
    fails_cleanly(capsys, output_dir, base + ["--do_train", "--long_documents=windows", "--doc_stride=0"],
                  "--doc_stride must be at least 1, got 0")
    fails_cleanly(capsys, output_dir, base + ["--do_train", "--long_documents=chunks"], "--long_documents")


def test_casing_mismatch(capsys, mrpc_dir, tiny_ckpt_dir, tmp_path):
    output_dir = prepared_output_dir(tmp_path)
    cased = tmp_path / "cased_L-12_H-768_A-12"
    cased.mkdir()
    for name in os.listdir(tiny_ckpt_dir):
        (cased / name).symlink_to(tiny_ckpt_dir / name)
    fails_cleanly(capsys, output_dir,
                  command_flags(mrpc_dir, output_dir, tiny_ckpt_dir, "--task_name=MRPC", "--do_train",
                                f"--init_checkpoint={cased / 'bert_model.ckpt'}"),
                  "--do_lower_case=True", "cased model")


def test_output_dir_with_a_checkpoint_of_another_shape(capsys, mrpc_dir, tiny_ckpt_dir, tmp_path):
    output_dir = prepared_output_dir(tmp_path)
    config = bert_tf.BertConfig.from_json_file(tiny_ckpt_dir / "bert_config.json")
    save_checkpoint(bert_tf.BertClassifier(config, 3), output_dir / "model.ckpt-7", global_step=7)
    for do_flag in ("--do_train", "--do_eval"):
        fails_cleanly(capsys, output_dir,
                      command_flags(mrpc_dir, output_dir, tiny_ckpt_dir, "--task_name=MRPC", do_flag),
                      "model.ckpt-7 of another model", "output_weights: checkpoint shape [3, 64]")


def test_subprocess_error_exits_1_without_traceback(tmp_path):
    result = run_script("run_classifier.py", "--task_name=MRPC", f"--output_dir={tmp_path}", "--data_dir=x",
                        "--vocab_file=x", "--bert_config_file=x", "--do_train", timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "run_classifier.py: error: --bert_config_file not found: x" in result.stderr



# ------------------------------------------------------------------------------------------------
# Your own files (--task=csv|tsv|jsonl): the same runs as the built-in GLUE tasks, regression, multi-label
# ------------------------------------------------------------------------------------------------


def glue_rows(path):
    """The header and rows of a GLUE tsv (tab-split, as its processor reads it)."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return lines[0].split("\t"), [line.split("\t") for line in lines[1:]]


def write_csv(path, header, rows):
    import csv

    with open(path, "w", encoding="utf-8", newline="") as writer:
        csv.writer(writer).writerows([header, *rows])


@pytest.fixture(scope="module")
def mrpc_csv_dir(mrpc_dir, tmp_path_factory):
    """The MRPC subset as CSV: other column order, an extra column, a header; the test file without labels."""
    folder = tmp_path_factory.mktemp("mrpc_csv")
    for name in ("train", "dev"):
        _, rows = glue_rows(mrpc_dir / f"{name}.tsv")
        write_csv(folder / f"{name}.csv", ["quality", "source", "second", "first"],
                  [[row[0], "msr", row[4], row[3]] for row in rows])
    _, rows = glue_rows(mrpc_dir / "test.tsv")
    write_csv(folder / "test.csv", ["id", "second", "first"], [[row[0], row[4], row[3]] for row in rows])
    return folder


def test_mrpc_as_csv_gives_the_built_in_results(trained, mrpc_csv_dir, tiny_ckpt_dir, tmp_path):
    output_dir = tmp_path / "out"
    assert run_main("run_classifier", *command_flags(
        mrpc_csv_dir, output_dir, tiny_ckpt_dir, "--task=csv", "--text_a_column=first", "--text_b_column=second",
        "--label_column=quality", "--do_train", "--do_eval", "--do_predict", "--save_checkpoints_steps=30",
        "--log_every_steps=1")) == 0
    assert (output_dir / "eval_results.txt").read_text() == (trained / "eval_results.txt").read_text()
    assert (output_dir / "test_results.tsv").read_text() == (trained / "test_results.tsv").read_text()
    assert (output_dir / "label_list.txt").read_text() == "0\n1\n"
    # Evaluating again without training reads the label list back from output_dir.
    assert run_main("run_classifier", *command_flags(
        mrpc_csv_dir, output_dir, tiny_ckpt_dir, "--task=csv", "--text_a_column=first", "--text_b_column=second",
        "--label_column=quality", "--do_eval")) == 0
    assert (output_dir / "eval_results.txt").read_text() == (trained / "eval_results.txt").read_text()


def test_stsb_as_headerless_tsv_gives_the_built_in_regression_results(data_dir, tiny_ckpt_dir, tmp_path):
    glue = tmp_path / "STS-B"
    own = tmp_path / "stsb_own"
    glue.mkdir()
    own.mkdir()
    for name, count in (("train", 48), ("dev", 16)):
        header, rows = glue_rows(data_dir / "glue" / "STS-B" / f"{name}.tsv")
        (glue / f"{name}.tsv").write_text("\n".join(["\t".join(header)] + ["\t".join(row) for row in rows[:count]])
                                          + "\n", encoding="utf-8")
        (own / f"{name}.tsv").write_text("".join(f"{row[9]}\t{row[7]}\t{row[8]}\n" for row in rows[:count]),
                                         encoding="utf-8")
    common = ["--do_train", "--do_eval", "--num_train_epochs=2", "--train_batch_size=8", "--max_seq_length=32",
              f"--bert_dir={tiny_ckpt_dir}", "--seed=3"]
    assert run_main("run_classifier", "--task=STS-B", f"--data_dir={glue}", f"--output_dir={tmp_path / 'a'}",
                    *common) == 0
    assert run_main("run_classifier", "--task=tsv", f"--data_dir={own}", f"--output_dir={tmp_path / 'b'}",
                    "--regression", "--noheader", "--label_column=0", "--text_a_column=1", "--text_b_column=2",
                    *common) == 0
    expected = read_eval_results(tmp_path / "a" / "eval_results.txt")
    assert sorted(expected) == ["eval_loss", "eval_pearson", "eval_spearman", "global_step", "loss"]
    assert read_eval_results(tmp_path / "b" / "eval_results.txt") == expected
    assert not (tmp_path / "b" / "label_list.txt").exists()


# The first word of each text names a colour; its label set (none, one or two labels) is what is learnt.
COLOURS = {"red": ["red", "warm"], "green": ["green"], "blue": ["blue", "cool"], "plain": []}


@pytest.fixture(scope="module")
def emotions_dir(data_dir, tmp_path_factory):
    """GoEmotions texts in JSON lines with multi-label lists the tiny model can learn: each text starts with
    a colour word whose label set (`COLOURS`) is the row's labels; the test file has no labels."""
    import csv
    import json

    folder = tmp_path_factory.mktemp("emotions")
    for name, count in (("train", 96), ("dev", 32), ("test", 8)):
        with open(data_dir / "goemotions" / f"{name}.tsv", encoding="utf-8", newline="") as reader:
            rows = list(csv.reader(reader, delimiter="\t"))[:count]
        with open(folder / f"{name}.jsonl", "w", encoding="utf-8") as writer:
            for index, (text, _, _) in enumerate(rows):
                colour = sorted(COLOURS)[index % len(COLOURS)]
                record = {"text": f"{colour} {text}"}
                if name != "test":
                    record["labels"] = COLOURS[colour]
                writer.write(json.dumps(record) + "\n")
    return folder


def test_multi_label_jsonl_trains_scores_predicts_and_exports(emotions_dir, tiny_ckpt_dir, tmp_path):
    output_dir = tmp_path / "out"
    flags = [f"--data_dir={emotions_dir}", f"--output_dir={output_dir}", f"--bert_dir={tiny_ckpt_dir}", "--task=jsonl",
             "--text_a_column=text", "--label_column=labels", "--multi_label", "--max_seq_length=32",
             "--train_batch_size=16", "--num_train_epochs=60", "--learning_rate=1e-3", "--seed=1"]
    assert run_main("run_classifier", *flags, "--do_train", "--do_eval", "--do_predict",
                    f"--export_dir={tmp_path / 'export'}") == 0
    labels = (output_dir / "label_list.txt").read_text().split()
    assert labels == ["blue", "cool", "green", "red", "warm"]
    results = read_eval_results(output_dir / "eval_results.txt")
    assert {"eval_micro_f1", "eval_macro_f1", "eval_exact_match", "eval_loss", "global_step", "loss"} <= set(results)
    assert {f"eval_f1_{label}" for label in labels} <= set(results)
    for label in labels:  # the label sets (including the empty one) are learnt
        assert results[f"eval_f1_{label}"] >= 0.8, results
    assert results["eval_exact_match"] >= 0.8, results
    rows = [[float(value) for value in line.split("\t")] for line in
            (output_dir / "test_results.tsv").read_text().splitlines()]
    assert len(rows) == 8 and all(len(row) == len(labels) and all(0 <= value <= 1 for value in row) for row in rows)
    [version] = os.listdir(tmp_path / "export")
    served = tf.saved_model.load(str(tmp_path / "export" / version)).signatures["serving_default"](
        text_a=tf.constant(["red I wonder", "plain thanks"]))
    probabilities = served["probabilities"].numpy()
    assert probabilities.shape == (2, len(labels))
    for row in range(2):
        chosen = [label.decode() for label in served["labels"].numpy()[row] if label]
        expected = [labels[index] for index in np.argsort(-probabilities[row], kind="stable")
                    if probabilities[row, index] >= 0.5]
        assert chosen == expected and served["num_labels"].numpy()[row] == len(expected)
    assert [label.decode() for label in served["labels"].numpy()[0] if label] in (["red", "warm"], ["warm", "red"])
    assert served["num_labels"].numpy()[1] == 0


def test_multi_label_head_starts_at_the_training_labels_log_odds(emotions_dir, tiny_ckpt_dir, tmp_path):
    """From a zero bias the first updates push every output down through the pooler (GoEmotions with MiniLM:
    constant outputs, F1 0); the head starts at the label frequencies instead, and only when training."""
    from bert_tf.tasks.classification import metrics
    from bert_tf.tasks.classification.task import ClassificationTask, ClassifierConfig
    from bert_tf.training.run_options import RunOptions, load_tokenizer, resolve_model_files

    def task_for(**modes):
        config = ClassifierConfig(data_dir=str(emotions_dir), model=resolve_model_files(str(tiny_ckpt_dir)),
                                  options=RunOptions(output_dir=str(tmp_path)), task_name="jsonl",
                                  text_a_column="text", label_column="labels", multi_label=True,
                                  label_list=sorted({label for labels in COLOURS.values() for label in labels}),
                                  max_seq_length=32, **modes)
        task = ClassificationTask(config)
        task.read_inputs(load_tokenizer(config.model))
        return task, task.build_model(bert_tf.BertConfig.from_json_file(tiny_ckpt_dir / "bert_config.json"),
                                      "float32")

    _, model = task_for(do_train=True)
    # 96 training rows, a colour each in turn: red and warm in 24, none in the 24 plain ones.
    rows = [COLOURS[colour] for colour in sorted(COLOURS)] * 24
    multi_hot = np.array([[label in row for label in ["blue", "cool", "green", "red", "warm"]] for row in rows])
    expected = metrics.label_log_odds(multi_hot)
    np.testing.assert_allclose(model.classifier.output_bias.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(expected[0], np.log(25 / 73), rtol=1e-6)
    _, model = task_for(do_predict=True)  # no training file read: the checkpoint's head gives the bias
    assert not model.classifier.output_bias.numpy().any()


def test_own_files_bad_input_is_one_line(mrpc_csv_dir, tiny_ckpt_dir, tmp_path, capsys):
    output_dir = tmp_path / "out"
    base = [f"--data_dir={mrpc_csv_dir}", f"--output_dir={output_dir}", f"--bert_dir={tiny_ckpt_dir}",
            "--task=csv", "--max_seq_length=32", "--text_b_column=second", "--label_column=quality"]
    assert_fails_cleanly(capsys, "run_classifier", [*base, "--text_a_column=frist", "--do_train"],
                         "train.csv:1: no column 'frist' (--text_a_column); the header has quality, source, second, "
                         "first", output_dir=output_dir)
    assert_fails_cleanly(capsys, "run_classifier", [*base, "--text_a_column=first", "--do_train", "--label_list=1,2"],
                         "train.csv:", "label '0' is not in the label list (1, 2)", output_dir=output_dir)
    assert_fails_cleanly(capsys, "run_classifier", [*base, "--text_a_column=first", "--do_eval"],
                         "no label_list.txt", output_dir=output_dir)
    assert_fails_cleanly(capsys, "run_classifier", [*base, "--text_a_column=first", "--do_train", "--regression",
                                                    "--multi_label"], "exclude each other", output_dir=output_dir)
    assert_fails_cleanly(capsys, "run_classifier", [*base, "--task=MRPC", "--text_a_column=first", "--do_train",
                                                    "--regression"], "are for your own files", output_dir=output_dir)


@pytest.mark.slow
def test_long_documents_as_windows_train_score_predict_and_export_per_document(data_dir, tiny_ckpt_dir, tmp_path):
    """ChnSentiCorp reviews with max_seq_length 32: every window is trained on, the dev and test files are
    scored and written per document (max of the windows' logits), and the export answers raw text of any
    length with test_results.tsv's probabilities."""
    import csv

    source = data_dir / "chnsenticorp"
    for name, rows in (("train", 24), ("dev", 12), ("test", 12)):
        lines = (source / f"{name}.tsv").read_text(encoding="utf-8").splitlines()[:rows + 1]
        (tmp_path / f"{name}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    output_dir = tmp_path / "out"
    flags = [f"--data_dir={tmp_path}", f"--output_dir={output_dir}", f"--bert_dir={tiny_ckpt_dir}", "--task=tsv",
             "--max_seq_length=32", "--train_batch_size=8", "--num_train_epochs=1", "--seed=1",
             "--long_documents=windows", "--doc_stride=20", "--window_pooling=max"]
    assert run_main("run_classifier", *flags, "--do_train", "--do_eval", "--do_predict",
                    f"--export_dir={tmp_path / 'export'}") == 0
    records = json.loads((output_dir / "train.tf_record.meta.json").read_text())
    assert records["settings"]["num_records"] > 24  # the reviews are longer than 30 pieces: several windows
    assert records["settings"]["windows"] == {"doc_stride": 20, "weights": "per document"}
    results = read_eval_results(output_dir / "eval_results.txt")
    assert {"eval_accuracy", "eval_loss", "global_step"} <= set(results)
    expected = np.loadtxt(output_dir / "test_results.tsv", ndmin=2)
    assert expected.shape == (12, 2)
    rows = list(csv.reader((tmp_path / "test.tsv").open(encoding="utf-8"), delimiter="\t",
                           quoting=csv.QUOTE_NONE))[1:]
    texts = [row[1] for row in rows]
    assert max(len(text) for text in texts) > 60  # longer than the model: more than one window
    [version] = os.listdir(tmp_path / "export")
    serve = tf.saved_model.load(str(tmp_path / "export" / version)).signatures["serving_default"]
    served = np.concatenate([serve(text_a=tf.constant(texts[start:start + 5]))["probabilities"].numpy()
                             for start in (0, 5, 10)])
    np.testing.assert_allclose(served, expected, atol=1e-5)
