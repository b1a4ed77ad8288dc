"""bert_tf.serving.embedding: the embedding SavedModel gives `bert_tf.encode`'s vectors from raw text (windows,
truncation, poolings, the empty text), its checks and recorded settings; `export_savedmodel.py --task_name=embedding`
with MiniLM in a fresh process (tensorflow + tensorflow_text only, also TF Serving's session path) against the
sentence-transformers references."""
import json
import os
import pathlib

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("SavedModel exports need the TensorFlow backend", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from bert_tf.serving.embedding import SETTINGS_FILE  # noqa: E402
from bert_tf.tasks.embedding.encoder import SentenceEncoder  # noqa: E402
from tests.harness.scripts import assert_fails_cleanly, run_fresh_process, run_main  # noqa: E402

REFERENCES = pathlib.Path(__file__).parent.parent / "tasks" / "embedding" / "data" / "minilm_stsb_embeddings.npz"
LONG = " ".join(["the quick brown fox jumps over the lazy dog, again and again."] * 4)
TEXTS = ["The cat sat on the mat.", "", LONG, "hello", "  ", "Ünïcödé text and 中文 characters.", LONG[:90]]
SETTINGS = {
    "windows": dict(pooling="mean", normalize=True, max_seq_length=16, window_stride=5),
    "truncate": dict(pooling="max", layers="-2,-1", truncate=True, max_seq_length=16),
}


@pytest.fixture(scope="module")
def served(tiny_ckpt_dir, tmp_path_factory):
    """name -> (encoder, path of its export, its loaded `serving_default`, `serve_ids`)."""
    result = {}
    for name, settings in SETTINGS.items():
        encoder = SentenceEncoder(tiny_ckpt_dir, **settings)
        options = {"sub_batch_size": None} if name == "truncate" else {}
        path = encoder.export(tmp_path_factory.mktemp(f"embedding_{name}"), **options)
        loaded = tf.saved_model.load(path)
        result[name] = encoder, path, loaded.signatures["serving_default"], loaded.signatures["serve_ids"]
    return result


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_raw_text_gives_the_vectors_of_encode(served, name):
    encoder, _, serve, _ = served[name]
    embeddings = serve(text=tf.constant(TEXTS))["embeddings"].numpy()
    assert embeddings.shape == (len(TEXTS), 64) and embeddings.dtype == np.float32
    np.testing.assert_allclose(embeddings, encoder.encode(TEXTS), atol=1e-5, rtol=0)
    alone = serve(text=tf.constant([LONG]))["embeddings"].numpy()  # another batch, another padding
    np.testing.assert_allclose(alone[0], embeddings[2], atol=1e-5, rtol=0)


def test_serve_ids_pools_each_packed_row(served):
    encoder, _, _, serve_ids = served["windows"]
    ids = [[encoder.cls_id, *encoder.tokenizer.convert_tokens_to_ids(encoder.tokenizer.tokenize(text)),
            encoder.sep_id] for text in ("hello world", "a cat")]
    width = max(len(row) for row in ids)
    input_ids = np.array([row + [0] * (width - len(row)) for row in ids], np.int32)
    outputs = serve_ids(input_ids=tf.constant(input_ids), input_mask=tf.constant((input_ids > 0).astype(np.int32)),
                        segment_ids=tf.zeros_like(input_ids))
    np.testing.assert_allclose(outputs["embeddings"].numpy(), encoder.encode(["hello world", "a cat"]), atol=1e-5)


def test_empty_batches_wrong_ranks_and_invalid_utf8(served):
    _, _, serve, _ = served["windows"]
    assert serve(text=tf.constant([], tf.string))["embeddings"].shape == (0, 64)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"text: a string tensor \[batch\] is expected"):
        serve(text=tf.constant([["a", "b"]]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="text holds a string that is not valid UTF-8 at row"):
        serve(text=tf.constant([b"fine", b"not \xff"]))


def test_the_settings_are_recorded_beside_the_graph(served):
    _, path, _, _ = served["windows"]
    settings = json.loads((pathlib.Path(path) / "assets.extra" / SETTINGS_FILE).read_text())
    assert settings == {"pooling": "mean", "layers": [-1], "normalize": True, "max_seq_length": 16,
                        "long_texts": "windows", "window_stride": 5, "do_lower_case": True, "dimension": 64,
                        "serving_dtype": "float32"}
    _, path, _, _ = served["truncate"]
    settings = json.loads((pathlib.Path(path) / "assets.extra" / SETTINGS_FILE).read_text())
    assert (settings["pooling"], settings["layers"], settings["long_texts"]) == ("max", [-2, -1], "truncate")


def test_export_command_line_refuses_bad_settings_in_one_line(tiny_ckpt_dir, tmp_path, capsys):
    export_dir = tmp_path / "export"
    common = ["--task_name=embedding", f"--bert_dir={tiny_ckpt_dir}", f"--export_dir={export_dir}"]
    assert_fails_cleanly(capsys, "export_savedmodel", [*common, "--layers=-3"], "layer -3 does not exist",
                         output_dir=export_dir)
    assert_fails_cleanly(capsys, "export_savedmodel", [*common, "--pooling=sum"], "unknown pooling 'sum'",
                         output_dir=export_dir)
    assert_fails_cleanly(capsys, "export_savedmodel", [*common, "--layers=a"], "'a' is not an integer",
                         output_dir=export_dir)


def test_export_command_line_bakes_in_the_settings(tiny_ckpt_dir, tmp_path, capsys):
    export_dir = tmp_path / "export"
    assert run_main("export_savedmodel", "--task_name=embedding", f"--bert_dir={tiny_ckpt_dir}", "--pooling=max",
                    "--layers=-2,-1", "--normalize", "--max_seq_length=16", "--window_stride=5",
                    f"--export_dir={export_dir}") == 0
    [version] = os.listdir(export_dir)
    assert capsys.readouterr().out.strip() == str(export_dir / version)
    serve = tf.saved_model.load(str(export_dir / version)).signatures["serving_default"]
    encoder = SentenceEncoder(tiny_ckpt_dir, pooling="max", layers="-2,-1", normalize=True, max_seq_length=16,
                              window_stride=5)
    np.testing.assert_allclose(serve(text=tf.constant(TEXTS))["embeddings"].numpy(), encoder.encode(TEXTS),
                               atol=1e-5, rtol=0)


@pytest.mark.slow
def test_minilm_export_in_a_fresh_process_gives_the_sentence_transformers_vectors(minilm_ckpt_dir, tmp_path, capsys):
    """Acceptance: `export_savedmodel.py --task_name=embedding --pooling=mean --normalize` with the shared MiniLM,
    loaded with tensorflow + tensorflow_text alone: 1e-5 of sentence-transformers with the checkpoint's tanh GELU,
    cosine 0.99999 of the published embeddings, through TF 2 loading and TF Serving's TF 1 session."""
    references = np.load(REFERENCES)
    texts = [str(text) for text in references["texts"]]
    export_dir = tmp_path / "minilm_embedding"
    assert run_main("export_savedmodel", "--task_name=embedding", f"--bert_dir={minilm_ckpt_dir}", "--pooling=mean",
                    "--normalize", "--max_seq_length=256", f"--export_dir={export_dir}") == 0
    [version] = os.listdir(export_dir)
    results = run_fresh_process('''
        results = {}
        for name, job in request.items():
            serve = tf.saved_model.load(job["path"]).signatures["serving_default"]
            results[name] = {"embeddings": plain(serve(text=tf.constant(job["texts"]))["embeddings"]),
                             "session": session_outputs(job["path"], "serving_default", {"text": job["texts"]}),
                             "not_in_core": not_in_core[name]}
    ''', {"minilm": {"path": str(export_dir / version), "texts": texts}}, tmp_path)
    served = results["minilm"]
    for embeddings in (np.array(served["embeddings"]), np.array(served["session"]["embeddings"])):
        assert np.abs(embeddings - references["gelu_new"]).max() <= 1e-5
        published = references["published"]
        assert ((embeddings * published).sum(axis=1) / np.linalg.norm(published, axis=1)).min() >= 0.99999
    assert results["new_modules"] == []  # tensorflow + tensorflow_text only
    assert set(served["not_in_core"]) <= {"WordpieceTokenizeWithOffsets", "NormalizeUTF8"}
