"""SQuAD metrics against the official scripts, and the post-processing rules of `write_predictions`."""
import json
import random
import subprocess
import sys

import numpy as np
import pytest

from bert_tf.tasks.squad import metrics as evaluation
from bert_tf.tasks.squad import predictions as postprocess
from bert_tf.tasks.squad.examples import SquadExample
from bert_tf.tasks.squad.features import SquadFeatures


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


def run_official(script, data_file, predictions_file, *extra):
    completed = subprocess.run([sys.executable, str(script), str(data_file), str(predictions_file), *extra],
                               capture_output=True, text=True, check=True)
    return json.loads(completed.stdout)


def test_v1_metrics_equal_the_official_script(data_dir, tmp_path):
    data_file = data_dir / "squad" / "v1.1" / "dev-v1.1.json"
    articles = json.loads(data_file.read_text(encoding="utf-8"))["data"][:6]
    predictions, _ = synthetic_predictions(articles, seed=1)
    predictions.pop(next(iter(predictions)))  # an unanswered question scores 0
    subset = tmp_path / "dev.json"
    subset.write_text(json.dumps({"version": "1.1", "data": articles}), encoding="utf-8")
    predictions_file = tmp_path / "predictions.json"
    predictions_file.write_text(json.dumps(predictions), encoding="utf-8")
    official = run_official(data_dir / "squad" / "eval" / "evaluate-v1.1.py", subset, predictions_file)
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
    script = data_dir / "squad" / "eval" / "evaluate-v2.0.py"
    official = run_official(script, subset, tmp_path / "predictions.json", "--na-prob-file",
                            str(tmp_path / "null_odds.json"))
    ours = evaluation.evaluate(articles, predictions, version_2_with_negative=True, null_odds=odds)
    assert ours.pop("exact_match") == ours["exact"]
    assert list(ours) == list(official)
    assert ours == pytest.approx(official, abs=1e-9)
    without_odds = run_official(script, subset, tmp_path / "predictions.json")
    assert evaluation.evaluate_v2(articles, predictions) == pytest.approx(without_odds, abs=1e-9)


def test_normalization_and_f1_edge_cases():
    assert evaluation.normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert evaluation.f1_score("", "") == 0.0  # v1.1: no tokens never match
    assert evaluation.f1_score("", "", empty_agree=True) == 1.0  # v2.0: both empty agree
    assert evaluation.f1_score("a cat sat", "the cat sat down") == pytest.approx(0.8)


def test_get_final_text_projects_onto_the_original_characters():
    assert postprocess.get_final_text("steve smith", "Steve Smith's", do_lower_case=True) == "Steve Smith"
    assert postprocess.get_final_text("1895", "(1895-1943).", do_lower_case=True) == "1895"
    assert postprocess.get_final_text("resume", "Résumé", do_lower_case=True) == "Résumé"
    assert postprocess.get_final_text("zzz", "Steve", do_lower_case=True) == "Steve"  # alignment fails


def one_window_example(start_logits, end_logits, num_doc_tokens=4):
    """An example with one window `[CLS] q [SEP] w0..wN [SEP]` and its logits."""
    words = [f"w{index}" for index in range(num_doc_tokens)]
    tokens = ["[CLS]", "q", "[SEP]", *words, "[SEP]"]
    feature = SquadFeatures(1000000000, 0, 0, tokens, {3 + index: index for index in range(num_doc_tokens)},
                            {3 + index: True for index in range(num_doc_tokens)}, [], [], [])
    result = postprocess.RawResult(1000000000, np.asarray(start_logits, np.float32),
                                   np.asarray(end_logits, np.float32))
    return SquadExample("q1", "q", words), feature, result


def test_n_best_prefers_the_highest_scoring_valid_span():
    #            CLS    q  SEP  w0   w1   w2   w3  SEP  pad
    start = [5.0, 9.0, 0.0, 1.0, 3.0, 0.0, 0.0, 0.0, 9.0]
    end = [5.0, 9.0, 0.0, 0.0, 0.0, 4.0, 1.0, 0.0, 9.0]
    example, feature, result = one_window_example(start, end)
    predictions = postprocess.compute_predictions([example], [feature], [result], n_best_size=20,
                                                  max_answer_length=30, do_lower_case=True)
    assert predictions.answers == {"q1": "w1 w2"}
    nbest = predictions.nbest["q1"]
    assert [entry["text"] for entry in nbest[:2]] == ["w1 w2", "w0 w1 w2"]
    assert sum(entry["probability"] for entry in nbest) == pytest.approx(1.0)
    short = postprocess.compute_predictions([example], [feature], [result], n_best_size=20, max_answer_length=1,
                                            do_lower_case=True)
    assert all(len(entry["text"].split()) == 1 for entry in short.nbest["q1"])


def test_version_2_null_answer_threshold_and_no_span_fallback():
    start = [2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    end = [2.0, 0.0, 0.0, 1.5, 0.0, 0.0, 0.0, 0.0]
    example, feature, result = one_window_example(start, end)
    common = dict(n_best_size=20, max_answer_length=30, do_lower_case=True, version_2_with_negative=True)
    predicted = postprocess.compute_predictions([example], [feature], [result], null_score_diff_threshold=0.0,
                                                **common)
    assert predicted.answers == {"q1": ""} and predicted.null_odds["q1"] == pytest.approx(4.0 - 2.5)
    answered = postprocess.compute_predictions([example], [feature], [result], null_score_diff_threshold=2.0,
                                               **common)
    assert answered.answers == {"q1": "w0"}
    # No valid span at all (every max-context flag off): the original crashes; we answer "".
    feature.token_is_max_context = {position: False for position in feature.token_is_max_context}
    fallback = postprocess.compute_predictions([example], [feature], [result], **common)
    assert fallback.answers == {"q1": ""} and fallback.stats.num_without_span == 1
    assert [entry["text"] for entry in fallback.nbest["q1"]] == [""]
    assert fallback.null_odds["q1"] == postprocess.NO_SPAN_NULL_ODDS
    version_1 = postprocess.compute_predictions([example], [feature], [result], n_best_size=20,
                                                max_answer_length=30, do_lower_case=True)
    assert version_1.answers == {"q1": "empty"} and version_1.stats.num_empty == 1
