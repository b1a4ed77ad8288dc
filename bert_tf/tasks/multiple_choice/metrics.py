"""Multiple-choice scores: accuracy and the mean cross-entropy over questions, in numpy."""
from typing import Dict

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax in float64 (padding choices, `MASKED_LOGIT`, get -1e9 and so probability 0)."""
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def eval_results(logits: np.ndarray, labels: np.ndarray, global_step: int) -> Dict[str, float]:
    """`eval_accuracy` (the right choice ranked first), `eval_loss` (mean cross-entropy over the questions,
    what training minimizes) and `global_step`.

    Args:
      logits: float [N, C], one row per question.
      labels: int [N], each question's right choice.
    """
    labels = np.asarray(labels, np.int64)
    log_probabilities = log_softmax(logits)
    return {
        "eval_accuracy": float(np.mean(np.argmax(logits, axis=-1) == labels)),
        "eval_loss": float(-np.mean(log_probabilities[np.arange(len(labels)), labels])),
        "global_step": int(global_step),
    }
