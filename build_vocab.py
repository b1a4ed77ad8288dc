"""Build a WordPiece vocabulary (vocab.txt in the original BERT layout) from text files.

  python build_vocab.py --input_file=corpus.txt --output_file=out/vocab.txt --vocab_size=8000 \\
    --do_lower_case=True

The words are those the original tokenizer sees (CJK characters one by one, punctuation split off,
lower cased with `--do_lower_case`); tensorflow-text's WordPiece learner picks the pieces. The file has
exactly `--vocab_size` lines: `[PAD]`, `[unused*]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`, more
`[unused*]` up to the size, then the tokens. Deterministic. Library code:
`bert_tf.tokenization.vocab_builder`.
"""
from absl import flags, logging

from bert_tf import cli

_PROGRAM = "build_vocab.py"


def define_flags(flag_values: flags.FlagValues) -> None:
    """`--input_file`, `--output_file`, `--vocab_size`, `--do_lower_case` and the learner's settings."""
    define = cli.FlagDefiner(flag_values)
    define.string("input_file", None, "Text file(s) to learn from (comma-separated, glob patterns allowed).")
    define.string("output_file", None, "The vocabulary file to write (one token a line).")
    define.integer("vocab_size", None, "Lines of the vocabulary ([PAD], [unused*] and special tokens included).")
    define.boolean("do_lower_case", True, "Lower case and strip accents (for an uncased model).")
    define.integer("num_unused", 99, "[unusedN] slots between [PAD] and [UNK] (the original English vocabularies "
                                     "have 99); extend_vocab.py fills them with domain words later.")
    define.integer("min_count", 2, "Lowest count threshold tried: pieces seen fewer times are never learned "
                                   "(single characters always are); the threshold rises until the vocabulary fits.")
    define.integer("max_unique_chars", 1000, "The most frequent characters kept; words with others are not "
                                             "counted. Raise it for Chinese text.")


def run(flag_values) -> int:
    """Builds the vocabulary with parsed flags; returns 0 (errors are `UserError`s)."""
    from bert_tf.tokenization import vocab_builder

    missing = [f"--{name}" for name in ("input_file", "output_file", "vocab_size") if flag_values[name].value is None
               or flag_values[name].value == ""]
    if missing:
        raise vocab_builder.VocabularyError("missing " + ", ".join(missing))
    config = vocab_builder.VocabularyConfig(
        vocab_size=flag_values.vocab_size, do_lower_case=flag_values.do_lower_case,
        num_unused=flag_values.num_unused, min_count=flag_values.min_count,
        max_unique_chars=flag_values.max_unique_chars)
    summary = vocab_builder.build_vocabulary(flag_values.input_file, flag_values.output_file, config)
    logging.info(summary.format())
    return 0


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
