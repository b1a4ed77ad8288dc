"""`--export_dir` for NER: a TF Serving SavedModel of `BertTokenClassifier` with raw text in, entities out.

`run.run` calls `check_export` before anything is read or written, so a run that cannot export is refused
at once instead of failing after training, and `export_model` at the end. The export
(`bert_tf.serving.ner.export_ner`) uses the run's labels (`label_map.json`), `max_seq_length` and
`window_stride`.
"""
from typing import Optional, Sequence

from absl import logging

from bert_tf.errors import InputError


def check_export(config) -> None:
    """Checks, before anything is read or written, that `--export_dir` can be exported.

    Raises:
      InputError: `export_dir` exists and is not a folder, or tensorflow_text is missing.
    """
    if config.options.export_dir:
        from bert_tf.serving.publish import check_export_dir

        check_export_dir(config.options.export_dir)


def export_model(model, config, export_dir: Optional[str] = None,
                 label_list: Optional[Sequence[str]] = None) -> str:
    """Exports `model` (a `BertTokenClassifier`) for TF Serving under `config.options.export_dir`.

    Args:
      model: the fine-tuned model.
      config: the run's `NerConfig`.
      export_dir: where to export (default: `--export_dir`; other workers of a multi-worker run export to
        a temporary folder).
      label_list: the run's labels (default: read from the run's `label_map.json`).
    Returns:
      The SavedModel version folder.
    Raises:
      InputError: no label map, or an export that does not fit the flags or the model.
    """
    from bert_tf.serving.ner import export_ner  # imported late: only needed with --export_dir
    from bert_tf.tasks.ner.run import resolve_label_list

    label_list = label_list or resolve_label_list(config, None)
    try:
        path = export_ner(model, config.model.vocab_file, config.model.do_lower_case, label_list,
                          export_dir or config.options.export_dir, max_seq_length=config.max_seq_length,
                          window_stride=config.window_stride)
    except ValueError as error:
        raise InputError(f"--export_dir: {error}") from None
    logging.info("Exported the SavedModel to %s", path)
    return path
