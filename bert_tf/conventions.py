"""Conventions a task and its SavedModel export share, kept apart so that `bert_tf.serving` never imports a task.

Pure Python, no TensorFlow:

* `SQUAD_WHITESPACE`: the characters the original `run_squad.py` splits a context on ("doc tokens"),
  narrower than the tokenizer's whitespace; `is_squad_whitespace`.
* `NO_SPAN_NULL_ODDS`: SQuAD 2.0's null odds for a question with no valid span at all ("null certainly
  wins"; the original crashes there).
* `OUTSIDE` and `split_tag`: how a token-classification label (`B-PER`, `I-LOC`, `O`, `S-ORG`, ...) splits
  into its chunk prefix and entity type, as conlleval reads it.
"""
from typing import Tuple

SQUAD_WHITESPACE = frozenset((" ", "\t", "\r", "\n", "\u202f"))
NO_SPAN_NULL_ODDS = 1e6
OUTSIDE = "O"


def is_squad_whitespace(char: str) -> bool:
    """The original `run_squad` whitespace test (narrower than the tokenizer's)."""
    return char in SQUAD_WHITESPACE


def split_tag(tag: str) -> Tuple[str, str]:
    """`B-PER` -> (`B`, `PER`); `O` -> (`O`, `""`); conlleval's `([^-]*)-(.*)`."""
    prefix, separator, entity_type = tag.partition("-")
    return (prefix, entity_type) if separator else (tag, "")
