"""export_savedmodel.py: a fine-tuned checkpoint -> a SavedModel version folder for TF Serving; its flags and
one-line errors. (What the SavedModels compute: tests/serving/.)"""
import hashlib
import os
import pathlib
import re
import time

import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from tests.harness.classifier_exports import MAX_SEQ_LENGTH, export_flags, version_folders  # noqa: E402
from tests.harness.scripts import assert_fails_cleanly, run_main, run_script  # noqa: E402


def _tree_digest(folder):
    digest = hashlib.sha256()
    for path in sorted(pathlib.Path(folder).rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
            digest.update(str(path.stat().st_mtime_ns).encode())
    return digest.hexdigest()


def test_command_line_writes_a_version_folder(classifier_exports, tiny_ckpt_dir):
    version = pathlib.Path(classifier_exports["mrpc"])
    assert re.fullmatch(r"\d+", version.name) and abs(int(version.name) - time.time()) < 3600
    assert [path.name for path in version.parent.iterdir()] == [version.name]  # no temporary left
    assert (version / "saved_model.pb").is_file() and (version / "variables").is_dir()
    assert (version / "assets" / "vocab.txt").read_bytes() == (tiny_ckpt_dir / "vocab.txt").read_bytes()
    assert (version / "assets.extra" / "labels.txt").read_text() == "0\n1\n"
    assert "Traceback" not in classifier_exports["mrpc_cli_stderr"]


def test_reexport_creates_a_new_version_and_keeps_the_old(classifier_exports, classifier_models, tiny_ckpt_dir,
                                                          capsys):
    old = pathlib.Path(classifier_exports["mrpc"])
    before = _tree_digest(old)
    # --bert_dir gives --vocab_file and --bert_config_file.
    flags = ["--task_name=MRPC", f"--bert_dir={tiny_ckpt_dir}", f"--init_checkpoint={classifier_models[2][1]}",
             f"--max_seq_length={MAX_SEQ_LENGTH}", f"--export_dir={old.parent}"]
    assert run_main("export_savedmodel", *flags) == 0
    versions = version_folders(old.parent)
    assert len(versions) == 2 and versions[0] == old and int(versions[1].name) > int(old.name)
    assert capsys.readouterr().out.strip() == str(versions[1])
    assert _tree_digest(old) == before
    assert sorted(path.name for path in old.parent.iterdir()) == [path.name for path in versions]
    assert (versions[1] / "assets" / "vocab.txt").read_bytes() == (tiny_ckpt_dir / "vocab.txt").read_bytes()


def test_serving_dtype_flag(classifier_models, tiny_ckpt_dir, tmp_path, capsys):
    flags = export_flags("MRPC", tiny_ckpt_dir, classifier_models[2][1], tmp_path / "bf16")
    assert run_main("export_savedmodel", *flags, "--serving_dtype=mixed_bfloat16") == 0
    path = capsys.readouterr().out.strip()
    types = set()
    graph = tf.saved_model.load(path).signatures["serving_default"].graph.as_graph_def()
    for function in graph.library.function:
        types.update(node.attr["DstT"].type for node in function.node_def if node.op == "Cast")
    assert tf.bfloat16.as_datatype_enum in types
    assert run_main("export_savedmodel", *flags, "--serving_dtype=float16") == 1  # one line, as any bad input
    message = "--serving_dtype=float16: value should be one of <float32|mixed_bfloat16>"
    assert message in capsys.readouterr().err


def _error_line(flags, capsys):
    return assert_fails_cleanly(capsys, "export_savedmodel", flags)


def test_errors_are_one_line(classifier_models, tiny_ckpt_dir, tmp_path, capsys):
    flags = export_flags("MRPC", tiny_ckpt_dir, classifier_models[2][1], tmp_path / "out")
    assert "missing --export_dir" in _error_line(flags[:-1], capsys)
    assert "missing --init_checkpoint" in _error_line(
        [flag for flag in flags if not flag.startswith("--init_checkpoint")], capsys)
    assert "unknown GLUE task 'nope'" in _error_line(["--task_name=nope"] + flags[1:], capsys)
    # The released (pretrained) checkpoint has no classifier head.
    message = _error_line(flags[:4] + [f"--init_checkpoint={tiny_ckpt_dir}"] + flags[5:], capsys)
    assert "no classifier head" in message and "output_weights" in message
    # A 2-label checkpoint does not fit MNLI's 3 labels: strict loading names the variable.
    message = _error_line(["--task_name=MNLI"] + flags[1:], capsys)
    assert "output_weights" in message and "[2, 64]" in message and "[3, 64]" in message
    message = _error_line(flags[:-2] + ["--max_seq_length=129", flags[-1]], capsys)
    assert "max_position_embeddings=128" in message
    message = _error_line(flags[:2] + [f"--vocab_file={tmp_path / 'missing.txt'}"] + flags[3:], capsys)
    assert "missing.txt" in message
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_subprocess_error_has_no_traceback(tmp_path):
    result = run_script("export_savedmodel.py", "--task_name=MRPC", cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == "export_savedmodel.py: error: missing --export_dir"  # before TF loads


def test_export_savedmodel_command_line_squad(refs_dir, tmp_path, tiny_ckpt_dir, capsys):
    """`export_savedmodel.py --task_name=squad` writes a version folder; a checkpoint without the SQuAD
    head is refused with one line."""
    tiny_squad = refs_dir / "squad" / "tiny_squad"
    common = ["--task_name=squad", f"--bert_dir={tiny_squad}", "--max_seq_length=128", "--doc_stride=64",
              "--max_query_length=32"]
    assert run_main("export_savedmodel", *common, f"--init_checkpoint={tiny_squad / 'model.ckpt'}",
                    f"--export_dir={tmp_path / 'out'}") == 0
    path = capsys.readouterr().out.strip().splitlines()[-1]
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
    assert os.path.dirname(path) == str(tmp_path / "out")
    assert_fails_cleanly(capsys, "export_savedmodel",
                         common + [f"--init_checkpoint={tiny_ckpt_dir}", f"--export_dir={tmp_path / 'bad'}"],
                         "no SQuAD head")
