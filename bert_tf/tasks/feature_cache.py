"""The one feature cache of every task: TFRecord files in `output_dir`, keyed on content, not on times.

A cached file `<output_dir>/<name>` is reused only while everything that made it is unchanged: the
SHA-256 of each input file and of the vocabulary, and the settings that shape the features (casing,
lengths, labels, ...). The key is stored next to the file as `<name>.meta.json`; a file whose key differs,
or that fails its `check` (truncated, other shapes), is written again. Files are written through a
temporary name, so an interrupted run never leaves a half-written cache.
"""
from __future__ import annotations

import json
import os
from typing import Callable, Mapping, Optional, Sequence

from absl import logging

from bert_tf import files

META_SUFFIX = ".meta.json"
CACHE_FORMAT = 2


def cache_key(input_files: Sequence[str], vocab_file: str, settings: Mapping[str, object]) -> dict:
    """The key of a cached feature file: content digests of the inputs and vocabulary, plus `settings`.

    Args:
      input_files: the data files the features come from.
      vocab_file: the WordPiece vocabulary.
      settings: JSON-serializable values that change the features (`max_seq_length`, casing, labels...).
    """
    return {
        "format": CACHE_FORMAT,
        "inputs": {os.path.basename(path): files.file_digest(path) for path in input_files},
        "vocab_sha256": files.file_digest(vocab_file),
        "settings": json.loads(json.dumps(dict(settings), sort_keys=True, default=str)),
    }


def cached_tfrecord(path: str, key: dict, write: Callable[[str], int],
                    check: Optional[Callable[[str], None]] = None) -> str:
    """Returns `path`, written by `write(temporary_path) -> record count` unless a cache with `key` is there.

    Args:
      path: the cache file (`<output_dir>/train.tf_record`, ...).
      key: from `cache_key` (plus anything else that must match).
      write: writes the records to the path it is given (a temporary name renamed to `path` on success).
      check: raises ValueError/OSError when an existing file is unusable (it is then rewritten).
    """
    gfile = files.tf_gfile()
    meta_path = path + META_SUFFIX
    if gfile.exists(path) and gfile.exists(meta_path):
        try:
            with gfile.GFile(meta_path, "r") as reader:
                if json.load(reader) == key:
                    if check is not None:
                        check(path)
                    logging.info("Reusing cached features %s", path)
                    return path
            logging.info("Rewriting %s: its inputs or settings changed", path)
        except (ValueError, OSError) as error:
            logging.info("Rewriting %s: %s", path, error)
    temporary = files.temporary_name(path)
    try:
        count = write(temporary)
        gfile.rename(temporary, path, overwrite=True)
    except BaseException:
        if gfile.exists(temporary):
            gfile.remove(temporary)
        raise
    files.atomic_write_text(meta_path, json.dumps(key, indent=1, sort_keys=True) + "\n")
    logging.info("Wrote %d records to %s", count, path)
    return path
