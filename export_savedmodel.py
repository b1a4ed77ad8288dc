"""Export a fine-tuned checkpoint of any task as a SavedModel for TensorFlow Serving.

  python export_savedmodel.py --task_name=MRPC \\
    --bert_config_file=$BERT_BASE_DIR/bert_config.json --vocab_file=$BERT_BASE_DIR/vocab.txt \\
    --do_lower_case=True --init_checkpoint=/tmp/mrpc_output --max_seq_length=128 \\
    --export_dir=/tmp/mrpc_serving

`--task_name` is a GLUE task (MRPC, SST-2, STS-B, ...: the classifier), `csv`, `tsv` or `jsonl` (a classifier of
your own files: `--text_b_column`, `--regression`, `--multi_label`, `--label_list` as in its run), or a registered
task: `squad`, `ner`, `swag` (multiple choice), `embedding` (sentence embeddings: `--pooling`, `--layers`,
`--normalize`, `--truncate`, `--window_stride` as in `encode.py`; the checkpoint is `--bert_dir`'s unless
`--init_checkpoint` is given). `--init_checkpoint` is the fine-tuned checkpoint (a prefix, or a
folder with a `checkpoint` state file such as the training run's `--output_dir`); it must contain the task's head (the
classifier's `output_weights`/`output_bias` for the task's number of labels, `cls/squad/*`, `cls/ner/*`,
`cls/multiple_choice/*`). `--bert_dir` fills `--vocab_file` and `--bert_config_file` from a released model
folder (explicit flags win). Writes `<export_dir>/<unix time>/` (TF Serving's layout) and prints its path;
library code: `bert_tf.tasks.driver.export_checkpoint` and `bert_tf.serving` (signatures documented there).
`--serving_dtype=mixed_bfloat16` serves the model under that Keras dtype policy; `--serving_xla` XLA-compiles
a classifier's model part (TF Serving then needs `--xla_cpu_compilation_enabled=true`).
"""
import os

from absl import flags

from bert_tf import cli
from bert_tf.errors import InputError

_PROGRAM = "export_savedmodel.py"
_REQUIRED_FLAGS = ("task_name", "export_dir")


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the script's flags on `flag_values` (names and defaults as in run_classifier.py)."""
    define = cli.FlagDefiner(flag_values)
    define.string("task_name", None, "The name of the task (MRPC, SST-2, STS-B, ..., or squad, ner, swag, "
                                     "embedding).")
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
    # The serving settings of the other tasks (run_squad.py's and run_ner.py's names and defaults).
    define.integer("doc_stride", None, "SQuAD: tokens between the starts of a long context's windows (default "
                                       "128); --long_documents=windows classifiers: as the run (default: half a "
                                       "window).")
    define.integer("max_query_length", 64, "SQuAD: question word pieces kept.")
    define.integer("n_best_size", 20, "SQuAD: start and end candidates per window.")
    define.integer("max_answer_length", 30, "SQuAD: longest answer, in word pieces.")
    define.boolean("version_2_with_negative", False, "SQuAD 2.0: also decide unanswerable questions.")
    define.number("null_score_diff_threshold", 0.0,
                  "SQuAD 2.0: unanswerable when null score - best span score exceeds this.")
    define.integer("window_stride", None, "NER, embedding: word pieces between the starts of a long text's windows "
                                          "(default: half a window).")
    # Sentence embeddings (--task_name=embedding): encode.py's names.
    define.string("pooling", "mean", "Embedding: cls, mean, max or pooler.")
    define.string("layers", "-1", "Embedding: encoder layers averaged before pooling (-1 is the last).")
    define.boolean("normalize", False, "Embedding: L2-normalize the vectors.")
    define.boolean("truncate", False, "Embedding: keep only a long text's first window (default: average its "
                                      "windows).")
    # Your own classification files (--task_name=csv, tsv or jsonl): run_classifier.py's names.
    define.string("text_b_column", None, "Your own files: the run had a second text (any value: pairs).")
    define.string("label_list", None, "Your own files: the labels in id order (default: label_list.txt next to "
                                      "the checkpoint).")
    define.boolean("regression", False, "Your own files: a regression run.")
    define.boolean("multi_label", False, "Your own files: a multi-label run.")
    define.number("threshold", 0.5, "Multi-label: the labels of at least this probability are the answer.")
    define.choice("long_documents", "truncate", ("truncate", "windows"),
                  "Classifiers: windows reads a long text in overlapping windows and pools their logits, as a "
                  "run_classifier.py --long_documents=windows run (give its --doc_stride and --window_pooling).")
    define.choice("window_pooling", "mean", ("mean", "max"), "--long_documents=windows: mean or max of the "
                                                             "windows' logits.")


class ExportError(InputError):
    """Bad input to the export: a missing flag or file, a checkpoint without the classifier head."""


def _model_files(flag_values, needs_fine_tuning: bool = True):
    """The `ModelFiles` from the flags, the vocabulary and config files checked; raises a `UserError`.
    `needs_fine_tuning`: the checkpoint must be given as `--init_checkpoint` (a task with a head); else
    `--bert_dir`'s checkpoint serves too."""
    if needs_fine_tuning and not flag_values.init_checkpoint:
        raise ExportError("missing --init_checkpoint (the fine-tuned checkpoint or its run's --output_dir)")
    model = cli.model_files_from_flags(flag_values, checkpoint_required=not needs_fine_tuning)
    for name, path in (("vocab_file", model.vocab_file), ("bert_config_file", model.bert_config_file)):
        if not os.path.isfile(path):
            raise ExportError(f"--{name} {path} not found")
    return model


def _task_name(flag_values) -> str:
    """The registered task `--task_name` names (a GLUE task is `classification`), after checking the
    required flags (no TensorFlow import needed)."""
    missing = [name for name in _REQUIRED_FLAGS if not flag_values[name].value]
    if missing:
        raise ExportError("missing " + ", ".join(f"--{name}" for name in missing))
    from bert_tf.tasks import base
    from bert_tf.tasks.classification import examples as glue

    name = flag_values.task_name.strip().lower()
    if name in glue.PROCESSORS or name in ("csv", "tsv", "jsonl"):
        return "classification"
    if name in base.task_names() and name not in ("classification", "feature_extraction"):
        return name
    try:
        glue.get_processor(name)
    except ValueError as error:
        raise ExportError(f"{error}; or one of: csv, tsv, jsonl, squad, ner, swag, embedding") from None
    return "classification"


def task_from_flags(flag_values):
    """The task `--task_name` names, configured from the flags: the shared ones, then each field of the
    task's config that has a flag of the same name (`doc_stride`, `window_stride`, ...)."""
    import dataclasses

    from bert_tf.tasks.base import TaskConfig, get_task
    from bert_tf.training.run_options import RunOptions

    name = _task_name(flag_values)
    if flag_values.serving_xla and name != "classification":
        raise ExportError(f"--serving_xla is for classifier exports; leave it out with --task_name={name}")
    task_class = get_task(name)
    shared = {field.name for field in dataclasses.fields(TaskConfig)}
    own = {field.name: flag_values[field.name].value for field in dataclasses.fields(task_class.config_type)
           if field.name not in shared and field.name in flag_values and flag_values[field.name].value is not None}
    if isinstance(own.get("label_list"), str):
        own["label_list"] = [label.strip() for label in own["label_list"].split(",") if label.strip()]
    return task_class(task_class.config_type(
        model=_model_files(flag_values, needs_fine_tuning=bool(task_class.head_variables)),
        options=RunOptions(output_dir="", export_dir=flag_values.export_dir),
        max_seq_length=flag_values.max_seq_length, **own))


def export_from_flags(flag_values) -> str:
    """Builds the task's model, loads the checkpoint strictly (its head included) and exports; returns the
    version folder."""
    from bert_tf.tasks import driver

    options = {"serving_dtype": flag_values.serving_dtype}
    if flag_values.serving_xla:
        options["jit_compile"] = True
    return driver.export_checkpoint(task_from_flags(flag_values), flag_values.export_dir, **options)


def run(flag_values) -> int:
    """Runs the export with parsed flags; returns 0 (errors are `UserError`s, reported by `cli.EntryPoint`)."""
    _task_name(flag_values)  # flag errors are reported before TensorFlow starts
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
