"""Tag schemes of token-classification files: IOB1, IOB2, BIOES (IOBES) and BMES, to and from IOB2.

The model always learns and predicts IOB2 (`O`, `B-TYPE`, `I-TYPE`), so the same entities train the same
model whatever scheme a file uses, and are scored with the same entity-level rules; predictions are
written back in the scheme of the file they tag.

| scheme | a one-word entity | a longer entity | notes |
|---|---|---|---|
| IOB2 | `B-X` | `B-X I-X ... I-X` | |
| IOB1 | `I-X` | `I-X ... I-X` | `B-X` only to start an entity right after another `X` entity |
| BIOES | `S-X` | `B-X I-X ... E-X` | also called IOBES |
| BMES | `S-X` | `B-X M-X ... E-X` | Chinese word-segmentation style |

`detect_scheme` reads the prefixes a file uses (`M-`: BMES; `E-` or `S-`: BIOES; an `I-` that starts an
entity: IOB1; else IOB2); `to_iob2` checks a sentence against its scheme and names the first tag that
breaks it; `from_iob2` writes IOB2 labels in a scheme.
"""
from __future__ import annotations

from typing import Iterable, List, Optional, Sequence

from bert_tf.conventions import OUTSIDE, split_tag
from bert_tf.errors import InputError

SCHEMES = ("iob1", "iob2", "bioes", "bmes")
_PREFIXES = {"iob1": "BI", "iob2": "BI", "bioes": "BIES", "bmes": "BMES"}


class SchemeError(InputError):
    """A tag that its scheme does not allow where it stands (`position`: its index in the sentence)."""

    def __init__(self, message: str, position: int):
        super().__init__(message)
        self.position = position


def _parts(tag: str):
    prefix, entity_type = split_tag(tag)
    return (OUTSIDE, "") if tag == OUTSIDE else (prefix, entity_type)


def check_tag(tag: str, scheme: Optional[str] = None) -> Optional[str]:
    """None when `tag` is `O` or `<prefix>-<TYPE>` with a prefix of `scheme` (any scheme when None); else
    what is wrong, in words."""
    if tag == OUTSIDE:
        return None
    prefix, entity_type = split_tag(tag)
    allowed = _PREFIXES[scheme] if scheme else "BIMES"
    if not entity_type or len(prefix) != 1 or prefix not in allowed:
        names = {"iob1": "IOB1", "iob2": "IOB2", "bioes": "BIOES", "bmes": "BMES"}
        if scheme is None:
            return f"tag {tag!r} is not O or a tag of a scheme (B-, I-, M-, E- or S- and a type)"
        return f"tag {tag!r} is not {names[scheme]} ({', '.join(f'{p}-TYPE' for p in allowed)} or O)"
    return None


def _starts_entity(previous: str, tag: str) -> bool:
    previous_prefix, previous_type = _parts(previous)
    prefix, entity_type = _parts(tag)
    return prefix == "I" and (previous_prefix == OUTSIDE or previous_type != entity_type)


def detect_scheme(sentences: Iterable[Sequence[str]]) -> str:
    """The scheme of a file's tags (see the module docstring).

    Raises:
      InputError: prefixes of two schemes (`M-` with IOB1-style `I-` starts, or `M-` without `E-`/`S-`...).
    """
    prefixes, iob1_starts = set(), False
    for tags in sentences:
        previous = OUTSIDE
        for tag in tags:
            prefixes.add(_parts(tag)[0])
            iob1_starts = iob1_starts or _starts_entity(previous, tag)
            previous = tag
    if "M" in prefixes:
        if "I" in prefixes:
            raise InputError("the tags mix schemes: M- (BMES) and I- (IOB/BIOES); give --tag_scheme")
        return "bmes"
    if prefixes & {"E", "S"}:
        return "bioes"
    return "iob1" if iob1_starts else "iob2"


def to_iob2(tags: Sequence[str], scheme: str) -> List[str]:
    """One sentence's tags in `scheme` -> IOB2 labels.

    Raises:
      SchemeError: a tag of another scheme, or a sequence `scheme` does not allow (an `I-`/`M-`/`E-` that
        continues nothing of its type, a `B-` that BIOES/BMES leaves unfinished).
    """
    for position, tag in enumerate(tags):
        problem = check_tag(tag, scheme)
        if problem:
            raise SchemeError(problem, position)
    if scheme in ("iob1", "iob2"):
        return _from_iob(tags, scheme)
    return _from_bioes(tags, scheme)


def _from_iob(tags: Sequence[str], scheme: str) -> List[str]:
    labels, previous = [], OUTSIDE
    for position, tag in enumerate(tags):
        if _starts_entity(previous, tag):
            if scheme == "iob2":
                raise SchemeError(f"tag {tag!r} after {previous!r} continues no entity (IOB2 starts one with B-)",
                                  position)
            tag = "B-" + _parts(tag)[1]
        labels.append(tag)
        previous = tag
    return labels


def _from_bioes(tags: Sequence[str], scheme: str) -> List[str]:
    inside = "M" if scheme == "bmes" else "I"
    labels, open_type = [], None
    for position, tag in enumerate(tags):
        prefix, entity_type = _parts(tag)
        if prefix in (inside, "E"):
            if open_type != entity_type:
                raise SchemeError(f"tag {tag!r} continues no {entity_type} entity ({scheme.upper()} starts one "
                                  "with B-)", position)
            labels.append("I-" + entity_type)
            open_type = entity_type if prefix == inside else None
            continue
        if open_type is not None:
            raise SchemeError(f"the {open_type} entity before tag {tag!r} has no end ({scheme.upper()} ends one with "
                              "E-, or a one-word entity is S-)", position)
        labels.append(tag if prefix == OUTSIDE else "B-" + entity_type)
        open_type = entity_type if prefix == "B" else None
    if open_type is not None:
        raise SchemeError(f"the {open_type} entity at the end of the sentence has no end ({scheme.upper()} ends one "
                          "with E-)", len(tags) - 1)
    return labels


def from_iob2(labels: Sequence[str], scheme: str) -> List[str]:
    """IOB2 labels (as the model predicts them; an `I-` that continues nothing starts an entity, as conlleval
    reads it) -> the same entities' tags in `scheme`."""
    labels = _from_iob(labels, "iob1")  # well-formed IOB2 first
    tags = []
    for position, label in enumerate(labels):
        prefix, entity_type = _parts(label)
        following = labels[position + 1] if position + 1 < len(labels) else OUTSIDE
        continues = following == "I-" + entity_type
        previous = labels[position - 1] if position else OUTSIDE
        if prefix == OUTSIDE or scheme == "iob2":
            tags.append(label)
        elif scheme == "iob1":  # B- only where an entity of the same type ends right before
            same_before = prefix == "B" and _parts(previous)[1] == entity_type and previous != OUTSIDE
            tags.append(label if same_before else "I-" + entity_type)
        elif prefix == "B":
            tags.append(("B-" if continues else "S-") + entity_type)
        else:
            inside = "M-" if scheme == "bmes" else "I-"
            tags.append((inside if continues else "E-") + entity_type)
    return tags
