"""BERT on SQuAD 1.1 and 2.0 (the original google-research/bert script's command line and outputs).

  python run_squad.py --vocab_file=$BERT_BASE_DIR/vocab.txt --bert_config_file=$BERT_BASE_DIR/bert_config.json \\
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --do_train=True --train_file=$SQUAD_DIR/train-v1.1.json \\
    --do_predict=True --predict_file=$SQUAD_DIR/dev-v1.1.json --train_batch_size=12 --learning_rate=3e-5 \\
    --num_train_epochs=2.0 --max_seq_length=384 --doc_stride=128 --output_dir=/tmp/squad_base/
  python $SQUAD_DIR/evaluate-v1.1.py $SQUAD_DIR/dev-v1.1.json /tmp/squad_base/predictions.json

Every flag of the original is accepted with its default; `--bert_dir` sets the three model flags from a
released model folder (explicit flags win). Added: `--strategy`, `--use_xla`, `--dtype`, `--seed`,
`--keep_checkpoint_max`, `--max_train_steps`, `--log_every_steps`, `--export_dir`, `--pad_to_max_length`,
`--group_by_length`, `--predict_pad_to_longest`. Writes `predictions.json`, `nbest_predictions.json` (and
`null_odds.json` for 2.0) as the original, plus `eval_results.txt` with the official metrics when the predict
file holds answers. With no mode flag it trains and predicts; without model flags `$BERT_BASE_DIR` is used as
`--bert_dir`, without file flags `$SQUAD_DIR/train-v1.1.json` and `dev-v1.1.json`, without `--output_dir`
`out/squad`. Bad input exits with status 1 and a one-line message. Library code: `bert_tf.tasks.squad.task`
(run by `bert_tf.tasks.driver`).
"""
import os

from absl import flags

from bert_tf import cli

_PROGRAM = "run_squad.py"


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the original run_squad.py flags (names, defaults) and this project's shared additions."""
    define = cli.FlagDefiner(flag_values)
    cli.define_model_flags(define)
    define.string("output_dir", None, "The output directory where the model checkpoints will be written.")
    define.string("train_file", None, "SQuAD json for training. E.g., train-v1.1.json")
    define.string("predict_file", None, "SQuAD json for predictions. E.g., dev-v1.1.json or test-v1.1.json")
    define.integer("max_seq_length", 384, "The maximum total input sequence length after WordPiece tokenization. "
                                          "Sequences longer than this will be split into windows.")
    define.integer("doc_stride", 128, "When splitting up a long document into chunks, how much stride to take "
                                      "between chunks.")
    define.integer("max_query_length", 64, "The maximum number of tokens for the question. Questions longer than "
                                           "this will be truncated to this length.")
    define.boolean("do_train", False, "Whether to run training.")
    define.boolean("do_predict", False, "Whether to run eval on the dev set.")
    cli.define_fine_tuning_flags(define, learning_rate=5e-5, train_batch_size=32, predict_batch_size=8)
    define.integer("save_checkpoints_steps", 1000, "How often to save the model checkpoint.")
    define.integer("n_best_size", 20, "The total number of n-best predictions to generate in the "
                                      "nbest_predictions.json output file.")
    define.integer("max_answer_length", 30, "The maximum length of an answer that can be generated. This is "
                                            "needed because the start and end predictions are not conditioned "
                                            "on one another.")
    cli.define_tpu_flags(define)
    define.boolean("verbose_logging", False, "If true, all of the warnings related to data processing will be "
                                             "printed. A number of warnings are expected for a normal SQuAD "
                                             "evaluation.")
    define.boolean("version_2_with_negative", False, "If true, the SQuAD examples contain some that do not have "
                                                     "an answer.")
    define.number("null_score_diff_threshold", 0.0, "If null_score - best_non_null is greater than the threshold "
                                                    "predict null.")
    cli.define_run_flags(define)
    cli.define_padding_flags(define, unit="window")
    define.boolean("predict_pad_to_longest", False, "Pad prediction batches to their longest window too (faster; "
                                                    "by default they are padded to max_seq_length, which "
                                                    "reproduces the original's n-best lists exactly).")


def config_from_flags(flag_values):
    """The `bert_tf.tasks.squad.task.SquadConfig` for parsed flags (`--bert_dir` filled in)."""
    from bert_tf.tasks.squad.task import SquadConfig

    return SquadConfig(
        **cli.fine_tuning_config_fields(flag_values),
        train_file=flag_values.train_file,
        predict_file=flag_values.predict_file,
        doc_stride=flag_values.doc_stride,
        max_query_length=flag_values.max_query_length,
        n_best_size=flag_values.n_best_size,
        max_answer_length=flag_values.max_answer_length,
        version_2_with_negative=flag_values.version_2_with_negative,
        null_score_diff_threshold=flag_values.null_score_diff_threshold,
        verbose_logging=flag_values.verbose_logging,
        predict_pad_to_longest=flag_values.predict_pad_to_longest,
    )


def apply_first_run_defaults(flag_values) -> None:
    """No mode flag: train and predict (the original README's command). `--train_file` and `--predict_file`
    from `$SQUAD_DIR` (`train-v1.1.json`, `dev-v1.1.json`; `-v2.0` with `--version_2_with_negative`) when
    those files exist, the model from `$BERT_BASE_DIR`, `--output_dir` `out/squad`. What is still missing
    is reported in one message, before TensorFlow starts."""
    notes = cli.default_modes(flag_values, ("do_train", "do_predict"))
    notes += cli.use_environment_defaults(flag_values)  # --bert_dir from $BERT_BASE_DIR
    squad_dir = os.environ.get("SQUAD_DIR")
    version = "v2.0" if flag_values.version_2_with_negative else "v1.1"
    for mode, flag, name in (("do_train", "train_file", f"train-{version}.json"),
                             ("do_predict", "predict_file", f"dev-{version}.json")):
        path = os.path.join(squad_dir, name) if squad_dir else None
        if flag_values[mode].value and not flag_values[flag].value and path and os.path.isfile(path):
            flag_values[flag].value = path
            notes.append(f"--{flag}={path} (from $SQUAD_DIR)")
    notes += cli.default_output_dir(flag_values, "squad")
    cli.require([
        (not flag_values.do_train or flag_values.train_file,
         f"--do_train needs --train_file (or $SQUAD_DIR holding train-{version}.json)"),
        (not flag_values.do_predict or flag_values.predict_file,
         f"--do_predict needs --predict_file (or $SQUAD_DIR holding dev-{version}.json)"),
        cli.model_requirement(flag_values),
    ])
    cli.log_notes(notes)


def run(flag_values) -> int:
    """Runs with parsed flags; returns 0 (errors are `UserError`s, reported by `cli.EntryPoint`)."""
    apply_first_run_defaults(flag_values)
    from bert_tf.tasks.squad.task import SquadTask  # imported here: `--help` and flag errors need no TensorFlow

    return cli.run_task(_PROGRAM, SquadTask(config_from_flags(flag_values)))


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run, info_logging=True)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
