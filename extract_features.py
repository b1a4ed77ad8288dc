"""Extract pre-computed feature vectors from BERT (the original google-research/bert script).

  python extract_features.py \\
    --input_file=input.txt --output_file=output.jsonl \\
    --vocab_file=$BERT_BASE_DIR/vocab.txt --bert_config_file=$BERT_BASE_DIR/bert_config.json \\
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --layers=-1,-2,-3,-4 --max_seq_length=128

or `--bert_dir=$BERT_BASE_DIR` for the three model flags (explicit flags still win). Each input line is
`text_a` or `text_a ||| text_b`; each output line is `{"linex_index": i, "features": [{"token": ...,
"layers": [{"index": -1, "values": [...]}, ...]}, ...]}`. The TPU flags of the original are accepted
and ignored. Library code: `bert_tf.tasks.feature_extraction.task`.
"""
from absl import flags, logging

from bert_tf import cli

_PROGRAM = "extract_features.py"


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the original script's flags (same names, defaults) plus `--bert_dir` on `flag_values`."""
    define = cli.FlagDefiner(flag_values)
    define.string("input_file", None, "Text file, one `text_a` or `text_a ||| text_b` per line.")
    define.string("output_file", None, "JSON-lines file to write (one object per input line).")
    define.string("layers", "-1,-2,-3,-4", "Comma-separated encoder layer indexes (-1 is the last).")
    cli.define_model_flags(define)
    define.integer("max_seq_length", 128, "The maximum total input sequence length after WordPiece "
                                          "tokenization. Sequences longer than this will be truncated.")
    define.integer("batch_size", 32, "Batch size for predictions.")
    define.string("bert_dir", None, "A released model folder: sets --vocab_file, --bert_config_file and "
                                    "--init_checkpoint to its vocab.txt, bert_config.json and checkpoint unless "
                                    "they are given.")
    define.integer("log_every_n_examples", 1000, "Log progress after every this many examples.")
    # Accepted for command-line compatibility with the original; they change nothing here.
    define.boolean("use_tpu", False, "Ignored (original TPU flag).")
    define.string("master", None, "Ignored (original TPU flag).")
    define.integer("num_tpu_cores", 8, "Ignored (original TPU flag).")
    define.boolean("use_one_hot_embeddings", False, "Ignored (original TPU/embedding flag).")


def run(flag_values) -> int:
    """Runs the extraction with parsed flags; returns 0 (errors are `UserError`s, reported by `cli.EntryPoint`)."""
    import os

    from bert_tf.errors import InputError

    missing = [f"--{name}" for name in ("input_file", "output_file") if not flag_values[name].value]
    if missing:
        raise InputError("missing " + ", ".join(missing))
    if flag_values.batch_size < 1:
        raise InputError(f"--batch_size must be >= 1, got {flag_values.batch_size}")
    # Imported here so that `--help` and flag errors do not wait for TensorFlow.
    import tensorflow as tf

    from bert_tf.tasks import driver
    from bert_tf.tasks.feature_extraction.task import ExtractionConfig, FeatureExtractionTask
    from bert_tf.training.run_options import FineTuningOptions, RunOptions

    # The original computed in full float32; TensorFloat-32 matmuls (on by default on recent NVIDIA
    # GPUs) would move the written values by ~1e-3.
    tf.config.experimental.enable_tensor_float_32_execution(False)
    model = cli.model_files_from_flags(flag_values, checkpoint_required=True)
    if flag_values.use_tpu:
        logging.warning("--use_tpu is ignored: running on the local CPU/GPU")
    output_folder = os.path.dirname(flag_values.output_file) or "."
    driver.run(FeatureExtractionTask(ExtractionConfig(
        input_file=flag_values.input_file,
        output_file=flag_values.output_file,
        model=model,
        options=RunOptions(output_dir=output_folder),
        recipe=FineTuningOptions(predict_batch_size=flag_values.batch_size),
        layers=flag_values.layers,
        max_seq_length=flag_values.max_seq_length,
        log_every_n_examples=flag_values.log_every_n_examples,
    )))
    return 0


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
