"""run_swag.py end to end: Hugging Face `BertForMultipleChoice`'s probabilities (shared references), training
into released-format checkpoints, the raw-text SavedModel, first-run defaults and bad input."""
import json
import os
import shutil

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("run_swag trains with the TensorFlow backend", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from bert_tf.checkpoint import list_checkpoint  # noqa: E402
from tests.harness.scripts import (  # noqa: E402
    assert_fails_cleanly,
    read_eval_results,
    run_fresh_process,
    run_main,
)

TOLERANCE = 1e-5  # the references' (refs/README.md)


@pytest.fixture(scope="module")
def references(refs_dir):
    return refs_dir / "multiple_choice"


@pytest.fixture(scope="module")
def swag_dir(references, tmp_path_factory):
    """SWAG-format val.csv (labelled) and test.csv (no labels) of the references."""
    folder = tmp_path_factory.mktemp("swag")
    for name in ("val.csv", "test.csv"):
        shutil.copy(references / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def reference_run(references, swag_dir, tmp_path_factory):
    """--do_eval --do_predict with the reference model (its head included), and --export_dir."""
    output_dir = tmp_path_factory.mktemp("run") / "out"
    export_dir = output_dir.parent / "export"
    status = run_main("run_swag", f"--data_dir={swag_dir}", f"--bert_dir={references / 'model'}", "--do_eval",
                      "--do_predict", f"--output_dir={output_dir}", f"--export_dir={export_dir}")
    assert status == 0
    return output_dir, export_dir


def read_probabilities(path):
    return [[float(value) for value in line.split("\t")] for line in path.read_text().splitlines()]


def test_probabilities_and_accuracy_equal_hugging_faces(reference_run, references):
    output_dir, _ = reference_run
    expected = json.loads((references / "expected_val_accuracy.json").read_text())
    results = read_eval_results(output_dir / "eval_results.txt")
    assert sorted(results) == ["eval_accuracy", "eval_loss", "global_step"]
    assert results["eval_accuracy"] == pytest.approx(expected["eval_accuracy"], abs=1e-9)
    assert results["global_step"] == 0
    np.testing.assert_allclose(read_probabilities(output_dir / "test_results.tsv"),
                               np.loadtxt(references / "expected_test_probs.tsv"), atol=TOLERANCE, rtol=0)
    for name in ("eval.tf_record", "predict.tf_record"):
        assert (output_dir / name).is_file()


def test_dev_probabilities_equal_hugging_faces(references, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(references / "val.csv", data_dir / "test.csv")  # predicted, labels and all
    assert run_main("run_swag", f"--data_dir={data_dir}", f"--bert_dir={references / 'model'}", "--do_predict",
                    f"--output_dir={tmp_path / 'out'}") == 0
    np.testing.assert_allclose(read_probabilities(tmp_path / "out" / "test_results.tsv"),
                               np.loadtxt(references / "expected_val_probs.tsv"), atol=TOLERANCE, rtol=0)


def test_export_in_a_fresh_process_gives_test_results(reference_run, swag_dir, tmp_path):
    output_dir, export_dir = reference_run
    [version] = os.listdir(export_dir)
    rows = [line for line in tf.io.gfile.GFile(str(swag_dir / "test.csv")).read().splitlines()]
    import csv

    records = list(csv.DictReader(rows))
    request = {"swag": {"path": str(export_dir / version),
                        "context": [record["sent1"] for record in records],
                        "choices": [[f"{record['sent2']} {record[f'ending{index}']}" for index in range(4)]
                                    for record in records]}}
    results = run_fresh_process('''
        results = {}
        for name, job in request.items():
            loaded = tf.saved_model.load(job["path"])
            outputs = loaded.signatures["serving_default"](context=tf.constant(job["context"]),
                                                          choices=tf.constant(job["choices"]))
            session = session_outputs(job["path"], "serving_default",
                                      {"context": job["context"], "choices": job["choices"]})
            results[name] = {"probabilities": plain(outputs["probabilities"]), "choice": plain(outputs["choice"]),
                             "session": session["probabilities"], "not_in_core": not_in_core[name]}
    ''', request, tmp_path)
    expected = np.array(read_probabilities(output_dir / "test_results.tsv"))
    served = results["swag"]
    np.testing.assert_allclose(served["probabilities"], expected, atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(served["session"], expected, atol=TOLERANCE, rtol=0)
    assert served["choice"] == expected.argmax(axis=1).tolist()
    assert results["new_modules"] == []  # tensorflow + tensorflow_text only


def marked(source, target):
    """SWAG rows whose right ending gets the word "yes" and the others "no": learnable in a few dozen steps
    by the random reference model."""
    import csv

    with open(source, encoding="utf-8", newline="") as reader:
        records = list(csv.reader(reader))
    header = records[0]
    label_at, endings = header.index("label"), [header.index(f"ending{index}") for index in range(4)]
    for record in records[1:]:
        for index, column in enumerate(endings):
            record[column] = ("yes " if index == int(record[label_at]) else "no ") + record[column]
    with open(target, "w", encoding="utf-8", newline="") as writer:
        csv.writer(writer).writerows(records)


def test_training_learns_and_writes_released_checkpoints(references, tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    marked(references / "val.csv", data_dir / "train.csv")
    marked(references / "val.csv", data_dir / "val.csv")
    output_dir = tmp_path / "out"
    flags = [f"--data_dir={data_dir}", f"--bert_dir={references / 'model'}", f"--output_dir={output_dir}",
             "--do_train", "--do_eval", "--train_batch_size=8", "--num_train_epochs=12", "--learning_rate=5e-4",
             "--seed=1", "--max_seq_length=64"]
    # The reference model's head is replaced by a new one when training starts from a checkpoint without it.
    assert run_main("run_swag", *flags, f"--init_checkpoint={references / 'model'}") == 0
    results = read_eval_results(output_dir / "eval_results.txt")
    assert results["global_step"] == 60 and results["eval_accuracy"] >= 0.9, results
    names = list_checkpoint(str(output_dir / "model.ckpt-60"))
    reader = tf.train.load_checkpoint(str(output_dir / "model.ckpt-60"))
    assert reader.get_variable_to_shape_map()["cls/multiple_choice/output_weights"] == [1, 64]
    assert reader.get_variable_to_shape_map()["cls/multiple_choice/output_bias"] == [1]
    assert "cls/multiple_choice/output_weights/adam_m" in names and "global_step" in names
    assert json.loads((output_dir / "bert_tf_run.json").read_text())["task"] == "multiple_choice"


def test_bad_input_is_one_line_and_writes_nothing(references, swag_dir, tiny_ckpt_dir, tmp_path, capsys):
    output_dir = tmp_path / "out"
    model = f"--bert_dir={references / 'model'}"
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "val.jsonl").write_text('{"context": "a", "choices": ["b", "c"], "label": 2}\n', encoding="utf-8")
    assert_fails_cleanly(capsys, "run_swag", [f"--data_dir={bad}", model, "--do_eval", f"--output_dir={output_dir}"],
                         "val.jsonl:1: label 2 is outside the question's 2 choices", output_dir=output_dir)
    (bad / "val.jsonl").write_text('{"context": "a", "choices": ["b"], "label": 0}\n', encoding="utf-8")
    assert_fails_cleanly(capsys, "run_swag", [f"--data_dir={bad}", model, "--do_eval", f"--output_dir={output_dir}"],
                         "val.jsonl:1: 1 choice(s)", output_dir=output_dir)
    assert_fails_cleanly(capsys, "run_swag", [f"--data_dir={bad}", model, "--do_train", f"--output_dir={output_dir}"],
                         "no train.csv or train.jsonl", output_dir=output_dir)
    # A pretrained checkpoint has no multiple-choice head: predicting with it would be random.
    assert_fails_cleanly(capsys, "run_swag", [f"--data_dir={swag_dir}", f"--bert_dir={tiny_ckpt_dir}",
                                              "--do_predict", f"--output_dir={output_dir}"],
                         "has no multiple-choice head", "cls/multiple_choice/output_weights", output_dir=output_dir)
    assert_fails_cleanly(capsys, "run_swag", [f"--data_dir={swag_dir}", model, "--do_eval",
                                              f"--output_dir={output_dir}", "--max_seq_length=2"],
                         "--max_seq_length must be an integer >= 3", output_dir=output_dir)


def test_no_mode_flag_trains_and_evaluates_swag_dir_into_out_swag(references, swag_dir, tmp_path, monkeypatch, capsys):
    data_dir = tmp_path / "swag"
    data_dir.mkdir()
    shutil.copy(references / "val.csv", data_dir / "train.csv")
    shutil.copy(references / "val.csv", data_dir / "val.csv")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SWAG_DIR", str(data_dir))
    monkeypatch.setenv("BERT_BASE_DIR", str(references / "model"))
    assert run_main("run_swag", "--max_train_steps=1", "--train_batch_size=4") == 0
    assert "eval_accuracy = " in capsys.readouterr().out
    assert (tmp_path / "out" / "swag" / "eval_results.txt").is_file()
    monkeypatch.delenv("SWAG_DIR")
    assert_fails_cleanly(capsys, "run_swag", [], "--data_dir is required (or set $SWAG_DIR)")


def test_export_savedmodel_task_swag_equals_run_swags_export(reference_run, references, tmp_path, capsys):
    output_dir, export_dir = reference_run
    [version] = os.listdir(export_dir)
    assert run_main("export_savedmodel", "--task_name=swag", f"--bert_dir={references / 'model'}",
                    f"--init_checkpoint={references / 'model'}", f"--export_dir={tmp_path / 'export'}") == 0
    path = capsys.readouterr().out.strip().splitlines()[-1]
    ours, theirs = tf.saved_model.load(path), tf.saved_model.load(str(export_dir / version))
    inputs = {"context": tf.constant(["A man sits.", "Two dogs"]),
              "choices": tf.constant([["He eats.", "He runs away.", ""], ["bark.", "sleep.", "fly away fast."]])}
    np.testing.assert_allclose(ours.signatures["serving_default"](**inputs)["probabilities"].numpy(),
                               theirs.signatures["serving_default"](**inputs)["probabilities"].numpy(), atol=1e-6)
    assert "--serving_xla is for classifier exports" in assert_fails_cleanly(
        capsys, "export_savedmodel", ["--task_name=swag", f"--bert_dir={references / 'model'}",
                                      f"--init_checkpoint={references / 'model'}", f"--export_dir={tmp_path / 'x'}",
                                      "--serving_xla"])
