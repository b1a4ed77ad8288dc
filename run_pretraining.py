"""Masked-LM and next-sentence pretraining, with the original run_pretraining.py command line.

  python run_pretraining.py --input_file=out/tf_examples.tfrecord --output_dir=out/pretraining \
      --do_train --do_eval --bert_config_file=uncased_L-12_H-768_A-12/bert_config.json \
      --init_checkpoint=uncased_L-12_H-768_A-12/bert_model.ckpt --train_batch_size=32 \
      --max_seq_length=128 --max_predictions_per_seq=20 --num_train_steps=20 --num_warmup_steps=10 \
      --learning_rate=2e-5

Reads the records of create_pretraining_data.py (this project's or the original's), writes
`model.ckpt-<step>` checkpoints in the original format (with `cls/*` heads, Adam slots and `global_step`)
and `eval_results.txt` with the original keys. Rerunning the same command after an interruption resumes
from the newest checkpoint in --output_dir.
"""
from absl import flags

from bert_tf import cli

_PROGRAM = "run_pretraining.py"


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the original run_pretraining.py flags (names, defaults) and this project's additions."""
    define = cli.FlagDefiner(flag_values)
    # The original flags.
    define.string("bert_config_file", None, "The config json file corresponding to the pre-trained BERT model.")
    define.string("input_file", None, "Input TF example files (can be a glob or comma separated).")
    define.string("output_dir", None, "The output directory where the model checkpoints will be written.")
    define.string("init_checkpoint", None, "Initial checkpoint (usually from a pre-trained BERT model).")
    define.integer("max_seq_length", 128, "The maximum total input sequence length after WordPiece tokenization.")
    define.integer("max_predictions_per_seq", 20, "Maximum number of masked LM predictions per sequence.")
    define.boolean("do_train", False, "Whether to run training.")
    define.boolean("do_eval", False, "Whether to run eval on the dev set.")
    define.integer("train_batch_size", 32, "Total batch size for training.")
    define.integer("eval_batch_size", 8, "Total batch size for eval.")
    define.number("learning_rate", 5e-5, "The initial learning rate for Adam.")
    define.integer("num_train_steps", 100000, "Number of training steps.")
    define.integer("num_warmup_steps", 10000, "Number of warmup steps.")
    define.integer("save_checkpoints_steps", 1000, "How often to save the model checkpoint.")
    define.integer("max_eval_steps", 100, "Maximum number of eval steps.")
    cli.define_tpu_flags(define)
    # bert_tf additions.
    cli.define_run_flags(define, export=False)
    define.choice("optimizer", "adamw", ["adamw", "lamb"], "adamw: the original AdamWeightDecay; lamb: Keras' LAMB.")
    define.integer("num_accumulation_steps", 1,
                   "Accumulate gradients over this many batches of train_batch_size before each update: "
                   "the same update as one batch of train_batch_size * num_accumulation_steps.")
    define.choice("input_sharding", "auto", ["auto", "example", "file"],
                  "How multi-worker runs share the input: example (every worker keeps its slice of each global "
                  "batch: the same weights as one process), file (each worker reads its own files: less reading, "
                  "batches depend on the number of workers), auto (file when there are at least as many files "
                  "as workers).")


def config_from_flags(flag_values):
    """The `bert_tf.tasks.pretraining.run.PretrainingConfig` for parsed flags (`--bert_dir` filled in)."""
    from bert_tf.tasks.pretraining import run as pretraining
    from bert_tf.training.run_options import ModelFiles, resolve_model_files

    if flag_values.bert_dir:
        model = resolve_model_files(flag_values.bert_dir, flag_values.bert_config_file,
                                    init_checkpoint=flag_values.init_checkpoint)
    else:
        model = ModelFiles(flag_values.bert_config_file, vocab_file="", init_checkpoint=flag_values.init_checkpoint)
    return pretraining.PretrainingConfig(
        input_file=flag_values.input_file,
        model=model,
        options=cli.run_options_from_flags(flag_values),
        max_seq_length=flag_values.max_seq_length,
        max_predictions_per_seq=flag_values.max_predictions_per_seq,
        do_train=flag_values.do_train,
        do_eval=flag_values.do_eval,
        train_batch_size=flag_values.train_batch_size,
        eval_batch_size=flag_values.eval_batch_size,
        learning_rate=flag_values.learning_rate,
        num_train_steps=flag_values.num_train_steps,
        num_warmup_steps=flag_values.num_warmup_steps,
        max_eval_steps=flag_values.max_eval_steps,
        optimizer=flag_values.optimizer,
        num_accumulation_steps=flag_values.num_accumulation_steps,
        input_sharding=flag_values.input_sharding,
    )


def run(flag_values) -> int:
    """Runs with parsed flags; returns 0 (errors are `UserError`s, reported by `cli.EntryPoint`)."""
    from bert_tf.errors import InputError

    missing = [f"--{name}" for name in ("input_file", "output_dir") if not flag_values[name].value]
    if not (flag_values.bert_config_file or flag_values.bert_dir):
        missing.insert(0, "--bert_config_file (or --bert_dir)")
    if missing:
        raise InputError(f"missing {', '.join(missing)}")
    from bert_tf.tasks.pretraining import run as pretraining

    results = pretraining.run(config_from_flags(flag_values))
    if "eval" in results:
        print("***** Eval results *****")
        for key in sorted(results["eval"]):
            print(f"  {key} = {results['eval'][key]}")
    return 0


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
