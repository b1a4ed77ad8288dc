"""GLUE evaluation metrics in plain numpy (no scipy / scikit-learn).

All functions take 1-D array-likes of equal, non-zero length and return a Python float.
Conventions where a metric is undefined follow scikit-learn / scipy: F1 and Matthews correlation are 0.0
when their denominator is zero; Pearson and Spearman correlation are NaN when either input is constant
(or contains NaN / inf).
"""
from typing import Dict, Optional, Sequence

import numpy as np

from bert_tf.tasks.classification import examples as glue


def _as_pair(predictions, labels, dtype=None):
    predictions = np.asarray(predictions, dtype=dtype)
    labels = np.asarray(labels, dtype=dtype)
    if predictions.ndim != 1 or labels.ndim != 1:
        raise ValueError(f"metrics expect 1-D arrays, got shapes {predictions.shape} and {labels.shape}")
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions and labels differ in length: {predictions.shape[0]} vs {labels.shape[0]}")
    if predictions.size == 0:
        raise ValueError("metrics need at least one example")
    return predictions, labels


def accuracy(predictions, labels) -> float:
    """Fraction of positions where `predictions == labels`."""
    predictions, labels = _as_pair(predictions, labels)
    return float(np.mean(predictions == labels))


def f1_score(predictions, labels, positive_label=1) -> float:
    """Binary F1 of class `positive_label`: `2 tp / (2 tp + fp + fn)` (0.0 when that is 0/0)."""
    predictions, labels = _as_pair(predictions, labels)
    predicted_positive = predictions == positive_label
    actual_positive = labels == positive_label
    true_positives = np.count_nonzero(predicted_positive & actual_positive)
    false_positives = np.count_nonzero(predicted_positive & ~actual_positive)
    false_negatives = np.count_nonzero(~predicted_positive & actual_positive)
    denominator = 2 * true_positives + false_positives + false_negatives
    return float(2 * true_positives / denominator) if denominator else 0.0


def matthews_corrcoef(predictions, labels) -> float:
    """Matthews correlation coefficient (multi-class form; equals the binary MCC for two classes).

    With confusion counts `C[true, predicted]`, `t = C.sum(1)`, `p = C.sum(0)`, `c = trace(C)`,
    `s = C.sum()`: `(c s - t.p) / sqrt((s^2 - p.p) (s^2 - t.t))`, 0.0 when the denominator is 0.
    """
    predictions, labels = _as_pair(predictions, labels)
    classes, encoded = np.unique(np.concatenate([labels, predictions]), return_inverse=True)
    encoded = encoded.reshape(-1)
    true_ids, predicted_ids = encoded[:labels.size], encoded[labels.size:]
    confusion = np.zeros((classes.size, classes.size), dtype=np.float64)
    np.add.at(confusion, (true_ids, predicted_ids), 1.0)
    true_counts = confusion.sum(axis=1)
    predicted_counts = confusion.sum(axis=0)
    correct = np.trace(confusion)
    total = confusion.sum()
    numerator = correct * total - np.dot(true_counts, predicted_counts)
    denominator = np.sqrt((total ** 2 - np.dot(predicted_counts, predicted_counts))
                          * (total ** 2 - np.dot(true_counts, true_counts)))
    return float(numerator / denominator) if denominator > 0 else 0.0


def pearson_correlation(predictions, labels) -> float:
    """Pearson correlation coefficient (float64); NaN if an input is constant or not finite."""
    x, y = _as_pair(predictions, labels, dtype=np.float64)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return float("nan")
    x_centered = x - x.mean()
    y_centered = y - y.mean()
    denominator = np.sqrt(np.dot(x_centered, x_centered) * np.dot(y_centered, y_centered))
    if denominator == 0:
        return float("nan")
    return float(np.clip(np.dot(x_centered, y_centered) / denominator, -1.0, 1.0))


def average_ranks(values) -> np.ndarray:
    """1-based ranks of `values` with ties given the average of their ranks (float64 [N]).

    Example: `[10, 20, 20, 30] -> [1, 2.5, 2.5, 4]`.
    """
    values = np.asarray(values)
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    group_starts = np.concatenate([[0], np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1])
    group_ends = np.concatenate([group_starts[1:], [values.size]])
    group_ranks = (group_starts + group_ends + 1) / 2.0  # Mean of the 1-based ranks start+1 .. end.
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(group_ranks, group_ends - group_starts)
    return ranks


def spearman_correlation(predictions, labels) -> float:
    """Spearman rank correlation: Pearson correlation of the average ranks (ties averaged)."""
    x, y = _as_pair(predictions, labels, dtype=np.float64)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return float("nan")
    return pearson_correlation(average_ranks(x), average_ranks(y))


def _class_predictions(predictions) -> np.ndarray:
    """Class ids [N] from class ids [N] or from logits / probabilities [N, num_labels] (argmax)."""
    predictions = np.asarray(predictions)
    if predictions.ndim == 2:
        return np.argmax(predictions, axis=-1)
    return predictions


def _regression_predictions(predictions) -> np.ndarray:
    """Scores [N] from [N] or [N, 1]."""
    predictions = np.asarray(predictions, dtype=np.float64)
    if predictions.ndim == 2 and predictions.shape[1] == 1:
        return predictions[:, 0]
    return predictions


_METRIC_FUNCTIONS = {
    "eval_accuracy": accuracy,
    "eval_f1": f1_score,
    "eval_mcc": matthews_corrcoef,
    "eval_pearson": pearson_correlation,
    "eval_spearman": spearman_correlation,
}


def glue_metrics(task_name: str, predictions, labels) -> Dict[str, float]:
    """The metrics of a GLUE task, keyed as `get_processor(task_name).metric_names`.

    MRPC, QQP: `eval_accuracy`, `eval_f1`; CoLA: `eval_mcc`, `eval_accuracy`; STS-B:
    `eval_pearson`, `eval_spearman`; all other tasks: `eval_accuracy`.

    Args:
      task_name: a task name accepted by `glue.get_processor` (case-insensitive).
      predictions: classification: class ids [N] or logits [N, num_labels]; regression: scores [N] or [N, 1].
      labels: class ids [N] (int) or, for regression, gold scores [N] ([N, 1] also accepted).
    """
    return processor_metrics(glue.get_processor(task_name), predictions, labels)


def processor_metrics(processor, predictions, labels) -> Dict[str, float]:
    """The metrics named by `processor.metric_names` (a GLUE processor, or your own files'), as `glue_metrics`."""
    if processor.is_regression:
        predictions = _regression_predictions(predictions)
        labels = _regression_predictions(labels)
    else:
        predictions = _class_predictions(predictions)
        labels = np.asarray(labels)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
    return {name: _METRIC_FUNCTIONS[name](predictions, labels) for name in processor.metric_names}


# ------------------------------------------------------------------------------------ eval_results.txt
def _per_example_losses(logits: np.ndarray, labels: np.ndarray, is_regression: bool,
                        multi_label: bool = False) -> np.ndarray:
    logits = logits.astype(np.float64)
    if multi_label:  # sigmoid cross-entropy, averaged over the labels
        targets = labels.astype(np.float64)
        return np.mean(np.maximum(logits, 0) - logits * targets + np.log1p(np.exp(-np.abs(logits))), axis=1)
    if is_regression:
        return np.square(logits[:, 0] - labels.astype(np.float64))
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_normalizer = np.log(np.exp(shifted).sum(axis=1))
    return log_normalizer - shifted[np.arange(len(labels)), labels.astype(np.int64)]


def label_log_odds(multi_hot: np.ndarray) -> np.ndarray:
    """Each label's log-odds in a multi-hot matrix [N, num_labels] (0/1), smoothed as (count + 1) / (N + 2):
    float32 [num_labels]. A multi-label head starts with this bias, so that its first updates fit the label
    frequencies through the bias, not by pushing the pooled output of every text to one saturated corner."""
    multi_hot = np.asarray(multi_hot, np.float64)
    frequency = (multi_hot.sum(axis=0) + 1.0) / (multi_hot.shape[0] + 2.0)
    return np.log(frequency / (1.0 - frequency)).astype(np.float32)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Element-wise logistic function in float64 (a multi-label model's label probabilities)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64)))


def multi_label_metrics(probabilities: np.ndarray, targets: np.ndarray, label_list, threshold: float
                        ) -> Dict[str, float]:
    """Multi-label scores: a label is predicted when its probability is at least `threshold`.

    Returns `eval_micro_f1` (over every (example, label) decision), `eval_macro_f1` (the mean of the labels'
    F1), `eval_exact_match` (examples whose predicted label set is exactly the gold one) and `eval_f1_<label>`
    for each label (0.0 for a label neither predicted nor gold).
    """
    predicted = np.asarray(probabilities) >= threshold
    gold = np.asarray(targets) > 0.5
    true_positives = np.sum(predicted & gold, axis=0)
    false_positives = np.sum(predicted & ~gold, axis=0)
    false_negatives = np.sum(~predicted & gold, axis=0)
    denominators = 2 * true_positives + false_positives + false_negatives
    per_label = np.where(denominators > 0, 2 * true_positives / np.maximum(denominators, 1), 0.0)
    micro_denominator = denominators.sum()
    results = {
        "eval_micro_f1": float(2 * true_positives.sum() / micro_denominator) if micro_denominator else 0.0,
        "eval_macro_f1": float(per_label.mean()),
        "eval_exact_match": float(np.mean(np.all(predicted == gold, axis=1))),
    }
    results.update({f"eval_f1_{label}": float(value) for label, value in zip(label_list, per_label)})
    return results


def eval_results_from_predictions(processor, prediction, global_step: int, threshold: float = 0.5
                                  ) -> Dict[str, float]:
    """The eval_results.txt values for a `PredictResult` of the classifier (`logits` output, its real examples
    only, `is_real_example`), as `eval_results` computes them."""
    labels = prediction.labels
    real = prediction.features.get("is_real_example", np.ones(len(labels), np.float32)) > 0
    return eval_results(processor, prediction.outputs["logits"], labels, prediction.batch_sizes, global_step,
                        threshold, real)


def eval_results(processor, logits: np.ndarray, labels: np.ndarray, batch_sizes: Sequence[int], global_step: int,
                 threshold: float = 0.5, real: Optional[np.ndarray] = None) -> Dict[str, float]:
    """The eval_results.txt values of classifier logits [N, K] and labels [N] for the task's processor (its
    metrics and label kind; `threshold` for a multi-label task).

    `eval_loss` is the mean per-example loss over real examples (`real`: bool [N], default all); `loss` the mean
    of the batch-mean losses over `batch_sizes` (the Estimator's `loss`); the metrics use real examples only:
    `processor_metrics`, or for a multi-label task `multi_label_metrics`.
    """
    real = np.ones(len(labels), bool) if real is None else real
    multi_label = getattr(processor, "is_multi_label", False)
    losses = _per_example_losses(logits, labels, processor.is_regression, multi_label)
    batch_means, start = [], 0
    for size in batch_sizes:
        if size:
            batch_means.append(float(np.mean(losses[start:start + size])))
        start += size
    if multi_label:
        results = multi_label_metrics(sigmoid(logits[real]), labels[real], processor.get_labels(), threshold)
    else:
        results = dict(processor_metrics(processor, logits[real], labels[real]))
    results["eval_loss"] = float(np.mean(losses[real]))
    results["loss"] = float(np.mean(batch_means))
    results["global_step"] = int(global_step)
    return results
