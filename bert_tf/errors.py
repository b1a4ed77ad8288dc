"""The one user-error type.

Every problem a user can fix (a bad flag, a missing or malformed file, a checkpoint that does not fit
the model) raises a subclass of `UserError`. `bert_tf.cli.EntryPoint` catches `UserError` once, prints
`<script>: error: <message>` on one line and exits with status 1; library callers catch it the same way.
"""


class UserError(ValueError):
    """A problem with the user's input, reported as one line without a traceback.

    Subclasses name where the error comes from (`CheckpointError`, `InputError`, ...); the message names
    the file, line, record or variable at fault.
    """


class InputError(UserError):
    """Bad flags or data files (the message names the flag, file and line or record)."""


class TrainingError(UserError):
    """Training cannot go on (a NaN loss, an `output_dir` that belongs to another run, ...)."""
