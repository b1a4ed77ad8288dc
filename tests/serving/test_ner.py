"""Tests for bert_tf.serving.ner: the NER SavedModel (raw text in, entities out).

The tiny pretrained model gets a random token-classification head (std 1.0, so that every label
occurs); the SavedModel, loaded in a FRESH process with only tensorflow and tensorflow_text, must give the
entities of run_ner's Python path on the same model: `features.sentence_windows` (FullTokenizer, windows),
the argmax at each word's first piece in its max-context window (`run.decode`), `metrics.chunks`.
"""
import os

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from bert_tf.checkpoint import load_checkpoint  # noqa: E402
from bert_tf.config import BertConfig  # noqa: E402
from bert_tf.errors import InputError  # noqa: E402
from bert_tf.modeling.token_classification import BertTokenClassifier  # noqa: E402
from bert_tf.serving import ner as ner_serving  # noqa: E402
from bert_tf.tasks import driver  # noqa: E402
from bert_tf.tasks.ner import examples, features, metrics  # noqa: E402
from bert_tf.tasks.ner.task import NerConfig, NerTask  # noqa: E402
from bert_tf.tokenization.in_graph import TENSORFLOW_TEXT_OPS  # noqa: E402
from bert_tf.training.run_options import ModelFiles, RunOptions  # noqa: E402
from tests.harness.scripts import run_fresh_process  # noqa: E402

MAX_SEQ_LENGTH = 32  # short: CoNLL sentences of more than 30 pieces need several windows
NUM_SENTENCES = 40
LABELS = examples.labels_for_types(["LOC", "MISC", "ORG", "PER"])

# What the fresh process (tests/harness/scripts.py's `run_fresh_process`) does with the NER export.
LOADER_JOBS = """
    def plain(value):  # also [batch, entities] strings
        value = value.numpy() if hasattr(value, "numpy") else value
        if value.dtype == object:
            return [[item.decode("utf-8") for item in row] if isinstance(row, list) else row.decode("utf-8")
                    for row in value.tolist()]
        return value.tolist()


    results = {}
    for name, job in request.items():
        loaded = tf.saved_model.load(job["path"])
        outputs = loaded.signatures["serving_default"](text=tf.constant(job["text"]))
        single = loaded.signatures["serving_default"](text=tf.constant(job["text"][:1]))
        ids = {key: tf.constant(value, tf.int32) for key, value in job["ids"].items()}
        results[name] = {
            "not_in_core": not_in_core[name],
            "serving_default": {key: plain(value) for key, value in outputs.items()},
            "single": {key: plain(value) for key, value in single.items()},
            "serve_ids": {key: plain(value) for key, value in loaded.signatures["serve_ids"](**ids).items()},
            "session": session_outputs(job["path"], "serving_default", {"text": job["text"][:3]}),
        }
"""


@pytest.fixture(scope="module")
def model(tiny_ckpt_dir):
    config = BertConfig.from_json_file(str(tiny_ckpt_dir / "bert_config.json"))
    model = BertTokenClassifier(config, num_labels=len(LABELS))
    load_checkpoint(model, tiny_ckpt_dir, expected_missing=("cls/ner/.*",))
    random = np.random.RandomState(0)
    for weight in model.weights:
        if weight.path.startswith("cls/ner"):
            weight.assign(random.normal(0.0, 1.0, weight.shape).astype("float32"))
    return model


@pytest.fixture(scope="module")
def sentences(data_dir):
    conll = examples.read_conll_file(str(data_dir / "conll2003" / "valid.txt"))
    words = [sentence.words for sentence in conll.sentences[:NUM_SENTENCES]]
    # One long sentence (about 150 pieces: several windows), and one with odd characters.
    words.append([word for sentence in conll.sentences[NUM_SENTENCES:NUM_SENTENCES + 6] for word in sentence.words])
    words.append(["Zoë", "Müller-Lüdenscheidt", "\u200b", "visited", "Köln", "(", "Germany", ")", "."])
    return words


def _python_entities(model, tokenizer, words):
    """run_ner's path for one sentence: `(type, start, end, text)` with offsets into " ".join(words)."""
    windows, _ = features.sentence_windows(0, words, None, tokenizer, MAX_SEQ_LENGTH)
    tags = [examples.OUTSIDE] * len(words)
    if windows:
        ids = np.zeros((len(windows), MAX_SEQ_LENGTH), np.int32)
        for row, window in enumerate(windows):
            ids[row, :len(window.input_ids)] = window.input_ids
        logits = model({"input_ids": tf.constant(ids), "input_mask": tf.constant((ids > 0).astype(np.int32)),
                        "segment_ids": tf.zeros_like(ids)}, training=False)["logits"].numpy()
        best = logits.argmax(axis=-1)
        for row, window in enumerate(windows):
            for position, word_index in zip(window.positions, window.word_indices):
                tags[word_index] = LABELS[best[row, position]]
    text = " ".join(words)
    starts = np.cumsum([0] + [len(word) + 1 for word in words])
    return [(entity_type, int(starts[first]), int(starts[last]) + len(words[last]),
             text[starts[first]:starts[last] + len(words[last])])
            for entity_type, first, last in metrics.chunks(tags)]


def _entities(outputs, row):
    return [(outputs["entity_type"][row][index], outputs["entity_start"][row][index],
             outputs["entity_end"][row][index], outputs["entity_text"][row][index])
            for index in range(outputs["num_entities"][row])]


@pytest.fixture(scope="module")
def export_path(model, tiny_ckpt_dir, tmp_path_factory):
    return ner_serving.export_ner(model, tiny_ckpt_dir / "vocab.txt", True, LABELS,
                                  tmp_path_factory.mktemp("ner_export"), max_seq_length=MAX_SEQ_LENGTH)


@pytest.fixture(scope="module")
def fresh_results(export_path, sentences, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ner_fresh_process")
    ids = {"input_ids": [[101, 7592, 2088, 102, 0]], "input_mask": [[1, 1, 1, 1, 0]],
           "segment_ids": [[0, 0, 0, 0, 0]]}
    request = {"ner": {"path": export_path, "text": [" ".join(words) for words in sentences], "ids": ids}}
    return run_fresh_process(LOADER_JOBS, request, folder)


@pytest.mark.slow
def test_entities_match_run_ner_decoding(fresh_results, model, sentences, tiny_tokenizer):
    outputs = fresh_results["ner"]["serving_default"]
    expected = [_python_entities(model, tiny_tokenizer, words) for words in sentences]
    assert sum(len(entities) for entities in expected) > 100
    for row, entities in enumerate(expected):
        assert _entities(outputs, row) == entities, row
    texts = [" ".join(words) for words in sentences]
    for row, text in enumerate(texts):
        for _, start, end, entity_text in _entities(outputs, row):
            assert text[start:end] == entity_text
    single = fresh_results["ner"]["single"]
    assert _entities(single, 0) == expected[0]


@pytest.mark.slow
def test_serve_ids_and_session_graph(fresh_results, model):
    ids = np.array([[101, 7592, 2088, 102, 0]], np.int32)
    logits = model({"input_ids": tf.constant(ids), "input_mask": tf.constant((ids > 0).astype(np.int32)),
                    "segment_ids": tf.zeros_like(ids)}, training=False)["logits"]
    np.testing.assert_allclose(fresh_results["ner"]["serve_ids"]["probabilities"],
                               tf.nn.softmax(logits, axis=-1).numpy(), atol=1e-5)
    session = fresh_results["ner"]["session"]
    outputs = fresh_results["ner"]["serving_default"]
    for row in range(3):
        assert _entities(session, row) == _entities(outputs, row)


@pytest.mark.slow
def test_graph_needs_only_core_ops_and_two_tensorflow_text_ops(fresh_results, export_path):
    assert fresh_results["ner"]["not_in_core"] == sorted(TENSORFLOW_TEXT_OPS)
    assert fresh_results["new_modules"] == []
    with open(os.path.join(export_path, "assets.extra", "labels.txt"), encoding="utf-8") as reader:
        assert reader.read().split() == LABELS


def test_in_process_edge_cases(model, tiny_ckpt_dir):
    """Empty strings, whitespace only, an empty batch; bad labels are InputErrors."""
    tokenizer = ner_serving.InGraphBertTokenizer(tiny_ckpt_dir / "vocab.txt", True, MAX_SEQ_LENGTH)
    module = ner_serving.NerServingModule(model, tokenizer, LABELS)
    outputs = module.serve_text(tf.constant(["", " \t ", "John lives in Paris"]))
    assert outputs["num_entities"].numpy().tolist()[:2] == [0, 0]
    assert outputs["entity_text"].shape[0] == 3
    outputs = module.serve_text(tf.constant([], tf.string))
    assert outputs["num_entities"].shape == (0,)
    for texts in (["", "   "], ["\u200b"], ["\u2028"]):  # no word in the whole request
        assert module.serve_text(tf.constant(texts))["num_entities"].numpy().tolist() == [0] * len(texts)
    with pytest.raises(tf.errors.InvalidArgumentError, match="text holds a string that is not valid UTF-8 at row"):
        module.serve_text(tf.constant([b"fine", b"\xff\xfe broken"]))
    with pytest.raises(InputError, match="labels"):
        ner_serving.NerServingModule(model, tokenizer, LABELS[:3])
    with pytest.raises(InputError, match="window_stride"):
        ner_serving.NerServingModule(model, tokenizer, LABELS, window_stride=0)


def test_task_export_reads_the_label_map(model, tiny_ckpt_dir, tmp_path):
    output_dir = tmp_path / "run"
    output_dir.mkdir()
    examples.write_label_map(str(output_dir), LABELS)
    task = NerTask(NerConfig(
        model=ModelFiles(str(tiny_ckpt_dir / "bert_config.json"), str(tiny_ckpt_dir / "vocab.txt")),
        options=RunOptions(output_dir=str(output_dir), export_dir=str(tmp_path / "export")),
        max_seq_length=MAX_SEQ_LENGTH))
    task.prepare_export()
    path = driver.export_model(task, model, str(tmp_path / "export"))
    assert os.path.isfile(os.path.join(path, "saved_model.pb"))
