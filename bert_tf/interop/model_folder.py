"""A Hugging Face folder or keras-hub preset where the scripts expect a released folder (`--bert_dir`,
`--init_checkpoint`): converted once into a released folder that the run reads.

The copy goes to `<cache_dir>/converted_model/` (the run's `output_dir`), with `source.json` recording the source
folder and its files' sizes and times: a later run with the same, unchanged source reuses it; a changed source is
converted again. Without a `cache_dir` it goes to a temporary folder removed when the process ends.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from typing import Optional

from absl import logging

from bert_tf.files import resolved_path
from bert_tf.interop.formats import HUGGINGFACE, KERAS_HUB, ConversionError, detect_format

CONVERTED_FOLDER = "converted_model"
SOURCE_FILE = "source.json"
# How the log lines call a folder of each format converted here.
FOLDER_KINDS = {HUGGINGFACE: "a Hugging Face folder", KERAS_HUB: "a keras-hub preset"}


def needs_conversion(path: Optional[str]) -> bool:
    """Whether `path` is a local Hugging Face folder or keras-hub preset (converted before a run reads it)."""
    return _format_to_convert(path) is not None


def _format_to_convert(path: Optional[str]) -> Optional[str]:
    if not path or "://" in str(path) or not os.path.isdir(path):
        return None
    try:
        kind = detect_format(path)
    except ConversionError:
        return None
    return kind if kind in FOLDER_KINDS else None


def _fingerprint(folder: str) -> dict:
    """The source folder and its files' sizes and modification times: what says a conversion is current."""
    files = {}
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            status = os.stat(path)
            files[name] = [status.st_size, status.st_mtime_ns]
    return {"source": resolved_path(folder), "files": files}


def released_copy(folder: str, cache_dir: Optional[str] = None, what: str = "--bert_dir") -> str:
    """The released folder (`bert_config.json`, `vocab.txt`, `bert_model.ckpt`) of `folder`.

    Args:
      folder: a Hugging Face BERT folder or a keras-hub BERT preset.
      cache_dir: where to keep the converted copy (`<cache_dir>/converted_model`); None: a temporary folder.
      what: how the log line calls the folder (the flag).

    Raises:
      ConversionError: the folder cannot be converted (one line naming why).
    """
    from bert_tf.interop.convert import convert

    kind = FOLDER_KINDS[_format_to_convert(folder)]
    fingerprint = _fingerprint(folder)
    if cache_dir:
        target = os.path.join(cache_dir, CONVERTED_FOLDER)
        record = os.path.join(target, SOURCE_FILE)
        if os.path.exists(record):
            with open(record, encoding="utf-8") as reader:
                if json.load(reader) == fingerprint:
                    logging.info("%s %s is %s: using its released copy %s", what, folder, kind, target)
                    return target
            shutil.rmtree(target)  # a copy of another or changed source, written here before
        elif os.path.exists(target):
            raise ConversionError(f"{target} exists and is not a converted copy: move it away to convert {folder}")
        os.makedirs(cache_dir, exist_ok=True)
    else:
        target = tempfile.mkdtemp(prefix="bert_tf_converted_")
        atexit.register(shutil.rmtree, target, True)
    convert(folder, target, "released")
    with open(os.path.join(target, SOURCE_FILE), "w", encoding="utf-8") as writer:
        json.dump(fingerprint, writer)
    logging.info("%s %s is %s: converted to the released format in %s", what, folder, kind, target)
    return target
