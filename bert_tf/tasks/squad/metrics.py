"""The official SQuAD metrics (`evaluate-v1.1.py`, `evaluate-v2.0.py`), same normalization, same numbers.

Answers are compared after lower-casing, removing punctuation (`string.punctuation`), the articles
"a", "an", "the" and extra whitespace. Exact match is 0/1, F1 the token-overlap F1, each the best over
the gold answers, in percent of the questions.

* v1.1 (`evaluate_v1`): `exact_match`, `f1` over every question (unanswered ones score 0).
* v2.0 (`evaluate_v2`): `exact`, `f1`, `total`, and the same for `HasAns_*` / `NoAns_*` questions; with
  no-answer odds (`null_odds.json`, as `--na-prob-file`) also `best_exact`, `best_exact_thresh`,
  `best_f1`, `best_f1_thresh`. An unanswerable question's only gold answer is "".
"""
from __future__ import annotations

import collections
import re
import string
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower text and remove punctuation, articles and extra whitespace (the official normalization)."""
    text = "".join(char for char in text.lower() if char not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match_score(prediction: str, ground_truth: str) -> int:
    return int(normalize_answer(prediction) == normalize_answer(ground_truth))


def f1_score(prediction: str, ground_truth: str, empty_agree: bool = False) -> float:
    """Token-overlap F1 of the normalized answers.

    Args:
      empty_agree: v2.0's rule: if either side has no tokens, 1 when both have none, else 0 (v1.1 gives 0).
    """
    prediction_tokens = normalize_answer(prediction).split()
    truth_tokens = normalize_answer(ground_truth).split()
    if empty_agree and (not prediction_tokens or not truth_tokens):
        return float(prediction_tokens == truth_tokens)
    num_same = sum((collections.Counter(prediction_tokens) & collections.Counter(truth_tokens)).values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def _questions(articles: Iterable[dict]):
    for article in articles:
        for paragraph in article["paragraphs"]:
            yield from paragraph["qas"]


def evaluate_v1(articles: Sequence[dict], predictions: Mapping[str, str]) -> Dict[str, float]:
    """`evaluate-v1.1.py`: {"exact_match", "f1"} in percent over every question of `articles`.

    Args:
      articles: the SQuAD file's `data` list (each question needs at least one answer).
      predictions: question id -> answer text.
    """
    exact_match = f1 = 0.0
    total = 0
    for qa in _questions(articles):
        total += 1
        if qa["id"] not in predictions:
            continue
        prediction = predictions[qa["id"]]
        truths = [answer["text"] for answer in qa["answers"]]
        exact_match += max(exact_match_score(prediction, truth) for truth in truths)
        f1 += max(f1_score(prediction, truth) for truth in truths)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def _mean_scores(exact: Mapping[str, float], f1: Mapping[str, float],
                 qids: Optional[Sequence[str]] = None) -> Dict[str, float]:
    qids = list(exact) if not qids else qids
    total = len(qids)
    return {"exact": 100.0 * sum(exact[qid] for qid in qids) / total,
            "f1": 100.0 * sum(f1[qid] for qid in qids) / total, "total": total}


def _best_threshold(predictions: Mapping[str, str], scores: Mapping[str, float], na_probs: Mapping[str, float],
                    has_answer: Mapping[str, bool]) -> Tuple[float, float]:
    """The official `find_best_thresh`: (best score in percent, the no-answer odds threshold giving it)."""
    current = best = sum(1 for qid in has_answer if not has_answer[qid])
    best_threshold = 0.0
    for qid in sorted(na_probs, key=lambda key: na_probs[key]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            current += scores[qid]
        elif predictions[qid]:
            current -= 1
        if current > best:
            best, best_threshold = current, na_probs[qid]
    return 100.0 * best / len(scores), best_threshold


def evaluate_v2(articles: Sequence[dict], predictions: Mapping[str, str],
                na_probs: Optional[Mapping[str, float]] = None, na_prob_thresh: float = 1.0) -> Dict[str, float]:
    """`evaluate-v2.0.py data.json predictions.json [--na-prob-file null_odds.json]`.

    Args:
      articles: the SQuAD 2.0 file's `data` list.
      predictions: question id -> answer text ("" for no answer).
      na_probs: question id -> no-answer odds (`null_odds.json`); None: all 0 and no `best_*` figures.
      na_prob_thresh: count a question as answered "" when its odds exceed this (the script's default).

    Returns:
      The script's figures (see the module docstring), in its order.
    """
    has_answer = {qa["id"]: bool(qa["answers"]) for qa in _questions(articles)}
    exact_raw: Dict[str, float] = {}
    f1_raw: Dict[str, float] = {}
    for qa in _questions(articles):
        qid = qa["id"]
        truths = [answer["text"] for answer in qa["answers"] if normalize_answer(answer["text"])] or [""]
        if qid not in predictions:
            continue
        exact_raw[qid] = max(exact_match_score(predictions[qid], truth) for truth in truths)
        f1_raw[qid] = max(f1_score(predictions[qid], truth, empty_agree=True) for truth in truths)
    odds = na_probs if na_probs is not None else {qid: 0.0 for qid in predictions}

    def thresholded(scores: Dict[str, float]) -> Dict[str, float]:
        return {qid: float(not has_answer[qid]) if odds[qid] > na_prob_thresh else score
                for qid, score in scores.items()}

    exact, f1 = thresholded(exact_raw), thresholded(f1_raw)
    results: Dict[str, float] = dict(_mean_scores(exact, f1))
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        qids = [qid for qid, value in has_answer.items() if value == wanted]
        if qids:
            results.update({f"{prefix}_{key}": value for key, value in _mean_scores(exact, f1, qids).items()})
    if na_probs is not None:
        results["best_exact"], results["best_exact_thresh"] = _best_threshold(predictions, exact_raw, odds,
                                                                              has_answer)
        results["best_f1"], results["best_f1_thresh"] = _best_threshold(predictions, f1_raw, odds, has_answer)
    return results


def evaluate(articles: Sequence[dict], predictions: Mapping[str, str], version_2_with_negative: bool,
             null_odds: Optional[Mapping[str, float]] = None) -> Dict[str, float]:
    """The official script's figures for the version; SQuAD 2.0 results also get `exact_match` (= `exact`)
    so that every `eval_results.txt` has `exact_match` and `f1`."""
    if not version_2_with_negative:
        return evaluate_v1(articles, predictions)
    results = evaluate_v2(articles, predictions, null_odds)
    results["exact_match"] = results["exact"]
    return results
