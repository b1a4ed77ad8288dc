"""File helpers shared by every task: atomic writes, `eval_results.txt`, input globs, content digests.

All paths go through `tf.io.gfile`, so `gs://` and other TensorFlow file systems work as local paths.
Writes go to a temporary name in the same folder and are renamed when complete, so an interrupted run
never leaves a half-written output and never destroys the previous one.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import uuid
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Sequence, Tuple, Union

from bert_tf.errors import InputError

TEMPORARY_MARKER = ".tmp-"
EVAL_RESULTS_FILE = "eval_results.txt"


def tf_gfile():
    """`tf.io.gfile` (local paths and `gs://...`), TensorFlow imported on first use."""
    import tensorflow as tf  # imported late: reading flags and local files needs no TensorFlow

    return tf.io.gfile


def is_remote(path: str) -> bool:
    """Whether `path` is on a TensorFlow file system other than the local one (`gs://...`)."""
    return "://" in str(path)


def temporary_name(path: str) -> str:
    """A unique sibling name for `path` (`<path>.tmp-<random>`), for writing before a rename."""
    return f"{path}{TEMPORARY_MARKER}{uuid.uuid4().hex[:8]}"


# The inputs of the running script, by resolved path: no write of this process may replace one of them.
_protected_inputs: Dict[str, str] = {}


def resolved_path(path: str) -> str:
    """`path` with links, `..` and `~` resolved (a remote path as given): two spellings of one file are equal."""
    path = str(path)
    return path if is_remote(path) else os.path.realpath(os.path.expanduser(path))


@contextlib.contextmanager
def protected_inputs(inputs: Mapping[str, Union[str, Sequence[str]]]) -> Iterator[None]:
    """While the block runs, the files named in `inputs` (what the user calls it, e.g. `--predict_file`, ->
    a path or paths) cannot be replaced by `atomic_writer` or `write_tfrecord` (`check_not_an_input`)."""
    added = {}
    for what, paths in inputs.items():
        for path in [paths] if isinstance(paths, str) else paths or ():
            if path and resolved_path(path) not in _protected_inputs:
                added[resolved_path(path)] = f"{what} {path}"
    _protected_inputs.update(added)
    try:
        yield
    finally:
        for key in added:
            _protected_inputs.pop(key, None)


def check_not_an_input(path: str, what: str = "output") -> None:
    """Raises InputError when writing `path` would replace one of the `protected_inputs`."""
    protected = _protected_inputs.get(resolved_path(path))
    if protected is not None:
        raise InputError(f"{what} {path} is the input {protected}: refusing to overwrite it; "
                         "choose another output path")


@contextlib.contextmanager
def atomic_writer(path: str, mode: str = "w") -> Iterator:
    """Opens a temporary sibling of `path` for writing; renames it to `path` when the block succeeds.

    On any exception (KeyboardInterrupt included) the temporary file is removed and `path` is untouched.
    A `path` that is one of the `protected_inputs` is refused (InputError) before anything is written.
    """
    check_not_an_input(path)
    gfile = tf_gfile()
    temporary = temporary_name(path)
    try:
        with gfile.GFile(temporary, mode) as writer:
            yield writer
        gfile.rename(temporary, path, overwrite=True)
    except BaseException:
        if gfile.exists(temporary):
            gfile.remove(temporary)
        raise


def atomic_write_text(path: str, text: str) -> None:
    """Writes `text` to `path` through a temporary name (see `atomic_writer`)."""
    with atomic_writer(path) as writer:
        writer.write(text)


def format_eval_results(results: Mapping[str, object]) -> str:
    """`key = value` lines sorted by key: the original scripts' `eval_results.txt` format."""
    return "".join(f"{key} = {results[key]}\n" for key in sorted(results))


def write_eval_results(path: str, results: Mapping[str, object]) -> None:
    """Writes `results` as `key = value` lines sorted by key, atomically."""
    atomic_write_text(path, format_eval_results(results))


def read_eval_results(path: str) -> Dict[str, str]:
    """Reads a `key = value` file back (values as strings)."""
    with tf_gfile().GFile(path, "r") as reader:
        pairs = (line.split(" = ", 1) for line in reader.read().splitlines() if " = " in line)
        return {key: value for key, value in pairs}


def split_comma_list(value: Union[str, Sequence[str]]) -> List[str]:
    """`"a, b,,c"` (or a list) -> `["a", "b", "c"]`."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return [item.strip() for item in items if item and item.strip()]


def expand_input_files(input_file: Union[str, Sequence[str]], flag_name: str = "input_file") -> List[str]:
    """The original scripts' `--input_file`: comma-separated files or glob patterns -> file names.

    Each pattern's matches are sorted (the order does not depend on the file system's listing); patterns
    keep their given order; an existing name is taken as is, even with glob characters in it.

    Raises:
      InputError: nothing given, or a pattern that matches no file (naming the flag and the pattern).
    """
    patterns = split_comma_list(input_file)
    if not patterns:
        raise InputError(f"--{flag_name} is empty: give one or more files or glob patterns")
    files: List[str] = []
    for pattern in patterns:
        if os.path.isfile(pattern):
            files.append(pattern)
            continue
        if is_remote(pattern):
            matches = sorted(tf_gfile().glob(pattern))
        else:
            matches = sorted(path for path in glob.glob(pattern) if os.path.isfile(path))
        if not matches:
            raise InputError(f"--{flag_name}: no file matches {pattern!r}")
        files.extend(matches)
    return files


def check_output_folders(paths: Sequence[str], what: str, error: type = InputError) -> None:
    """Raises `error("<what> <path>: folder <folder> does not exist")` for the first local output file
    whose folder is missing."""
    for path in paths:
        folder = os.path.dirname(path)
        if folder and not is_remote(path) and not os.path.isdir(folder):
            raise error(f"{what} {path}: folder {folder} does not exist")


def file_digest(path: str, chunk_size: int = 1 << 20) -> str:
    """The SHA-256 of a file's content, as hex (used to key caches on content, not on times)."""
    digest = hashlib.sha256()
    with tf_gfile().GFile(path, "rb") as reader:
        while True:
            chunk = reader.read(chunk_size)
            if not chunk:
                break
            digest.update(chunk)
    return digest.hexdigest()


def remove_stale_temporaries(folder: str) -> int:
    """Removes `*.tmp-*` files that an interrupted run left in `folder`; returns how many."""
    gfile = tf_gfile()
    if not gfile.isdir(folder):
        return 0
    removed = 0
    for name in gfile.listdir(folder):
        if TEMPORARY_MARKER in name and not gfile.isdir(os.path.join(folder, name)):
            gfile.remove(os.path.join(folder, name))
            removed += 1
    return removed


def write_tfrecord(records: Iterable[bytes], path: str) -> int:
    """Writes serialized records to a TFRecord file through a temporary name; returns the record count.

    `records` is consumed lazily (a generator keeps memory flat). On any exception the temporary file is
    removed and `path` is untouched.
    """
    import tensorflow as tf

    check_not_an_input(path)
    gfile = tf_gfile()
    temporary = temporary_name(path)
    count = 0
    try:
        with tf.io.TFRecordWriter(temporary) as writer:
            for record in records:
                writer.write(record)
                count += 1
        gfile.rename(temporary, path, overwrite=True)
    except BaseException:
        if gfile.exists(temporary):
            gfile.remove(temporary)
        raise
    return count


def read_text_file(path: str) -> str:
    """A user's text file (any TensorFlow file system) decoded as UTF-8, a leading BOM dropped.

    Raises:
      InputError: the file is missing or unreadable (`path: no such file` / `cannot read`), or not UTF-8
        (`path:line: not UTF-8 text`, the line of the first bad byte).
    """
    path = os.fspath(path)
    try:
        if is_remote(path):
            with tf_gfile().GFile(path, "rb") as reader:
                data = reader.read()
        else:
            with open(path, "rb") as reader:
                data = reader.read()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except Exception as error:  # OSError, and tf.errors.OpError for remote paths
        if is_remote(path) and not tf_gfile().exists(path):
            raise InputError(f"{path}: no such file") from None
        raise InputError(f"{path}: cannot read ({getattr(error, 'message', error)})") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise InputError(f"{path}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x})") from None


def json_objects(path: str, text: str) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """The objects of a JSON-lines text with their 1-based line numbers; blank lines are skipped.

    Raises:
      InputError: `path:line: not valid JSON (...)` or `path:line: expected a JSON object, got <type>`.
    """
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as error:
            raise InputError(f"{path}:{line_number}: not valid JSON ({error})") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}:{line_number}: expected a JSON object, got {type(record).__name__}")
        yield line_number, record
