"""The one user-error type, and the one check of an integer setting.

Every problem a user can fix (a bad flag, a missing or malformed file, a checkpoint that does not fit
the model) raises a subclass of `UserError`. `bert_tf.cli.EntryPoint` catches `UserError` once, prints
`<script>: error: <message>` on one line and exits with status 1; library callers catch it the same way.
"""
import numbers
import re


class UserError(ValueError):
    """A problem with the user's input, reported as one line without a traceback.

    Subclasses name where the error comes from (`CheckpointError`, `InputError`, ...); the message names
    the file, line, record or variable at fault.
    """


class InputError(UserError):
    """Bad flags or data files (the message names the flag, file and line or record)."""


class TrainingError(UserError):
    """Training cannot go on (a NaN loss, an `output_dir` that belongs to another run, ...)."""


def require_int(name: str, value, minimum: int = 1) -> int:
    """`value` as an int, after checking that it is an integer (not a bool; an integral float passes) of at
    least `minimum`.

    Args:
      name: what the message calls the value (`--max_seq_length`, `sub_batch_size`, ...).

    Raises:
      InputError: `<name> must be a positive integer, got ...` (`an integer >= <minimum>` for another minimum).
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or int(value) != value or value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise InputError(f"{name} must be {kind}, got {value!r}")
    return int(value)


# TensorFlow's own parts of an op error's message: where in the graph it happened, not what went wrong.
_TENSORFLOW_INTERNALS = (
    re.compile(r"\{\{function_node [^}]*\}\}\s*"),
    re.compile(r"\s*\[\[\{\{node [^}]*\}\}\]\]"),
    re.compile(r"\s*\[Op:[^\]]*\]"),
    re.compile(r"\s*name: ?(?=\)|$)"),
)


_NO_TRACES = "<stack traces unavailable>"


def tensorflow_error_text(message: str) -> str:
    """The part of a TensorFlow error message a user can act on: without "Graph execution error:", the
    "Detected at node ..." trace, `{{function_node ...}}`, `[[{{node ...}}]]` and `[Op:...]`; its lines kept."""
    kept, in_trace = [], False
    for line in str(message).splitlines():
        stripped = line.strip()
        if stripped in ("Graph execution error:", "") or stripped.startswith("Detected at node"):
            in_trace = stripped.startswith("Detected at node") or (in_trace and not stripped)
            continue
        if in_trace and (line.startswith("  ") or stripped.startswith("File ") or stripped == _NO_TRACES):
            continue
        in_trace = False
        for pattern in _TENSORFLOW_INTERNALS:
            line = pattern.sub("", line)
        if line.strip():
            kept.append(line.strip())
    return "\n".join(kept)
