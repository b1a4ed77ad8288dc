"""Checkpoint conversion between the released google-research/bert format, Hugging Face folders and keras-hub
presets.

* `formats`: which format a folder holds (`detect_format`), `ConversionError`.
* `portable_model`: `PortableModel`, a model in memory in released names and layouts, and the tensors of each head.
* `released`: released folders and fine-tuning output_dirs, read and written.
* `huggingface` (with `hf_names`, `hf_config`, `hf_tokenizer`, `safetensors_files`): Hugging Face folders.
* `keras_hub` (with `keras_hub_config`, `keras_hub_weights`): keras-hub BERT presets, read and written with h5py
  and json (keras-hub itself is not imported).
* `convert`: `convert(input_folder, output, output_format=None)`, the library side of `convert_checkpoint.py`.

Nothing here imports the tasks; `safetensors` is needed only for Hugging Face folders (extra `hub`); `model_folder`
converts a Hugging Face folder or keras-hub preset given to a script as `--bert_dir` / `--init_checkpoint`.
"""
from bert_tf.interop.convert import convert, read_model, write_model
from bert_tf.interop.formats import FORMATS, ConversionError, detect_format

__all__ = ["FORMATS", "ConversionError", "convert", "detect_format", "read_model", "write_model"]
