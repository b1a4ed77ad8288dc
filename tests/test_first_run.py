"""First run and bad input, as a new user meets them: `--help`, `--task=MRPC` defaults, a quiet console,
one-line errors for bad files, `output_dir` ownership and locking, content-keyed feature caches."""
import json
import os
import subprocess
import sys

import keras
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("the scripts train with the TensorFlow backend", allow_module_level=True)

from conftest import PROJECT_ROOT  # noqa: E402

if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))
import extract_features  # noqa: E402
import run_classifier  # noqa: E402

SCRIPTS = ("run_classifier.py", "run_pretraining.py", "extract_features.py", "create_pretraining_data.py",
           "export_savedmodel.py", "run_squad.py", "run_ner.py")


def environment(**changes):
    values = dict(os.environ, CUDA_VISIBLE_DEVICES="", KERAS_BACKEND="tensorflow")
    values.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the scripts must be quiet on their own
    for name in ("GLUE_DIR", "BERT_BASE_DIR"):
        values.pop(name, None)
    values["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), values.get("PYTHONPATH")]))
    values.update({name: str(value) for name, value in changes.items()})
    return values


def run_script(script, *arguments, cwd=None, **changes):
    return subprocess.run([sys.executable, str(PROJECT_ROOT / script), *arguments], cwd=cwd or PROJECT_ROOT,
                          env=environment(**changes), capture_output=True, text=True, timeout=600)


def error_lines(stderr, program):
    return [line for line in stderr.splitlines() if line.startswith(f"{program}: error:")]


def small_mrpc(source, target, rows=24):
    target.mkdir(parents=True, exist_ok=True)
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        if not (source / name).exists():
            continue
        lines = (source / name).read_text(encoding="utf-8-sig").splitlines(keepends=True)[:rows + 1]
        (target / name).write_text("".join(lines), encoding="utf-8")
    return target


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_lists_the_scripts_own_flags(script):
    if not (PROJECT_ROOT / script).exists():
        pytest.skip(f"{script} is not in this tree")
    result = run_script(script, "--help")
    assert f"{script}:" in result.stdout, result.stdout[:2000]
    assert "--output_dir" in result.stdout or "--output_file" in result.stdout or "--export_dir" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_task_mrpc_alone_reports_everything_missing_at_once():
    result = run_script("run_classifier.py", "--task=MRPC")
    lines = error_lines(result.stderr, "run_classifier.py")
    assert result.returncode == 1 and len(lines) == 1, result.stderr
    assert "--data_dir" in lines[0] and "GLUE_DIR" in lines[0] and "BERT_BASE_DIR" in lines[0]


@pytest.mark.slow
def test_task_mrpc_with_the_readme_variables_trains_and_evaluates_quietly(tmp_path, data_dir, tiny_ckpt_dir):
    glue_dir = tmp_path / "glue"
    small_mrpc(data_dir / "glue" / "MRPC", glue_dir / "MRPC")
    result = run_script("run_classifier.py", "--task=MRPC", "--max_train_steps=2", cwd=tmp_path,
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
    mrpc = small_mrpc(data_dir / "glue" / "MRPC", tmp_path / "MRPC")
    status = run_classifier.main(["run_classifier.py", "--task=MRPC", f"--data_dir={mrpc}", f"--bert_dir={model_dir}",
                                  f"--output_dir={tmp_path / 'out'}", "--do_train", "--max_train_steps=1"])
    lines = error_lines(capsys.readouterr().err, "run_classifier.py")
    assert status == 1 and len(lines) == 1
    assert "truncated or corrupted" in lines[0] and "bert_model.ckpt.data-00000-of-00001" in lines[0]


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
    mrpc = small_mrpc(data_dir / "glue" / "MRPC", tmp_path / "MRPC")
    status = run_classifier.main(["run_classifier.py", "--task=MRPC", f"--data_dir={mrpc}",
                                  f"--bert_dir={tiny_ckpt_dir}", f"--vocab_file={vocab_file}", *config_flags,
                                  f"--output_dir={tmp_path / 'out'}", "--do_eval"])
    lines = error_lines(capsys.readouterr().err, "run_classifier.py")
    assert status == 1 and len(lines) == 1 and str(vocab_file) in lines[0]
    expected = {"extra_entries": "vocab_size", "no_cls": "[CLS]", "chinese": "vocab_size", "cased": "is cased"}
    assert expected[change] in lines[0]
    assert not (tmp_path / "out").exists()


def test_output_dir_of_another_task_is_refused_and_locked_while_in_use(tmp_path, data_dir, tiny_ckpt_dir, capsys):
    from bert_tf.training import workspace

    mrpc = small_mrpc(data_dir / "glue" / "MRPC", tmp_path / "MRPC")
    output_dir = tmp_path / "out"
    common = [f"--data_dir={mrpc}", f"--bert_dir={tiny_ckpt_dir}", f"--output_dir={output_dir}",
              "--max_seq_length=32"]
    assert run_classifier.main(["run_classifier.py", "--task=MRPC", "--do_train", "--max_train_steps=1", *common]) == 0
    assert json.loads((output_dir / workspace.RUN_FILE).read_text())["task"] == "classification/mrpc"
    capsys.readouterr()
    # RTE has two labels too: its checkpoint would fit, and the run would silently resume MRPC's.
    rte = small_mrpc(data_dir / "glue" / "RTE", tmp_path / "RTE")
    status = run_classifier.main(["run_classifier.py", "--task=RTE", "--do_eval", f"--data_dir={rte}",
                                  *common[1:]])
    lines = error_lines(capsys.readouterr().err, "run_classifier.py")
    assert status == 1 and len(lines) == 1 and "classification/mrpc" in lines[0]

    # A live process holds the lock (this test's own parent process stands in for a second run).
    (output_dir / workspace.LOCK_FILE).write_text(str(os.getppid()))
    status = run_classifier.main(["run_classifier.py", "--task=MRPC", "--do_eval", *common])
    lines = error_lines(capsys.readouterr().err, "run_classifier.py")
    assert status == 1 and "in use by another run" in lines[0]
    # A lock left by a dead process, and temporary files of a killed run, are cleaned up.
    (output_dir / workspace.LOCK_FILE).write_text("999999999")
    (output_dir / "eval_results.txt.tmp-deadbeef").write_text("half")
    assert run_classifier.main(["run_classifier.py", "--task=MRPC", "--do_eval", *common]) == 0
    assert not (output_dir / workspace.LOCK_FILE).exists()
    assert not list(output_dir.glob("*.tmp-*"))


def test_feature_cache_is_keyed_on_content_not_on_size_and_time(tmp_path, data_dir, tiny_ckpt_dir):
    mrpc = small_mrpc(data_dir / "glue" / "MRPC", tmp_path / "MRPC")
    output_dir = tmp_path / "out"
    flags_list = ["run_classifier.py", "--task=MRPC", f"--data_dir={mrpc}", f"--bert_dir={tiny_ckpt_dir}",
                  f"--output_dir={output_dir}", "--do_eval", "--max_seq_length=32", "--seed=3"]
    # Evaluation needs a fine-tuned head: one training step writes one into output_dir.
    assert run_classifier.main([*flags_list, "--do_train", "--nodo_eval", "--max_train_steps=1"]) == 0
    assert run_classifier.main(flags_list) == 0
    first = (output_dir / "eval_results.txt").read_text()
    assert run_classifier.main(flags_list) == 0
    assert (output_dir / "eval_results.txt").read_text() == first  # same checkpoint, same loss
    dev = mrpc / "dev.tsv"
    stat = dev.stat()
    text = dev.read_text(encoding="utf-8")
    rows = text.splitlines(keepends=True)
    swapped = rows[0] + rows[2] + rows[1] + "".join(rows[3:])  # same size, other content
    assert len(swapped) == len(text) and swapped != text
    dev.write_text(swapped, encoding="utf-8")
    os.utime(dev, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    meta_before = (output_dir / "eval.tf_record.meta.json").read_text()
    assert run_classifier.main(flags_list) == 0
    assert (output_dir / "eval.tf_record.meta.json").read_text() != meta_before


def test_extract_features_refuses_to_overwrite_its_input(tmp_path, minilm_ckpt_dir, capsys):
    input_file = tmp_path / "input.txt"
    input_file.write_text("hello world\n", encoding="utf-8")
    status = extract_features.main(["extract_features.py", f"--input_file={input_file}",
                                    f"--output_file={input_file}", f"--bert_dir={minilm_ckpt_dir}"])
    lines = error_lines(capsys.readouterr().err, "extract_features.py")
    assert status == 1 and "is the --input_file" in lines[0]
    assert input_file.read_text(encoding="utf-8") == "hello world\n"


def test_stsb_score_outside_0_to_5_is_refused(tmp_path, data_dir, tiny_ckpt_dir, capsys):
    source = data_dir / "glue" / "STS-B"
    target = tmp_path / "STS-B"
    target.mkdir()
    for name in ("train.tsv", "dev.tsv"):
        lines = (source / name).read_text(encoding="utf-8-sig").splitlines(keepends=True)[:9]
        (target / name).write_text("".join(lines), encoding="utf-8")
    rows = (target / "dev.tsv").read_text(encoding="utf-8").splitlines(keepends=True)
    fields = rows[3].rstrip("\n").split("\t")
    fields[-1] = "7.5"
    rows[3] = "\t".join(fields) + "\n"
    (target / "dev.tsv").write_text("".join(rows), encoding="utf-8")
    status = run_classifier.main(["run_classifier.py", "--task=STS-B", f"--data_dir={target}",
                                  f"--bert_dir={tiny_ckpt_dir}", f"--output_dir={tmp_path / 'out'}", "--do_eval"])
    lines = error_lines(capsys.readouterr().err, "run_classifier.py")
    assert status == 1 and len(lines) == 1 and "dev.tsv" in lines[0] and "7.5" in lines[0]


def test_keyboard_interrupt_is_one_line(monkeypatch, capsys):
    def interrupted(flag_values):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_classifier.ENTRY_POINT, "run", interrupted)
    status = run_classifier.main(["run_classifier.py", "--task=MRPC"])
    err = capsys.readouterr().err
    assert status == 130 and "Traceback" not in err
    assert len(error_lines(err, "run_classifier.py")) == 1 and "interrupted" in err



def _children(pid):
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as reader:
                    fields = reader.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                children.append(int(entry))
    return children


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_create_pretraining_data_leaves_no_workers(tmp_path, data_dir):
    import signal
    import time

    command = [sys.executable, str(PROJECT_ROOT / "create_pretraining_data.py"),
               f"--input_file={data_dir / 'pretraining_text' / 'wikitext2_test_sentences.txt'}",
               f"--output_file={tmp_path / 'out.tfrecord'}",
               f"--vocab_file={data_dir / 'vocab' / 'bert-base-uncased' / 'vocab.txt'}",
               "--dupe_factor=200", "--num_workers=2", "--noprogress"]
    process = subprocess.Popen(command, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(_children(process.pid)) < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        workers = _children(process.pid)
        assert len(workers) >= 2, "the workers did not start"
        time.sleep(8)  # into instance creation: workers busy with a long shard do not read their pipe
        workers = _children(process.pid) or workers
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while any(os.path.exists(f"/proc/{pid}") for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        alive = [pid for pid in workers if os.path.exists(f"/proc/{pid}")
                 and open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
        assert not alive, f"workers {alive} outlived their parent"
    finally:
        if process.poll() is None:
            process.kill()
    assert not (tmp_path / "out.tfrecord").exists()


def test_corrupted_pretraining_record_names_the_file(tmp_path, refs_dir, tiny_ckpt_dir, capsys):
    import run_pretraining

    data = bytearray((refs_dir / "original_sample_text_seq128.tfrecord").read_bytes())
    middle = len(data) // 2
    data[middle:middle + 64] = bytes(64)  # the first records stay intact: the damage shows mid-training
    records = tmp_path / "corrupted.tfrecord"
    records.write_bytes(bytes(data))
    status = run_pretraining.main(["run_pretraining.py", f"--input_file={records}", f"--bert_dir={tiny_ckpt_dir}",
                                   f"--output_dir={tmp_path / 'out'}", "--do_train", "--train_batch_size=8",
                                   "--num_train_steps=40", "--num_warmup_steps=1", "--max_seq_length=128",
                                   "--max_predictions_per_seq=20", "--seed=1"])
    lines = error_lines(capsys.readouterr().err, "run_pretraining.py")
    assert status == 1 and len(lines) == 1, lines
    assert "corrupted.tfrecord" in lines[0] and "truncated or corrupted" in lines[0]
