"""BERT fine-tuning on GLUE tasks (the original google-research/bert script's command line and outputs).

  python run_classifier.py --task_name=MRPC --do_train --do_eval --data_dir=glue/MRPC \\
    --vocab_file=$BERT_BASE_DIR/vocab.txt --bert_config_file=$BERT_BASE_DIR/bert_config.json \\
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --max_seq_length=128 --train_batch_size=32 \\
    --learning_rate=2e-5 --num_train_epochs=3.0 --output_dir=/tmp/mrpc_output/

Every flag of the original is accepted (`--task` is an alias of `--task_name`, any case); `--bert_dir` sets
the three model flags from a released model folder (explicit flags win). Added: `--strategy`, `--use_xla`,
`--dtype`, `--pad_to_max_length`, `--group_by_length`, `--seed`, `--keep_checkpoint_max`, `--export_dir`,
`--max_train_steps`, `--log_every_steps`, and your own files: `--task=csv|tsv|jsonl` with `--text_a_column`,
`--text_b_column`, `--label_column`, `--header`, `--quoting`, `--label_list`, `--regression`, `--multi_label`,
`--label_delimiter`, `--threshold`, `--train_file`, `--eval_file`, `--predict_file`; documents longer than the
model: `--long_documents=windows`, `--doc_stride`, `--window_pooling`. Re-running a command after
an interruption resumes training from the newest checkpoint in `--output_dir`. Bad input exits with status 1
and a one-line message.
Library code: `bert_tf.tasks.classification.task` (run by `bert_tf.tasks.driver`).
"""

from absl import flags

from bert_tf import cli

_PROGRAM = "run_classifier.py"


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the original run_classifier.py flags (names, defaults) and this project's additions."""
    define = cli.FlagDefiner(flag_values)
    # The original's flags.
    define.string("data_dir", None, "The input data dir. Should contain the .tsv files (or other data files) "
                                    "for the task.")
    define.string("task_name", None, "The name of the task to train (any case: MRPC, CoLA, SST-2, ...), or csv, "
                                     "tsv, jsonl for your own files.")
    define.alias("task", "task_name")
    define.string("output_dir", None, "The output directory where the model checkpoints will be written.")
    cli.define_model_flags(define)
    define.integer("max_seq_length", 128, "The maximum total input sequence length after WordPiece tokenization.")
    define.boolean("do_train", False, "Whether to run training.")
    define.boolean("do_eval", False, "Whether to run eval on the dev set.")
    define.boolean("do_predict", False, "Whether to run the model in inference mode on the test set.")
    cli.define_fine_tuning_flags(define)
    define.integer("save_checkpoints_steps", 1000, "How often to save the model checkpoint.")
    cli.define_tpu_flags(define)
    # Additions.
    cli.define_run_flags(define)
    cli.define_padding_flags(define)
    # Your own files (--task=csv, tsv or jsonl).
    define.string("train_file", None, "Your own files: the training file (default: <data_dir>/train.<ext>).")
    define.string("eval_file", None, "Your own files: the dev file (default: <data_dir>/dev.<ext>).")
    define.string("predict_file", None, "Your own files: the test file (default: <data_dir>/test.<ext>).")
    define.string("text_a_column", "text_a", "Your own files: the text column, a header name or a 0-based index "
                                             "(JSON lines: a key).")
    define.string("text_b_column", None, "Your own files: the second text's column (none: single sentences).")
    define.string("label_column", "label", "Your own files: the label column (a test file may lack it).")
    define.boolean("header", None, "Your own CSV/TSV files: the first row is a header (--noheader: it is not; "
                                   "default: detected, and assumed when a column is given by name).")
    define.choice("quoting", "auto", ("auto", "csv", "none"),
                  "Your own CSV/TSV files: csv reads quotes as Python's csv module (a quoted field may hold "
                  "delimiters and newlines), none reads each line as it is (GLUE-style TSV); auto: csv unless the "
                  "file's quotes are not CSV-escaped.")
    define.string("label_list", None, "Your own files: the labels in id order, comma-separated (default: the "
                                      "training file's labels, sorted, saved to output_dir/label_list.txt).")
    define.boolean("regression", False, "Your own files: the label is a number (MSE loss, Pearson, Spearman).")
    define.boolean("multi_label", False, "Your own files: each row has any number of labels (sigmoid "
                                         "cross-entropy; micro/macro F1, exact match, per-label F1).")
    define.string("label_delimiter", ",", "Multi-label: the separator of a row's labels.")
    define.number("threshold", 0.5, "Multi-label: a label is predicted at this probability or more.")
    # Documents longer than the model.
    define.choice("long_documents", "truncate", ("truncate", "windows"),
                  "truncate: cut text_a to max_seq_length (the original); windows: read it in overlapping windows, "
                  "train on every window, and answer per document from its windows' logits.")
    define.integer("doc_stride", None, "--long_documents=windows: word pieces between the starts of a document's "
                                       "windows (default: half a window).")
    define.choice("window_pooling", "mean", ("mean", "max"),
                  "--long_documents=windows: a document's logits are its windows' mean or element-wise max.")


def config_from_flags(flag_values):
    """The `bert_tf.tasks.classification.task.ClassifierConfig` for parsed flags (`--bert_dir` filled in)."""
    from bert_tf.tasks.classification.task import ClassifierConfig
    from bert_tf.tasks.classification.user_files import parse_column

    labels = flag_values.label_list
    return ClassifierConfig(
        task_name=flag_values.task_name,
        data_dir=flag_values.data_dir,
        **cli.fine_tuning_config_fields(flag_values),
        train_file=flag_values.train_file, eval_file=flag_values.eval_file, predict_file=flag_values.predict_file,
        text_a_column=parse_column(flag_values.text_a_column), text_b_column=parse_column(flag_values.text_b_column),
        label_column=parse_column(flag_values.label_column), header=flag_values.header,
        quoting=flag_values.quoting,
        label_list=[label.strip() for label in labels.split(",") if label.strip()] if labels else None,
        regression=flag_values.regression, multi_label=flag_values.multi_label,
        label_delimiter=flag_values.label_delimiter, threshold=flag_values.threshold,
        long_documents=flag_values.long_documents, doc_stride=flag_values.doc_stride,
        window_pooling=flag_values.window_pooling,
    )


def apply_first_run_defaults(flag_values) -> None:
    """`python run_classifier.py --task=MRPC` just works: modes, data, model and output folder default.

    No mode flag: train and evaluate. `--data_dir` from `$GLUE_DIR/<task>`, the model from `$BERT_BASE_DIR`
    (the original README's variables), `--output_dir` `out/<task>`. What is still missing is reported in
    one message, before TensorFlow starts.
    """
    notes = cli.default_modes(flag_values, ("do_train", "do_eval"))
    task = flag_values.task_name
    own_files = bool(task) and task.lower() in ("csv", "tsv", "jsonl")
    if task:
        from bert_tf.tasks.classification import examples as glue

        processor = glue.PROCESSORS.get(task.lower())
        folder = glue.GLUE_FOLDERS.get(processor.task_name, task) if processor else task
        notes += cli.use_environment_defaults(flag_values, None if own_files else "GLUE_DIR", folder)
        notes += cli.default_output_dir(flag_values, task.lower())
    split_files = {"do_train": "train_file", "do_eval": "eval_file", "do_predict": "predict_file"}
    files_given = all(flag_values[name].value for mode, name in split_files.items() if flag_values[mode].value)
    cli.require([
        (task, "--task_name (or --task) is required, e.g. --task=MRPC, or --task=csv for your own files"),
        (flag_values.data_dir or (own_files and files_given),
         "--data_dir is required (or --train_file, --eval_file, --predict_file for your own files)" if own_files
         else "--data_dir is required (or set $GLUE_DIR to the folder holding the GLUE tasks)"),
        cli.model_requirement(flag_values),
    ])
    cli.log_notes(notes)


def run(flag_values) -> int:
    """Runs with parsed flags; returns 0 (errors are `UserError`s, reported by `cli.EntryPoint`)."""
    apply_first_run_defaults(flag_values)
    from bert_tf.tasks.classification.task import ClassificationTask

    return cli.run_task(_PROGRAM, ClassificationTask(config_from_flags(flag_values)))


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run, info_logging=True)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
