"""Tests for bert_tf.tasks.classification.predictions: `test_results.tsv` for classification and regression,
and the evaluation results computed from a prediction (`metrics.eval_results_from_predictions`)."""
import numpy as np
import pytest

from bert_tf import files
from bert_tf.tasks.classification import metrics
from bert_tf.tasks.classification import predictions as classifier
from bert_tf.tasks.classification.examples import get_processor
from bert_tf.training.predict import PredictResult


def test_result_files_for_classification_and_regression(tmp_path):
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    classifier.write_test_results(str(tmp_path / "test_results.tsv"), logits, is_regression=False)
    rows = (tmp_path / "test_results.tsv").read_text().splitlines()
    assert rows[2] == "0.5\t0.5" and len(rows) == 3
    assert float(rows[0].split("\t")[0]) == pytest.approx(np.exp(2) / (np.exp(2) + 1), abs=1e-6)
    classifier.write_test_results(str(tmp_path / "scores.tsv"), np.array([[3.25], [0.5]], np.float32), True)
    assert (tmp_path / "scores.tsv").read_text() == "3.25\n0.5\n"

    # STS-B: Pearson/Spearman, squared-error losses, no accuracy; padding examples are left out.
    prediction = PredictResult(outputs={"logits": np.array([[1.0], [2.0], [4.0], [0.0]], np.float32)},
                               labels=np.array([1.5, 2.0, 3.0, 0.0], np.float32),
                               features={"is_real_example": np.array([1, 1, 1, 0], np.float32)}, batch_sizes=[2, 2])
    results = metrics.eval_results_from_predictions(get_processor("sts-b"), prediction, global_step=9)
    assert sorted(results) == ["eval_loss", "eval_pearson", "eval_spearman", "global_step", "loss"]
    assert results["eval_loss"] == pytest.approx((0.25 + 0 + 1) / 3)
    assert results["loss"] == pytest.approx(((0.25 + 0) / 2 + (1 + 0) / 2) / 2)
    assert results["eval_spearman"] == pytest.approx(1.0) and results["global_step"] == 9
    files.write_eval_results(str(tmp_path / "eval_results.txt"), results)
    assert (tmp_path / "eval_results.txt").read_text().splitlines()[3] == "global_step = 9"
