"""Reading and writing the original google-research/bert checkpoints (TF1 name-based, V2 bundle format).

A model variable's Keras `.path` is its name in the checkpoint, so there is no name table: loading
restores each model variable from the checkpoint entry of the same name; saving writes each variable
under its path. Optimizer slots are written as `<variable name>/adam_m` and `<variable name>/adam_v`
(the original `AdamWeightDecayOptimizer` names) and the step as an int64 `global_step`.

Files: `<prefix>.index` and `<prefix>.data-00000-of-00001`, and a `checkpoint` state file in the folder
naming the newest prefix, as `tf.compat.v1.train.Saver` writes them; the original code reads them by
name with `tf.train.init_from_checkpoint` or `Saver.restore`.
"""
from __future__ import annotations

import dataclasses
import glob
import os
import re
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.errors import UserError, tensorflow_error_text
from bert_tf.files import atomic_write_text, temporary_name

INDEX_SUFFIX = ".index"
DATA_SUFFIX = ".data-00000-of-00001"
STATE_FILE = "checkpoint"
GLOBAL_STEP = "global_step"


class CheckpointError(UserError):
    """A checkpoint path that cannot be read, or a checkpoint that does not fit the model."""


@dataclasses.dataclass
class LoadReport:
    """What `load_checkpoint` did.

    Attributes:
      checkpoint: the resolved checkpoint prefix.
      restored: model variable names assigned from the checkpoint.
      initialized: model variable names not in the checkpoint, left at their initial values (only
        those declared expected-missing; anything else is an error in strict mode).
      ignored: checkpoint entries that are not model variables (optimizer slots, `global_step`,
        heads the model does not have).
      optimizer_slots_restored: number of optimizer slot variables restored (when an optimizer was given).
      global_step: the checkpoint's `global_step`, or None.
    """

    checkpoint: str
    restored: List[str]
    initialized: List[str]
    ignored: List[str]
    optimizer_slots_restored: int = 0
    global_step: Optional[int] = None

    def summary(self) -> str:
        text = (
            f"restored {len(self.restored)} variables from {self.checkpoint}; "
            f"{len(self.initialized)} left initialized; {len(self.ignored)} checkpoint entries ignored"
        )
        if self.optimizer_slots_restored:
            text += f"; {self.optimizer_slots_restored} optimizer slots restored"
        if self.global_step is not None:
            text += f"; global_step {self.global_step}"
        return text


# ------------------------------------------------------------------------------------- locating files
def checkpoint_exists(prefix: str) -> bool:
    return tf.io.gfile.exists(prefix + INDEX_SUFFIX)


def resolve_checkpoint(path: str | os.PathLike) -> str:
    """Turns what a user passes as `--init_checkpoint` into a checkpoint prefix.

    Accepts a prefix (`.../bert_model.ckpt`), a file of the checkpoint (`.index`, `.data-*`), or a
    folder: one with a `checkpoint` state file (its newest checkpoint), or one holding a single
    checkpoint (a released model folder). Raises CheckpointError naming the path otherwise.
    """
    path = os.fspath(path)
    stripped = re.sub(r"(\.index|\.data-\d{5}-of-\d{5}|\.meta)$", "", path)
    if checkpoint_exists(stripped):
        return stripped
    if tf.io.gfile.isdir(path):
        if tf.io.gfile.exists(os.path.join(path, STATE_FILE)):
            latest = latest_checkpoint(path)
            if latest:
                return latest
        prefixes = sorted(name[: -len(INDEX_SUFFIX)] for name in tf.io.gfile.listdir(path)
                          if name.endswith(INDEX_SUFFIX))
        if len(prefixes) == 1:
            return os.path.join(path, prefixes[0])
        if not prefixes:
            raise CheckpointError(f"no checkpoint (*.index file) found in folder {path}")
        raise CheckpointError(
            f"folder {path} holds several checkpoints ({', '.join(prefixes)}) and no '{STATE_FILE}' "
            "state file: pass the prefix of the one you want"
        )
    if tf.io.gfile.exists(path):
        raise CheckpointError(f"{path} is not a TensorFlow checkpoint (expected a prefix with a .index file)")
    raise CheckpointError(f"checkpoint not found: {path} (no {path}{INDEX_SUFFIX})")


def latest_checkpoint(directory: str | os.PathLike) -> Optional[str]:
    """The newest checkpoint prefix named by `directory/checkpoint` that still exists, or None."""
    directory = os.fspath(directory)
    for prefix in reversed(_read_state_file(directory)):
        if checkpoint_exists(prefix):
            return prefix
    return None


def _read_state_file(directory: str) -> List[str]:
    """Prefixes listed in the `checkpoint` state file, oldest first, newest (model_checkpoint_path) last."""
    state_path = os.path.join(directory, STATE_FILE)
    if not tf.io.gfile.exists(state_path):
        return []
    newest, listed = None, []
    with tf.io.gfile.GFile(state_path, "r") as reader:
        for line in reader:
            match = re.match(r'\s*(model_checkpoint_path|all_model_checkpoint_paths)\s*:\s*"(.*)"\s*$', line)
            if not match:
                continue
            value = match.group(2).encode("latin-1", "backslashreplace").decode("unicode_escape")
            if not os.path.isabs(value):
                value = os.path.join(directory, value)
            if match.group(1) == "model_checkpoint_path":
                newest = value
            elif value not in listed:
                listed.append(value)
    if newest is not None:
        listed = [prefix for prefix in listed if prefix != newest] + [newest]
    return listed


def _write_state_file(directory: str, prefixes: Sequence[str]) -> None:
    """Writes the state file (relative names) listing `prefixes`, the last one being the newest."""
    def quoted(prefix):
        name = os.path.relpath(prefix, directory) if os.path.dirname(prefix) == directory else prefix
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [f"model_checkpoint_path: {quoted(prefixes[-1])}\n"]
    lines += [f"all_model_checkpoint_paths: {quoted(prefix)}\n" for prefix in prefixes]
    atomic_write_text(os.path.join(directory, STATE_FILE), "".join(lines))


def list_checkpoint(path: str | os.PathLike) -> Dict[str, Tuple[Tuple[int, ...], str]]:
    """Checkpoint name -> (shape, dtype name), like `tf.train.list_variables`."""
    reader = _open_reader(resolve_checkpoint(path))
    shapes = reader.get_variable_to_shape_map()
    dtypes = reader.get_variable_to_dtype_map()
    return {name: (tuple(shapes[name]), dtypes[name].name) for name in sorted(shapes)}


def _read_tensor(reader, prefix: str, name: str) -> np.ndarray:
    """One checkpoint entry; a truncated or corrupted data file raises CheckpointError naming the file."""
    try:
        return reader.get_tensor(name)
    except (IndexError, ValueError, tf.errors.OpError) as error:
        message = getattr(error, "message", None) or str(error) or type(error).__name__
        raise CheckpointError(f"checkpoint {prefix}{DATA_SUFFIX} is truncated or corrupted (reading {name}: "
                              f"{message.splitlines()[0]}); copy or download it again") from None


def _open_reader(prefix: str):
    try:
        return tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        message = getattr(error, "message", str(error)).splitlines()[0]
        raise CheckpointError(f"cannot read checkpoint {prefix}: {message}") from None


# ------------------------------------------------------------------------------------------ loading
def _model_variables(model) -> Dict[str, object]:
    """Variable path -> variable for the model's weights (dropout RNG state is not a weight)."""
    if not model.built:
        # The bert_tf models build in __init__; other models are built by one call on a dummy batch.
        model({"input_ids": np.zeros((1, 2), np.int32), "masked_lm_positions": np.zeros((1, 1), np.int32)})
    variables = {}
    for variable in model.weights:
        if variable.path in variables and variables[variable.path] is not variable:
            raise CheckpointError(f"two model variables share the path {variable.path!r}")
        variables[variable.path] = variable
    return variables


def _matches_any(name: str, patterns: Iterable[str]) -> bool:
    return any(re.fullmatch(pattern, name) for pattern in patterns)


def _plan_restore(variables: Dict[str, object], checkpoint_shapes: Dict[str, Sequence[int]],
                  expected_missing: Sequence[str], strict: bool) -> Tuple[List[str], List[str], List[str]]:
    """(problems, names to restore, names left initialized) for model `variables` and a checkpoint's shapes.

    A problem is one line, "name: missing from the checkpoint (model shape [..])" or "name: checkpoint
    shape [..], model shape [..]"; with `strict` False, or for an `expected_missing` name that is absent,
    the variable is left initialized instead.
    """
    problems, to_restore, initialized = [], [], []
    for name, variable in sorted(variables.items()):
        model_shape = tuple(variable.shape)
        if name not in checkpoint_shapes:
            if _matches_any(name, expected_missing) or not strict:
                initialized.append(name)
            else:
                problems.append(f"{name}: missing from the checkpoint (model shape {list(model_shape)})")
            continue
        checkpoint_shape = tuple(checkpoint_shapes[name])
        if checkpoint_shape != model_shape:
            if strict:
                problems.append(f"{name}: checkpoint shape {list(checkpoint_shape)}, model shape {list(model_shape)}")
            else:
                initialized.append(name)
            continue
        to_restore.append(name)
    return problems, to_restore, initialized


def checkpoint_mismatches(model, path: str | os.PathLike, expected_missing: Sequence[str] = ()) -> List[str]:
    """What keeps `load_checkpoint(model, path, expected_missing)` from loading: one line per variable.

    Empty when every model variable is in the checkpoint with its shape (or may be missing). Reads only
    the checkpoint's index; assigns nothing.
    """
    checkpoint_shapes = _open_reader(resolve_checkpoint(path)).get_variable_to_shape_map()
    return _plan_restore(_model_variables(model), checkpoint_shapes, expected_missing, strict=True)[0]


def load_checkpoint(
    model,
    path: str | os.PathLike,
    expected_missing: Sequence[str] = (),
    strict: bool = True,
    optimizer=None,
) -> LoadReport:
    """Restores every variable of `model` from the checkpoint entry of the same name.

    Args:
      model: a built Keras model whose variable paths are original checkpoint names.
      path: a checkpoint prefix, one of its files, or a folder (see `resolve_checkpoint`).
      expected_missing: regular expressions (full match) of model variable names that may be absent
        from the checkpoint, e.g. a classifier added on a pretrained encoder; they stay initialized.
      strict: when True (default), any other missing variable or any shape mismatch raises one
        CheckpointError listing every problem, before anything is assigned. When False, such
        variables are left initialized and reported.
      optimizer: optionally, an optimizer with `slot_variables_by_name()` (name -> variable) whose
        slots present in the checkpoint are restored, and whose `iterations` gets `global_step`.

    Returns:
      A LoadReport. Optimizer slots and `global_step` are never model variables: they are ignored
      unless `optimizer` is given.
    """
    prefix = resolve_checkpoint(path)
    reader = _open_reader(prefix)
    checkpoint_shapes = reader.get_variable_to_shape_map()
    variables = _model_variables(model)
    problems, to_restore, initialized = _plan_restore(variables, checkpoint_shapes, expected_missing, strict)
    if problems:
        raise CheckpointError(
            f"checkpoint {prefix} does not fit the model ({len(problems)} variables; "
            "does bert_config.json match this checkpoint?):\n" + "\n".join(f"  {problem}" for problem in problems)
        )

    # Every tensor is read before anything is assigned: a truncated or corrupted data file fails here,
    # naming the checkpoint, and leaves the model as it was.
    values = {name: _read_tensor(reader, prefix, name) for name in to_restore}
    slots = {}
    if optimizer is not None and hasattr(optimizer, "slot_variables_by_name"):
        slots = {name: slot for name, slot in optimizer.slot_variables_by_name().items()
                 if name in checkpoint_shapes and tuple(checkpoint_shapes[name]) == tuple(slot.shape)}
    slot_values = {name: _read_tensor(reader, prefix, name) for name in slots}
    global_step = int(_read_tensor(reader, prefix, GLOBAL_STEP)) if GLOBAL_STEP in checkpoint_shapes else None

    for name in to_restore:
        variables[name].assign(values.pop(name).astype(_numpy_dtype(variables[name]), copy=False))
    used = set(to_restore)
    for name, slot in slots.items():
        slot.assign(slot_values.pop(name))
        used.add(name)
    slots_restored = len(slots)
    if global_step is not None:
        if optimizer is not None:
            optimizer.iterations.assign(global_step)
            used.add(GLOBAL_STEP)

    report = LoadReport(
        checkpoint=prefix,
        restored=to_restore,
        initialized=initialized,
        ignored=sorted(set(checkpoint_shapes) - used),
        optimizer_slots_restored=slots_restored,
        global_step=global_step,
    )
    logging.info(report.summary())
    for name in initialized:
        logging.info("not in the checkpoint, initialized: %s", name)
    return report


def _numpy_dtype(variable) -> np.dtype:
    return np.dtype(tf.as_dtype(variable.dtype).as_numpy_dtype)


# ------------------------------------------------------------------------------------------- saving
def save_checkpoint(
    model,
    prefix: str | os.PathLike,
    optimizer=None,
    global_step: Optional[int] = None,
    max_to_keep: Optional[int] = None,
) -> str:
    """Writes `model` (and optionally optimizer slots and `global_step`) in the original format.

    Args:
      model: a built Keras model; each weight is written under its path.
      prefix: e.g. `out/model.ckpt-1000`; writes `<prefix>.index` and `<prefix>.data-00000-of-00001`
        (through temporary names, renamed when complete) and updates `<folder>/checkpoint`.
      optimizer: optionally, an optimizer with `slot_variables_by_name()`; its slots are written under
        those names (`<variable>/adam_m`, `<variable>/adam_v`).
      global_step: written as an int64 scalar `global_step`; defaults to `optimizer.iterations` when an
        optimizer is given.
      max_to_keep: if set, older checkpoints listed in the state file beyond this many are deleted.

    Returns:
      The prefix written.
    """
    prefix = os.path.abspath(os.fspath(prefix))
    directory = os.path.dirname(prefix)
    tf.io.gfile.makedirs(directory)

    tensors: Dict[str, tf.Tensor] = {}
    for name, variable in _model_variables(model).items():
        tensors[name] = tf.convert_to_tensor(variable)
    if optimizer is not None:
        slots = optimizer.slot_variables_by_name() if hasattr(optimizer, "slot_variables_by_name") else {}
        for name, slot in slots.items():
            if name in tensors:
                raise CheckpointError(f"optimizer slot {name!r} collides with a model variable")
            tensors[name] = tf.convert_to_tensor(slot)
        if global_step is None:
            global_step = int(optimizer.iterations.numpy())
    if global_step is not None:
        tensors[GLOBAL_STEP] = tf.constant(int(global_step), dtype=tf.int64)

    _write_bundle(prefix, tensors)
    kept = [existing for existing in _read_state_file(directory) if existing != prefix and checkpoint_exists(existing)]
    kept.append(prefix)
    if max_to_keep is not None and len(kept) > max_to_keep:
        for old in kept[:-max_to_keep]:
            delete_checkpoint(old)
        kept = kept[-max_to_keep:]
    _write_state_file(directory, kept)
    return prefix


def save_tensors(tensors: Dict[str, np.ndarray], prefix: str | os.PathLike) -> str:
    """Writes named arrays as one checkpoint in the original format (`<prefix>.index`, `<prefix>.data-*`,
    through temporary names) and a `checkpoint` state file naming only it; returns the prefix.

    For tensors that come from no Keras model (a converted checkpoint); `save_checkpoint` writes a model.
    """
    prefix = os.path.abspath(os.fspath(prefix))
    tf.io.gfile.makedirs(os.path.dirname(prefix))
    _write_bundle(prefix, {name: tf.convert_to_tensor(value) for name, value in tensors.items()})
    _write_state_file(os.path.dirname(prefix), [prefix])
    return prefix


def read_tensors(path: str | os.PathLike) -> Dict[str, np.ndarray]:
    """Every entry of a checkpoint (a prefix, one of its files or a folder) as name -> numpy array."""
    prefix = resolve_checkpoint(path)
    reader = _open_reader(prefix)
    return {name: _read_tensor(reader, prefix, name) for name in sorted(reader.get_variable_to_shape_map())}


def _write_bundle(prefix: str, tensors: Dict[str, tf.Tensor]) -> None:
    """`<prefix>.index` and `<prefix>.data-00000-of-00001` through temporary names; none left on failure."""
    names = sorted(tensors)
    temporary = temporary_name(prefix)
    try:
        tf.raw_ops.SaveV2(
            prefix=temporary,
            tensor_names=names,
            shape_and_slices=[""] * len(names),
            tensors=[tensors[name] for name in names],
        )
        # The index is what makes a checkpoint visible: rename the data file first.
        tf.io.gfile.rename(temporary + DATA_SUFFIX, prefix + DATA_SUFFIX, overwrite=True)
        tf.io.gfile.rename(temporary + INDEX_SUFFIX, prefix + INDEX_SUFFIX, overwrite=True)
    except BaseException as error:  # a full disk, Ctrl-C: no partial files stay behind
        for partial in tf.io.gfile.glob(glob.escape(temporary) + "*"):
            tf.io.gfile.remove(partial)
        if isinstance(error, tf.errors.OpError):
            raise CheckpointError(f"cannot write the checkpoint {prefix}: "
                                  f"{tensorflow_error_text(error.message) or type(error).__name__} "
                                  "(the previous checkpoints are intact)") from None
        raise


def delete_checkpoint(prefix: str) -> None:
    """Deletes the files of one checkpoint prefix (index first, so it vanishes atomically)."""
    for suffix in (INDEX_SUFFIX, DATA_SUFFIX):
        if tf.io.gfile.exists(prefix + suffix):
            tf.io.gfile.remove(prefix + suffix)
