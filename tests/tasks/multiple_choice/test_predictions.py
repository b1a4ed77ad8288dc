"""bert_tf.tasks.multiple_choice.predictions: choice probabilities and test_results.tsv."""
import numpy as np

from bert_tf.modeling.multiple_choice import MASKED_LOGIT
from bert_tf.tasks.multiple_choice import predictions


def test_test_results_hold_each_questions_own_choices(tmp_path):
    logits = np.array([[0.0, np.log(3.0), MASKED_LOGIT], [1.0, 1.0, 1.0]], np.float32)
    probabilities = predictions.choice_probabilities(logits, [2, 3])
    path = tmp_path / predictions.TEST_RESULTS_FILE
    predictions.write_test_results(str(path), probabilities)
    rows = [[float(value) for value in line.split("\t")] for line in path.read_text().splitlines()]
    assert len(rows[0]) == 2 and len(rows[1]) == 3
    np.testing.assert_allclose(rows[0], [0.25, 0.75], atol=1e-6)
    np.testing.assert_allclose(rows[1], [1 / 3] * 3, atol=1e-6)
