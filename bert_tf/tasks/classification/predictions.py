"""Classifier outputs -> `test_results.tsv`, as the original `run_classifier.py` writes it (and for
multi-label tasks, each label's probability)."""
import numpy as np

from bert_tf import files

TEST_RESULTS_FILE = "test_results.tsv"


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of float logits [N, K] (float32, as the original's `tf.nn.softmax`)."""
    shifted = logits.astype(np.float32) - logits.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def write_test_results(path: str, logits: np.ndarray, is_regression: bool, multi_label: bool = False) -> None:
    """One tab-separated line of class probabilities per example (regression: the score; multi-label: each
    label's probability, a sigmoid), no header."""
    if multi_label:
        probabilities = (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
        lines = ["\t".join(str(probability) for probability in row) + "\n" for row in probabilities]
    elif is_regression:
        lines = [str(np.float32(row[0])) + "\n" for row in logits]
    else:
        lines = ["\t".join(str(probability) for probability in row) + "\n" for row in softmax(logits)]
    files.atomic_write_text(path, "".join(lines))
