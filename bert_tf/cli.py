"""Command-line plumbing shared by the entry scripts.

* `EntryPoint`: one script's wiring. `python run_x.py ...` goes through absl's `app.run` (global FLAGS);
  `main(["run_x.py", "--flag=..."])` from Python parses into a private `FlagValues`, so scripts that
  share flag names can run in one process. Errors are handled here once: a `bert_tf.errors.UserError`
  (and an unreadable file, a TensorFlow op error) prints `<script>: error: <one line>` and exits 1;
  Ctrl-C prints one line and exits 130.
* `FlagDefiner`: short `define.string(name, default, help)` calls, registered under the script's own
  module so that `--help` lists them.
* `define_model_flags`, `define_run_flags`, `define_fine_tuning_flags`: the flags every training script
  shares, defined once; `model_files_from_flags`, `run_options_from_flags`, `fine_tuning_from_flags`
  turn them into the `bert_tf.training.run_options` objects.
"""
import math
import os
import sys
from typing import Callable, Optional, Sequence, Tuple, Union

from absl import app, flags, logging

from bert_tf.errors import InputError, UserError, tensorflow_error_text

# TensorFlow's C++ start-up lines (oneDNN banner, CUDA probing) are hidden unless asked for.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# oneDNN kernels are off by default on CPUs without AVX-512 VNNI; on AVX2 CPUs they train BERT ~25% faster.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def parse_command_line(
    argv: Optional[Sequence[str]],
    define_flags: Callable[[flags.FlagValues], None],
    global_flags: Optional[flags.FlagValues],
) -> Tuple[Optional[flags.FlagValues], Optional[str]]:
    """Returns (flag_values, None), or (None, error message) for a flag error or unexpected arguments.

    Args:
      argv: the command line, program name first (default `sys.argv`).
      define_flags: defines the script's flags on a FlagValues.
      global_flags: absl's FLAGS when run as a program (already parsed), else None.
    """
    argv = list(sys.argv if argv is None else argv)
    if global_flags is not None:
        flag_values, leftovers = global_flags, argv[1:]
    else:
        flag_values = flags.FlagValues()
        define_flags(flag_values)
        try:
            leftovers = flag_values(argv)[1:]
        except flags.Error as error:
            return None, str(error)
    if leftovers:
        return None, f"unexpected arguments: {' '.join(leftovers)}"
    return flag_values, None


class EntryPoint:
    """One entry script's wiring: `main(argv)` from Python, `run_as_program()` under `python script.py`.

    Args:
      program: the script's file name, the prefix of its error lines (`run_classifier.py: error: ...`).
      define_flags: defines the script's flags on a FlagValues.
      run: runs with parsed flags; returns the exit status (0) or raises `UserError`.
      info_logging: when called from Python, log at INFO (as `app.run` does by default).
    """

    def __init__(self, program: str, define_flags: Callable[[flags.FlagValues], None],
                 run: Callable[[flags.FlagValues], int], info_logging: bool = False):
        self.program = program
        self.define_flags = define_flags
        self.run = run
        self.info_logging = info_logging
        self.uses_global_flags = False

    def error(self, message: str, code: int = 1) -> int:
        """Prints `<program>: error: <message>` to stderr; returns `code`."""
        return print_error(self.program, message, code)

    def main(self, argv: Optional[Sequence[str]] = None) -> int:
        """`argv`: the command line, program name first (default `sys.argv`). Returns the exit status: 1 for
        a flag error or a user error, 130 for Ctrl-C, else `run`'s."""
        global_flags = flags.FLAGS if self.uses_global_flags else None
        flag_values, message = parse_command_line(argv, self.define_flags, global_flags)
        if flag_values is None:
            return self.error(str(message))
        if self.info_logging and not self.uses_global_flags:  # app.run applies --verbosity itself
            logging.set_verbosity(logging.INFO)
        verbose = self.uses_global_flags and flags.FLAGS["verbosity"].value > logging.INFO
        try:
            import_tensorflow_quietly(verbose)
            return self.run(flag_values)
        except KeyboardInterrupt:
            return self.error("interrupted (the newest checkpoint in --output_dir is complete; run the same "
                              "command again to resume)", code=130)
        except (UserError, OSError) as error:
            return self.error(one_line(error))
        except Exception as error:  # TensorFlow's op errors (e.g. a corrupted record) name no Python type here
            if _is_tensorflow_op_error(error):
                return self.error(one_line(error))
            raise

    def run_as_program(self) -> None:
        """Defines the flags on absl's global FLAGS (under the script's module, so `--help` lists them) and
        hands over to `app.run`. `--help` (`-h`, `--helpshort`, `--helpfull`) prints the help to stdout and
        exits 0, quietly when the reader stops early (`| head`); a bad flag value is one error line, exit 1."""
        self.define_flags(flags.FLAGS)
        self.uses_global_flags = True
        asked = [argument.lstrip("-") for argument in sys.argv[1:] if argument.lstrip("-") in HELP_FLAGS
                 and argument.startswith("-")]
        if asked:
            sys.exit(print_help(sys.modules["__main__"].__doc__, full="helpfull" in asked))
        app.run(self.main, flags_parser=self.parse_global_flags)

    def parse_global_flags(self, argv: Sequence[str]) -> Sequence[str]:
        """absl's FLAGS parsed from `argv` (for `app.run`); a flag error is one line and exit 1, not absl's
        `FATAL Flags parsing error` and its hint."""
        try:
            return flags.FLAGS(list(argv))
        except flags.Error as error:
            sys.exit(self.error(str(error)))


HELP_FLAGS = ("help", "h", "?", "helpshort", "helpfull")


def print_help(usage: Optional[str], full: bool = False) -> int:
    """Prints `usage` (the script's docstring) and its flags (`full`: every module's) to stdout; returns 0.
    A reader that closes the pipe early (`--help | head`) ends the output without a traceback."""
    flag_help = flags.FLAGS.get_help() if full else flags.FLAGS.main_module_help()
    text = (usage or "").strip() + "\n\nflags:\n\n" + flag_help
    try:
        sys.stdout.write(text.rstrip() + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the rest is not wanted; Python's own flush at exit must not fail either
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


def import_tensorflow_quietly(verbose: bool = False) -> None:
    """Imports TensorFlow and finds its devices with the C++ start-up lines (oneDNN banner, CUDA probing on
    a machine without a GPU) hidden; they show with `verbose` (`--verbosity=1` or more)."""
    if verbose or "tensorflow" in sys.modules:
        return
    saved_stderr = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import tensorflow as tf

        # Physical devices only: listing the logical ones starts the runtime, after which a
        # MultiWorkerMirroredStrategy can no longer be created ("Collective ops must be configured at startup").
        tf.config.list_physical_devices()
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
        os.close(devnull)


def _is_tensorflow_op_error(error: BaseException) -> bool:
    tensorflow = sys.modules.get("tensorflow")
    return tensorflow is not None and isinstance(error, tensorflow.errors.OpError)


def print_error(program: str, message: str, code: int = 1) -> int:
    """Prints `<program>: error: <message>` to stderr; returns `code` (the exit status to use)."""
    print(f"{program}: error: {message}", file=sys.stderr)
    return code


def one_line(error: Union[BaseException, str], max_lines: int = 4) -> str:
    """An error's message on one line: its first `max_lines` non-empty lines joined by "; ", and how
    many more were cut (a checkpoint error keeps its header and first mismatching variables).

    A TensorFlow `OpError` contributes its `.message` (without the traceback); TensorFlow's graph locations
    are left out of any message (`errors.tensorflow_error_text`); an empty message gives the exception's type
    name.
    """
    if isinstance(error, BaseException):
        text = getattr(error, "message", None) or str(error)
        fallback = type(error).__name__
    else:
        text, fallback = error, "error"
    lines = [line.strip() for line in tensorflow_error_text(str(text)).splitlines() if line.strip()]
    if not lines:
        return fallback
    more = f" (and {len(lines) - max_lines} more)" if len(lines) > max_lines else ""
    return "; ".join(lines[:max_lines]) + more


class FlagDefiner:
    """Defines flags on one FlagValues with short calls: `define.string(name, default, help)`, ...

    Flags defined on absl's global FLAGS for a script run as a program are registered under the main
    module (`sys.argv[0]`), which is what `--help` lists.
    """

    def __init__(self, flag_values: flags.FlagValues):
        self.flag_values = flag_values
        self.module_name = sys.argv[0] if flag_values is flags.FLAGS else None

    def _options(self) -> dict:
        options = {"flag_values": self.flag_values}
        if self.module_name:
            options["module_name"] = self.module_name
        return options

    def string(self, name: str, default, help_text: str) -> None:
        flags.DEFINE_string(name, default, help_text, **self._options())

    def integer(self, name: str, default, help_text: str) -> None:
        flags.DEFINE_integer(name, default, help_text, **self._options())

    def boolean(self, name: str, default, help_text: str) -> None:
        flags.DEFINE_bool(name, default, help_text, **self._options())

    def number(self, name: str, default, help_text: str) -> None:
        """A float flag; `nan` and `inf` are refused (no setting of these scripts means them)."""
        flags.DEFINE_float(name, default, help_text, **self._options())
        flags.register_validator(name, lambda value: value is None or math.isfinite(value),
                                 message="not a finite number", flag_values=self.flag_values)

    def choice(self, name: str, default, choices: Sequence[str], help_text: str) -> None:
        flags.DEFINE_enum(name, default, list(choices), help_text, **self._options())

    def alias(self, name: str, original: str) -> None:
        flags.DEFINE_alias(name, original, flag_values=self.flag_values)


# ---------------------------------------------------------------------------------------- shared flags
def define_model_flags(define: FlagDefiner, init_checkpoint_help: str = "Initial checkpoint (usually from a "
                       "pre-trained BERT model).") -> None:
    """The original's model flags (`bert_config_file`, `vocab_file`, `init_checkpoint`, `do_lower_case`)."""
    define.string("bert_config_file", None, "The config json file corresponding to the pre-trained BERT model.")
    define.string("vocab_file", None, "The vocabulary file that the BERT model was trained on.")
    define.string("init_checkpoint", None, init_checkpoint_help)
    define.boolean("do_lower_case", True, "Whether to lower case the input text. True for uncased models.")


def define_tpu_flags(define: FlagDefiner) -> None:
    """The original's TPU flags (`use_tpu`, `tpu_name`, ...): `--use_tpu` means `--strategy=tpu`."""
    define.integer("iterations_per_loop", 1000, "How many steps to make in each estimator call (TPU only here).")
    define.boolean("use_tpu", False, "Whether to use TPU (same as --strategy=tpu).")
    define.string("tpu_name", None, "The Cloud TPU to use for training.")
    define.string("tpu_zone", None, "[Optional] GCE zone where the Cloud TPU is located (accepted, unused).")
    define.string("gcp_project", None, "[Optional] Project name for the Cloud TPU-enabled project (accepted, unused).")
    define.string("master", None, "[Optional] TensorFlow master URL (the TPU address when --tpu_name is not given).")
    define.integer("num_tpu_cores", 8, "Only used if `use_tpu` is True (accepted; the TPU reports its cores).")


def define_fine_tuning_flags(define: FlagDefiner, learning_rate: float = 5e-5, train_batch_size: int = 32,
                             predict_batch_size: int = 8) -> None:
    """The original fine-tuning recipe flags (defaults: the original script's)."""
    define.integer("train_batch_size", train_batch_size, "Total batch size for training.")
    define.integer("eval_batch_size", 8, "Total batch size for eval.")
    define.integer("predict_batch_size", predict_batch_size, "Total batch size for predict.")
    define.number("learning_rate", learning_rate, "The initial learning rate for Adam.")
    define.number("num_train_epochs", 3.0, "Total number of training epochs to perform.")
    define.number("warmup_proportion", 0.1, "Proportion of training to perform linear learning rate warmup for. "
                                            "E.g., 0.1 = 10% of training.")
    define.integer("num_accumulation_steps", 1,
                   "Gradient accumulation: each update averages the gradients of this many batches of "
                   "train_batch_size (the update of one batch of train_batch_size * num_accumulation_steps, in "
                   "the memory of train_batch_size).")
    define.integer("eval_every_steps", None,
                   "Evaluate on the dev set every this many steps and at the end (needs --do_eval): metrics "
                   "logged, in TensorBoard (output_dir/eval) and one JSON line each in output_dir/eval_history.jsonl.")
    define.string("keep_best", None,
                  "Keep the checkpoint of the best evaluation by this eval_results.txt key (e.g. eval_accuracy, "
                  "eval_f1; eval_loss and other losses/errors: lower is better) in output_dir/best/; "
                  "--do_predict and --export_dir then use it.")
    define.integer("early_stopping_patience", None,
                   "Stop training after this many evaluations without a better --keep_best value.")


def define_padding_flags(define: FlagDefiner, unit: str = "example", group_by_length: bool = False) -> None:
    """How fine-tuning batches are padded (`bert_tf.training.batching`); `unit`: what a row is called;
    `group_by_length`: that flag's default (off where the original script's random batches are kept)."""
    define.boolean("pad_to_max_length", False, f"Pad every batch to max_seq_length (default: to the batch's "
                                               f"longest {unit}, rounded up to a multiple of 8).")
    define.boolean("group_by_length", group_by_length,
                   f"Train on batches of similar-length {unit}s (less padding, faster; "
                   f"--nogroup_by_length: random batches)." if group_by_length else
                   f"Train on batches of similar-length {unit}s (less padding, faster; not the original's "
                   f"random batches).")


def define_run_flags(define: FlagDefiner, export: bool = True) -> None:
    """This project's additions, the same in every training script."""
    define.string("bert_dir", None, "A released model folder: sets --bert_config_file, --vocab_file and "
                                    "--init_checkpoint from its bert_config.json, vocab.txt and checkpoint "
                                    "unless given. A Hugging Face folder (config.json, model.safetensors) or a "
                                    "keras-hub preset (metadata.json) is converted first (into a temporary "
                                    "folder; --init_checkpoint too).")
    define.string("strategy", None, "tf.distribute strategy: one_device (default), mirrored, "
                                    "multi_worker_mirrored, tpu.")
    define.boolean("use_xla", False, "Compile the training step with XLA (the optimizer update is always "
                                     "XLA-compiled).")
    define.string("dtype", "float32", "float32, mixed_float16 (GPU, loss scaling) or mixed_bfloat16 "
                                      "(aliases: fp32, fp16, bf16).")
    define.integer("seed", None, "Random seed (initialization, dropout, shuffling).")
    define.integer("keep_checkpoint_max", 5, "Number of newest checkpoints kept in --output_dir (0: all).")
    define.integer("max_train_steps", None, "Train at most this many steps (the schedule ends there too).")
    define.integer("log_every_steps", 100, "TensorBoard summaries interval.")
    if export:
        define.string("export_dir", None, "After the run, export a SavedModel for TF Serving under this folder.")


def model_files_from_flags(flag_values, checkpoint_required: bool = False):
    """`ModelFiles` from the model flags and `--bert_dir` (explicit flags win)."""
    from bert_tf.training.run_options import resolve_model_files

    return resolve_model_files(flag_values.bert_dir, flag_values.bert_config_file, flag_values.vocab_file,
                               flag_values.init_checkpoint, getattr(flag_values, "do_lower_case", True),
                               checkpoint_required=checkpoint_required)


def run_options_from_flags(flag_values):
    """`RunOptions` from the shared flags (`--use_tpu` means `--strategy=tpu`); validated."""
    from bert_tf.training.run_options import RunOptions

    strategy = flag_values.strategy or ("tpu" if flag_values.use_tpu else "one_device")
    options = RunOptions(
        output_dir=flag_values.output_dir,
        strategy=strategy,
        tpu_address=flag_values.tpu_name or flag_values.master,
        use_xla=flag_values.use_xla,
        dtype=flag_values.dtype,
        seed=flag_values.seed,
        save_checkpoints_steps=flag_values.save_checkpoints_steps,
        keep_checkpoint_max=flag_values.keep_checkpoint_max,
        iterations_per_loop=flag_values.iterations_per_loop,
        log_every_steps=flag_values.log_every_steps,
        max_train_steps=flag_values.max_train_steps,
        export_dir=getattr(flag_values, "export_dir", None),
    )
    options.validate()
    if options.strategy == "multi_worker_mirrored":
        options.create_strategy()  # now, before reading inputs starts TensorFlow's runtime (it must come first)
    return options


def fine_tuning_from_flags(flag_values):
    """`FineTuningOptions` from the recipe flags (each field is the flag of the same name)."""
    import dataclasses

    from bert_tf.training.run_options import FineTuningOptions

    return FineTuningOptions(**{field.name: flag_values[field.name].value
                                for field in dataclasses.fields(FineTuningOptions)})


def fine_tuning_config_fields(flag_values) -> dict:
    """The config fields every fine-tuning script takes from its flags: `model`, `options`, `recipe`,
    `max_seq_length`, and the mode flags (`do_train`, `do_eval`, `do_predict`) and padding flags
    (`define_padding_flags`) it defines."""
    fields = dict(model=model_files_from_flags(flag_values), options=run_options_from_flags(flag_values),
                  recipe=fine_tuning_from_flags(flag_values), max_seq_length=flag_values.max_seq_length)
    for name in ("do_train", "do_eval", "do_predict", "pad_to_max_length", "group_by_length"):
        if name in flag_values:
            fields[name] = flag_values[name].value
    return fields


# ------------------------------------------------------------------------------------ first-run defaults
def use_environment_defaults(flag_values, data_dir_variable: Optional[str] = None,
                             data_dir_name: Optional[str] = None) -> list:
    """Fills unset flags from the original README's variables; returns what was filled, as notes to log.

    `--bert_dir` from `$BERT_BASE_DIR` when no model flag is given; `--data_dir` from
    `$<data_dir_variable>/<data_dir_name>` (e.g. `$GLUE_DIR/MRPC`) when that folder exists.
    """
    notes = []
    model_flags = ("bert_dir", "bert_config_file", "vocab_file", "init_checkpoint")
    if not any(getattr(flag_values, name, None) for name in model_flags) and os.environ.get("BERT_BASE_DIR"):
        flag_values.bert_dir = os.environ["BERT_BASE_DIR"]
        notes.append(f"--bert_dir={flag_values.bert_dir} (from $BERT_BASE_DIR)")
    if data_dir_variable and not getattr(flag_values, "data_dir", None) and os.environ.get(data_dir_variable):
        folder = os.path.join(os.environ[data_dir_variable], data_dir_name or "")
        if os.path.isdir(folder):
            flag_values.data_dir = folder
            notes.append(f"--data_dir={folder} (from ${data_dir_variable})")
    return notes


def default_modes(flag_values, modes: Sequence[str]) -> list:
    """With no `do_*` flag set, sets `modes` (e.g. `("do_train", "do_eval")`); returns the note to log."""
    if any(flag_values[name].value for name in ("do_train", "do_eval", "do_predict") if name in flag_values):
        return []
    for name in modes:
        flag_values[name].value = True
    return [" ".join(f"--{name}" for name in modes) + " (no mode flag given)"]


def default_output_dir(flag_values, name: str) -> list:
    """`--output_dir` `out/<name>` when not given; returns the note to log. Given empty: InputError."""
    if flag_values.output_dir:
        return []
    if flag_values["output_dir"].present:
        raise InputError(f"--output_dir is empty: give a folder, or leave the flag out to write to out/{name}")
    flag_values.output_dir = os.path.join("out", name)
    return [f"--output_dir={flag_values.output_dir}"]


def model_requirement(flag_values) -> Tuple[bool, str]:
    """For `require`: a model is given (`--bert_dir`, or `--bert_config_file` and `--vocab_file`)."""
    given = bool(flag_values.bert_dir or (flag_values.bert_config_file and flag_values.vocab_file))
    return given, ("the model is required: --bert_dir (or $BERT_BASE_DIR), or --bert_config_file and "
                   "--vocab_file")


def log_notes(notes: Sequence[str]) -> None:
    """Logs the first-run defaults taken (`Using ...` lines)."""
    from absl import logging

    for note in notes:
        logging.info("Using %s", note)


def require(problems: Sequence[Tuple[bool, str]]) -> None:
    """Raises one `InputError` listing every message whose condition is false (all at once, not one per run)."""
    from bert_tf.errors import InputError

    messages = [message for satisfied, message in problems if not satisfied]
    if messages:
        raise InputError("; ".join(messages))


def run_task(program: str, task) -> int:
    """Runs `task` (a `bert_tf.tasks.base.Task`) with the one driver and prints the end-of-run summary (the
    metrics, then every file written and the SavedModel); returns 0."""
    from bert_tf.tasks import driver

    result = driver.run(task)
    results = {**(result.eval_results or {}), **(result.test_results or {})}
    print_summary(program, task.config.options.output_dir, results,
                  {**result.output_files, "SavedModel": result.export_path})
    return 0


def print_summary(program: str, output_dir: Optional[str], results: Optional[dict] = None,
                  outputs: Optional[dict] = None) -> None:
    """The end-of-run summary on stdout: the metrics, then where the files went."""
    lines = [f"{program}: done; output in {output_dir}" if output_dir else f"{program}: done"]
    for key in sorted(results or {}):
        lines.append(f"  {key} = {results[key]}")
    for what, path in (outputs or {}).items():
        if path:
            lines.append(f"  {what}: {path}")
    print("\n".join(lines), flush=True)
