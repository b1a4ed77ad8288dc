"""bert_tf.training.evaluation: the history, the best checkpoint, early stopping and resuming them."""
import json

import keras
import numpy as np
import pytest

from bert_tf.errors import InputError
from bert_tf.files import read_eval_results
from bert_tf.training import evaluation
from bert_tf.training.evaluation import EvalMonitor


def small_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
    model.build((None, 3))
    return model


def scripted(values, key="eval_accuracy"):
    """An evaluate function returning `values` in turn, and the model whose kernel marks each call."""
    model = small_model()
    calls = []

    def evaluate(step):
        calls.append(step)
        model.layers[0].kernel.assign(np.full((3, 2), float(step), np.float32))
        return {key: np.float32(values[len(calls) - 1]), "eval_loss": 1.0 / step}

    return evaluate, model, calls


def history(folder):
    return [json.loads(line) for line in (folder / evaluation.HISTORY_FILE).read_text().splitlines()]


def test_history_best_checkpoint_and_early_stopping(tmp_path):
    evaluate, model, calls = scripted([0.5, 0.7, 0.6, 0.7, 0.65])
    lines = []
    monitor = EvalMonitor(str(tmp_path), 10, evaluate, model, keep_best="eval_accuracy", patience=2,
                          log=lines.append)
    assert monitor.due(9, 10) and not monitor.due(10, 11) and monitor.due(19, 21)
    for step in (10, 20, 30):
        monitor.evaluate(step)
        assert not monitor.stopped()
    monitor.evaluate(40)  # 0.7 again: not better than 0.7
    assert monitor.stopped() and monitor.evaluations_without_improvement == 2
    assert [entry["global_step"] for entry in history(tmp_path)] == [10, 20, 30, 40]
    assert history(tmp_path)[1] == {"eval_accuracy": pytest.approx(0.7), "eval_loss": 0.05, "global_step": 20}
    best = read_eval_results(str(tmp_path / "best" / "eval_results.txt"))
    assert best["global_step"] == "20" and float(best["eval_accuracy"]) == pytest.approx(0.7)
    assert "stopping early" in lines[-1] and "best eval_accuracy 0.7000 at step 20" in lines[-1]
    assert "(best so far)" in lines[1]
    # The end: the history has step 40, so no new evaluation; the best model comes back.
    model.layers[0].kernel.assign(np.zeros((3, 2), np.float32))
    results = monitor.final(40)
    assert calls == [10, 20, 30, 40] and results["global_step"] == 20
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), np.full((3, 2), 20.0))


def test_lower_is_better_for_losses():
    assert evaluation.lower_is_better("eval_loss") and evaluation.lower_is_better("eval_mse")
    assert not evaluation.lower_is_better("eval_accuracy") and not evaluation.lower_is_better("eval_f1")


def test_keep_best_by_loss_and_final_evaluation(tmp_path):
    evaluate, model, calls = scripted([0.1, 0.2, 0.3])
    monitor = EvalMonitor(str(tmp_path), 5, evaluate, model, keep_best="eval_loss")
    monitor.evaluate(5)
    monitor.evaluate(10)
    results = monitor.final(12)  # not evaluated yet: evaluated now; the loss 1/12 is the lowest
    assert calls == [5, 10, 12] and results["global_step"] == 12


def test_resume_drops_later_evaluations_and_keeps_the_patience_count(tmp_path):
    evaluate, model, _ = scripted([0.9, 0.8, 0.7, 0.6])
    monitor = EvalMonitor(str(tmp_path), 10, evaluate, model, keep_best="eval_accuracy", patience=3)
    for step in (10, 20, 30, 40):
        monitor.evaluate(step)
    # Killed after step 40's evaluation; the newest checkpoint is step 30.
    evaluate, model, _ = scripted([0.5])
    resumed = EvalMonitor(str(tmp_path), 10, evaluate, model, keep_best="eval_accuracy", patience=3)
    resumed.resume(30)
    assert [entry["global_step"] for entry in history(tmp_path)] == [10, 20, 30]
    assert resumed.best["global_step"] == 10 and resumed.evaluations_without_improvement == 2
    assert not resumed.stopped() and resumed.evaluated(30) and not resumed.evaluated(40)
    resumed.evaluate(40)
    assert resumed.stopped()
    again = EvalMonitor(str(tmp_path), 10, evaluate, model, keep_best="eval_accuracy", patience=3)
    again.resume(40)
    assert again.stopped()


def test_unknown_keep_best_metric_names_the_results(tmp_path):
    evaluate, model, _ = scripted([0.5])
    monitor = EvalMonitor(str(tmp_path), 10, evaluate, model, keep_best="eval_f1")
    with pytest.raises(InputError, match="--keep_best=eval_f1 is not an evaluation result; the results are "
                                         "eval_accuracy, eval_loss"):
        monitor.evaluate(10)
    assert not (tmp_path / evaluation.HISTORY_FILE).exists()
