"""`--export_dir` for SQuAD: a TF Serving SavedModel of the span model and its post-processing.

Not available yet: `check_export` (called before anything is read or written) and `export_model` (called
after the run) raise `InputError`, so a command with `--export_dir` fails at once, with one line.
"""
from __future__ import annotations

from bert_tf.errors import InputError

_NOT_AVAILABLE = "--export_dir: SQuAD export is not available yet"


def check_export(config) -> None:
    """Raises InputError when `config.options.export_dir` is set and cannot be exported."""
    if config.options.export_dir:
        raise InputError(_NOT_AVAILABLE)


def export_model(model, config) -> str:
    """Exports `model` (a `BertQuestionAnswering`) under `config.options.export_dir`; returns the
    version folder.

    Raises:
      InputError: always, for now.
    """
    del model, config
    raise InputError(_NOT_AVAILABLE)
