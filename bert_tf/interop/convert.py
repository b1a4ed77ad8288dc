"""`convert`: one checkpoint folder to another format, written whole or not at all.

    from bert_tf.interop import convert
    convert("hf_folder", "out/released")                      # Hugging Face -> released (the default)
    convert("../shared/checkpoints/minilm_l6_h384_uncased", "out/hf")   # released -> Hugging Face
    convert("out/hf", "out/preset", "keras_hub")              # -> a keras-hub preset; and back to released:
    convert("out/preset", "out/released_again")

The input's format is detected (`formats.detect_format`); the output folder must not exist or be empty. It is
written as a temporary sibling folder, renamed into place when complete: a refused or interrupted conversion
leaves nothing behind.
"""
from __future__ import annotations

import os
import shutil
from typing import Optional

from absl import logging

from bert_tf.files import resolved_path, temporary_name
from bert_tf.interop import formats
from bert_tf.interop.formats import ConversionError
from bert_tf.interop.hf_config import EXACT_GELU_NOTE
from bert_tf.interop.huggingface import read_huggingface, write_huggingface
from bert_tf.interop.keras_hub import read_keras_hub, write_keras_hub
from bert_tf.interop.portable_model import PortableModel
from bert_tf.interop.released import read_released, write_released

DTYPES = ("float32",)


def read_model(folder: str, bert_dir: Optional[str] = None, dtype: Optional[str] = None,
               do_lower_case: Optional[bool] = None) -> PortableModel:
    """The model in `folder`, whatever its format.

    Args:
      folder: a released model folder, a fine-tuning output_dir, a Hugging Face folder or a keras-hub preset.
      bert_dir: the config and vocabulary of a fine-tuning output_dir.
      dtype: "float32" converts half-precision Hugging Face or keras-hub weights (else refused).
      do_lower_case: a released model's casing (default: the run's or the vocabulary's).

    Raises:
      ConversionError: one line naming what cannot be converted.
    """
    if dtype is not None and dtype not in DTYPES:
        raise ConversionError(f"--dtype {dtype!r}: only float32 (the released format's) is supported")
    kind = formats.detect_format(folder)
    if kind == formats.HUGGINGFACE:
        return read_huggingface(folder, dtype)
    if kind == formats.RELEASED:
        return read_released(folder, bert_dir, do_lower_case)
    return read_keras_hub(folder, dtype)


def _check_output(output: str, input_folder: str) -> None:
    if resolved_path(output) == resolved_path(input_folder):
        raise ConversionError(f"--output {output} is the input folder: choose another")
    if os.path.exists(output) and (not os.path.isdir(output) or os.listdir(output)):
        raise ConversionError(f"--output {output} exists and is not an empty folder: choose a new one")
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise ConversionError(f"--output {output}: folder {parent} does not exist")


def write_model(model: PortableModel, output: str, output_format: str) -> None:
    """Writes `model` as a new folder `output` in `output_format`, through a temporary sibling folder."""
    output = os.path.abspath(output)
    temporary = temporary_name(output)
    os.makedirs(temporary)
    try:
        if output_format == formats.RELEASED:
            write_released(model, temporary)
        elif output_format == formats.KERAS_HUB:
            write_keras_hub(model, temporary)
        else:
            write_huggingface(model, temporary)
        if os.path.isdir(output):
            os.rmdir(output)  # empty (checked): replaced by the complete folder
        os.rename(temporary, output)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def convert(input_folder: str, output: str, output_format: Optional[str] = None, dtype: Optional[str] = None,
            bert_dir: Optional[str] = None, do_lower_case: Optional[bool] = None) -> PortableModel:
    """Converts the checkpoint folder `input_folder` into a new folder `output`.

    Args:
      input_folder: a released model folder, a fine-tuning output_dir, a Hugging Face folder or a keras-hub preset.
      output: the folder to write (must not exist, or be empty).
      output_format: `released`, `huggingface` or `keras_hub` (default: `huggingface` from a released folder,
        `released` from the others).
      dtype, bert_dir, do_lower_case: see `read_model`.

    Returns:
      The model converted.

    Raises:
      ConversionError: one line naming the file, field or tensor at fault; nothing is written.
    """
    input_folder, output = os.fspath(input_folder), os.fspath(output)
    input_format = formats.detect_format(input_folder)
    output_format = output_format or formats.default_output_format(input_format)
    if output_format not in formats.FORMATS:
        raise ConversionError(f"--output_format {output_format!r}: choose one of {', '.join(formats.FORMATS)}")
    _check_output(output, input_folder)
    model = read_model(input_folder, bert_dir, dtype, do_lower_case)
    write_model(model, output, output_format)
    logging.info("Converted %s (%s, %s head) to %s (%s)", input_folder, input_format, model.head, output,
                 output_format)
    if output_format == formats.RELEASED:
        if model.bert_config.hidden_act.lower() == "gelu_exact":
            logging.info("%s: %s", os.path.join(output, "bert_config.json"), EXACT_GELU_NOTE)
        logging.info("%s: the tokenizer %s: pass --do_lower_case=%s to the scripts", output,
                     "lower-cases (uncased)" if model.do_lower_case else "keeps the case (cased)", model.do_lower_case)
    return model
