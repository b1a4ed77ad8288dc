"""Tests for bert_tf.tasks.squad.metrics: the official SQuAD 1.1 and 2.0 scripts' figures, on synthetic
predictions."""
import json
import random

import pytest

from bert_tf.tasks.squad import metrics as evaluation
from tests.harness.scripts import official_squad_scores


def synthetic_predictions(articles, seed):
    """Per question: a gold answer, a gold answer with extra words, a wrong span, or "" (mixed)."""
    rng = random.Random(seed)
    predictions, odds = {}, {}
    for article in articles:
        for paragraph in article["paragraphs"]:
            words = paragraph["context"].split()
            for qa in paragraph["qas"]:
                answers = [answer["text"] for answer in qa["answers"]] or [""]
                choice = rng.random()
                if choice < 0.3:
                    text = rng.choice(answers)
                elif choice < 0.55:
                    text = f"the {rng.choice(answers)} {rng.choice(words)}".strip()
                elif choice < 0.8:
                    start = rng.randrange(len(words))
                    text = " ".join(words[start:start + rng.randint(1, 6)])
                else:
                    text = ""
                predictions[qa["id"]] = text
                odds[qa["id"]] = round(rng.uniform(-8, 8), rng.choice([0, 3]))  # ties on purpose
    return predictions, odds


def test_v1_metrics_equal_the_official_script(data_dir, tmp_path):
    data_file = data_dir / "squad" / "v1.1" / "dev-v1.1.json"
    articles = json.loads(data_file.read_text(encoding="utf-8"))["data"][:6]
    predictions, _ = synthetic_predictions(articles, seed=1)
    predictions.pop(next(iter(predictions)))  # an unanswered question scores 0
    subset = tmp_path / "dev.json"
    subset.write_text(json.dumps({"version": "1.1", "data": articles}), encoding="utf-8")
    predictions_file = tmp_path / "predictions.json"
    predictions_file.write_text(json.dumps(predictions), encoding="utf-8")
    official = official_squad_scores(data_dir, "1.1", subset, predictions_file)
    ours = evaluation.evaluate(articles, predictions, version_2_with_negative=False)
    assert ours == pytest.approx(official, abs=1e-9) and set(ours) == {"exact_match", "f1"}


def test_v2_metrics_equal_the_official_script(data_dir, tmp_path):
    data_file = data_dir / "squad" / "v2.0_cs224n_subset" / "dev-v2.0.json"
    articles = json.loads(data_file.read_text(encoding="utf-8"))["data"][:4]
    predictions, odds = synthetic_predictions(articles, seed=2)
    subset = tmp_path / "dev.json"
    subset.write_text(json.dumps({"version": "v2.0", "data": articles}), encoding="utf-8")
    (tmp_path / "predictions.json").write_text(json.dumps(predictions), encoding="utf-8")
    (tmp_path / "null_odds.json").write_text(json.dumps(odds), encoding="utf-8")
    official = official_squad_scores(data_dir, "2.0", subset, tmp_path / "predictions.json", "--na-prob-file",
                                     str(tmp_path / "null_odds.json"))
    ours = evaluation.evaluate(articles, predictions, version_2_with_negative=True, null_odds=odds)
    assert ours.pop("exact_match") == ours["exact"]
    assert list(ours) == list(official)
    assert ours == pytest.approx(official, abs=1e-9)
    without_odds = official_squad_scores(data_dir, "2.0", subset, tmp_path / "predictions.json")
    assert evaluation.evaluate_v2(articles, predictions) == pytest.approx(without_odds, abs=1e-9)


def test_normalization_and_f1_edge_cases():
    assert evaluation.normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert evaluation.f1_score("", "") == 0.0  # v1.1: no tokens never match
    assert evaluation.f1_score("", "", empty_agree=True) == 1.0  # v2.0: both empty agree
    assert evaluation.f1_score("a cat sat", "the cat sat down") == pytest.approx(0.8)
