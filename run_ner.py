"""BERT fine-tuning for named-entity recognition on CoNLL files (CoNLL-2003), in the style of run_classifier.py.

  python run_ner.py --data_dir=conll2003 --bert_dir=$BERT_BASE_DIR --do_train --do_eval --do_predict \\
    --max_seq_length=128 --train_batch_size=32 --learning_rate=5e-5 --num_train_epochs=3 --output_dir=out/ner

`--data_dir` holds `train.txt`, `dev.txt` (or `valid.txt`) and `test.txt` (`--predict_file` tags any other
file); also CoNLL columns with other extensions (`--word_column`, `--tag_column`), JSON lines of tokens and
tags, or CLUENER's JSON lines of character spans (`--data_format`), tags in IOB1, IOB2, BIOES or BMES
(`--tag_scheme`; predictions are written back in the input's format and scheme). Every word gets one tag
(long sentences are split into overlapping windows, never truncated; `--document_context` windows whole
documents);
`eval_results.txt` has the entity-level precision/recall/F1 of conlleval, `test_predictions.txt` is
conlleval's `word gold predicted` input. The model flags, `--bert_dir`, the TPU flags and this project's run
flags (`--strategy`, `--dtype`, `--use_xla`, `--seed`, ...) are those of run_classifier.py. Re-running a
command after an interruption resumes training from the newest checkpoint in `--output_dir`. With no mode flag
it trains and evaluates; without model flags `$BERT_BASE_DIR` is used as `--bert_dir`, without `--output_dir`
`out/ner`. Training batches hold similar-length windows (about twice as fast here;
`--nogroup_by_length` for random batches). Bad input exits with
status 1 and a one-line message. Library code: `bert_tf.tasks.ner.task` (run by `bert_tf.tasks.driver`).
"""
from absl import flags

from bert_tf import cli

_PROGRAM = "run_ner.py"


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines run_ner.py's flags: run_classifier.py's, less `task_name`, plus `predict_file`."""
    define = cli.FlagDefiner(flag_values)
    define.string("data_dir", None, "The folder of the data files: train, dev (or valid), test (.txt, .conll, "
                                    ".ner, .tsv, .jsonl or .json).")
    define.string("predict_file", None, "A file to tag with --do_predict instead of <data_dir>/test.* (tags are "
                                        "optional).")
    define.string("output_dir", None, "The output directory where the model checkpoints will be written.")
    cli.define_model_flags(define)
    define.integer("max_seq_length", 128, "The maximum total input sequence length after WordPiece tokenization; "
                                          "longer sentences are split into overlapping windows.")
    define.boolean("do_train", False, "Whether to run training.")
    define.boolean("do_eval", False, "Whether to run eval on the dev set.")
    define.boolean("do_predict", False, "Whether to tag the test set (or --predict_file).")
    cli.define_fine_tuning_flags(define)
    define.integer("save_checkpoints_steps", 1000, "How often to save the model checkpoint.")
    cli.define_tpu_flags(define)
    cli.define_run_flags(define)
    cli.define_padding_flags(define, unit="window", group_by_length=True)  # no original batching to keep
    define.choice("data_format", "auto", ["auto", "conll", "jsonl", "spans"],
                  "conll: word and tag columns; jsonl: {\"tokens\", \"tags\"} per line; spans: CLUENER's "
                  "{\"text\", \"label\": {type: {entity: [[start, end]]}}} per line (tagged per character). "
                  "auto: detected from each file.")
    define.choice("tag_scheme", "auto", ["auto", "iob1", "iob2", "bioes", "bmes"],
                  "The tags' scheme (auto: detected). Predictions are written in the input's scheme.")
    define.integer("word_column", 0, "CoNLL files: the word's column (0-based; negative counts from the end).")
    define.integer("tag_column", -1, "CoNLL files: the tag's column (default: the last).")
    define.boolean("document_context", False,
                   "Windows over whole documents (-DOCSTART- blocks; \"doc_id\" in JSON lines) for training and "
                   "prediction: each word sees the sentences around it, as the raw-text export sees a paragraph.")


def config_from_flags(flag_values):
    """The `bert_tf.tasks.ner.task.NerConfig` for parsed flags (`--bert_dir` filled in)."""
    from bert_tf.tasks.ner.task import NerConfig

    return NerConfig(
        data_dir=flag_values.data_dir,
        **cli.fine_tuning_config_fields(flag_values),
        predict_file=flag_values.predict_file,
        data_format=flag_values.data_format,
        tag_scheme=flag_values.tag_scheme,
        word_column=flag_values.word_column,
        tag_column=flag_values.tag_column,
        document_context=flag_values.document_context,
    )


def apply_first_run_defaults(flag_values) -> None:
    """No mode flag: train and evaluate (as run_classifier.py). The model from `$BERT_BASE_DIR`,
    `--output_dir` `out/ner`. What is still missing is reported in one message, before TensorFlow starts."""
    notes = cli.default_modes(flag_values, ("do_train", "do_eval"))
    notes += cli.use_environment_defaults(flag_values)  # --bert_dir from $BERT_BASE_DIR
    notes += cli.default_output_dir(flag_values, "ner")
    needs_data_dir = flag_values.do_train or flag_values.do_eval or not flag_values.predict_file
    cli.require([
        (not needs_data_dir or flag_values.data_dir,
         "--data_dir is required: the folder of train.txt, dev.txt (or valid.txt) and test.txt (or .jsonl, ...)"),
        cli.model_requirement(flag_values),
    ])
    cli.log_notes(notes)


def run(flag_values) -> int:
    """Runs with parsed flags; returns 0 (errors are `UserError`s, reported by `cli.EntryPoint`)."""
    apply_first_run_defaults(flag_values)
    from bert_tf.tasks.ner.task import NerTask  # imported here: `--help` and flag errors need no TensorFlow

    return cli.run_task(_PROGRAM, NerTask(config_from_flags(flag_values)))


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run, info_logging=True)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
