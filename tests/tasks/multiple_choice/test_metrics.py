"""bert_tf.tasks.multiple_choice.metrics: accuracy and the mean cross-entropy over questions."""
import numpy as np
import pytest

from bert_tf.modeling.multiple_choice import MASKED_LOGIT
from bert_tf.tasks.multiple_choice import metrics


def test_accuracy_and_loss():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, MASKED_LOGIT]], np.float32)
    results = metrics.eval_results(logits, [0, 0], global_step=7)
    log_probabilities = [2.0 - np.log(np.exp([2.0, 1.0, 0.0]).sum()), 0.0 - np.log(np.exp([0.0, 3.0]).sum())]
    assert results == pytest.approx({"eval_accuracy": 0.5, "eval_loss": -np.mean(log_probabilities),
                                     "global_step": 7})
