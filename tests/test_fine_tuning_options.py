"""The fine-tuning scripts' training options: evaluation during training (`--eval_every_steps`), the best
checkpoint (`--keep_best`), early stopping and resuming them, and gradient accumulation
(`--num_accumulation_steps`), which gives the weights of the large batch for run_classifier, run_squad
and run_ner."""
import json

import numpy as np
import pytest
import tensorflow as tf

from tests.harness.scripts import (
    assert_fails_cleanly,
    error_lines,
    glue_subset,
    read_eval_results,
    run_fresh_process,
    run_main,
)

MAX_SEQ_LENGTH = 32


@pytest.fixture(scope="module")
def mrpc_dir(tmp_path_factory, data_dir):
    """48 rows of each MRPC split, "yes "/"no " put before each first sentence of train and dev by its label:
    the tiny random checkpoint learns that in a few steps, so the dev accuracy moves between evaluations."""
    folder = glue_subset(data_dir / "glue" / "MRPC", tmp_path_factory.mktemp("MRPC"), rows=48)
    for name in ("train.tsv", "dev.tsv"):
        lines = (folder / name).read_text(encoding="utf-8").splitlines(keepends=True)
        rows = [line.split("\t") for line in lines[1:]]
        lines[1:] = ["\t".join(row[:3] + [("yes " if row[0] == "1" else "no ") + row[3]] + row[4:]) for row in rows]
        (folder / name).write_text("".join(lines), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def no_dropout_dir(tiny_no_dropout_dir):
    return tiny_no_dropout_dir


def history(output_dir):
    return [json.loads(line) for line in (output_dir / "eval_history.jsonl").read_text().splitlines()]


def classifier_flags(data_dir, output_dir, bert_dir, *extra):
    return ["--task_name=MRPC", f"--data_dir={data_dir}", f"--output_dir={output_dir}", f"--bert_dir={bert_dir}",
            f"--max_seq_length={MAX_SEQ_LENGTH}", "--train_batch_size=8", "--eval_batch_size=16",
            "--learning_rate=1e-3", "--seed=2", "--save_checkpoints_steps=1000", *extra]


# ------------------------------------------------------------------------------------------------
# Evaluation during training, the best checkpoint, early stopping
# ------------------------------------------------------------------------------------------------
EXPORT_JOB = """
    results = {}
    for name, job in request.items():
        loaded = tf.saved_model.load(job["path"])
        outputs = loaded.signatures["serving_default"](text_a=tf.constant(job["text_a"]),
                                                       text_b=tf.constant(job["text_b"]))
        results[name] = [label.decode() for label in outputs["label"].numpy()]
"""


def dev_pairs(mrpc_dir):
    rows = [line.split("\t") for line in (mrpc_dir / "dev.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    return [row[3] for row in rows], [row[4] for row in rows], [row[0] for row in rows]


def test_keep_best_picks_the_best_logged_step_and_its_export_reproduces_it(mrpc_dir, tiny_ckpt_dir, tmp_path):
    output_dir, export_dir = tmp_path / "out", tmp_path / "export"
    assert run_main("run_classifier", *classifier_flags(
        mrpc_dir, output_dir, tiny_ckpt_dir, "--do_train", "--do_eval", "--max_train_steps=60",
        "--train_batch_size=16", "--num_train_epochs=20", "--eval_every_steps=10", "--keep_best=eval_accuracy", f"--export_dir={export_dir}")) == 0
    evaluations = history(output_dir)
    assert [entry["global_step"] for entry in evaluations] == [10, 20, 30, 40, 50, 60]
    best = max(evaluations, key=lambda entry: entry["eval_accuracy"])  # the first of equal ones
    assert len({entry["eval_accuracy"] for entry in evaluations}) > 1  # the choice is not trivial
    for results in (read_eval_results(output_dir / "eval_results.txt"),
                    read_eval_results(output_dir / "best" / "eval_results.txt")):
        assert results == pytest.approx(best)
    assert (output_dir / "best" / f"model.ckpt-{best['global_step']}.index").exists()
    assert (output_dir / "model.ckpt-60.index").exists()  # training went on to the end
    assert list((output_dir / "eval").glob("events.out.tfevents.*"))  # TensorBoard scalars
    # The export holds the best step's model: its labels on the dev set give the logged accuracy.
    text_a, text_b, labels = dev_pairs(mrpc_dir)
    [version] = [path for path in export_dir.iterdir() if path.is_dir()]
    (tmp_path / "fresh").mkdir()
    predicted = run_fresh_process(EXPORT_JOB, {"mrpc": {"path": str(version), "text_a": text_a, "text_b": text_b}},
                                  tmp_path / "fresh")["mrpc"]
    accuracy = np.mean([p == label for p, label in zip(predicted, labels)])
    assert accuracy == pytest.approx(best["eval_accuracy"], abs=1e-6)


def test_early_stopping_stops_and_a_rerun_does_not_train_again(mrpc_dir, tiny_ckpt_dir, tmp_path):
    output_dir = tmp_path / "out"
    # A learning rate too small to change a prediction: the accuracy never improves after the first evaluation.
    flags = classifier_flags(mrpc_dir, output_dir, tiny_ckpt_dir, "--do_train", "--do_eval", "--max_train_steps=40",
                             "--num_train_epochs=20", "--learning_rate=1e-12", "--eval_every_steps=2", "--keep_best=eval_accuracy",
                             "--early_stopping_patience=2")
    assert run_main("run_classifier", *flags) == 0
    assert [entry["global_step"] for entry in history(output_dir)] == [2, 4, 6]
    assert (output_dir / "model.ckpt-6.index").exists() and not (output_dir / "model.ckpt-8.index").exists()
    assert read_eval_results(output_dir / "eval_results.txt")["global_step"] == 2  # the best
    assert run_main("run_classifier", *flags) == 0  # resumed: stopped early already, nothing to train
    assert [entry["global_step"] for entry in history(output_dir)] == [2, 4, 6]
    assert not (output_dir / "model.ckpt-8.index").exists()


def test_monitoring_flag_errors(capsys, mrpc_dir, tiny_ckpt_dir, tmp_path):
    output_dir = tmp_path / "out"
    common = classifier_flags(mrpc_dir, output_dir, tiny_ckpt_dir, "--do_train")
    assert_fails_cleanly(capsys, "run_classifier", [*common, "--eval_every_steps=5"],
                         "--eval_every_steps evaluates during training: it needs --do_train and --do_eval",
                         output_dir=output_dir)
    assert_fails_cleanly(capsys, "run_classifier", [*common, "--do_eval", "--early_stopping_patience=2",
                                                    "--eval_every_steps=5"],
                         "--early_stopping_patience needs --keep_best", output_dir=output_dir)
    assert_fails_cleanly(capsys, "run_classifier", [*common, "--do_eval", "--num_accumulation_steps=0"],
                         "--num_accumulation_steps must be a positive integer, got 0", output_dir=output_dir)


def test_unknown_keep_best_metric_stops_at_the_first_evaluation_with_one_error_line(capsys, mrpc_dir, tiny_ckpt_dir,
                                                                                    tmp_path):
    """The results' keys are known once the dev set is scored: the first evaluation checks --keep_best."""
    capsys.readouterr()
    status = run_main("run_classifier", *classifier_flags(
        mrpc_dir, tmp_path / "out", tiny_ckpt_dir, "--do_train", "--do_eval", "--max_train_steps=2",
        "--eval_every_steps=1", "--keep_best=eval_f1_macro"))
    stderr = capsys.readouterr().err
    assert status == 1 and "Traceback" not in stderr
    assert error_lines(stderr, "run_classifier") == [
        "run_classifier.py: error: --keep_best=eval_f1_macro is not an evaluation result; the results are "
        "eval_accuracy, eval_f1, eval_loss, loss"]
    assert (tmp_path / "out" / "model.ckpt-1.index").exists()  # what was written stays


# ------------------------------------------------------------------------------------------------
# Gradient accumulation: N batches of B make the update of one batch of N x B
# ------------------------------------------------------------------------------------------------
def trained_weights(output_dir, step):
    reader = tf.train.load_checkpoint(str(output_dir / f"model.ckpt-{step}"))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if "adam" not in name and name != "global_step"}


def assert_same_weights(large_batch, accumulated, pretrained_dir):
    pretrained = tf.train.load_checkpoint(str(pretrained_dir / "bert_model.ckpt"))
    assert set(large_batch) == set(accumulated)
    moved = 0
    for name, value in large_batch.items():
        np.testing.assert_allclose(accumulated[name], value, rtol=1e-5, atol=2e-6, err_msg=name)
        if pretrained.has_tensor(name):
            moved += not np.array_equal(pretrained.get_tensor(name), value)
    assert moved > 10  # training changed the encoder


def run_twice(script, flags_for):
    """`script` with one batch of 32 and with 4 accumulated batches of 8; their final weights."""
    weights = []
    for batch, accumulation in ((32, 1), (8, 4)):
        flags, output_dir = flags_for(batch, accumulation)
        assert run_main(script, *flags, f"--train_batch_size={batch}", f"--num_accumulation_steps={accumulation}",
                        "--max_train_steps=3") == 0
        assert read_eval_results(output_dir / "eval_results.txt")["global_step"] == 3 if \
            (output_dir / "eval_results.txt").exists() else True
        weights.append(trained_weights(output_dir, 3))
    return weights


def test_accumulation_equals_the_large_batch_run_classifier(mrpc_dir, no_dropout_dir, tmp_path):
    def flags_for(batch, accumulation):
        output_dir = tmp_path / f"out_{batch}x{accumulation}"
        return ["--task_name=MRPC", f"--data_dir={mrpc_dir}", f"--output_dir={output_dir}",
                f"--bert_dir={no_dropout_dir}", f"--max_seq_length={MAX_SEQ_LENGTH}", "--do_train",
                "--learning_rate=1e-4", "--seed=3"], output_dir

    assert_same_weights(*run_twice("run_classifier", flags_for), no_dropout_dir)


def test_accumulation_equals_the_large_batch_run_ner(data_dir, no_dropout_dir, tmp_path):
    lines = (data_dir / "conll2003" / "train.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    sentences, current = [], []
    for line in lines:
        current.append(line)
        if not line.strip():
            sentences.append("".join(current))
            current = []
        if len(sentences) == 80:
            break
    data = tmp_path / "conll"
    data.mkdir()
    (data / "train.txt").write_text("".join(sentences), encoding="utf-8")

    def flags_for(batch, accumulation):
        output_dir = tmp_path / f"out_{batch}x{accumulation}"
        return [f"--data_dir={data}", f"--output_dir={output_dir}", f"--bert_dir={no_dropout_dir}",
                f"--max_seq_length={MAX_SEQ_LENGTH}", "--do_train", "--learning_rate=1e-4", "--seed=3"], output_dir

    assert_same_weights(*run_twice("run_ner", flags_for), no_dropout_dir)


def squad_train_file(data_dir, folder):
    """Eight paragraphs of the SQuAD 2.0 subset (one answer per question) as a training file."""
    articles = json.loads((data_dir / "squad" / "v2.0_cs224n_subset" / "dev-v2.0.json").read_text())["data"][:2]
    paragraphs = [paragraph for article in articles for paragraph in article["paragraphs"]][:8]
    for paragraph in paragraphs:
        for qa in paragraph["qas"]:
            qa["answers"] = qa["answers"][:1]
    train_file = folder / "train.json"
    train_file.write_text(json.dumps({"version": "v2.0", "data": [{"title": "t", "paragraphs": paragraphs}]}))
    return train_file


def test_accumulation_equals_the_large_batch_run_squad(data_dir, no_dropout_dir, tmp_path):
    train_file = squad_train_file(data_dir, tmp_path)

    def flags_for(batch, accumulation):
        output_dir = tmp_path / f"out_{batch}x{accumulation}"
        return [f"--train_file={train_file}", f"--output_dir={output_dir}", f"--bert_dir={no_dropout_dir}",
                "--max_seq_length=64", "--doc_stride=32", "--max_query_length=16", "--version_2_with_negative",
                "--do_train", "--learning_rate=1e-4", "--seed=3"], output_dir

    assert_same_weights(*run_twice("run_squad", flags_for), no_dropout_dir)


def test_run_squad_evaluates_its_predict_file_during_training(data_dir, tiny_ckpt_dir, tmp_path):
    train_file = squad_train_file(data_dir, tmp_path)
    output_dir = tmp_path / "out"
    assert run_main("run_squad", f"--train_file={train_file}", f"--predict_file={train_file}",
                    f"--output_dir={output_dir}", f"--bert_dir={tiny_ckpt_dir}", "--max_seq_length=64",
                    "--doc_stride=32", "--max_query_length=16", "--version_2_with_negative", "--do_train",
                    "--do_predict", "--train_batch_size=8", "--max_train_steps=4", "--learning_rate=1e-3",
                    "--seed=3", "--eval_every_steps=2", "--keep_best=f1") == 0
    evaluations = history(output_dir)
    assert [entry["global_step"] for entry in evaluations] == [2, 4]
    best = max(evaluations, key=lambda entry: entry["f1"])
    assert read_eval_results(output_dir / "eval_results.txt")["f1"] == pytest.approx(best["f1"])
    assert (output_dir / "best" / f"model.ckpt-{best['global_step']}.index").exists()
