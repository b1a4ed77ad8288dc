"""Tests for bert_tf.tasks.classification.metrics against hand-computed values (no scipy / sklearn available)."""
import math

import numpy as np
import pytest

from bert_tf.tasks.classification import examples as glue
from bert_tf.tasks.classification import metrics


def test_accuracy():
    assert metrics.accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 0.5
    assert metrics.accuracy(np.array([2, 0, 1]), np.array([2, 0, 1])) == 1.0


def test_f1_binary_positive_class_one():
    # tp = 2 (positions 0, 4), fp = 1 (position 1), fn = 1 (position 3): F1 = 4 / 6.
    assert metrics.f1_score([1, 1, 0, 0, 1], [1, 0, 0, 1, 1]) == pytest.approx(2 / 3)
    # precision 1/1, recall 1/3 -> F1 = 2 * 1 * (1/3) / (4/3) = 0.5.
    assert metrics.f1_score([1, 0, 0, 0], [1, 1, 1, 0]) == pytest.approx(0.5)
    # No positive predictions and no positive labels: 0/0 -> 0.0 (scikit-learn's convention).
    assert metrics.f1_score([0, 0], [0, 0]) == 0.0


def test_matthews_binary_hand_computed():
    # tp = 2, tn = 1, fp = 1, fn = 1: (2*1 - 1*1) / sqrt(3 * 3 * 2 * 2) = 1/6.
    assert metrics.matthews_corrcoef([1, 1, 0, 0, 1], [1, 0, 0, 1, 1]) == pytest.approx(1 / 6)
    assert metrics.matthews_corrcoef([0, 1, 1, 0], [0, 1, 1, 0]) == pytest.approx(1.0)
    assert metrics.matthews_corrcoef([1, 0, 0, 1], [0, 1, 1, 0]) == pytest.approx(-1.0)
    # Constant predictions: denominator 0 -> 0.0 (what CoLA gets for a model predicting one class).
    assert metrics.matthews_corrcoef([1, 1, 1, 1], [0, 1, 1, 0]) == 0.0


def test_matthews_binary_matches_closed_form_on_random_data():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 500)
    predictions = np.where(rng.random(500) < 0.7, labels, 1 - labels)
    tp = np.sum((predictions == 1) & (labels == 1))
    tn = np.sum((predictions == 0) & (labels == 0))
    fp = np.sum((predictions == 1) & (labels == 0))
    fn = np.sum((predictions == 0) & (labels == 1))
    expected = (tp * tn - fp * fn) / math.sqrt(float((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    assert metrics.matthews_corrcoef(predictions, labels) == pytest.approx(expected, rel=1e-12)


def test_matthews_multiclass_hand_computed():
    # Confusion rows (true) x cols (predicted): [[1,1,0],[0,2,0],[1,0,1]]; t=[2,2,2], p=[2,3,1], c=4, s=6.
    # (4*6 - 12) / sqrt((36 - 14) * (36 - 12)) = 12 / sqrt(528).
    value = metrics.matthews_corrcoef([0, 1, 1, 1, 2, 0], [0, 0, 1, 1, 2, 2])
    assert value == pytest.approx(12 / math.sqrt(528))


def test_pearson_hand_computed():
    # dx = [-1.5, -.5, .5, 1.5], dy = [-3, -1, 0, 4]: 11 / sqrt(5 * 26).
    assert metrics.pearson_correlation([1, 2, 3, 4], [2, 4, 5, 9]) == pytest.approx(11 / math.sqrt(130))
    assert metrics.pearson_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(metrics.pearson_correlation([1, 1, 1], [1, 2, 3]))  # constant input


def test_average_ranks_ties():
    np.testing.assert_array_equal(metrics.average_ranks([10, 20, 20, 30]), [1, 2.5, 2.5, 4])
    np.testing.assert_array_equal(metrics.average_ranks([3, 1, 3, 3, 2]), [4, 1, 4, 4, 2])
    np.testing.assert_array_equal(metrics.average_ranks([0.5]), [1])


def test_spearman_hand_computed_with_ties():
    # Ranks x = [1, 2.5, 2.5, 4], y = [1, 3, 2, 4]: 4.5 / sqrt(4.5 * 5) = 3 / sqrt(10).
    assert metrics.spearman_correlation([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(3 / math.sqrt(10))
    # Monotone but non-linear: Spearman 1, Pearson below 1.
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    assert metrics.spearman_correlation(x, np.exp(x)) == pytest.approx(1.0)
    assert metrics.pearson_correlation(x, np.exp(x)) < 0.95
    assert math.isnan(metrics.spearman_correlation([2, 2, 2], [1, 2, 3]))


def test_length_mismatch_and_empty_raise():
    with pytest.raises(ValueError, match="differ in length"):
        metrics.accuracy([1, 0], [1])
    with pytest.raises(ValueError, match="at least one"):
        metrics.f1_score([], [])


def test_glue_metrics_classification_tasks():
    predictions, labels = [1, 1, 0, 0, 1], [1, 0, 0, 1, 1]
    assert metrics.glue_metrics("MRPC", predictions, labels) == {
        "eval_accuracy": pytest.approx(0.6), "eval_f1": pytest.approx(2 / 3)}
    assert metrics.glue_metrics("qqp", predictions, labels).keys() == {"eval_accuracy", "eval_f1"}
    cola = metrics.glue_metrics("CoLA", predictions, labels)
    assert cola == {"eval_mcc": pytest.approx(1 / 6), "eval_accuracy": pytest.approx(0.6)}
    assert metrics.glue_metrics("rte", predictions, labels) == {"eval_accuracy": pytest.approx(0.6)}
    # Logits [N, num_labels] are reduced with argmax.
    logits = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0], [0.0, 0.0, 5.0], [0.0, 1.0, 0.5]])
    assert metrics.glue_metrics("mnli", logits, [1, 0, 2, 2]) == {"eval_accuracy": pytest.approx(0.75)}


def test_glue_metrics_regression():
    predictions = np.array([[1.0], [2.0], [2.0], [3.0]], dtype=np.float32)  # [N, 1] model output
    result = metrics.glue_metrics("sts-b", predictions, [1.0, 3.0, 2.0, 4.0])
    assert set(result) == {"eval_pearson", "eval_spearman"}
    # Pearson of [1,2,2,3] and [1,3,2,4]: dx=[-1,0,0,1], dy=[-1.5,.5,-.5,1.5] -> 3 / sqrt(2 * 5).
    assert result["eval_pearson"] == pytest.approx(3 / math.sqrt(10))
    assert result["eval_spearman"] == pytest.approx(3 / math.sqrt(10))
    assert metrics.glue_metrics("STSB", [1.0, 2.0], [2.0, 3.0])["eval_pearson"] == pytest.approx(1.0)


def test_glue_metrics_keys_match_processor_metric_names():
    for task_name in glue.PROCESSORS:
        processor = glue.get_processor(task_name)
        if processor.is_regression:
            result = metrics.glue_metrics(task_name, [0.5, 1.5, 1.0], [0.0, 2.0, 1.0])
        else:
            result = metrics.glue_metrics(task_name, [0, 1, 1], [0, 1, 0])
        assert tuple(result) == processor.metric_names
        assert all(isinstance(value, float) for value in result.values())


def test_glue_metrics_unknown_task():
    with pytest.raises(ValueError, match="unknown GLUE task"):
        metrics.glue_metrics("squad", [1], [1])


def test_label_log_odds_smoothed_frequencies():
    # 3 rows: label 0 in 2 -> (2 + 1) / 5 = 0.6, label 1 in none -> 1 / 5 = 0.2, label 2 in all -> 4 / 5.
    multi_hot = np.array([[1, 0, 1], [1, 0, 1], [0, 0, 1]])
    log_odds = metrics.label_log_odds(multi_hot)
    assert log_odds.dtype == np.float32
    np.testing.assert_allclose(log_odds, [math.log(0.6 / 0.4), math.log(0.2 / 0.8), math.log(0.8 / 0.2)], rtol=1e-6)
    np.testing.assert_allclose(metrics.sigmoid(log_odds), [0.6, 0.2, 0.8], rtol=1e-6)
