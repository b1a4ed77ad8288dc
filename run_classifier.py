"""BERT fine-tuning on GLUE tasks (the original google-research/bert script's command line and outputs).

  python run_classifier.py --task_name=MRPC --do_train --do_eval --data_dir=glue/MRPC \\
    --vocab_file=$BERT_BASE_DIR/vocab.txt --bert_config_file=$BERT_BASE_DIR/bert_config.json \\
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --max_seq_length=128 --train_batch_size=32 \\
    --learning_rate=2e-5 --num_train_epochs=3.0 --output_dir=/tmp/mrpc_output/

Every flag of the original is accepted (`--task` is an alias of `--task_name`, any case); `--bert_dir` sets
the three model flags from a released model folder (explicit flags win). Added: `--strategy`, `--use_xla`,
`--dtype`, `--pad_to_max_length`, `--group_by_length`, `--seed`, `--keep_checkpoint_max`, `--export_dir`,
`--max_train_steps`, `--log_every_steps`. Re-running a command after an interruption resumes training from
the newest checkpoint in `--output_dir`. Bad input exits with status 1 and a one-line message.
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
    define.string("task_name", None, "The name of the task to train (any case: MRPC, CoLA, SST-2, ...).")
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


def config_from_flags(flag_values):
    """The `bert_tf.tasks.classification.task.ClassifierConfig` for parsed flags (`--bert_dir` filled in)."""
    from bert_tf.tasks.classification.task import ClassifierConfig

    return ClassifierConfig(
        task_name=flag_values.task_name,
        data_dir=flag_values.data_dir,
        **cli.fine_tuning_config_fields(flag_values),
    )


def apply_first_run_defaults(flag_values) -> None:
    """`python run_classifier.py --task=MRPC` just works: modes, data, model and output folder default.

    No mode flag: train and evaluate. `--data_dir` from `$GLUE_DIR/<task>`, the model from `$BERT_BASE_DIR`
    (the original README's variables), `--output_dir` `out/<task>`. What is still missing is reported in
    one message, before TensorFlow starts.
    """
    notes = cli.default_modes(flag_values, ("do_train", "do_eval"))
    task = flag_values.task_name
    if task:
        from bert_tf.tasks.classification import examples as glue

        processor = glue.PROCESSORS.get(task.lower())
        folder = glue.GLUE_FOLDERS.get(processor.task_name, task) if processor else task
        notes += cli.use_environment_defaults(flag_values, "GLUE_DIR", folder)
        notes += cli.default_output_dir(flag_values, task.lower())
    cli.require([
        (task, "--task_name (or --task) is required, e.g. --task=MRPC"),
        (flag_values.data_dir, "--data_dir is required (or set $GLUE_DIR to the folder holding the GLUE tasks)"),
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
