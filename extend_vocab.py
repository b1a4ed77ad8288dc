"""Add domain words to a released BERT model: fill its `[unusedN]` slots, then (with `--grow`) grow it.

  python extend_vocab.py --bert_dir=$BERT_BASE_DIR --words_file=words.txt --output_dir=out/extended [--grow]

`--words_file` has one word a line, written as the tokenizer sees it (lower case for an uncased model).
Writes `vocab.txt`, `bert_config.json` (`vocab_size`) and `bert_model.ckpt` to `--output_dir`: the word
embeddings and the masked-LM output bias get a row per new word, initialised with the mean of the rows of
the pieces that spelled the word before; every old row and every other variable is copied unchanged.
Continue pretraining from it with `run_pretraining.py --bert_dir=<output_dir>`. Library code:
`bert_tf.tasks.pretraining.vocabulary_extension`.
"""
from absl import flags, logging

from bert_tf import cli

_PROGRAM = "extend_vocab.py"


def define_flags(flag_values: flags.FlagValues) -> None:
    """`--bert_dir`, `--words_file`, `--output_dir`, `--grow`, `--do_lower_case`."""
    define = cli.FlagDefiner(flag_values)
    define.string("bert_dir", None, "The model folder (vocab.txt, bert_config.json, a checkpoint).")
    define.string("words_file", None, "Words to add, one a line.")
    define.string("output_dir", None, "Where to write the extended model (another folder than --bert_dir).")
    define.boolean("grow", False, "Append the words that find no [unusedN] slot (the vocabulary grows).")
    define.boolean("do_lower_case", True, "Whether the model is uncased (words must then be lower case).")


def run(flag_values) -> int:
    """Extends the model with parsed flags; returns 0 (errors are `UserError`s)."""
    from bert_tf.tasks.pretraining import vocabulary_extension

    missing = [f"--{name}" for name in ("bert_dir", "words_file", "output_dir") if not flag_values[name].value]
    if missing:
        raise vocabulary_extension.VocabularyExtensionError("missing " + ", ".join(missing))
    summary = vocabulary_extension.extend_vocabulary(
        flag_values.bert_dir, flag_values.words_file, flag_values.output_dir, grow=flag_values.grow,
        do_lower_case=flag_values.do_lower_case)
    logging.info(summary.format())
    return 0


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
