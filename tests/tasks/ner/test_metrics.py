"""Tests for bert_tf.tasks.ner.metrics: entity-level metrics (conlleval semantics) checked against seqeval's
default mode on fixed prediction files."""
import random

import pytest

from bert_tf.errors import InputError
from bert_tf.tasks.ner import metrics

seqeval_metrics = pytest.importorskip("seqeval.metrics")

# word gold predicted; gold in IOB1 for the second document. Predictions include ill-formed sequences.
PREDICTIONS = """-DOCSTART- O O

EU B-ORG B-ORG
rejects O O
German B-MISC I-MISC
call O O
to O I-PER
boycott O I-PER
British B-MISC B-MISC
lamb O I-MISC
. O O

Peter B-PER B-PER
Blackburn I-PER I-LOC
Smith B-PER I-PER

-DOCSTART- O O

BRUSSELS I-LOC I-LOC
1996-08-22 O O

The O O
European I-ORG B-ORG
Commission I-ORG I-ORG
said O O
Japan I-LOC B-LOC
Korea B-LOC I-LOC
China B-LOC B-LOC
"""


def seqeval_scores(gold, predicted):
    report = seqeval_metrics.classification_report(gold, predicted, output_dict=True, zero_division=0)
    return {
        "precision": seqeval_metrics.precision_score(gold, predicted, zero_division=0),
        "recall": seqeval_metrics.recall_score(gold, predicted, zero_division=0),
        "f1": seqeval_metrics.f1_score(gold, predicted, zero_division=0),
        "by_type": {name: (values["precision"], values["recall"], values["f1-score"])
                    for name, values in report.items() if not name.endswith(" avg")},
    }


def assert_same_as_seqeval(gold, predicted):
    ours = metrics.score_entities(gold, predicted)
    expected = seqeval_scores(gold, predicted)
    assert ours.overall.precision == pytest.approx(expected["precision"], abs=1e-12)
    assert ours.overall.recall == pytest.approx(expected["recall"], abs=1e-12)
    assert ours.overall.f1 == pytest.approx(expected["f1"], abs=1e-12)
    assert sorted(ours.by_type) == sorted(expected["by_type"])
    for name, counts in ours.by_type.items():
        assert (counts.precision, counts.recall, counts.f1) == pytest.approx(expected["by_type"][name], abs=1e-12)
    return ours


def test_prediction_file_matches_seqeval(tmp_path):
    path = tmp_path / "predictions.txt"
    path.write_text(PREDICTIONS)
    gold, predicted = metrics.read_prediction_file(str(path))
    assert [len(sentence) for sentence in gold] == [9, 3, 2, 7]
    ours = assert_same_as_seqeval(gold, predicted)
    # Gold: ORG EU, MISC German, MISC British, PER Peter Blackburn, PER Smith, LOC BRUSSELS, ORG European
    # Commission, LOC Japan, LOC Korea, LOC China = 10. Predicted: 11, of which 6 are correct: EU, German
    # (I- after O starts an entity), Smith (I-PER after I-LOC starts one), BRUSSELS, European Commission,
    # China; not "British lamb", "Peter" + "Blackburn", "to boycott", "Japan Korea".
    assert (ours.overall.correct, ours.overall.predicted, ours.overall.gold) == (6, 11, 10)
    results = metrics.evaluate_prediction_file(str(path))
    assert results["eval_f1"] == pytest.approx(ours.overall.f1)
    assert results["eval_recall_LOC"] == pytest.approx(2 / 4) and results["eval_precision_PER"] == pytest.approx(1 / 3)
    assert {key for key in results if key.startswith("eval_f1_")} == {
        "eval_f1_LOC", "eval_f1_MISC", "eval_f1_ORG", "eval_f1_PER"}


def test_chunks_follow_conlleval_rules():
    assert metrics.chunks(["O", "I-PER", "I-PER", "I-LOC", "B-LOC", "I-LOC", "O", "B-X"]) == [
        ("PER", 1, 2), ("LOC", 3, 3), ("LOC", 4, 5), ("X", 7, 7)]
    assert metrics.chunks(["B-PER", "I-LOC", "I-PER"]) == [("PER", 0, 0), ("LOC", 1, 1), ("PER", 2, 2)]
    assert metrics.chunks(["S-PER", "B-LOC", "E-LOC", "I-LOC"]) == [("PER", 0, 0), ("LOC", 1, 2), ("LOC", 3, 3)]
    assert metrics.chunks([]) == [] and metrics.chunks(["O", "O"]) == []


@pytest.mark.parametrize("seed", range(5))
def test_random_ill_formed_sequences_match_seqeval(seed):
    rng = random.Random(seed)
    tags = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "I-ORG"]
    gold = [[rng.choice(tags) for _ in range(rng.randrange(1, 25))] for _ in range(300)]
    predicted = [[rng.choice(tags) if rng.random() < 0.4 else tag for tag in sentence] for sentence in gold]
    assert_same_as_seqeval(gold, predicted)


def test_iob1_gold_scores_like_its_iob2_conversion():
    from bert_tf.tasks.ner.examples import iob1_to_iob2

    rng = random.Random(7)
    iob1 = [[rng.choice(["O", "I-PER", "I-LOC", "B-PER"]) for _ in range(12)] for _ in range(200)]
    predicted = [[rng.choice(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]) for _ in sentence] for sentence in iob1]
    raw = assert_same_as_seqeval(iob1, predicted)
    converted = metrics.score_entities([iob1_to_iob2(sentence) for sentence in iob1], predicted)
    assert (converted.overall, converted.by_type) == (raw.overall, raw.by_type)  # token accuracy may differ


def test_no_entities_and_bad_files(tmp_path):
    scores = metrics.score_entities([["O", "O"]], [["O", "O"]])
    assert (scores.overall.precision, scores.overall.recall, scores.overall.f1, scores.accuracy) == (0, 0, 0, 1)
    with pytest.raises(ValueError, match="sentence 0: 2 gold tags but 1 predicted"):
        metrics.score_entities([["O", "O"]], [["O"]])
    path = tmp_path / "bad.txt"
    path.write_text("EU B-ORG B-ORG\nrejects O\n")
    with pytest.raises(InputError, match=r"bad\.txt:2: expected 3 columns"):
        metrics.read_prediction_file(str(path))
