"""Converts a BERT checkpoint folder between the released google-research/bert format, Hugging Face's and
keras-hub's.

  python convert_checkpoint.py --input=../shared/checkpoints/minilm_l6_h384_uncased --output=out/minilm_hf
  python convert_checkpoint.py --input=out/minilm_hf --output=out/minilm_released
  python convert_checkpoint.py --input=out/minilm_released --output=out/minilm_keras_hub --output_format=keras_hub

`--input` is a released model folder (`bert_config.json`, `vocab.txt`, `bert_model.ckpt.*`), a fine-tuning
`--output_dir` of run_classifier.py, run_ner.py, run_squad.py or run_swag.py (its newest checkpoint and labels; the
config and vocabulary from `--bert_dir`), a Hugging Face folder (`config.json`, `model.safetensors` or shards with
their index, `vocab.txt` / `tokenizer.json` / `tokenizer_config.json`), or a keras-hub preset (`metadata.json`,
`config.json`, `model.weights.h5`, `tokenizer.json`, `assets/tokenizer/vocabulary.txt`; read and written without
keras-hub). The format is detected; `--output_format` defaults to `huggingface` from a released folder and
`released` from the others. Heads convert both ways: BertModel, BertForPreTraining, BertForSequenceClassification
(`output_weights`, labels in `label_list.txt`), BertForTokenClassification (`cls/ner/*`, `label_map.json`),
BertForQuestionAnswering (`cls/squad/*`), BertForMultipleChoice (`cls/multiple_choice/*`); keras-hub has the base
model (BertBackbone) and BertTextClassifier only. `--output` must be a new (or empty) folder. What cannot be
converted exactly (another model type, a tokenizer the original cannot reproduce, missing or extra tensors,
half-precision weights without `--dtype=float32`, a PyTorch .bin, a head or activation keras-hub's BERT does not
have) exits with status 1 and one line naming the file, field or tensor; nothing is written. Library code:
`bert_tf.interop.convert`.
"""
from absl import flags, logging

from bert_tf import cli

_PROGRAM = "convert_checkpoint.py"
OUTPUT_FORMATS = ("released", "huggingface", "keras_hub")


def define_flags(flag_values: flags.FlagValues) -> None:
    define = cli.FlagDefiner(flag_values)
    define.string("input", None, "The folder to convert: released model folder, fine-tuning output_dir, Hugging "
                                 "Face folder or keras-hub preset.")
    define.string("output", None, "The folder to write (new, or empty).")
    define.choice("output_format", None, OUTPUT_FORMATS,
                  "released, huggingface or keras_hub; default: huggingface from a released folder, released "
                  "from the others.")
    define.string("dtype", None, "float32: convert float16/bfloat16 Hugging Face or keras-hub weights (refused "
                                 "otherwise).")
    define.string("bert_dir", None, "For a fine-tuning output_dir: the pretrained model folder with its "
                                    "bert_config.json and vocab.txt.")
    define.boolean("do_lower_case", None, "A released model's casing for the Hugging Face tokenizer (default: the "
                                          "run's, else the vocabulary's).")


def run(flag_values) -> int:
    """Converts; returns 0 (errors are `UserError`s, reported by `cli.EntryPoint`)."""
    cli.require([
        (flag_values.input, "--input is required: the checkpoint folder to convert"),
        (flag_values.output, "--output is required: the folder to write"),
    ])
    from bert_tf.interop import convert

    model = convert(flag_values.input, flag_values.output, flag_values.output_format, flag_values.dtype,
                    flag_values.bert_dir, flag_values.do_lower_case)
    logging.info("Wrote %s (%s head)", flag_values.output, model.head)
    return 0


ENTRY_POINT = cli.EntryPoint(_PROGRAM, define_flags, run, info_logging=True)
main = ENTRY_POINT.main  # main(argv: the command line, program name first) -> exit status

if __name__ == "__main__":
    ENTRY_POINT.run_as_program()
