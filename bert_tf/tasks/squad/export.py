"""`--export_dir` for SQuAD: a TF Serving SavedModel of the span model and its post-processing.

The export (`bert_tf.serving.squad.export_squad`) takes raw `question`/`context` strings and returns the
answer with its character offsets; windows, tokenization and the span choice follow the run's flags
(`max_seq_length`, `doc_stride`, `max_query_length`, `n_best_size`, `max_answer_length`,
`version_2_with_negative`, `null_score_diff_threshold`).
"""
from __future__ import annotations

from typing import Optional

from absl import logging

from bert_tf.errors import InputError


def check_export(config) -> None:
    """Checks, before anything is read or written, that `--export_dir` can be exported (see
    `bert_tf.serving.publish.check_export_dir`)."""
    if config.options.export_dir:
        from bert_tf.serving.publish import check_export_dir

        check_export_dir(config.options.export_dir)


def export_model(model, config, export_dir: Optional[str] = None) -> str:
    """Exports `model` (a `BertQuestionAnswering`) under `export_dir` (default: `--export_dir`); returns the
    version folder.

    Args:
      model: the fine-tuned model.
      config: the run's `SquadConfig` (model files, the window and post-processing flags).
      export_dir: where to export (other workers of a multi-worker run export to a temporary folder).
    Returns:
      The new version folder, `<export_dir>/<version>`.
    Raises:
      InputError: the export does not fit the flags or the model.
    """
    try:
        path = _export(model, config.model.vocab_file, config.model.do_lower_case,
                       export_dir or config.options.export_dir, config, pad_to_max_length=config.pad_to_max_length)
    except ValueError as error:
        raise InputError(f"--export_dir: {error}") from None
    logging.info("Exported the SavedModel to %s", path)
    return path


# ------------------------------------------------------------------------------ export_savedmodel.py
SQUAD_TASK_NAME = "squad"


def define_export_flags(flag_values) -> None:
    """Defines `export_savedmodel.py --task_name=squad`'s own flags on `flag_values` (`run_squad`'s names
    and defaults; `max_seq_length` is the script's shared flag)."""
    from absl import flags

    flags.DEFINE_integer("doc_stride", 128, "SQuAD: tokens between the starts of a long context's windows.",
                         flag_values=flag_values)
    flags.DEFINE_integer("max_query_length", 64, "SQuAD: question word pieces kept.", flag_values=flag_values)
    flags.DEFINE_integer("n_best_size", 20, "SQuAD: start and end candidates per window.",
                         flag_values=flag_values)
    flags.DEFINE_integer("max_answer_length", 30, "SQuAD: longest answer, in word pieces.",
                         flag_values=flag_values)
    flags.DEFINE_bool("version_2_with_negative", False, "SQuAD 2.0: also decide unanswerable questions.",
                      flag_values=flag_values)
    flags.DEFINE_float("null_score_diff_threshold", 0.0,
                       "SQuAD 2.0: unanswerable when null score - best span score exceeds this.",
                       flag_values=flag_values)


def export_from_flags(flag_values, vocab_file: str, bert_config_file: str, checkpoint: str) -> str:
    """`export_savedmodel.py --task_name=squad`: builds `BertQuestionAnswering`, loads the fine-tuned
    checkpoint strictly (the `cls/squad/*` head included) and exports; returns the version folder.

    Raises:
      InputError: a checkpoint without the SQuAD head, or flags that do not fit.
    """
    from bert_tf.checkpoint import list_checkpoint, load_checkpoint
    from bert_tf.config import BertConfig
    from bert_tf.modeling.question_answering import SQUAD_HEAD_VARIABLES, BertQuestionAnswering

    missing = [name for name in SQUAD_HEAD_VARIABLES if name not in list_checkpoint(checkpoint)]
    if missing:
        raise InputError(f"checkpoint {checkpoint} has no SQuAD head ({', '.join(missing)} missing): "
                         "--init_checkpoint must be a run_squad.py fine-tuned checkpoint")
    model = BertQuestionAnswering(BertConfig.from_json_file(bert_config_file))
    logging.info(load_checkpoint(model, checkpoint).summary())
    return _export(model, vocab_file, flag_values.do_lower_case, flag_values.export_dir, flag_values,
                   serving_dtype=flag_values.serving_dtype)


def _export(model, vocab_file: str, do_lower_case: bool, export_dir: str, settings, **options) -> str:
    """`export_squad` with the window and post-processing settings read from `settings` (a `SquadConfig`
    or the parsed flags: the same names)."""
    from bert_tf.serving.squad import export_squad  # imported late: only needed with --export_dir

    names = ("max_seq_length", "doc_stride", "max_query_length", "n_best_size", "max_answer_length",
             "version_2_with_negative", "null_score_diff_threshold")
    return export_squad(model, vocab_file, do_lower_case, export_dir,
                        **{name: getattr(settings, name) for name in names}, **options)
