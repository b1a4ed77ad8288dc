"""`extract_features.py` input: one example per line, `text_a` or `text_a ||| text_b` (the original's format).

The line is stripped first; the original regex splits a pair, so the last ` ||| ` separates `text_a`
from `text_b`; the example's `unique_id` is its 0-based line index; an empty line is an example with
empty `text_a`.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
import re
from typing import Iterator, List, Optional

import tensorflow as tf

from bert_tf.errors import InputError

# The original's pair separator: the last " ||| " on the (stripped) line splits text_a from text_b.
_PAIR_PATTERN = re.compile(r"^(.*) \|\|\| (.*)$")


class FeatureExtractionError(InputError):
    """Bad input to feature extraction: a missing file, an invalid setting, an unreadable line."""


@dataclasses.dataclass(frozen=True)
class InputExample:
    """One input line. `unique_id`: its 0-based line index; `text_b` is None without ` ||| `."""

    unique_id: int
    text_a: str
    text_b: Optional[str] = None


def parse_line(line: str, unique_id: int) -> InputExample:
    """Splits one (unstripped) line into an `InputExample` the way the original `read_examples` does."""
    line = line.strip()
    match = _PAIR_PATTERN.match(line)
    if match is None:
        return InputExample(unique_id=unique_id, text_a=line, text_b=None)
    return InputExample(unique_id=unique_id, text_a=match.group(1), text_b=match.group(2))


def iter_examples(input_file: str) -> Iterator[InputExample]:
    """Streams the examples of `input_file` (local path or any `tf.io.gfile` URL), one per line.

    Lines end at `\\n` only (as the original's `GFile.readline`); each must be valid UTF-8.
    Raises FeatureExtractionError naming the file and line for a missing file or undecodable line.
    """
    input_file = os.fspath(input_file)
    if not tf.io.gfile.exists(input_file):
        raise FeatureExtractionError(f"input file not found: {input_file}")
    with tf.io.gfile.GFile(input_file, "rb") as reader:
        for unique_id in itertools.count():
            raw_line = reader.readline()
            if not raw_line:
                return
            try:
                line = raw_line.decode("utf-8")
            except UnicodeDecodeError as error:
                raise FeatureExtractionError(
                    f"{input_file}:{unique_id + 1}: not valid UTF-8 ({error.reason} at byte {error.start})"
                ) from None
            yield parse_line(line, unique_id)


def read_examples(input_file: str) -> List[InputExample]:
    """All examples of `input_file` in a list (original API; `iter_examples` streams them)."""
    return list(iter_examples(input_file))
