"""Entity-level precision, recall and F1 with the semantics of the CoNLL shared task's `conlleval`.

An entity (chunk) is a span of words with one type; a predicted entity is correct only when a gold entity
has exactly its first word, last word and type. Precision = correct / predicted entities, recall = correct /
gold entities, F1 = their harmonic mean, micro-averaged over all entities (and per type over that type's).

Chunks are found with conlleval's rules, so ill-formed sequences count as conlleval counts them: an `I-X`
after `O` or after another type starts an entity, a change of type ends one, `B-` always starts one
(`E-`/`S-` of IOBES are understood too). A sentence break ends every entity.

`seqeval` in its default mode gives the same numbers (the tests check it).
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Dict, Iterable, List, Sequence, Tuple

from bert_tf.conventions import split_tag
from bert_tf.errors import InputError

Chunk = Tuple[str, int, int]  # (type, first word, last word)


def _end_of_chunk(previous_tag: str, tag: str, previous_type: str, entity_type: str) -> bool:
    """Whether an entity ended at the previous word (conlleval's `endOfChunk`)."""
    if previous_tag in ("E", "S"):
        return True
    if previous_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return previous_tag not in ("O", ".") and previous_type != entity_type


def _start_of_chunk(previous_tag: str, tag: str, previous_type: str, entity_type: str) -> bool:
    """Whether an entity starts at this word (conlleval's `startOfChunk`)."""
    if tag in ("B", "S"):
        return True
    if previous_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and previous_type != entity_type


def chunks(tags: Sequence[str]) -> List[Chunk]:
    """The entities of one sentence's tags: `(type, first word, last word)` in order.

    Example: `["B-PER", "I-PER", "O", "I-LOC"]` -> `[("PER", 0, 1), ("LOC", 3, 3)]`.
    """
    found: List[Chunk] = []
    previous_tag, previous_type, start = "O", "", 0
    for index, tag in enumerate(list(tags) + ["O"]):
        prefix, entity_type = split_tag(tag)
        if _end_of_chunk(previous_tag, prefix, previous_type, entity_type):
            found.append((previous_type, start, index - 1))
        if _start_of_chunk(previous_tag, prefix, previous_type, entity_type):
            start = index
        previous_tag, previous_type = prefix, entity_type
    return found


@dataclasses.dataclass
class ChunkCounts:
    """Entity counts of one type (or of all).

    Attributes:
      correct: predicted entities that match a gold one (span and type).
      predicted: predicted entities.
      gold: gold entities.
    """

    correct: int = 0
    predicted: int = 0
    gold: int = 0

    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.correct / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


@dataclasses.dataclass
class EntityScores:
    """What conlleval counts.

    Attributes:
      overall: counts over all entities.
      by_type: counts per entity type (every type found in the gold or the predicted tags).
      tokens: words scored.
      correct_tokens: words whose predicted tag equals the gold tag.
    """

    overall: ChunkCounts
    by_type: Dict[str, ChunkCounts]
    tokens: int
    correct_tokens: int

    @property
    def accuracy(self) -> float:
        return self.correct_tokens / self.tokens if self.tokens else 0.0

    def as_results(self, prefix: str = "eval") -> Dict[str, float]:
        """`{prefix}_precision`, `_recall`, `_f1`, `_accuracy` (token level), then `{prefix}_precision_<TYPE>`,
        `_recall_<TYPE>`, `_f1_<TYPE>` per type: fractions in [0, 1]."""
        results = {f"{prefix}_precision": self.overall.precision, f"{prefix}_recall": self.overall.recall,
                   f"{prefix}_f1": self.overall.f1, f"{prefix}_accuracy": self.accuracy}
        for entity_type, counts in sorted(self.by_type.items()):
            results[f"{prefix}_precision_{entity_type}"] = counts.precision
            results[f"{prefix}_recall_{entity_type}"] = counts.recall
            results[f"{prefix}_f1_{entity_type}"] = counts.f1
        return results


def score_entities(gold_sentences: Iterable[Sequence[str]],
                   predicted_sentences: Iterable[Sequence[str]]) -> EntityScores:
    """Counts entities over sentences of gold and predicted tags (conlleval's counts).

    Args:
      gold_sentences: per sentence, the gold tags (IOB1, IOB2 or IOBES strings).
      predicted_sentences: per sentence, the predicted tags (same lengths).

    Returns:
      An `EntityScores`.

    Raises:
      ValueError: a sentence's predicted tags differ in number from its gold tags, or the sentence counts differ.
    """
    overall = ChunkCounts()
    by_type: Dict[str, ChunkCounts] = collections.defaultdict(ChunkCounts)
    tokens = correct_tokens = 0
    gold_list, predicted_list = list(gold_sentences), list(predicted_sentences)
    if len(gold_list) != len(predicted_list):
        raise ValueError(f"{len(gold_list)} gold sentences but {len(predicted_list)} predicted ones")
    for index, (gold, predicted) in enumerate(zip(gold_list, predicted_list)):
        if len(gold) != len(predicted):
            raise ValueError(f"sentence {index}: {len(gold)} gold tags but {len(predicted)} predicted ones")
        tokens += len(gold)
        correct_tokens += sum(gold_tag == predicted_tag for gold_tag, predicted_tag in zip(gold, predicted))
        gold_chunks, predicted_chunks = set(chunks(gold)), set(chunks(predicted))
        for chunk in gold_chunks:
            by_type[chunk[0]].gold += 1
        for chunk in predicted_chunks:
            by_type[chunk[0]].predicted += 1
        for chunk in gold_chunks & predicted_chunks:
            by_type[chunk[0]].correct += 1
    for counts in by_type.values():
        overall.correct += counts.correct
        overall.predicted += counts.predicted
        overall.gold += counts.gold
    return EntityScores(overall, dict(by_type), tokens, correct_tokens)


def read_prediction_file(path: str) -> Tuple[List[List[str]], List[List[str]]]:
    """Reads a conlleval input file (`word ... gold predicted` per line, blank lines between sentences).

    `-DOCSTART-` lines end a sentence, as their `O O` tags do in conlleval.

    Returns:
      (gold tag sentences, predicted tag sentences).

    Raises:
      InputError: a line with fewer than three columns, or a column count that differs from the first
        line's (conlleval's check), naming the file and line.
    """
    gold_sentences: List[List[str]] = []
    predicted_sentences: List[List[str]] = []
    gold: List[str] = []
    predicted: List[str] = []
    num_columns = None
    with open(path, encoding="utf-8") as reader:
        for line_number, line in enumerate(reader, start=1):
            columns = line.split()
            if columns:
                if len(columns) < 3 or len(columns) != (num_columns or len(columns)):
                    raise InputError(f"{path}:{line_number}: expected {num_columns or 'at least 3'} columns "
                                     f"(word ... gold predicted), got {len(columns)}")
                num_columns = len(columns)
            if not columns or columns[0] == "-DOCSTART-":
                if gold:
                    gold_sentences.append(gold)
                    predicted_sentences.append(predicted)
                gold, predicted = [], []
                continue
            gold.append(columns[-2])
            predicted.append(columns[-1])
    if gold:
        gold_sentences.append(gold)
        predicted_sentences.append(predicted)
    return gold_sentences, predicted_sentences


def evaluate_prediction_file(path: str, prefix: str = "eval") -> Dict[str, float]:
    """conlleval on a `word gold predicted` file: the `EntityScores.as_results` dict."""
    return score_entities(*read_prediction_file(path)).as_results(prefix)


def mean_word_loss(windows, logits) -> float:
    """The mean cross-entropy over the words that have pieces (what training minimizes), float64.

    Args:
      windows: the file's `features.WindowFeature`s, in order.
      logits: float32 [num windows (or more: padding), max_seq_length, num_labels], in window order.
    """
    import numpy as np

    rows, positions, label_ids = [], [], []
    for row, window in enumerate(windows):
        rows.extend([row] * len(window.positions))
        positions.extend(window.positions)
        label_ids.extend(window.label_ids)
    if not rows:
        return 0.0
    word_logits = logits[np.array(rows), np.array(positions)].astype(np.float64)
    shifted = word_logits - word_logits.max(axis=1, keepdims=True)
    log_normalizer = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_normalizer - shifted[np.arange(len(rows)), np.array(label_ids)]))
