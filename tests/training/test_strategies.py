"""Tests for bert_tf.training.strategies: the strategy names, `--strategy=mirrored` on two logical CPUs, and
`--strategy=multi_worker_mirrored`: two worker processes on 127.0.0.1 train as one process does.

Every multi-worker run of this module (the workers, with `TF_CONFIG` naming ports the OS picked, and the
one-process runs they are compared with) is started at once by the `started` fixture: a run spends much of its
time waiting (start-up, the other worker), so together they take about half as long as one after the other.
Whatever is still running at the end is killed. The tiny model's config is copied with dropout 0.0 so that runs are
deterministic. Equality holds with per-batch padding: every worker builds the same global batches (trimmed
to their longest example) and keeps its slice, so the replicas see the lengths one process sees (no
--pad_to_max_length needed).
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import textwrap
import time
import types

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("the training loop is TensorFlow-backend only", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from bert_tf.checkpoint import latest_checkpoint  # noqa: E402
from bert_tf.training import strategies  # noqa: E402
from tests.conftest import PROJECT_ROOT  # noqa: E402
from tests.harness.scripts import read_eval_results, run_python, subprocess_environment  # noqa: E402

PROCESS_TIMEOUT = 400  # seconds for a group of runs (~1-2 minutes on 2 cores, all of them at once)
ATOL = 1e-5
PRETRAINING_FILES = ("original_sample_text_seq128.tfrecord", "original_wikitext2_wwm_seq128.tfrecord")
LOST_WORKER_STEPS = 40


# ------------------------------------------------------------------------------------------ strategies
def test_strategy_names():
    assert isinstance(strategies.create_strategy("one_device"), tf.distribute.OneDeviceStrategy)
    assert isinstance(strategies.create_strategy("One-Device"), tf.distribute.OneDeviceStrategy)
    with pytest.raises(ValueError, match="unknown distribution strategy 'parallel'.*one_device, mirrored"):
        strategies.create_strategy("parallel")


# MirroredStrategy over two logical CPUs (a subprocess: logical devices are process-wide), on the toy task.
MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    import pathlib
    from tests.training import toy_task as helpers
    from bert_tf.training import strategies
    from bert_tf.training.predict import predict

    output = pathlib.Path(sys.argv[1])
    pretrained = helpers.write_pretrained_checkpoint(output / "pretrained")
    losses = {}
    for name in ("one_device", "mirrored"):
        trainer = helpers.make_trainer(pretrained, output / name, num_train_steps=3, dropout=False)
        trainer.strategy = strategies.create_strategy(name)
        losses[name] = trainer.train(helpers.toy_dataset(batch_size=16)).losses
        losses[name + "_replicas"] = trainer.strategy.num_replicas_in_sync
        # Evaluation under the strategy: 21 examples in batches of 8 (the last one split 3 + 2).
        features, labels = helpers.toy_arrays(num_examples=21, seed=1)
        dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(8).map(helpers.trim_to_longest)
        predicted = predict(trainer.model, dataset, strategy=trainer.strategy)
        assert list(predicted.labels) == list(labels), predicted.labels
        losses[name + "_logits"] = predicted.outputs["logits"].tolist()
    print("LOSSES" + json.dumps(losses))
    """
)


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpus_gives_the_same_losses(tmp_path):
    completed = run_python(MIRRORED_SCRIPT, str(tmp_path), timeout=300)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("LOSSES")]
    assert completed.returncode == 0 and lines, completed.stdout[-3000:] + completed.stderr[-5000:]
    losses = json.loads(lines[0][len("LOSSES"):])
    assert losses["one_device_replicas"] == 1 and losses["mirrored_replicas"] == 2
    # The first step's loss (same weights, same batch split over two replicas) and the later ones (the
    # updates from the all-reduced gradients) match one device.
    np.testing.assert_allclose(losses["mirrored"][0], losses["one_device"][0], rtol=1e-6)
    np.testing.assert_allclose(losses["mirrored"], losses["one_device"], rtol=1e-4)
    np.testing.assert_allclose(losses["mirrored_logits"], losses["one_device_logits"], atol=1e-4)


# ----------------------------------------------------------------------------- multi-worker: helpers
def free_ports(count):
    """Ports the OS hands out for port 0 (closed again, for the workers' servers to bind)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class Runs:
    """Starts the run scripts of one test as subprocesses (logs and TMPDIR in `folder`); `kill_all` at the end."""

    def __init__(self, folder):
        self.folder = pathlib.Path(folder)
        self.processes = []
        self.scratch = self.folder / "tmp"  # TMPDIR of every process: non-chief workers' scratch folders
        self.scratch.mkdir(parents=True, exist_ok=True)

    def start(self, name, script, flags, tf_config=None):
        environment = subprocess_environment(TMPDIR=self.scratch,
                                             TF_CONFIG=None if tf_config is None else json.dumps(tf_config))
        log = open(self.folder / f"{name}.log", "w")
        process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / script), *flags], cwd=PROJECT_ROOT,
                                   env=environment, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        process.name = name
        self.processes.append(process)
        return process

    def start_workers(self, name, script, flags, ports):
        """One process per port, all with the same command; worker 0 is the chief."""
        cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
        return [self.start(f"{name}.worker{index}", script, flags,
                           {"cluster": cluster, "task": {"type": "worker", "index": index}})
                for index in range(len(ports))]

    def worker_scratch_folders(self):
        """What non-chief workers left of their temporary folders (each deletes its own at the end)."""
        return [name for name in os.listdir(self.scratch) if name.startswith("bert_tf_worker_")]

    def log(self, process):
        return (self.folder / f"{process.name}.log").read_text(errors="replace")

    def wait(self, processes, expected_status=0):
        deadline = time.time() + PROCESS_TIMEOUT
        for process in processes:
            try:
                status = process.wait(timeout=max(1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                self.kill_all()
                pytest.fail(f"{process.name} did not end within {PROCESS_TIMEOUT} s:\n{self.log(process)[-3000:]}")
            assert status == expected_status, f"{process.name} exited with {status}:\n{self.log(process)[-3000:]}"

    def kill_all(self):
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="module")
def model_dir(tiny_no_dropout_dir):
    """The tiny checkpoint with dropout 0.0 (deterministic training)."""
    return tiny_no_dropout_dir


def checkpoint_values(output_dir):
    """name -> array of the newest checkpoint in `output_dir` (model, Adam slots, global_step)."""
    prefix = latest_checkpoint(output_dir)
    assert prefix is not None, f"no checkpoint in {output_dir}"
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def assert_same_checkpoints(actual_dir, expected_dir):
    actual, expected = checkpoint_values(actual_dir), checkpoint_values(expected_dir)
    assert sorted(actual) == sorted(expected)
    assert actual["global_step"] == expected["global_step"]
    for name in expected:
        np.testing.assert_allclose(actual[name], expected[name], atol=ATOL, rtol=0, err_msg=name)
    return int(expected["global_step"])


def written_files(output_dir):
    """The files of a run's output_dir, TensorBoard event files named by kind only."""
    return sorted("events.out.tfevents" if name.startswith("events.out.tfevents") else name
                  for name in os.listdir(output_dir))


def start_one_process_and_two_workers(folder, script, flags):
    """Starts `script` with `flags(output_dir, *extra)` as one process and as two workers."""
    runs = Runs(folder / "logs")
    one, two = folder / "one_process", folder / "two_workers"
    processes = [runs.start("one_process", script, flags(one))]
    processes += runs.start_workers("two_workers", script, flags(two, "--strategy=multi_worker_mirrored"),
                                    free_ports(2))
    return types.SimpleNamespace(runs=runs, processes=processes, one=one, two=two)


def assert_workers_equal_one_process(group, steps):
    """Waits for a group of `start_one_process_and_two_workers`, compares its outputs; returns the chief's log."""
    group.runs.wait(group.processes)
    assert assert_same_checkpoints(group.two, group.one) == steps
    assert_same_results(group.two, group.one, group.runs)
    return group.runs.log(group.processes[1])


def assert_same_results(actual_dir, expected_dir, runs):
    """The same eval_results.txt (to ATOL) and the same files in output_dir, written by the chief alone (the
    other worker's temporary folder is gone)."""
    expected = read_eval_results(expected_dir / "eval_results.txt")
    actual = read_eval_results(actual_dir / "eval_results.txt")
    assert sorted(actual) == sorted(expected)
    for key in expected:
        assert actual[key] == pytest.approx(expected[key], abs=ATOL), key
    assert written_files(actual_dir) == written_files(expected_dir)
    assert runs.worker_scratch_folders() == []


# ------------------------------------------------------------------------------------------------ the runs
def write_subset(source, target, first_row, num_rows):
    lines = source.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    target.write_text("".join(lines[:1] + lines[1 + first_row:1 + first_row + num_rows]), encoding="utf-8")


def start_classifier_runs(folder, data_dir, model_dir):
    """MRPC: 64 training rows; held-out 13 dev and 11 test rows (last batches of 8 split 3+2 and 2+1)."""
    glue = data_dir / "glue" / "MRPC"
    mrpc = folder / "MRPC"
    mrpc.mkdir(parents=True)
    write_subset(glue / "train.tsv", mrpc / "train.tsv", 100, 64)
    write_subset(glue / "dev.tsv", mrpc / "dev.tsv", 0, 13)
    write_subset(glue / "test.tsv", mrpc / "test.tsv", 0, 11)

    def flags(output_dir, *extra):
        return ["--task=MRPC", f"--data_dir={mrpc}", f"--bert_dir={model_dir}", f"--output_dir={output_dir}",
                "--do_train", "--do_eval", "--do_predict", "--max_seq_length=32", "--train_batch_size=8",
                "--eval_batch_size=8", "--predict_batch_size=8", "--num_train_epochs=1", "--learning_rate=1e-3",
                "--warmup_proportion=0.25", "--seed=1", "--save_checkpoints_steps=4", *extra]

    return start_one_process_and_two_workers(folder, "run_classifier.py", flags)


def conll_subset(source, target, first_sentence, num_sentences):
    """`num_sentences` sentences of a CoNLL file from `first_sentence` on (-DOCSTART- lines dropped)."""
    sentences = [block for block in source.read_text(encoding="utf-8").split("\n\n")
                 if block.strip() and not block.startswith("-DOCSTART-")]
    target.write_text("\n\n".join(sentences[first_sentence:first_sentence + num_sentences]) + "\n",
                      encoding="utf-8")


def start_ner_runs(folder, data_dir, model_dir):
    """CoNLL-2003: 48 training sentences; held-out 13 valid and 11 test sentences (uneven last batches)."""
    conll = data_dir / "conll2003"
    data = folder / "conll"
    data.mkdir(parents=True)
    conll_subset(conll / "train.txt", data / "train.txt", 200, 48)
    conll_subset(conll / "valid.txt", data / "valid.txt", 0, 13)
    conll_subset(conll / "test.txt", data / "test.txt", 0, 11)

    def flags(output_dir, *extra):
        return [f"--data_dir={data}", f"--bert_dir={model_dir}", f"--output_dir={output_dir}", "--do_train",
                "--do_eval", "--do_predict", "--max_seq_length=32", "--train_batch_size=8", "--eval_batch_size=8",
                "--predict_batch_size=8", "--num_train_epochs=1", "--learning_rate=1e-3", "--seed=1",
                "--save_checkpoints_steps=3", *extra]

    return start_one_process_and_two_workers(folder, "run_ner.py", flags)


def pretraining_flags(model_dir, input_files, output_dir, *extra):
    return [f"--bert_config_file={model_dir / 'bert_config.json'}",
            f"--init_checkpoint={model_dir / 'bert_model.ckpt'}", f"--input_file={','.join(map(str, input_files))}",
            f"--output_dir={output_dir}", "--max_seq_length=128", "--max_predictions_per_seq=20",
            "--train_batch_size=8", "--learning_rate=1e-3", "--num_warmup_steps=2", "--seed=3", *extra]


def start_pretraining_runs(folder, refs_dir, model_dir):
    """One input file (fewer than workers): sharded by example. Evaluation: 3 batches of 7, split 3+4."""
    files = [refs_dir / PRETRAINING_FILES[0]]
    common = ("--do_train", "--do_eval", "--num_train_steps=6", "--save_checkpoints_steps=3", "--eval_batch_size=7",
              "--max_eval_steps=3")
    return start_one_process_and_two_workers(
        folder, "run_pretraining.py",
        lambda output_dir, *extra: pretraining_flags(model_dir, files, output_dir, *common, *extra))


def start_lost_worker_runs(folder, refs_dir, model_dir):
    """Two input files, sharded by file: an uninterrupted pair of workers, and a pair to interrupt."""
    runs = Runs(folder / "logs")
    files = [refs_dir / name for name in PRETRAINING_FILES]
    common = ("--do_train", f"--num_train_steps={LOST_WORKER_STEPS}", "--save_checkpoints_steps=5",
              "--strategy=multi_worker_mirrored")
    whole, interrupted, ports = folder / "uninterrupted", folder / "interrupted", free_ports(2)

    def start_interrupted(name):
        return runs.start_workers(name, "run_pretraining.py",
                                  pretraining_flags(model_dir, files, interrupted, *common), ports)

    reference = runs.start_workers("uninterrupted", "run_pretraining.py",
                                   pretraining_flags(model_dir, files, whole, *common), free_ports(2))
    return types.SimpleNamespace(runs=runs, reference=reference, first=start_interrupted("interrupted"),
                                 start_interrupted=start_interrupted, whole=whole, interrupted=interrupted)


@pytest.fixture(scope="module")
def started(tmp_path_factory, data_dir, refs_dir, model_dir):
    """Every run of the module, started at once (the lost-worker test, first, watches its runs at once)."""
    folder = tmp_path_factory.mktemp("multi_worker")
    groups = []
    try:
        groups.append(start_lost_worker_runs(folder / "lost_worker", refs_dir, model_dir))
        groups.append(start_classifier_runs(folder / "classifier", data_dir, model_dir))
        groups.append(start_pretraining_runs(folder / "pretraining", refs_dir, model_dir))
        groups.append(start_ner_runs(folder / "ner", data_dir, model_dir))
        yield types.SimpleNamespace(lost_worker=groups[0], classifier=groups[1], pretraining=groups[2],
                                    ner=groups[3])
    finally:
        for group in groups:
            group.runs.kill_all()


# ------------------------------------------------------------------------------------------------ the tests
@pytest.mark.slow
def test_a_lost_worker_and_a_restart_end_as_an_uninterrupted_run(started):
    """Two input files, sharded by file (the batches depend on the number of workers, not on interruptions).

    The non-chief worker is killed after the first checkpoint; the chief stops with an error; the same two
    commands started again resume from the chief's newest checkpoint and end with the uninterrupted run's
    weights (by-file sharding: a run matches itself on rerun).
    """
    group = started.lost_worker
    runs, first = group.runs, group.first
    deadline = time.time() + PROCESS_TIMEOUT
    while latest_checkpoint(group.interrupted) is None:
        assert all(process.poll() is None for process in first), runs.log(first[0])[-3000:]
        assert time.time() < deadline, "no checkpoint in time"
        time.sleep(0.05)
    first[1].send_signal(signal.SIGKILL)
    first[1].wait()
    runs.wait(first[:1], expected_status=1)  # the chief notices the lost worker and stops
    assert "error: lost a worker at step" in runs.log(first[0])
    killed_at = int(checkpoint_values(group.interrupted)["global_step"])
    assert 5 <= killed_at < LOST_WORKER_STEPS
    folders_at_the_kill = runs.worker_scratch_folders()

    restarted = group.start_interrupted("restarted")
    runs.wait(group.reference + restarted)
    for process in restarted:
        expected = f"Resuming from {group.interrupted}/model.ckpt-{killed_at} (global_step {killed_at})"
        assert expected in runs.log(process)
    assert "input sharded by file" in runs.log(group.reference[0])
    assert assert_same_checkpoints(group.interrupted, group.whole) == LOST_WORKER_STEPS
    left = runs.worker_scratch_folders()  # only the killed worker's (SIGKILL: no clean-up)
    assert len(left) == 1 and left[0] in folders_at_the_kill


@pytest.mark.slow
def test_run_classifier_on_two_workers_equals_one_process(started):
    """Training, and evaluation and prediction on held-out rows, each example once and in order."""
    group = started.classifier
    chief_log = assert_workers_equal_one_process(group, steps=8)
    assert "Batch size = 8 (global; 4 per replica, 2 replicas on 2 workers)" in chief_log
    expected_rows = np.loadtxt(group.one / "test_results.tsv", delimiter="\t")
    actual_rows = np.loadtxt(group.two / "test_results.tsv", delimiter="\t")
    assert actual_rows.shape == expected_rows.shape == (11, 2)
    np.testing.assert_allclose(actual_rows, expected_rows, atol=ATOL)


@pytest.mark.slow
def test_run_pretraining_on_two_workers_equals_one_process(started):
    assert "input sharded by example" in assert_workers_equal_one_process(started.pretraining, steps=6)


@pytest.mark.slow
def test_run_ner_on_two_workers_equals_one_process(started):
    """The shared Trainer/predict path of a task other than classification: same weights, same files."""
    group = started.ner
    group.runs.wait(group.processes)
    assert assert_same_checkpoints(group.two, group.one) >= 6
    assert_same_results(group.two, group.one, group.runs)
    for name in ("test_predictions.txt", "eval_predictions.txt", "label_map.json"):
        assert (group.two / name).read_text() == (group.one / name).read_text(), name
