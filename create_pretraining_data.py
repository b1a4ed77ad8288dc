"""Create masked-LM / next-sentence pretraining TFRecords (the original google-research/bert script).

  python create_pretraining_data.py \\
    --input_file=./sample_text.txt --output_file=/tmp/tf_examples.tfrecord \\
    --vocab_file=$BERT_BASE_DIR/vocab.txt --do_lower_case=True \\
    --max_seq_length=128 --max_predictions_per_seq=20 --masked_lm_prob=0.15 \\
    --random_seed=12345 --dupe_factor=5

Same flags, defaults and output format as the original, plus `--num_workers` (default: all cores) and
`--word_segmentation=jieba|ref` (+ `--ref_file`): Chinese whole-word masking with `--do_whole_word_mask`.
With `--num_workers=1` the records are exactly the original's for the same seed; with N workers the
output is deterministic for a given seed and N. Library code: `bert_tf.tasks.pretraining.create`.
"""
from absl import flags, logging

from bert_tf import cli

_PROGRAM = "create_pretraining_data.py"


def define_flags(flag_values: flags.FlagValues) -> None:
    """Defines the original script's flags (same names and defaults) plus `--num_workers`,
    `--word_segmentation` and `--ref_file`."""
    define = cli.FlagDefiner(flag_values)
    define.string("input_file", None, "Input raw text file (or comma-separated list of files, glob patterns allowed).")
    define.string("output_file", None, "Output TF example file (or comma-separated list of files).")
    define.string("vocab_file", None, "The vocabulary file that the BERT model was trained on.")
    define.boolean("do_lower_case", True, "Whether to lower case the input text. Should be True for uncased models "
                                          "and False for cased models.")
    define.boolean("do_whole_word_mask", False, "Whether to use whole word masking rather than per-WordPiece "
                                                "masking.")
    define.choice("word_segmentation", "none", ["none", "jieba", "ref"],
                  "With --do_whole_word_mask: how Chinese text is split into words, whose characters are masked "
                  "together (one 80/10/10 draw per word). none: only '##' pieces group (the original); jieba: "
                  "jieba's default dictionary (pip install 'bert_tf[chinese]'); ref: --ref_file.")
    define.string("ref_file", None, "With --word_segmentation=ref: word boundaries, one file per input file "
                                    "(comma-separated, in input order), in the format of Hugging Face's "
                                    "run_chinese_ref.py: a JSON list per non-blank line of the positions of the "
                                    "tokens that continue a word ([CLS] = 0).")
    define.integer("max_seq_length", 128, "Maximum sequence length.")
    define.integer("max_predictions_per_seq", 20, "Maximum number of masked LM predictions per sequence.")
    define.integer("random_seed", 12345, "Random seed for data generation.")
    define.integer("dupe_factor", 10, "Number of times to duplicate the input data (with different masks).")
    define.number("masked_lm_prob", 0.15, "Masked LM probability.")
    define.number("short_seq_prob", 0.1, "Probability of creating sequences which are shorter than the maximum "
                                         "length.")
    define.integer("num_workers", None, "Processes creating instances (default: all cores). 1 reproduces the "
                                        "original's random choices exactly; the output depends on the seed and "
                                        "this number.")
    define.boolean("progress", True, "Show a progress line on stderr.")


def run(flag_values) -> int:
    """Creates the data with parsed flags; returns 0 (errors are `UserError`s, reported by `cli.EntryPoint`)."""
    import os

    from bert_tf import tokenization
    from bert_tf.tasks.pretraining import create as pretraining

    missing = [f"--{name}" for name in ("input_file", "output_file", "vocab_file") if not flag_values[name].value]
    if missing:
        raise pretraining.PretrainingDataError("missing " + ", ".join(missing))
    vocab_file = flag_values.vocab_file
    if "://" not in vocab_file and not os.path.isfile(vocab_file):
        raise pretraining.PretrainingDataError(f"--vocab_file: no such file {vocab_file}")
    config = pretraining.PretrainingDataConfig(
        max_seq_length=flag_values.max_seq_length,
        max_predictions_per_seq=flag_values.max_predictions_per_seq,
        masked_lm_prob=flag_values.masked_lm_prob,
        short_seq_prob=flag_values.short_seq_prob,
        dupe_factor=flag_values.dupe_factor,
        do_whole_word_mask=flag_values.do_whole_word_mask,
        word_segmentation=flag_values.word_segmentation,
        random_seed=flag_values.random_seed,
        num_workers=flag_values.num_workers,
    )
    config.validate()
    try:
        tokenizer = tokenization.FullTokenizer(vocab_file=vocab_file, do_lower_case=flag_values.do_lower_case)
    except ValueError as error:
        raise pretraining.PretrainingDataError(f"cannot use vocab file {vocab_file}: {error}") from None
    logging.info("*** Reading from input files ***")
    summary = pretraining.create_pretraining_data(
        flag_values.input_file, flag_values.output_file, tokenizer, config,
        show_progress=flag_values.progress, vocab_file=vocab_file, ref_file=flag_values.ref_file)
    for line in summary.format().splitlines():
        logging.info(line)
    if summary.undecodable_bytes:
        logging.warning("dropped %d bytes that are not UTF-8 (%s)", summary.total_undecodable_bytes,
                        ", ".join(f"{path}: {count}" for path, count in summary.undecodable_bytes.items()))
    return 0


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
