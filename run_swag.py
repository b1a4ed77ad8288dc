"""BERT fine-tuning for multiple choice (the BERT paper's SWAG task), in the style of `run_classifier.py`.

  python run_swag.py --data_dir=$SWAG_DIR --bert_dir=$BERT_BASE_DIR --do_train --do_eval --do_predict \\
    --max_seq_length=128 --train_batch_size=16 --learning_rate=2e-5 --num_train_epochs=3 --output_dir=out/swag

`--data_dir` holds SWAG's `train.csv`, `val.csv`, `test.csv` (each choice is the pair `sent1`,
`sent2 + " " + ending_i`), or JSON lines `train.jsonl`, `val.jsonl` (or `dev.jsonl`), `test.jsonl` with one
`{"context": ..., "choices": [...], "label": ...}` per line. Writes `eval_results.txt` (`eval_accuracy`,
`eval_loss`, `global_step`), `test_results.tsv` (one line of choice probabilities per question) and checkpoints
in the released format (`cls/multiple_choice/output_weights`, `output_bias`); `--export_dir` writes a
raw-text SavedModel (`context`, `choices` in; `probabilities`, `choice` out). The model flags, `--bert_dir`,
the TPU flags and the shared run flags are those of `run_classifier.py`; training batches group questions of
similar length unless `--nogroup_by_length`. With no mode flag it trains and evaluates; without
`--data_dir` `$SWAG_DIR` is used, without model flags `$BERT_BASE_DIR`, without `--output_dir` `out/swag`.
Bad input exits with status 1 and a one-line message naming the file and line. Library code:
`bert_tf.tasks.multiple_choice.task` (run by `bert_tf.tasks.driver`).
"""
from absl import flags

from bert_tf import cli

_PROGRAM = "run_swag.py"


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines run_classifier.py's flags (same names) for multiple choice."""
    define = cli.FlagDefiner(flag_values)
    define.string("data_dir", None, "The folder of train, val (or dev) and test files: SWAG's .csv or .jsonl.")
    define.string("output_dir", None, "The output directory where the model checkpoints will be written.")
    cli.define_model_flags(define)
    define.integer("max_seq_length", 128, "The maximum total input sequence length of a (context, choice) pair "
                                          "after WordPiece tokenization; longer pairs are truncated.")
    define.boolean("do_train", False, "Whether to run training.")
    define.boolean("do_eval", False, "Whether to run eval on the dev set.")
    define.boolean("do_predict", False, "Whether to run the model in inference mode on the test set.")
    cli.define_fine_tuning_flags(define, learning_rate=2e-5, train_batch_size=16)
    define.integer("save_checkpoints_steps", 1000, "How often to save the model checkpoint.")
    cli.define_tpu_flags(define)
    cli.define_run_flags(define)
    cli.define_padding_flags(define, unit="question", group_by_length=True)  # no original batching to keep


def config_from_flags(flag_values):
    """The `bert_tf.tasks.multiple_choice.task.MultipleChoiceConfig` for parsed flags (`--bert_dir` filled in)."""
    from bert_tf.tasks.multiple_choice.task import MultipleChoiceConfig

    return MultipleChoiceConfig(data_dir=flag_values.data_dir, **cli.fine_tuning_config_fields(flag_values))


def apply_first_run_defaults(flag_values) -> None:
    """No mode flag: train and evaluate. `--data_dir` from `$SWAG_DIR`, the model from `$BERT_BASE_DIR`,
    `--output_dir` `out/swag`. What is still missing is reported in one message, before TensorFlow starts."""
    notes = cli.default_modes(flag_values, ("do_train", "do_eval"))
    notes += cli.use_environment_defaults(flag_values, "SWAG_DIR")
    notes += cli.default_output_dir(flag_values, "swag")
    cli.require([
        (flag_values.data_dir, "--data_dir is required (or set $SWAG_DIR): the folder of train.csv, val.csv and "
                               "test.csv (or .jsonl files)"),
        cli.model_requirement(flag_values),
    ])
    cli.log_notes(notes)


def run(flag_values) -> int:
    """Runs with parsed flags; returns 0 (errors are `UserError`s, reported by `cli.EntryPoint`)."""
    apply_first_run_defaults(flag_values)
    from bert_tf.tasks.multiple_choice.task import MultipleChoiceTask  # `--help` and flag errors need no TensorFlow

    return cli.run_task(_PROGRAM, MultipleChoiceTask(config_from_flags(flag_values)))


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run, info_logging=True)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
