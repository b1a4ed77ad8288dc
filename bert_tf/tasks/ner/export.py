"""`--export_dir` for NER: not available yet (a SavedModel for TF Serving will be built on `BertTokenClassifier`).

`run.run` calls `check_export` before anything is read or written, so a run is refused at once instead of
failing after training, and `export_model` at the end.
"""
from bert_tf.errors import InputError

_NOT_AVAILABLE = "--export_dir: NER export is not available yet"


def check_export(config) -> None:
    """Raises InputError when `config.options.export_dir` is set and cannot be honoured (for now: always)."""
    if config.options.export_dir:
        raise InputError(_NOT_AVAILABLE)


def export_model(model, config) -> str:
    """Exports `model` (a `BertTokenClassifier`) for TF Serving under `config.options.export_dir`.

    Returns:
      The SavedModel version folder.

    Raises:
      InputError: always, for now.
    """
    del model, config
    raise InputError(_NOT_AVAILABLE)
