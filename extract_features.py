"""Extract pre-computed feature vectors from BERT (the original google-research/bert script).

  python extract_features.py \\
    --input_file=input.txt --output_file=output.jsonl \\
    --vocab_file=$BERT_BASE_DIR/vocab.txt --bert_config_file=$BERT_BASE_DIR/bert_config.json \\
    --init_checkpoint=$BERT_BASE_DIR/bert_model.ckpt --layers=-1,-2,-3,-4 --max_seq_length=128

or `--bert_dir=$BERT_BASE_DIR` for the three model flags (explicit flags still win). Each input line is
`text_a` or `text_a ||| text_b`; each output line is `{"linex_index": i, "features": [{"token": ...,
"layers": [{"index": -1, "values": [...]}, ...]}, ...]}`. The TPU flags of the original are accepted
and ignored. Library code: `bert_tf.tasks.feature_extraction.run`.
"""
import functools

from absl import flags, logging

from bert_tf import cli

_PROGRAM = "extract_features.py"
_error = functools.partial(cli.print_error, _PROGRAM)  # _error(message, code=1) -> exit code


_REQUIRED_FLAGS = ("input_file", "output_file")


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the original script's flags (same names, defaults) plus `--bert_dir` on `flag_values`."""
    flags.DEFINE_string("input_file", None, "Text file, one `text_a` or `text_a ||| text_b` per line.",
                        flag_values=flag_values)
    flags.DEFINE_string("output_file", None, "JSON-lines file to write (one object per input line).",
                        flag_values=flag_values)
    flags.DEFINE_string("layers", "-1,-2,-3,-4", "Comma-separated encoder layer indexes (-1 is the last).",
                        flag_values=flag_values)
    flags.DEFINE_string("bert_config_file", None,
                        "The config json file corresponding to the pre-trained BERT model. "
                        "This specifies the model architecture.", flag_values=flag_values)
    flags.DEFINE_integer("max_seq_length", 128,
                         "The maximum total input sequence length after WordPiece tokenization. "
                         "Sequences longer than this will be truncated.", flag_values=flag_values)
    flags.DEFINE_string("init_checkpoint", None, "Initial checkpoint (usually from a pre-trained BERT model).",
                        flag_values=flag_values)
    flags.DEFINE_string("vocab_file", None, "The vocabulary file that the BERT model was trained on.",
                        flag_values=flag_values)
    flags.DEFINE_bool("do_lower_case", True,
                      "Whether to lower case the input text. Should be True for uncased models and False "
                      "for cased models.", flag_values=flag_values)
    flags.DEFINE_integer("batch_size", 32, "Batch size for predictions.", flag_values=flag_values)
    flags.DEFINE_string("bert_dir", None,
                        "A released model folder: sets --vocab_file, --bert_config_file and --init_checkpoint "
                        "to its vocab.txt, bert_config.json and checkpoint unless they are given.",
                        flag_values=flag_values)
    flags.DEFINE_integer("log_every_n_examples", 1000, "Log progress after every this many examples.",
                         flag_values=flag_values)
    # Accepted for command-line compatibility with the original; they change nothing here.
    flags.DEFINE_bool("use_tpu", False, "Ignored (original TPU flag).", flag_values=flag_values)
    flags.DEFINE_string("master", None, "Ignored (original TPU flag).", flag_values=flag_values)
    flags.DEFINE_integer("num_tpu_cores", 8, "Ignored (original TPU flag).", flag_values=flag_values)
    flags.DEFINE_bool("use_one_hot_embeddings", False, "Ignored (original TPU/embedding flag).",
                      flag_values=flag_values)


def run(flag_values) -> int:
    """Runs the extraction with parsed flags; returns the exit status (0, or 1 after a one-line error)."""
    missing = [name for name in _REQUIRED_FLAGS if not flag_values[name].value]
    if missing:
        return _error("missing " + ", ".join(f"--{name}" for name in missing))
    # Imported here so that `--help` and flag errors do not wait for TensorFlow.
    import tensorflow as tf

    from bert_tf.tasks.feature_extraction import run as features

    # The original computed in full float32; TensorFloat-32 matmuls (on by default on recent NVIDIA
    # GPUs) would move the written values by ~1e-3.
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        vocab_file, bert_config_file, init_checkpoint = features.resolve_model_files(
            flag_values.bert_dir, flag_values.vocab_file, flag_values.bert_config_file, flag_values.init_checkpoint
        )
        if flag_values.use_tpu:
            logging.warning("--use_tpu is ignored: running on the local CPU/GPU")
        config = features.ExtractionConfig(
            input_file=flag_values.input_file,
            output_file=flag_values.output_file,
            vocab_file=vocab_file,
            bert_config_file=bert_config_file,
            init_checkpoint=init_checkpoint,
            layers=flag_values.layers,
            max_seq_length=flag_values.max_seq_length,
            do_lower_case=flag_values.do_lower_case,
            batch_size=flag_values.batch_size,
            log_every_n_examples=flag_values.log_every_n_examples,
        )
        features.run_extraction(config)
    except (ValueError, OSError) as error:
        return _error(cli.one_line(error))
    except tf.errors.OpError as error:
        return _error(cli.one_line(error))
    return 0


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
