"""Tests for bert_tf.serving.squad: the SQuAD SavedModel (raw question/context in, answers out).

The tiny fine-tuned checkpoint of the references (`refs/squad/tiny_squad`) is exported with the
references' flags, loaded in a FRESH process that imports only tensorflow and tensorflow_text, and its
answers are compared with the original run_squad's `predictions.json` (v1 and v2).

Agreement: all 188 answers of SQuAD 1.1 and all 188 of SQuAD 2.0 equal the original's. The export
cuts `context[start:end]` and makes each whitespace run one space, as the original joins its doc tokens.
"""
import json
import re

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from bert_tf.checkpoint import load_checkpoint  # noqa: E402
from bert_tf.config import BertConfig  # noqa: E402
from bert_tf.errors import InputError  # noqa: E402
from bert_tf.modeling.question_answering import BertQuestionAnswering  # noqa: E402
from bert_tf.serving import squad as squad_serving  # noqa: E402
from bert_tf.tasks import driver  # noqa: E402
from bert_tf.tasks.squad import predictions as postprocess  # noqa: E402
from bert_tf.tasks.squad.examples import SquadExample, split_context  # noqa: E402
from bert_tf.tasks.squad.features import convert_examples_to_features  # noqa: E402
from bert_tf.tokenization.in_graph import TENSORFLOW_TEXT_OPS  # noqa: E402
from tests.harness.scripts import run_fresh_process  # noqa: E402

FLAGS = dict(max_seq_length=128, doc_stride=64, max_query_length=32, n_best_size=20, max_answer_length=30)
NUM_SESSION_EXAMPLES = 6

# What the fresh process (tests/harness/scripts.py's `run_fresh_process`) does with each SQuAD export.
LOADER_JOBS = """
    def call(function, inputs):
        outputs = function(**{key: tf.constant(value) for key, value in inputs.items()})
        return {key: plain(value) for key, value in outputs.items()}


    results = {}
    for name, job in request.items():
        loaded = tf.saved_model.load(job["path"])
        serve = loaded.signatures["serving_default"]
        result = {"not_in_core": not_in_core[name], "signatures": sorted(loaded.signatures)}
        result["batch"] = call(serve, job["batch"])
        result["singles"] = [call(serve, single) for single in job["singles"]]
        if "ids" in job:
            ids = {key: tf.constant(value, tf.int32) for key, value in job["ids"].items()}
            result["serve_ids"] = {key: plain(value)
                                   for key, value in loaded.signatures["serve_ids"](**ids).items()}
        if "session" in job:
            result["session"] = session_outputs(job["path"], "serving_default", job["session"])
        results[name] = result
"""


def _questions(path):
    with open(path, encoding="utf-8") as reader:
        data = json.load(reader)["data"]
    return [(qa["id"], qa["question"], paragraph["context"])
            for article in data for paragraph in article["paragraphs"] for qa in paragraph["qas"]]


def _collapse_whitespace(text):
    """Each run of the original's whitespace (space, tab, CR, LF, U+202F) made one space."""
    return re.sub("[ \t\r\n\u202f]+", " ", text)


@pytest.fixture(scope="module")
def squad_refs(refs_dir):
    return refs_dir / "squad"


@pytest.fixture(scope="module")
def model(squad_refs):
    config = BertConfig.from_json_file(str(squad_refs / "tiny_squad" / "bert_config.json"))
    model = BertQuestionAnswering(config)
    load_checkpoint(model, squad_refs / "tiny_squad" / "model.ckpt")
    return model


def _python_answers(model, tokenizer, questions, contexts):
    """run_squad's prediction path (FullTokenizer features, windows padded to max_seq_length)."""
    examples = [SquadExample(qas_id=str(index), question_text=question, doc_tokens=split_context(context)[0])
                for index, (question, context) in enumerate(zip(questions, contexts))]
    features = list(convert_examples_to_features(examples, tokenizer, FLAGS["max_seq_length"],
                                                 FLAGS["doc_stride"], FLAGS["max_query_length"],
                                                 is_training=False))
    outputs = model({key: tf.constant(np.array([getattr(feature, key) for feature in features]), tf.int32)
                     for key in ("input_ids", "input_mask", "segment_ids")}, training=False)
    results = [postprocess.RawResult(feature.unique_id, start, end) for feature, start, end in
               zip(features, outputs["start_logits"].numpy(), outputs["end_logits"].numpy())]
    predictions = postprocess.compute_predictions(examples, features, results, FLAGS["n_best_size"],
                                                  FLAGS["max_answer_length"], do_lower_case=True)
    return [predictions.answers[example.qas_id] for example in examples], len(features)


@pytest.fixture(scope="module")
def long_context(squad_refs):
    """A context of about 700 word pieces (several windows) and two questions about it."""
    rows = _questions(squad_refs / "v1" / "predict.json")
    contexts = list(dict.fromkeys(context for _, _, context in rows))
    context = "\n".join(contexts[:8])
    return [rows[0][1], rows[-1][1]], [context, context]


@pytest.fixture(scope="module")
def exports(model, squad_refs, tmp_path_factory):
    """v1 through `export_squad`; v2 through the task's export (run_squad's path)."""
    vocab = squad_refs / "tiny_squad" / "vocab.txt"
    v1 = squad_serving.export_squad(model, vocab, True, tmp_path_factory.mktemp("squad_v1"), **FLAGS)
    threshold = float((squad_refs / "v2" / "threshold.txt").read_text())
    from bert_tf.tasks.squad.task import SquadConfig, SquadTask
    from bert_tf.training.run_options import ModelFiles, RunOptions

    export_dir = str(tmp_path_factory.mktemp("squad_v2"))
    task = SquadTask(SquadConfig(
        model=ModelFiles(str(squad_refs / "tiny_squad" / "bert_config.json"), str(vocab)),
        options=RunOptions(output_dir="", export_dir=export_dir),
        version_2_with_negative=True, null_score_diff_threshold=threshold, **FLAGS))
    task.prepare_export()
    v2 = driver.export_model(task, model, export_dir)
    return {"v1": v1, "v2": v2}


@pytest.fixture(scope="module")
def fresh_results(exports, squad_refs, long_context, tmp_path_factory):
    folder = tmp_path_factory.mktemp("squad_fresh_process")
    request = {}
    for name, path in exports.items():
        rows = _questions(squad_refs / name / "predict.json")
        batch = {"question": [row[1] for row in rows], "context": [row[2] for row in rows]}
        singles = [{"question": [row[1]], "context": [row[2]]} for row in rows[:4]]
        request[name] = {"path": path, "batch": batch, "singles": singles}
    request["v1"]["ids"] = {"input_ids": [[101, 2054, 102, 2023, 102, 0]], "input_mask": [[1, 1, 1, 1, 1, 0]],
                            "segment_ids": [[0, 0, 0, 1, 1, 0]]}
    request["v1"]["session"] = {key: value[:NUM_SESSION_EXAMPLES] for key, value in request["v1"]["batch"].items()}
    questions, contexts = long_context
    request["long"] = {"path": exports["v1"], "batch": {"question": questions, "context": contexts},
                       "singles": []}
    return run_fresh_process(LOADER_JOBS, request, folder)


def _check_offsets(outputs, contexts):
    for answer, start, end, context in zip(outputs["answer"], outputs["start"], outputs["end"], contexts):
        if start == -1:
            assert answer == "" and end == -1
        else:
            assert answer == _collapse_whitespace(context[start:end])


@pytest.mark.slow
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_answers_match_the_original_predictions(fresh_results, squad_refs, version):
    rows = _questions(squad_refs / version / "predict.json")
    expected = json.loads((squad_refs / version / "predictions.json").read_text())
    outputs = fresh_results[version]["batch"]
    _check_offsets(outputs, [row[2] for row in rows])
    assert {qid: answer for (qid, _, _), answer in zip(rows, outputs["answer"])} == expected


@pytest.mark.slow
def test_scores_match_the_original_nbest_and_null_odds(fresh_results, squad_refs):
    for version in ("v1", "v2"):
        rows = _questions(squad_refs / version / "predict.json")
        nbest = json.loads((squad_refs / version / "nbest_predictions.json").read_text())
        outputs = fresh_results[version]["batch"]
        for (qid, _, _), score in zip(rows, outputs["score"]):
            best = next(entry for entry in nbest[qid] if entry["text"])
            assert score == pytest.approx(best["start_logit"] + best["end_logit"], abs=1e-4), qid
    null_odds = json.loads((squad_refs / "v2" / "null_odds.json").read_text())
    rows = _questions(squad_refs / "v2" / "predict.json")
    outputs = fresh_results["v2"]["batch"]
    np.testing.assert_allclose(outputs["null_score_diff"], [null_odds[qid] for qid, _, _ in rows], atol=1e-3)
    expected = json.loads((squad_refs / "v2" / "predictions.json").read_text())
    assert [expected[qid] == "" for qid, _, _ in rows] == outputs["is_impossible"]
    assert "is_impossible" not in fresh_results["v1"]["batch"]


@pytest.mark.slow
def test_batch_of_one_gives_the_same_answer(fresh_results, squad_refs):
    rows = _questions(squad_refs / "v1" / "predict.json")
    expected = json.loads((squad_refs / "v1" / "predictions.json").read_text())
    for (qid, _, _), single in zip(rows, fresh_results["v1"]["singles"]):
        assert _collapse_whitespace(single["answer"][0]) == expected[qid]
        assert len(single["start"]) == 1
    for index, single in enumerate(fresh_results["v2"]["singles"]):
        batch = fresh_results["v2"]["batch"]
        assert single["answer"][0] == batch["answer"][index]
        assert single["is_impossible"][0] == batch["is_impossible"][index]


@pytest.mark.slow
def test_long_context_over_several_windows(fresh_results, long_context, model, squad_tokenizer):
    questions, contexts = long_context
    expected, num_windows = _python_answers(model, squad_tokenizer, questions, contexts)
    assert num_windows >= 2 * 8  # each of the two questions needs several windows
    outputs = fresh_results["long"]["batch"]
    _check_offsets(outputs, contexts)
    assert [_collapse_whitespace(answer) for answer in outputs["answer"]] == expected
    assert all(start >= 0 for start in outputs["start"])


@pytest.mark.slow
def test_serve_ids_returns_the_model_logits(fresh_results, model):
    ids = {"input_ids": [[101, 2054, 102, 2023, 102, 0]], "input_mask": [[1, 1, 1, 1, 1, 0]],
           "segment_ids": [[0, 0, 0, 1, 1, 0]]}
    outputs = model({key: tf.constant(value, tf.int32) for key, value in ids.items()}, training=False)
    for key in ("start_logits", "end_logits"):
        np.testing.assert_allclose(fresh_results["v1"]["serve_ids"][key], outputs[key].numpy(), atol=1e-5)


@pytest.mark.slow
def test_tf_serving_session_graph_gives_the_same(fresh_results):
    batch = fresh_results["v1"]["batch"]
    session = fresh_results["v1"]["session"]
    for key in ("answer", "start", "end"):
        assert session[key] == batch[key][:NUM_SESSION_EXAMPLES]
    np.testing.assert_allclose(session["score"], batch["score"][:NUM_SESSION_EXAMPLES], atol=1e-4)


@pytest.mark.slow
def test_graph_needs_only_core_ops_and_two_tensorflow_text_ops(fresh_results):
    for version in ("v1", "v2"):
        assert fresh_results[version]["not_in_core"] == sorted(TENSORFLOW_TEXT_OPS)
        assert fresh_results[version]["signatures"] == ["serve_ids", "serving_default"]
    assert fresh_results["new_modules"] == []


def test_bad_flags_are_input_errors(model, squad_refs, tmp_path):
    vocab = squad_refs / "tiny_squad" / "vocab.txt"
    with pytest.raises(InputError, match="max_query_length"):
        squad_serving.export_squad(model, vocab, True, tmp_path, max_seq_length=32, max_query_length=29)
    with pytest.raises(InputError, match="doc_stride"):
        squad_serving.export_squad(model, vocab, True, tmp_path, max_seq_length=64, doc_stride=0)
    with pytest.raises(InputError, match="max_position_embeddings"):
        squad_serving.export_squad(model, vocab, True, tmp_path, max_seq_length=100000)
    assert list(tmp_path.iterdir()) == []


def test_empty_context_and_question_in_graph(model, squad_refs):
    """Edge cases, in process: an empty context has no answer; mismatched batch sizes fail."""
    tokenizer = squad_serving.InGraphBertTokenizer(squad_refs / "tiny_squad" / "vocab.txt", True, 128)
    module = squad_serving.SquadServingModule(model, tokenizer, doc_stride=64, max_query_length=32)
    outputs = module.serve_text(tf.constant(["what?", ""]), tf.constant(["", "Some context here."]))
    assert outputs["answer"].numpy().tolist()[0] == b""
    assert outputs["start"].numpy().tolist()[0] == -1
    assert outputs["start"].numpy()[1] >= 0
    outputs = module.serve_text(tf.constant([], tf.string), tf.constant([], tf.string))
    assert outputs["answer"].shape == (0,)
    with pytest.raises(tf.errors.InvalidArgumentError):
        module.serve_text(tf.constant(["a", "b"]), tf.constant(["c"]))


@pytest.mark.parametrize("version_2_with_negative", [False, True])
def test_contexts_without_any_piece_have_no_answer_alone_or_batched(model, squad_refs, version_2_with_negative):
    """A request whose every context is empty or whitespace (no word piece in the whole batch) answers like
    the same rows batched with a real one: start/end -1, an empty answer, impossible under v2."""
    tokenizer = squad_serving.InGraphBertTokenizer(squad_refs / "tiny_squad" / "vocab.txt", True, 128)
    module = squad_serving.SquadServingModule(model, tokenizer, doc_stride=64, max_query_length=32,
                                              version_2_with_negative=version_2_with_negative)
    empty = ["", "   ", "\u200b", "\u2028", "\t\n"]
    for contexts in [[context] for context in empty] + [empty, empty + ["Some context here."]]:
        outputs = module.serve_text(tf.constant(["what?"] * len(contexts)), tf.constant(contexts))
        rows = len(empty) if len(contexts) > 1 else 1
        assert outputs["start"].numpy().tolist()[:rows] == [-1] * rows, contexts
        assert outputs["end"].numpy().tolist()[:rows] == [-1] * rows
        assert outputs["answer"].numpy().tolist()[:rows] == [b""] * rows
        if version_2_with_negative:
            assert outputs["is_impossible"].numpy()[:rows].all()
    assert outputs["start"].numpy()[-1] >= 0  # the real context beside them is answered


def test_a_request_with_invalid_utf8_is_refused_naming_the_input_and_row(model, squad_refs):
    tokenizer = squad_serving.InGraphBertTokenizer(squad_refs / "tiny_squad" / "vocab.txt", True, 128)
    module = squad_serving.SquadServingModule(model, tokenizer, doc_stride=64, max_query_length=32)
    contexts = ["Some context here.", "caf\xe9 bytes".encode("latin-1")]
    with pytest.raises(tf.errors.InvalidArgumentError, match="context holds a string that is not valid UTF-8 at row"):
        module.serve_text(tf.constant(["what?", "where?"]), tf.constant(contexts))
    outputs = module.serve_text(tf.constant(["what?"]), tf.constant(["caf\u00e9 \ufffd here."]))  # valid UTF-8
    assert outputs["start"].shape == (1,)
