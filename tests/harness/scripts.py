"""Running the entry scripts (and other processes) from tests, and reading what they leave behind.

* In this process: `run_main(script, *flags)` runs `<script>.main(["<script>.py", *flags])` (the entry scripts
  are top-level modules of the project root, which is on sys.path under pytest); `assert_fails_cleanly`
  checks a refused run: status 1, one line on stderr, `--output_dir` left exactly as it was.
* In a new process: `subprocess_environment`, `run_script` (a script of the project), `run_python` (a piece
  of code), `run_fresh_process` (SavedModels loaded with TensorFlow alone, as TF Serving does: the serving
  tests), `official_squad_scores` (the official SQuAD evaluation scripts).
* Their inputs and what they leave: `glue_subset` (a small GLUE task folder), `snapshot` (a folder's files
  and their bytes), `error_lines`, `read_eval_results`.
"""
import importlib
import json
import os
import pathlib
import subprocess
import sys
import textwrap

from tests.conftest import PROJECT_ROOT


# ------------------------------------------------------------------------------------------ in process
def run_main(script, *flags):
    """Runs the entry script `script` (`run_classifier`, ...) in this process; returns its exit status."""
    return importlib.import_module(script).main([f"{script}.py", *flags])


def snapshot(directory):
    """Relative path -> bytes of every file under `directory` (None for a folder): equal snapshots mean
    nothing was added, removed or changed."""
    directory = pathlib.Path(directory)
    return {path.relative_to(directory).as_posix(): None if path.is_dir() else path.read_bytes()
            for path in sorted(directory.rglob("*"))}


def error_lines(stderr, script):
    """The lines of `stderr` that are `script`'s error messages (`<script>.py: error: ...`)."""
    return [line for line in stderr.splitlines() if line.startswith(f"{script}.py: error:")]


def assert_fails_cleanly(capsys, script, flags, *expected, output_dir=None):
    """Runs `script` with `flags` in this process and checks that it was refused cleanly: exit status 1,
    exactly one non-empty line on stderr, `<script>.py: error: ...`, no traceback, every `expected` text
    in it; `output_dir`, if given, exactly as before (the same files with the same bytes, or still absent).
    Returns the error line."""
    output_dir = None if output_dir is None else pathlib.Path(output_dir)
    before = snapshot(output_dir) if output_dir is not None and output_dir.exists() else None
    capsys.readouterr()
    status = run_main(script, *flags)
    stderr = capsys.readouterr().err
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert status == 1, stderr
    assert len(lines) == 1 and lines[0].startswith(f"{script}.py: error: "), stderr
    assert "Traceback" not in stderr
    for text in expected:
        assert text in lines[0], lines[0]
    if output_dir is not None:
        if before is None:
            assert not output_dir.exists(), sorted(snapshot(output_dir))
        else:
            assert snapshot(output_dir) == before
    return lines[0]


def glue_subset(source, target, rows=24):
    """A GLUE task folder with the header and the first `rows` rows of each split `source` has (UTF-8,
    without BOM); returns `target`."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        if not (source / name).exists():
            continue
        lines = (source / name).read_text(encoding="utf-8-sig").splitlines(keepends=True)[:rows + 1]
        (target / name).write_text("".join(lines), encoding="utf-8")
    return target


def read_eval_results(path):
    """`eval_results.txt` (`key = value` lines) as key -> float, in the file's order."""
    pairs = (line.split(" = ") for line in pathlib.Path(path).read_text().splitlines())
    return {key: float(value) for key, value in pairs}


# ------------------------------------------------------------------------------------- new processes
def subprocess_environment(quiet=True, **changes):
    """The environment of a script started by a test: the project importable, CPU only, the TensorFlow
    backend; TensorFlow's C++ logging off (`quiet`) or left to the script. `changes`: variables to set
    (None: to remove)."""
    environment = dict(os.environ, CUDA_VISIBLE_DEVICES="", KERAS_BACKEND="tensorflow")
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), environment.get("PYTHONPATH")]))
    if quiet:
        environment["TF_CPP_MIN_LOG_LEVEL"] = "2"
    else:
        environment.pop("TF_CPP_MIN_LOG_LEVEL", None)  # the scripts must be quiet on their own
    for name, value in changes.items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = str(value)
    return environment


def run_script(script, *arguments, cwd=None, timeout=600, quiet=True, **environment_changes):
    """`python <script> <arguments>` (`script` relative to the project root) in a new process, in `cwd`
    (default: the project root); returns the `CompletedProcess` (text stdout and stderr)."""
    return subprocess.run([sys.executable, str(PROJECT_ROOT / script), *arguments], cwd=cwd or PROJECT_ROOT,
                          env=subprocess_environment(quiet, **environment_changes), capture_output=True, text=True,
                          timeout=timeout)


def run_python(code, *arguments, timeout=300):
    """`python -c <code> <arguments>` in a new process in the project root; returns the `CompletedProcess`."""
    return subprocess.run([sys.executable, "-c", code, *arguments], cwd=PROJECT_ROOT, env=subprocess_environment(),
                          capture_output=True, text=True, timeout=timeout)


def official_squad_scores(data_dir, version, data_file, predictions_file, *extra):
    """The scores of the official `evaluate-v<version>.py` (shared data/squad/eval) on a predictions file."""
    script = data_dir / "squad" / "eval" / f"evaluate-v{version}.py"
    completed = subprocess.run([sys.executable, str(script), str(data_file), str(predictions_file), *extra],
                               capture_output=True, text=True, check=True)
    return json.loads(completed.stdout)


# The fresh process of the serving tests: tensorflow + tensorflow_text only; bert_tf cannot even be imported.
# Before the jobs: `request` (sys.argv[1]), `not_in_core` (per job, the ops of its SavedModel that core
# TensorFlow lacks), `plain` (an output as JSON values), `session_outputs` (the TF 1 graph + session that TF
# Serving's SavedModelBundle runs). The jobs fill `results`.
FRESH_PROCESS_HEADER = textwrap.dedent('''
    import json
    import sys


    class RefuseBertTf:
        def find_spec(self, name, path=None, target=None):
            if name == "bert_tf" or name.startswith("bert_tf."):
                raise ImportError("loading the SavedModel must not need bert_tf")
            return None


    sys.meta_path.insert(0, RefuseBertTf())
    import tensorflow as tf
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework import op_def_registry

    request = json.load(open(sys.argv[1], encoding="utf-8"))


    def op_types(path):
        proto = saved_model_pb2.SavedModel()
        with open(path + "/saved_model.pb", "rb") as reader:
            proto.ParseFromString(reader.read())
        types = set()
        for meta_graph in proto.meta_graphs:
            types.update(node.op for node in meta_graph.graph_def.node)
            for function in meta_graph.graph_def.library.function:
                types.update(node.op for node in function.node_def)
        return types


    # Before tensorflow_text is imported: the ops that core TensorFlow lacks.
    not_in_core = {name: sorted(op for op in op_types(job["path"]) if op_def_registry.get(op) is None)
                   for name, job in request.items()}
    import tensorflow_text  # noqa: F401  (registers WordpieceTokenizeWithOffsets, NormalizeUTF8)

    modules_before = set(sys.modules)


    def plain(value):
        value = value.numpy() if hasattr(value, "numpy") else value
        if value.dtype == object:
            return [item.decode("utf-8") for item in value.tolist()]
        return value.tolist()


    def session_outputs(path, signature_name, inputs):
        """The TF 1 graph + session that TF Serving's SavedModelBundle runs."""
        with tf.Graph().as_default() as graph, tf.compat.v1.Session(graph=graph) as session:
            meta_graph = tf.compat.v1.saved_model.load(session, ["serve"], path)
            signature = meta_graph.signature_def[signature_name]
            fetches = {key: info.name for key, info in signature.outputs.items()}
            feeds = {signature.inputs[key].name: value for key, value in inputs.items()}
            return {key: plain(value) for key, value in session.run(fetches, feeds).items()}

''')
# After the jobs: the TensorFlow version, the Keras or bert_tf modules the jobs imported, `results` written out.
FRESH_PROCESS_FOOTER = textwrap.dedent('''
    results["tensorflow_version"] = tf.__version__
    results["new_modules"] = sorted(
        module for module in set(sys.modules) - modules_before
        if module.split(".")[0] in ("keras", "tf_keras", "bert_tf"))
    json.dump(results, open(sys.argv[2], "w", encoding="utf-8"))
''')


def run_fresh_process(jobs, request, folder, python=sys.executable, timeout=900):
    """Runs `FRESH_PROCESS_HEADER + jobs + FRESH_PROCESS_FOOTER` with interpreter `python` in `folder` (as
    load.py, on `request` written to request.json: job name -> job, each with its SavedModel's "path");
    `jobs` (dedented code) fills `results`. Returns the results."""
    folder = pathlib.Path(folder)
    (folder / "load.py").write_text(FRESH_PROCESS_HEADER + textwrap.dedent(jobs) + FRESH_PROCESS_FOOTER,
                                    encoding="utf-8")
    (folder / "request.json").write_text(json.dumps(request), encoding="utf-8")
    result = subprocess.run([str(python), "load.py", "request.json", "results.json"], cwd=folder,
                            env=subprocess_environment(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((folder / "results.json").read_text(encoding="utf-8"))
