"""Export a fine-tuned classifier as a SavedModel for TensorFlow Serving.

  python export_savedmodel.py --task_name=MRPC \\
    --bert_config_file=$BERT_BASE_DIR/bert_config.json --vocab_file=$BERT_BASE_DIR/vocab.txt \\
    --do_lower_case=True --init_checkpoint=/tmp/mrpc_output --max_seq_length=128 \\
    --export_dir=/tmp/mrpc_serving

`--init_checkpoint` is the fine-tuned checkpoint (a prefix, or a folder with a `checkpoint` state file
such as run_classifier.py's `--output_dir`); it must contain the classifier head (`output_weights`,
`output_bias`) for the task's number of labels. `--bert_dir` fills `--vocab_file` and
`--bert_config_file` from a released model folder (explicit flags win). Writes
`<export_dir>/<unix time>/` (TF Serving's layout) and prints its path; library code:
`bert_tf.serving` (signatures documented there). `--serving_dtype=mixed_bfloat16` serves the model
under that Keras dtype policy; `--serving_xla` XLA-compiles a classifier's model part (TF Serving then
needs `--xla_cpu_compilation_enabled=true`).
"""
import os

from absl import flags, logging

from bert_tf import cli
from bert_tf.errors import InputError
from bert_tf.tasks.squad import export as squad_export

_PROGRAM = "export_savedmodel.py"
_REQUIRED_FLAGS = ("task_name", "export_dir")
_CLASSIFIER_HEAD = ("output_weights", "output_bias")


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the script's flags on `flag_values` (names and defaults as in run_classifier.py)."""
    define = cli.FlagDefiner(flag_values)
    define.string("task_name", None, "The name of the task (MRPC, SST-2, STS-B, ..., or squad).")
    define.alias("task", "task_name")
    cli.define_model_flags(define, init_checkpoint_help="The fine-tuned checkpoint: a prefix, or a folder with a "
                                                        "`checkpoint` state file (e.g. run_classifier.py's "
                                                        "--output_dir).")
    define.integer("max_seq_length", 128, "The maximum total input sequence length after WordPiece tokenization. "
                                          "Sequences longer than this will be truncated.")
    define.string("export_dir", None, "The model base path: the SavedModel is written to <export_dir>/<unix time>/.")
    define.string("bert_dir", None, "A released model folder: sets --vocab_file and --bert_config_file to its "
                                    "vocab.txt and bert_config.json unless they are given.")
    define.choice("serving_dtype", "float32", ["float32", "mixed_bfloat16"],
                  "Dtype policy of the served model: mixed_bfloat16 runs the matmuls in bfloat16 (faster on CPUs "
                  "with AVX-512 BF16/AMX and on GPUs; probabilities within 2e-2 of float32).")
    define.boolean("serving_xla", False, "Classifier exports: XLA-compile the model part of the signatures "
                                         "(faster, most for short requests on CPU; TF Serving then needs "
                                         "--xla_cpu_compilation_enabled=true).")
    squad_export.define_export_flags(flag_values)  # --task_name=squad: doc_stride, max_query_length, ...


class ExportError(InputError):
    """Bad input to the export: a missing flag or file, a checkpoint without the classifier head."""


def _model_files(flag_values):
    """(vocab_file, bert_config_file, init_checkpoint prefix) from the flags; raises a `UserError`."""
    from bert_tf.checkpoint import resolve_checkpoint

    if not flag_values.init_checkpoint:
        raise ExportError("missing --init_checkpoint (the fine-tuned checkpoint or its run's --output_dir)")
    model = cli.model_files_from_flags(flag_values)
    for name, path in (("vocab_file", model.vocab_file), ("bert_config_file", model.bert_config_file)):
        if not os.path.isfile(path):
            raise ExportError(f"--{name} {path} not found")
    return model.vocab_file, model.bert_config_file, resolve_checkpoint(model.init_checkpoint)


def _check_classifier_head(prefix: str) -> None:
    from bert_tf.checkpoint import list_checkpoint

    missing = [name for name in _CLASSIFIER_HEAD if name not in list_checkpoint(prefix)]
    if missing:
        raise ExportError(
            f"checkpoint {prefix} has no classifier head ({', '.join(missing)} missing): --init_checkpoint "
            "must be a fine-tuned checkpoint, e.g. run_classifier.py's --output_dir")


def _task_processor(flag_values):
    """The task's GLUE processor, after checking the required flags (no TensorFlow import needed)."""
    missing = [name for name in _REQUIRED_FLAGS if not flag_values[name].value]
    if missing:
        raise ExportError("missing " + ", ".join(f"--{name}" for name in missing))
    if flag_values.task_name.lower() == squad_export.SQUAD_TASK_NAME:
        return None  # not a GLUE task: bert_tf.tasks.squad.export
    from bert_tf.tasks.classification import examples as glue

    try:
        return glue.get_processor(flag_values.task_name)
    except ValueError as error:
        raise ExportError(str(error)) from None


def export_from_flags(flag_values) -> str:
    """Builds the task's BertClassifier, loads the checkpoint strictly and exports; returns the path."""
    processor = _task_processor(flag_values)
    vocab_file, bert_config_file, checkpoint = _model_files(flag_values)
    if processor is None:  # --task_name=squad
        if flag_values.serving_xla:
            raise ExportError("--serving_xla is for classifier exports; leave it out with --task_name=squad")
        return squad_export.export_from_flags(flag_values, vocab_file, bert_config_file, checkpoint)
    _check_classifier_head(checkpoint)

    import bert_tf
    from bert_tf import serving
    from bert_tf.checkpoint import load_checkpoint

    config = bert_tf.BertConfig.from_json_file(bert_config_file)
    model = bert_tf.BertClassifier(config, num_labels=processor.num_labels)
    report = load_checkpoint(model, checkpoint)  # strict: every variable, head included, must fit
    logging.info(report.summary())
    return serving.export_for_task(model, processor, vocab_file, flag_values.do_lower_case,
                                   flag_values.max_seq_length, flag_values.export_dir,
                                   serving_dtype=flag_values.serving_dtype, jit_compile=flag_values.serving_xla)


def run(flag_values) -> int:
    """Runs the export with parsed flags; returns 0 (errors are `UserError`s, reported by `cli.EntryPoint`)."""
    _task_processor(flag_values)  # flag errors are reported before the model is built
    try:
        path = export_from_flags(flag_values)
    except InputError:
        raise
    except ValueError as error:  # a setting the export cannot serve (e.g. longer than the model's positions)
        raise ExportError(cli.one_line(error)) from None
    print(path)
    return 0


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
