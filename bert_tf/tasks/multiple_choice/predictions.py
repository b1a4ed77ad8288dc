"""Multiple-choice outputs -> choice probabilities -> `test_results.tsv`.

One line per question, in input order: the probabilities of its own choices (softmax across them),
tab-separated, no header; the line of a question with fewer choices than others in its file is shorter.
"""
from typing import List, Sequence

import numpy as np

from bert_tf import files
from bert_tf.tasks.multiple_choice.metrics import log_softmax

TEST_RESULTS_FILE = "test_results.tsv"


def choice_probabilities(logits: np.ndarray, num_choices: Sequence[int]) -> List[np.ndarray]:
    """Each question's probabilities over its own choices (float32), from logits [N, C] (padding masked)."""
    probabilities = np.exp(log_softmax(logits)).astype(np.float32)
    return [row[:count] for row, count in zip(probabilities, num_choices)]


def write_test_results(path: str, probabilities: Sequence[np.ndarray]) -> None:
    """Writes one tab-separated line of choice probabilities per question, atomically."""
    files.atomic_write_text(path, "".join("\t".join(str(value) for value in row) + "\n" for row in probabilities))
