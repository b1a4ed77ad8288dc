"""Tests for bert_tf.tasks.squad.predictions: the post-processing rules of the original `write_predictions`
(n-best spans, the answer text projected onto the original characters, the SQuAD 2.0 null answer)."""
import numpy as np
import pytest

from bert_tf.tasks.squad import predictions as postprocess
from bert_tf.tasks.squad.examples import SquadExample
from bert_tf.tasks.squad.features import SquadFeatures


def test_get_final_text_projects_onto_the_original_characters():
    assert postprocess.get_final_text("steve smith", "Steve Smith's", do_lower_case=True) == "Steve Smith"
    assert postprocess.get_final_text("1895", "(1895-1943).", do_lower_case=True) == "1895"
    assert postprocess.get_final_text("resume", "Résumé", do_lower_case=True) == "Résumé"
    assert postprocess.get_final_text("zzz", "Steve", do_lower_case=True) == "Steve"  # alignment fails


def one_window_example(start_logits, end_logits, num_doc_tokens=4):
    """An example with one window `[CLS] q [SEP] w0..wN [SEP]` and its logits."""
    words = [f"w{index}" for index in range(num_doc_tokens)]
    tokens = ["[CLS]", "q", "[SEP]", *words, "[SEP]"]
    feature = SquadFeatures(1000000000, 0, 0, tokens, {3 + index: index for index in range(num_doc_tokens)},
                            {3 + index: True for index in range(num_doc_tokens)}, [], [], [])
    result = postprocess.RawResult(1000000000, np.asarray(start_logits, np.float32),
                                   np.asarray(end_logits, np.float32))
    return SquadExample("q1", "q", words), feature, result


def test_n_best_prefers_the_highest_scoring_valid_span():
    #            CLS    q  SEP  w0   w1   w2   w3  SEP  pad
    start = [5.0, 9.0, 0.0, 1.0, 3.0, 0.0, 0.0, 0.0, 9.0]
    end = [5.0, 9.0, 0.0, 0.0, 0.0, 4.0, 1.0, 0.0, 9.0]
    example, feature, result = one_window_example(start, end)
    predictions = postprocess.compute_predictions([example], [feature], [result], n_best_size=20,
                                                  max_answer_length=30, do_lower_case=True)
    assert predictions.answers == {"q1": "w1 w2"}
    nbest = predictions.nbest["q1"]
    assert [entry["text"] for entry in nbest[:2]] == ["w1 w2", "w0 w1 w2"]
    assert sum(entry["probability"] for entry in nbest) == pytest.approx(1.0)
    short = postprocess.compute_predictions([example], [feature], [result], n_best_size=20, max_answer_length=1,
                                            do_lower_case=True)
    assert all(len(entry["text"].split()) == 1 for entry in short.nbest["q1"])


def test_version_2_null_answer_threshold_and_no_span_fallback():
    start = [2.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    end = [2.0, 0.0, 0.0, 1.5, 0.0, 0.0, 0.0, 0.0]
    example, feature, result = one_window_example(start, end)
    common = dict(n_best_size=20, max_answer_length=30, do_lower_case=True, version_2_with_negative=True)
    predicted = postprocess.compute_predictions([example], [feature], [result], null_score_diff_threshold=0.0,
                                                **common)
    assert predicted.answers == {"q1": ""} and predicted.null_odds["q1"] == pytest.approx(4.0 - 2.5)
    answered = postprocess.compute_predictions([example], [feature], [result], null_score_diff_threshold=2.0,
                                               **common)
    assert answered.answers == {"q1": "w0"}
    # No valid span at all (every max-context flag off): the original crashes; we answer "".
    feature.token_is_max_context = {position: False for position in feature.token_is_max_context}
    fallback = postprocess.compute_predictions([example], [feature], [result], **common)
    assert fallback.answers == {"q1": ""} and fallback.stats.num_without_span == 1
    assert [entry["text"] for entry in fallback.nbest["q1"]] == [""]
    assert fallback.null_odds["q1"] == postprocess.NO_SPAN_NULL_ODDS
    version_1 = postprocess.compute_predictions([example], [feature], [result], n_best_size=20,
                                                max_answer_length=30, do_lower_case=True)
    assert version_1.answers == {"q1": "empty"} and version_1.stats.num_empty == 1
