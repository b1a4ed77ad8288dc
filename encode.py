"""Sentence embeddings of every text in a file: one vector per line (text file), JSON line or TSV row.

  python encode.py --input_file=sentences.txt --output_file=out/embeddings.npy \\
    --bert_dir=$BERT_BASE_DIR --pooling=mean --normalize

`--input_file`: a text file (one text per line, empty lines included), JSON lines (`--text_field`, default `text`
for a `.jsonl` name) or TSV (`--column`: a header name, or a 0-based index for a file without header); UTF-8.
`--output_file`: `.npy` (a float32 array [texts, dimension], row i the input's i-th text) or `.jsonl`
(`{"index": i, "embedding": [...]}` per text). `--pooling=cls|mean|max|pooler` over the real tokens (`[CLS]` and
`[SEP]` included), of `--layers` averaged (`-1`, or `-4,-3,-2,-1`); `--normalize` L2-normalizes. A text longer
than `--max_seq_length` is embedded in windows `--window_stride` pieces apart whose vectors are averaged
(weighted by their tokens), or cut with `--truncate`; an empty text gets the vector of `[CLS] [SEP]`. With
all-MiniLM-L6-v2 (`../shared/checkpoints/minilm_l6_h384_uncased`), `--pooling=mean --normalize` gives
sentence-transformers' embeddings. Without `--bert_dir`, `$BERT_BASE_DIR` is used. Bad input exits with status 1
and one line naming the flag, file or line, and writes nothing. Library code: `bert_tf.encode`
(`bert_tf.tasks.embedding.encoder`).
"""
import os

from absl import flags, logging

from bert_tf import cli

_PROGRAM = "encode.py"


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the script's flags on `flag_values`."""
    define = cli.FlagDefiner(flag_values)
    define.string("input_file", None, "The texts: one per line, JSON lines (--text_field) or TSV (--column).")
    define.string("output_file", None, "Where the vectors go: .npy (float32 [texts, dimension]) or .jsonl.")
    define.string("bert_dir", None, "A released model folder (bert_config.json, vocab.txt, checkpoint); default "
                                    "$BERT_BASE_DIR.")
    define.string("text_field", None, "JSON lines: the field holding the text (default: text).")
    define.string("column", None, "TSV: the column holding the text, a header name or a 0-based index.")
    define.choice("pooling", "mean", ["cls", "mean", "max", "pooler"],
                  "How token vectors become one: mean or max over the real tokens, the [CLS] token, or the "
                  "pretrained pooler.")
    define.string("layers", "-1", "Comma-separated encoder layer indexes averaged before pooling (-1 is the last).")
    define.boolean("normalize", False, "L2-normalize each vector.")
    define.integer("max_seq_length", 128, "Word pieces per window, [CLS] and [SEP] included.")
    define.integer("batch_size", 32, "Windows per model call.")
    define.boolean("truncate", False, "Cut a text longer than --max_seq_length (default: average its windows).")
    define.integer("window_stride", None, "Word pieces between the starts of a long text's windows (default: half "
                                          "a window).")
    define.boolean("do_lower_case", None, "Lower-case the text (default: the model folder's casing).")
    define.integer("log_every_n_windows", 1000, "Log progress after every this many windows.")


def run(flag_values) -> int:
    """Encodes the file with parsed flags; returns 0 (errors are `UserError`s, reported by `cli.EntryPoint`)."""
    from bert_tf import files
    from bert_tf.errors import InputError
    from bert_tf.tasks.embedding.predictions import output_format

    missing = [f"--{name}" for name in ("input_file", "output_file") if not flag_values[name].value]
    if missing:
        raise InputError("missing " + ", ".join(missing))
    output_format(flag_values.output_file)
    bert_dir = flag_values.bert_dir or os.environ.get("BERT_BASE_DIR")
    if not bert_dir:
        raise InputError("missing --bert_dir (a released model folder; or set $BERT_BASE_DIR)")
    if files.resolved_path(flag_values.input_file) == files.resolved_path(flag_values.output_file):
        raise InputError(f"--output_file {flag_values.output_file} is the --input_file: it would be overwritten; "
                         "write the vectors to another file")
    # Imported here so that `--help` and flag errors do not wait for TensorFlow.
    import tensorflow as tf

    from bert_tf.tasks.embedding.encoder import SentenceEncoder
    from bert_tf.tasks.embedding.examples import read_texts
    from bert_tf.tasks.embedding.predictions import write_embeddings

    # TensorFloat-32 matmuls (on by default on recent NVIDIA GPUs) would move the vectors by ~1e-3.
    tf.config.experimental.enable_tensor_float_32_execution(False)
    with files.protected_inputs({"--input_file": flag_values.input_file}):
        texts = read_texts(flag_values.input_file, flag_values.text_field, flag_values.column)
        if not texts:
            raise InputError(f"--input_file {flag_values.input_file} holds no text: nothing to encode")
        if not flag_values.bert_dir:
            logging.info("Using --bert_dir=%s (from $BERT_BASE_DIR)", bert_dir)
        encoder = SentenceEncoder(bert_dir, pooling=flag_values.pooling, layers=flag_values.layers,
                                  normalize=flag_values.normalize, max_seq_length=flag_values.max_seq_length,
                                  batch_size=flag_values.batch_size, truncate=flag_values.truncate,
                                  do_lower_case=flag_values.do_lower_case, window_stride=flag_values.window_stride,
                                  log_every_n_windows=flag_values.log_every_n_windows)
        vectors = encoder.encode(texts)
        folder = os.path.dirname(flag_values.output_file)
        if folder:
            tf.io.gfile.makedirs(folder)
        write_embeddings(flag_values.output_file, vectors)
    cli.print_summary(_PROGRAM, None, outputs={f"{vectors.shape[0]} vectors of {vectors.shape[1]} dimensions":
                                               flag_values.output_file})
    return 0


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
