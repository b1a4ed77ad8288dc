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
import functools

from absl import flags

from bert_tf import cli

_PROGRAM = "run_pretraining.py"
_error = functools.partial(cli.print_error, _PROGRAM)  # _error(message, code=1) -> exit code
_REQUIRED_FLAGS = ("bert_config_file", "input_file", "output_dir")


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
    define.integer("iterations_per_loop", 1000, "How many steps to make in each estimator call (accepted).")
    define.integer("max_eval_steps", 100, "Maximum number of eval steps.")
    define.boolean("use_tpu", False, "Whether to use TPU (same as --strategy=tpu).")
    define.string("tpu_name", None, "The Cloud TPU to use for training.")
    define.string("tpu_zone", None, "GCE zone where the Cloud TPU is located in (accepted).")
    define.string("gcp_project", None, "Project name for the Cloud TPU-enabled project (accepted).")
    define.string("master", None, "TensorFlow master URL (accepted).")
    define.integer("num_tpu_cores", 8, "Only used if use_tpu is True (accepted).")
    # bert_tf additions.
    define.choice("strategy", "one_device", ["one_device", "mirrored", "multi_worker_mirrored", "tpu"],
                  "tf.distribute strategy.")
    define.boolean("use_xla", False, "Compile the training step with XLA.")
    define.choice("dtype", "float32", ["float32", "mixed_float16", "mixed_bfloat16"], "Compute dtype policy.")
    define.choice("optimizer", "adamw", ["adamw", "lamb"], "adamw: the original AdamWeightDecay; lamb: Keras' LAMB.")
    define.integer("num_accumulation_steps", 1,
                   "Accumulate gradients over this many batches of train_batch_size before each update: "
                   "the same update as one batch of train_batch_size * num_accumulation_steps.")
    define.integer("keep_checkpoint_max", 5, "How many of the newest checkpoints to keep.")
    define.integer("seed", None, "Random seed (data order, dropout, new weights).")
    define.integer("log_every_steps", 100, "Log and write TensorBoard summaries every this many steps.")


def config_from_flags(flag_values):
    """The `bert_tf.tasks.pretraining.run.PretrainingRunConfig` for parsed flags."""
    from bert_tf.tasks.pretraining import run as pretrain

    return pretrain.PretrainingRunConfig(
        bert_config_file=flag_values.bert_config_file,
        input_file=flag_values.input_file,
        output_dir=flag_values.output_dir,
        init_checkpoint=flag_values.init_checkpoint,
        max_seq_length=flag_values.max_seq_length,
        max_predictions_per_seq=flag_values.max_predictions_per_seq,
        do_train=flag_values.do_train,
        do_eval=flag_values.do_eval,
        train_batch_size=flag_values.train_batch_size,
        eval_batch_size=flag_values.eval_batch_size,
        learning_rate=flag_values.learning_rate,
        num_train_steps=flag_values.num_train_steps,
        num_warmup_steps=flag_values.num_warmup_steps,
        save_checkpoints_steps=flag_values.save_checkpoints_steps,
        iterations_per_loop=flag_values.iterations_per_loop,
        max_eval_steps=flag_values.max_eval_steps,
        keep_checkpoint_max=flag_values.keep_checkpoint_max,
        optimizer=flag_values.optimizer,
        num_accumulation_steps=flag_values.num_accumulation_steps,
        strategy="tpu" if flag_values.use_tpu else flag_values.strategy,
        tpu_address=flag_values.tpu_name or flag_values.master,
        use_xla=flag_values.use_xla,
        dtype=flag_values.dtype,
        seed=flag_values.seed,
        log_every_steps=flag_values.log_every_steps,
    )


def run(flag_values) -> int:
    """Runs with parsed flags; returns the exit status (0, or 1 after a one-line error on stderr)."""
    missing = [name for name in _REQUIRED_FLAGS if not flag_values[name].value]
    if missing:
        return _error(f"--{missing[0]} is required")
    # Imported here so that `--help` and flag errors do not wait for TensorFlow.
    import tensorflow as tf

    from bert_tf.tasks.pretraining import run as pretrain
    from bert_tf.checkpoint import CheckpointError
    from bert_tf.tasks.pretraining.records import PretrainingRecordError

    try:
        results = pretrain.run(config_from_flags(flag_values))
    except (pretrain.PretrainingRunError, PretrainingRecordError, CheckpointError, OSError, ValueError) as error:
        return _error(cli.one_line(error))
    except tf.errors.OpError as error:
        return _error(cli.one_line(error))
    if "eval" in results:
        print("***** Eval results *****")
        for key in sorted(results["eval"]):
            print(f"  {key} = {results['eval'][key]}")
    return 0


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
