"""Logits -> answers: the original `write_predictions`, its n-best lists and SQuAD 2.0 null odds.

For each question, every window contributes the spans formed by its `n_best_size` best start and end
positions that lie in the window's context, start at a token whose max context is this window, and are at
most `max_answer_length` tokens long. Spans are ranked by `start_logit + end_logit`; the n best distinct
answer texts, projected back onto the original context (`get_final_text`), get softmax probabilities.

SQuAD 2.0 adds the null answer, scored by the lowest `start_logit[0] + end_logit[0]` over the windows;
`null_odds.json` holds `null score - best non-null score` and the answer is "" when that exceeds
`null_score_diff_threshold`.

One deliberate difference: where the original crashes (SQuAD 2.0 with no non-null span in the n-best)
the answer is "" and its null odds are `NO_SPAN_NULL_ODDS` (1e6, "null certainly wins"); such questions
are counted in `PredictionStats.num_without_span` and logged.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import json
import math
import os
from typing import Dict, List, Mapping, NamedTuple, Sequence

import numpy as np
from absl import logging

from bert_tf import files
from bert_tf.conventions import NO_SPAN_NULL_ODDS
from bert_tf.tasks.squad.examples import SquadExample
from bert_tf.tasks.squad.features import SquadFeatures
from bert_tf.tokenization import BasicTokenizer

PREDICTIONS_FILE = "predictions.json"
NBEST_FILE = "nbest_predictions.json"
NULL_ODDS_FILE = "null_odds.json"


class RawResult(NamedTuple):
    """The model's logits for one window: `start_logits`, `end_logits` float32 [S] (S >= its tokens)."""

    unique_id: int
    start_logits: np.ndarray
    end_logits: np.ndarray


class _Candidate(NamedTuple):
    feature_index: int
    start_index: int
    end_index: int
    start_logit: float
    end_logit: float


class _NbestEntry(NamedTuple):
    text: str
    start_logit: float
    end_logit: float


@dataclasses.dataclass
class PredictionStats:
    """Counts of unusual questions.

    Attributes:
      num_without_span: SQuAD 2.0 questions whose n-best has no non-null span (answered "").
      num_empty: questions with no valid span at all (answered "empty", as the original).
    """

    num_without_span: int = 0
    num_empty: int = 0


@dataclasses.dataclass
class Predictions:
    """What `compute_predictions` returns (ordered as the examples).

    Attributes:
      answers: question id -> answer text (`predictions.json`).
      nbest: question id -> list of {"text", "probability", "start_logit", "end_logit"}.
      null_odds: question id -> null score minus best non-null score (SQuAD 2.0 only, else empty).
      stats: `PredictionStats`.
    """

    answers: Dict[str, str]
    nbest: Dict[str, List[dict]]
    null_odds: Dict[str, float]
    stats: PredictionStats


def best_indexes(logits: np.ndarray, n_best_size: int) -> List[int]:
    """Positions of the `n_best_size` largest logits, largest first (ties: lower position first)."""
    return [int(index) for index in np.argsort(-np.asarray(logits), kind="stable")[:n_best_size]]


def compute_softmax(scores: Sequence[float]) -> List[float]:
    """Softmax of Python floats in double precision (the original `_compute_softmax`)."""
    if not scores:
        return []
    max_score = max(scores)
    exp_scores = [math.exp(score - max_score) for score in scores]
    total = sum(exp_scores)
    return [score / total for score in exp_scores]


def _strip_spaces(text: str):
    """(text without " ", {position in that text: position in `text`})."""
    kept = [(index, char) for index, char in enumerate(text) if char != " "]
    return "".join(char for _, char in kept), {new: old for new, (old, _) in enumerate(kept)}


@functools.lru_cache(maxsize=2)
def _basic_tokenizer(do_lower_case: bool) -> BasicTokenizer:
    return BasicTokenizer(do_lower_case=do_lower_case)


def get_final_text(pred_text: str, orig_text: str, do_lower_case: bool, verbose_logging: bool = False) -> str:
    """Projects a normalized, de-tokenized prediction back onto the original words (`orig_text`).

    `orig_text` is basic-tokenized; when that text and `orig_text` have the same characters apart from
    spaces, they are aligned character by character and the span of `pred_text` is cut from `orig_text`
    ("steve smith" in "Steve Smith's" -> "Steve Smith"). When the alignment fails, `orig_text` is returned.
    """
    tok_text = " ".join(_basic_tokenizer(bool(do_lower_case)).tokenize(orig_text))
    start_position = tok_text.find(pred_text)
    if start_position == -1:
        if verbose_logging:
            logging.info("Unable to find text: %r in %r", pred_text, orig_text)
        return orig_text
    end_position = start_position + len(pred_text) - 1
    orig_ns_text, orig_ns_to_s_map = _strip_spaces(orig_text)
    tok_ns_text, tok_ns_to_s_map = _strip_spaces(tok_text)
    if len(orig_ns_text) != len(tok_ns_text):
        if verbose_logging:
            logging.info("Length not equal after stripping spaces: %r vs %r", orig_ns_text, tok_ns_text)
        return orig_text
    tok_s_to_ns_map = {tok_index: ns_index for ns_index, tok_index in tok_ns_to_s_map.items()}
    positions = []
    for position in (start_position, end_position):
        ns_position = tok_s_to_ns_map.get(position)
        orig_position = orig_ns_to_s_map.get(ns_position) if ns_position is not None else None
        if orig_position is None:
            if verbose_logging:
                logging.info("Couldn't map %s position", "start" if not positions else "end")
            return orig_text
        positions.append(orig_position)
    return orig_text[positions[0]:positions[1] + 1]


def _span_text(example: SquadExample, feature: SquadFeatures, candidate: _Candidate, do_lower_case: bool,
               verbose_logging: bool) -> str:
    """The answer text of a non-null candidate, in the context's own characters."""
    tok_text = " ".join(feature.tokens[candidate.start_index:candidate.end_index + 1])
    tok_text = tok_text.replace(" ##", "").replace("##", "")
    tok_text = " ".join(tok_text.strip().split())
    orig_doc_start = feature.token_to_orig_map[candidate.start_index]
    orig_doc_end = feature.token_to_orig_map[candidate.end_index]
    orig_text = " ".join(example.doc_tokens[orig_doc_start:orig_doc_end + 1])
    return get_final_text(tok_text, orig_text, do_lower_case, verbose_logging)


def _candidates(features: Sequence[SquadFeatures], results: Sequence[RawResult], n_best_size: int,
                max_answer_length: int) -> List[_Candidate]:
    candidates = []
    for feature_index, (feature, result) in enumerate(zip(features, results)):
        num_tokens = len(feature.tokens)
        start_indexes = best_indexes(result.start_logits, n_best_size)
        end_indexes = best_indexes(result.end_logits, n_best_size)
        for start_index in start_indexes:
            for end_index in end_indexes:
                if start_index >= num_tokens or end_index >= num_tokens:
                    continue
                if start_index not in feature.token_to_orig_map or end_index not in feature.token_to_orig_map:
                    continue
                if not feature.token_is_max_context.get(start_index, False):
                    continue
                if end_index < start_index or end_index - start_index + 1 > max_answer_length:
                    continue
                candidates.append(_Candidate(feature_index, start_index, end_index,
                                             float(result.start_logits[start_index]),
                                             float(result.end_logits[end_index])))
    return candidates


def compute_predictions(examples: Sequence[SquadExample], features: Sequence[SquadFeatures],
                        results: Sequence[RawResult], n_best_size: int, max_answer_length: int,
                        do_lower_case: bool, version_2_with_negative: bool = False,
                        null_score_diff_threshold: float = 0.0, verbose_logging: bool = False) -> Predictions:
    """The original `write_predictions`, without the writing (see the module docstring).

    Args:
      examples: the predicted examples, in order.
      features: their windows (`example_index` refers to `examples`).
      results: one `RawResult` per window (any order; matched on `unique_id`).
      n_best_size: candidates kept per position and answers per question.
      max_answer_length: longest answer, in word pieces.
      do_lower_case: the tokenizer's casing (for `get_final_text`).
      version_2_with_negative: add the null answer and compute null odds.
      null_score_diff_threshold: answer "" when null score - best non-null score exceeds this.
      verbose_logging: log every answer-projection failure.

    Returns:
      `Predictions`.

    Raises:
      KeyError: a window has no result.
    """
    features_by_example = collections.defaultdict(list)
    for feature in features:
        features_by_example[feature.example_index].append(feature)
    results_by_id = {int(result.unique_id): result for result in results}
    predictions = Predictions({}, {}, {}, PredictionStats())

    for example_index, example in enumerate(examples):
        example_features = features_by_example[example_index]
        example_results = [results_by_id[feature.unique_id] for feature in example_features]
        candidates = _candidates(example_features, example_results, n_best_size, max_answer_length)
        null = None
        if version_2_with_negative:
            null_scores = [float(result.start_logits[0]) + float(result.end_logits[0]) for result in example_results]
            null_index = int(np.argmin(null_scores)) if null_scores else 0  # first of equal minima
            if example_results:
                null = _Candidate(null_index, 0, 0, float(example_results[null_index].start_logits[0]),
                                  float(example_results[null_index].end_logits[0]))
            else:
                null = _Candidate(0, 0, 0, 0.0, 0.0)
            candidates.append(null)
        candidates.sort(key=lambda candidate: candidate.start_logit + candidate.end_logit, reverse=True)

        nbest, seen = [], set()
        for candidate in candidates:
            if len(nbest) >= n_best_size:
                break
            if candidate.start_index > 0:
                text = _span_text(example, example_features[candidate.feature_index], candidate, do_lower_case,
                                  verbose_logging)
                if text in seen:
                    continue
            else:
                text = ""
            seen.add(text)
            nbest.append(_NbestEntry(text, candidate.start_logit, candidate.end_logit))
        if version_2_with_negative and "" not in seen:
            nbest.append(_NbestEntry("", null.start_logit, null.end_logit))
        if not nbest:
            nbest.append(_NbestEntry("empty", 0.0, 0.0))
            predictions.stats.num_empty += 1

        probabilities = compute_softmax([entry.start_logit + entry.end_logit for entry in nbest])
        predictions.nbest[example.qas_id] = [
            collections.OrderedDict(text=entry.text, probability=probability, start_logit=entry.start_logit,
                                    end_logit=entry.end_logit)
            for entry, probability in zip(nbest, probabilities)]
        if not version_2_with_negative:
            predictions.answers[example.qas_id] = nbest[0].text
            continue
        best_non_null = next((entry for entry in nbest if entry.text), None)
        null_score = null.start_logit + null.end_logit
        if best_non_null is None:
            predictions.stats.num_without_span += 1
            predictions.null_odds[example.qas_id] = NO_SPAN_NULL_ODDS
            predictions.answers[example.qas_id] = ""
            continue
        score_diff = null_score - best_non_null.start_logit - best_non_null.end_logit
        predictions.null_odds[example.qas_id] = score_diff
        predictions.answers[example.qas_id] = "" if score_diff > null_score_diff_threshold else best_non_null.text

    if predictions.stats.num_without_span:
        logging.warning("%d questions had no non-null answer span in their n-best list: answered \"\" (the "
                        "original run_squad.py crashes on them)", predictions.stats.num_without_span)
    if predictions.stats.num_empty:
        logging.warning("%d questions had no valid answer span: answered \"empty\" (as the original)",
                        predictions.stats.num_empty)
    return predictions


def _json_text(value: Mapping) -> str:
    return json.dumps(value, indent=4) + "\n"


def write_prediction_files(predictions: Predictions, output_dir: str, version_2_with_negative: bool) -> Dict[str, str]:
    """Writes `predictions.json`, `nbest_predictions.json` and (SQuAD 2.0) `null_odds.json` atomically,
    formatted as the original (`json.dumps(..., indent=4)`); returns {file name: path}."""
    contents = {PREDICTIONS_FILE: predictions.answers, NBEST_FILE: predictions.nbest}
    if version_2_with_negative:
        contents[NULL_ODDS_FILE] = predictions.null_odds
    paths = {}
    for name, value in contents.items():
        paths[name] = os.path.join(output_dir, name)
        logging.info("Writing %s", paths[name])
        files.atomic_write_text(paths[name], _json_text(value))
    return paths
