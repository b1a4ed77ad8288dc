"""bert_tf.cli through the entry scripts, as a new user meets it: `--help`, `--task=MRPC` with the README's
variables as defaults, a quiet console, one-line errors for bad files, one line for Ctrl-C."""
import json
import subprocess
import sys

import keras
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("the scripts train with the TensorFlow backend", allow_module_level=True)

import run_classifier  # noqa: E402
from tests.conftest import PROJECT_ROOT  # noqa: E402
from tests.harness.scripts import (  # noqa: E402
    assert_fails_cleanly,
    error_lines,
    glue_subset,
    run_main,
    run_script,
    subprocess_environment,
)

SCRIPTS = ("run_classifier.py", "run_pretraining.py", "extract_features.py", "create_pretraining_data.py",
           "export_savedmodel.py", "run_squad.py", "run_ner.py", "run_swag.py")


def run_as_new_user(script, *arguments, cwd=None, **changes):
    """`script` in a new process, as a new user runs it: TensorFlow's C++ logging left to the script, none of
    the README's variables set unless in `changes`."""
    return run_script(script, *arguments, cwd=cwd, quiet=False, **{"GLUE_DIR": None, "BERT_BASE_DIR": None, **changes})


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_lists_the_scripts_own_flags(script):
    if not (PROJECT_ROOT / script).exists():
        pytest.skip(f"{script} is not in this tree")
    result = run_as_new_user(script, "--help")
    assert f"{script}:" in result.stdout, result.stdout[:2000]
    assert "--output_dir" in result.stdout or "--output_file" in result.stdout or "--export_dir" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("script", ["run_classifier.py", "run_squad.py", "create_pretraining_data.py"])
def test_help_piped_into_head_exits_0_without_a_traceback(script):
    # The reader closes the pipe after 2 lines, before the help is written out (absl's help: a BrokenPipeError
    # traceback in most tries, and exit status 1 even without the pipe).
    command = f'"{sys.executable}" "{PROJECT_ROOT / script}" --help | head -n 2 >/dev/null; exit ${{PIPESTATUS[0]}}'
    for _ in range(3):
        result = subprocess.run(["bash", "-c", command], cwd=PROJECT_ROOT, env=subprocess_environment(),
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0 and result.stderr == "", result.stderr


def test_a_bad_flag_value_is_one_line():
    result = run_as_new_user("run_classifier.py", "--quoting=bogus", "--do_train")
    lines = error_lines(result.stderr, "run_classifier")
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "--quoting=bogus" in lines[0] and "auto|csv|none" in lines[0] and "FATAL" not in result.stderr


@pytest.mark.slow
def test_task_mrpc_alone_reports_everything_missing_at_once():
    result = run_as_new_user("run_classifier.py", "--task=MRPC")
    lines = error_lines(result.stderr, "run_classifier")
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "--data_dir" in lines[0] and "GLUE_DIR" in lines[0] and "BERT_BASE_DIR" in lines[0]


@pytest.mark.slow
def test_task_mrpc_with_the_readme_variables_trains_and_evaluates_quietly(tmp_path, data_dir, tiny_ckpt_dir):
    glue_dir = tmp_path / "glue"
    glue_subset(data_dir / "glue" / "MRPC", glue_dir / "MRPC")
    result = run_as_new_user("run_classifier.py", "--task=MRPC", "--max_train_steps=2", cwd=tmp_path,
                             GLUE_DIR=glue_dir, BERT_BASE_DIR=tiny_ckpt_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    # Results on stdout; files in out/mrpc; no TensorFlow C++ start-up lines.
    assert "eval_accuracy = " in result.stdout and "out/mrpc" in result.stdout
    assert (tmp_path / "out" / "mrpc" / "eval_results.txt").exists()
    assert "no mode flag given" in result.stderr
    for noise in ("cuInit", "oneDNN custom operations", "cudart_stub", "absl::InitializeLog"):
        assert noise not in result.stderr, noise


def test_truncated_checkpoint_names_the_file(tmp_path, data_dir, tiny_ckpt_dir, capsys):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for path in tiny_ckpt_dir.iterdir():
        data = path.read_bytes()
        if path.name.endswith(".data-00000-of-00001"):
            data = data[:len(data) // 3]
        (model_dir / path.name).write_bytes(data)
    mrpc = glue_subset(data_dir / "glue" / "MRPC", tmp_path / "MRPC")
    assert_fails_cleanly(capsys, "run_classifier", ["--task=MRPC", f"--data_dir={mrpc}", f"--bert_dir={model_dir}",
                                                    f"--output_dir={tmp_path / 'out'}", "--do_train",
                                                    "--max_train_steps=1"],
                         "truncated or corrupted", "bert_model.ckpt.data-00000-of-00001", output_dir=tmp_path / "out")


@pytest.mark.parametrize("change", ["extra_entries", "no_cls", "chinese", "cased"])
def test_vocabulary_that_does_not_fit_the_model(tmp_path, data_dir, tiny_ckpt_dir, capsys, change):
    vocab = (tiny_ckpt_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    config_flags = []
    if change == "extra_entries":
        vocab += [f"extra{index}" for index in range(50)]
    elif change == "no_cls":
        vocab = [token for token in vocab if token != "[CLS]"]
    else:
        name = "bert-base-chinese" if change == "chinese" else "bert-base-cased"
        vocab = (data_dir / "vocab" / name / "vocab.txt").read_text(encoding="utf-8").splitlines()
        if change == "cased":  # a model of the cased vocabulary's size: only the casing is wrong
            config = json.loads((tiny_ckpt_dir / "bert_config.json").read_text())
            config["vocab_size"] = len(vocab)
            (tmp_path / "bert_config.json").write_text(json.dumps(config))
            config_flags = [f"--bert_config_file={tmp_path / 'bert_config.json'}"]
    vocab_file = tmp_path / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    mrpc = glue_subset(data_dir / "glue" / "MRPC", tmp_path / "MRPC")
    expected = {"extra_entries": "vocab_size", "no_cls": "[CLS]", "chinese": "vocab_size", "cased": "is cased"}
    assert_fails_cleanly(capsys, "run_classifier", ["--task=MRPC", f"--data_dir={mrpc}", f"--bert_dir={tiny_ckpt_dir}",
                                                    f"--vocab_file={vocab_file}", *config_flags,
                                                    f"--output_dir={tmp_path / 'out'}", "--do_eval"],
                         str(vocab_file), expected[change], output_dir=tmp_path / "out")


def test_stsb_score_outside_0_to_5_is_refused(tmp_path, data_dir, tiny_ckpt_dir, capsys):
    target = glue_subset(data_dir / "glue" / "STS-B", tmp_path / "STS-B", rows=8)
    rows = (target / "dev.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    fields = rows[3].rstrip("\n").split("\t")
    fields[-1] = "7.5"
    rows[3] = "\t".join(fields) + "\n"
    (target / "dev.tsv").write_text("".join(rows), encoding="utf-8")
    assert_fails_cleanly(capsys, "run_classifier", ["--task=STS-B", f"--data_dir={target}",
                                                    f"--bert_dir={tiny_ckpt_dir}", f"--output_dir={tmp_path / 'out'}",
                                                    "--do_eval"],
                         "dev.tsv", "7.5", output_dir=tmp_path / "out")


def test_keyboard_interrupt_is_one_line(monkeypatch, capsys):
    def interrupted(flag_values):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_classifier.ENTRY_POINT, "run", interrupted)
    status = run_main("run_classifier", "--task=MRPC")
    err = capsys.readouterr().err
    assert status == 130 and "Traceback" not in err
    assert len(error_lines(err, "run_classifier")) == 1 and "interrupted" in err


@pytest.mark.parametrize("flag, expected", [("--null_score_diff_threshold=nan", "not a finite number"),
                                            ("--learning_rate=inf", "not a finite number"),
                                            ("--output_dir=", "--output_dir is empty")])
def test_flags_that_mean_nothing_are_refused(flag, expected, refs_dir, tmp_path, capsys):
    model = refs_dir / "squad" / "tiny_squad"
    flags = [f"--vocab_file={model / 'vocab.txt'}", f"--bert_config_file={model / 'bert_config.json'}",
             f"--init_checkpoint={model / 'model.ckpt'}", "--do_predict",
             f"--predict_file={refs_dir / 'squad' / 'v1' / 'predict.json'}", "--max_seq_length=128"]
    if not flag.startswith("--output_dir"):
        flags.append(f"--output_dir={tmp_path / 'out'}")
    assert_fails_cleanly(capsys, "run_squad", [*flags, flag], expected, output_dir=tmp_path / "out")
