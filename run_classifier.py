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
Library code: `bert_tf.tasks.classification.run`.
"""
import functools
import os

# oneDNN kernels are off by default on CPUs without AVX-512 VNNI; on AVX2 CPUs they train BERT ~25% faster.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from absl import flags  # noqa: E402

from bert_tf import cli

_PROGRAM = "run_classifier.py"
_error = functools.partial(cli.print_error, _PROGRAM)  # _error(message, code=1) -> exit code


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the original run_classifier.py flags (names, defaults) and this project's additions."""
    define = cli.FlagDefiner(flag_values)
    string, integer, boolean, number = define.string, define.integer, define.boolean, define.number
    # The original's flags.
    string("data_dir", None, "The input data dir. Should contain the .tsv files (or other data files) for the task.")
    string("bert_config_file", None, "The config json file corresponding to the pre-trained BERT model.")
    string("task_name", None, "The name of the task to train (any case: MRPC, CoLA, SST-2, ...).")
    define.alias("task", "task_name")
    string("vocab_file", None, "The vocabulary file that the BERT model was trained on.")
    string("output_dir", None, "The output directory where the model checkpoints will be written.")
    string("init_checkpoint", None, "Initial checkpoint (usually from a pre-trained BERT model).")
    boolean("do_lower_case", True, "Whether to lower case the input text. True for uncased models.")
    integer("max_seq_length", 128, "The maximum total input sequence length after WordPiece tokenization.")
    boolean("do_train", False, "Whether to run training.")
    boolean("do_eval", False, "Whether to run eval on the dev set.")
    boolean("do_predict", False, "Whether to run the model in inference mode on the test set.")
    integer("train_batch_size", 32, "Total batch size for training.")
    integer("eval_batch_size", 8, "Total batch size for eval.")
    integer("predict_batch_size", 8, "Total batch size for predict.")
    number("learning_rate", 5e-5, "The initial learning rate for Adam.")
    number("num_train_epochs", 3.0, "Total number of training epochs to perform.")
    number("warmup_proportion", 0.1, "Proportion of training to perform linear learning rate warmup for.")
    integer("save_checkpoints_steps", 1000, "How often to save the model checkpoint.")
    integer("iterations_per_loop", 1000, "How many steps to make in each estimator call (TPU only here).")
    boolean("use_tpu", False, "Whether to use TPU (same as --strategy=tpu).")
    string("tpu_name", None, "The Cloud TPU to use for training.")
    string("tpu_zone", None, "[Optional] GCE zone where the Cloud TPU is located (accepted, unused).")
    string("gcp_project", None, "[Optional] Project name for the Cloud TPU-enabled project (accepted, unused).")
    string("master", None, "[Optional] TensorFlow master URL (the TPU address when --tpu_name is not given).")
    integer("num_tpu_cores", 8, "Only used if `use_tpu` is True (accepted; the TPU reports its cores).")
    # Additions.
    string("bert_dir", None, "A released model folder: sets --bert_config_file, --vocab_file and "
                             "--init_checkpoint from its bert_config.json, vocab.txt and checkpoint unless given.")
    string("strategy", None, "tf.distribute strategy: one_device (default), mirrored, multi_worker_mirrored, tpu.")
    boolean("use_xla", False, "Compile the training step with XLA.")
    string("dtype", "float32", "float32, mixed_float16 (GPU, loss scaling) or mixed_bfloat16.")
    boolean("pad_to_max_length", False, "Pad every batch to max_seq_length (default: to the batch's longest "
                                        "example, rounded up to a multiple of 8).")
    boolean("group_by_length", False, "Train on batches of similar-length examples (less padding; not the "
                                      "original's random batches).")
    integer("seed", None, "Random seed (initialization, dropout, shuffling).")
    integer("keep_checkpoint_max", 5, "Number of newest checkpoints kept in --output_dir (0: all).")
    string("export_dir", None, "After the run, export a SavedModel for TF Serving under this folder.")
    integer("max_train_steps", None, "Train at most this many steps (the schedule ends there too).")
    integer("log_every_steps", 100, "TensorBoard summaries and (without a terminal) progress lines interval.")


def config_from_flags(flag_values):
    """The `bert_tf.tasks.classification.run.ClassifierConfig` for parsed flags (`--bert_dir` filled in)."""
    from bert_tf.tasks.classification import run as classifier

    model_files = {"bert_config_file": flag_values.bert_config_file, "vocab_file": flag_values.vocab_file,
                   "init_checkpoint": flag_values.init_checkpoint}
    if flag_values.bert_dir:
        missing = [name for name, path in model_files.items() if not path]
        model_files.update(classifier.bert_dir_files(flag_values.bert_dir, missing))
    strategy = flag_values.strategy or ("tpu" if flag_values.use_tpu else "one_device")
    return classifier.ClassifierConfig(
        task_name=flag_values.task_name,
        data_dir=flag_values.data_dir,
        output_dir=flag_values.output_dir,
        bert_config_file=model_files["bert_config_file"],
        vocab_file=model_files["vocab_file"],
        init_checkpoint=model_files["init_checkpoint"],
        do_lower_case=flag_values.do_lower_case,
        max_seq_length=flag_values.max_seq_length,
        do_train=flag_values.do_train,
        do_eval=flag_values.do_eval,
        do_predict=flag_values.do_predict,
        train_batch_size=flag_values.train_batch_size,
        eval_batch_size=flag_values.eval_batch_size,
        predict_batch_size=flag_values.predict_batch_size,
        learning_rate=flag_values.learning_rate,
        num_train_epochs=flag_values.num_train_epochs,
        warmup_proportion=flag_values.warmup_proportion,
        save_checkpoints_steps=flag_values.save_checkpoints_steps,
        iterations_per_loop=flag_values.iterations_per_loop,
        keep_checkpoint_max=flag_values.keep_checkpoint_max,
        strategy=strategy,
        tpu_address=flag_values.tpu_name or flag_values.master,
        use_xla=flag_values.use_xla,
        dtype=flag_values.dtype,
        pad_to_max_length=flag_values.pad_to_max_length,
        group_by_length=flag_values.group_by_length,
        seed=flag_values.seed,
        export_dir=flag_values.export_dir,
        max_train_steps=flag_values.max_train_steps,
        log_every_steps=flag_values.log_every_steps,
    )


def run(flag_values) -> int:
    """Runs with parsed flags; returns the exit status (0, or 1 after a one-line error on stderr)."""
    if not (flag_values.do_train or flag_values.do_eval or flag_values.do_predict):
        return _error("At least one of `do_train`, `do_eval` or `do_predict' must be True.")
    # Imported here so that `--help` and flag errors do not wait for TensorFlow.
    import tensorflow as tf

    from bert_tf.tasks.classification import run as classifier
    from bert_tf.checkpoint import CheckpointError
    from bert_tf.training.loop import TrainingError

    try:
        config = config_from_flags(flag_values)
        classifier.run(config)
    except (classifier.InputError, CheckpointError, TrainingError, OSError) as error:
        return _error(cli.one_line(error))
    except tf.errors.OpError as error:
        return _error(cli.one_line(error))
    return 0


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run, info_logging=True)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
