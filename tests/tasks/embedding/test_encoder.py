"""`bert_tf.tasks.embedding.encoder` (`bert_tf.encode`): batching, windows, the empty text, casing, errors; and the
sentence-transformers all-MiniLM-L6-v2 references (data/minilm_stsb_embeddings.npz, made by
bench/embedding_references.py)."""
import json
import logging
import os
import pathlib

import numpy as np
import pytest

import bert_tf
from bert_tf.errors import InputError
from bert_tf.tasks.embedding.encoder import SentenceEncoder, folder_casing

REFERENCES = pathlib.Path(__file__).parent / "data" / "minilm_stsb_embeddings.npz"
TEXTS = ["The cat sat on the mat.", "", "A much longer sentence, with punctuation; and more words than the others!",
         "hello", "   ", "Short one.", "Another sentence about dogs and cats and birds."]


@pytest.fixture(scope="module")
def encoder(tiny_ckpt_dir):
    return SentenceEncoder(tiny_ckpt_dir, max_seq_length=24, batch_size=3)


def window_vector(encoder, ids):
    """The model's pooled vector of one packed window (ids with [CLS] and [SEP])."""
    ids = np.array([ids], np.int32)
    return encoder.model({"input_ids": ids, "input_mask": np.ones_like(ids),
                          "segment_ids": np.zeros_like(ids)})["embeddings"].numpy()[0]


def piece_ids(encoder, text):
    return encoder.tokenizer.convert_tokens_to_ids(encoder.tokenizer.tokenize(text))


def test_each_row_is_its_texts_own_vector_in_input_order_whatever_the_batching(encoder, tiny_ckpt_dir):
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 64) and vectors.dtype == np.float32
    cls, sep = encoder.cls_id, encoder.sep_id
    for row, text in enumerate(TEXTS):
        ids = piece_ids(encoder, text)
        assert len(ids) <= 22  # one window each
        np.testing.assert_allclose(vectors[row], window_vector(encoder, [cls, *ids, sep]), atol=1e-5)
    one_by_one = SentenceEncoder(tiny_ckpt_dir, max_seq_length=24, batch_size=1).encode(TEXTS)
    np.testing.assert_allclose(one_by_one, vectors, atol=1e-5)
    assert encoder.encode([]).shape == (0, 64)


def test_the_empty_text_is_cls_sep(encoder):
    vectors = encoder.encode(["", "  \t ", "\x00"])
    expected = window_vector(encoder, [encoder.cls_id, encoder.sep_id])
    for vector in vectors:
        np.testing.assert_allclose(vector, expected, atol=1e-6)


def test_a_long_text_averages_its_windows_weighted_by_tokens_or_is_truncated(tiny_ckpt_dir):
    text = " ".join(["the quick brown fox jumps over the lazy dog"] * 3)
    windowed = SentenceEncoder(tiny_ckpt_dir, max_seq_length=10, window_stride=5)
    ids = piece_ids(windowed, text)
    assert len(ids) == 27
    cls, sep = windowed.cls_id, windowed.sep_id
    starts = [0, 5, 10, 15, 20]  # up to 8 pieces a window, 5 apart, until one ends at the last piece
    windows = [[cls, *ids[start:start + 8], sep] for start in starts]
    assert [len(window) for window in windows] == [10, 10, 10, 10, 9]
    vectors = np.array([window_vector(windowed, window) for window in windows])
    expected = (vectors * np.array([10, 10, 10, 10, 9])[:, None]).sum(axis=0) / 49
    np.testing.assert_allclose(windowed.encode([text])[0], expected, atol=1e-5)
    truncated = SentenceEncoder(tiny_ckpt_dir, max_seq_length=10, truncate=True, normalize=True).encode([text])[0]
    np.testing.assert_allclose(truncated, vectors[0] / np.linalg.norm(vectors[0]), atol=1e-5)
    default_stride = SentenceEncoder(tiny_ckpt_dir, max_seq_length=10)
    assert default_stride.window_stride == 4


def test_normalize_layers_and_pooling(tiny_ckpt_dir):
    vectors = bert_tf.encode(TEXTS, tiny_ckpt_dir, pooling="max", layers="-2,-1", normalize=True)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    encoder = SentenceEncoder(tiny_ckpt_dir, pooling="cls", layers=[0])
    assert (encoder.pooling, encoder.layers, encoder.dimension) == ("cls", [0], 64)


def test_casing_comes_from_the_folder(tiny_ckpt_dir, tmp_path):
    encoder = SentenceEncoder(tiny_ckpt_dir)
    assert encoder.model_files.do_lower_case is True
    assert folder_casing(encoder.model_files) is True
    np.testing.assert_allclose(encoder.encode(["HELLO World"]), encoder.encode(["hello world"]), atol=1e-6)
    with pytest.raises(InputError, match="is uncased"):
        SentenceEncoder(tiny_ckpt_dir, do_lower_case=False)


def test_progress_is_logged_on_long_inputs(tiny_ckpt_dir, caplog):
    encoder = SentenceEncoder(tiny_ckpt_dir, batch_size=2, log_every_n_windows=3)
    with caplog.at_level(logging.INFO):
        encoder.encode(TEXTS)
    messages = [record.getMessage() for record in caplog.records]
    assert "embedded 4 of 7 windows" in " ".join(messages)
    assert any(message.startswith("embedded 7 texts (7 windows) in") for message in messages)


def test_bad_arguments_are_input_errors(tiny_ckpt_dir, tmp_path, encoder):
    with pytest.raises(InputError, match="not one string"):
        encoder.encode("a text")
    with pytest.raises(InputError, match=r"texts\[1\] is a int"):
        encoder.encode(["a", 3])
    with pytest.raises(InputError, match="layer -3 does not exist; the model has 2 layers"):
        SentenceEncoder(tiny_ckpt_dir, layers="-3")
    with pytest.raises(InputError, match="unknown pooling 'sum'"):
        bert_tf.encode(["a"], tiny_ckpt_dir, pooling="sum")
    with pytest.raises(InputError, match="is not a folder"):
        SentenceEncoder(tmp_path / "missing")
    with pytest.raises(InputError, match="only trained up to sequence length 128"):
        SentenceEncoder(tiny_ckpt_dir, max_seq_length=512)
    with pytest.raises(InputError, match="--batch_size must be a positive integer"):
        SentenceEncoder(tiny_ckpt_dir, batch_size=0)


# ----------------------------------------------------------------------------- sentence-transformers references
@pytest.fixture(scope="module")
def references():
    return np.load(REFERENCES)


@pytest.fixture(scope="module")
def minilm_vectors(minilm_ckpt_dir, references):
    """The references' texts through `bert_tf.encode` at max_seq_length 256 (the long text is one window, as
    sentence-transformers embeds it)."""
    return bert_tf.encode(list(references["texts"]), minilm_ckpt_dir, pooling="mean", normalize=True,
                          max_seq_length=256)


def test_minilm_mean_normalized_equals_sentence_transformers_with_the_checkpoints_activation(minilm_vectors,
                                                                                           references):
    assert minilm_vectors.shape == references["gelu_new"].shape == (34, 384)
    assert np.abs(minilm_vectors - references["gelu_new"]).max() <= 1e-5


def test_minilm_is_within_cosine_1e_5_of_sentence_transformers_as_published(minilm_vectors, references):
    published = references["published"]
    cosines = (minilm_vectors * published).sum(axis=1) / np.linalg.norm(published, axis=1)
    assert cosines.min() >= 0.99999


def test_minilm_with_the_exact_gelu_equals_the_published_embeddings(minilm_ckpt_dir, references, tmp_path):
    """The released weights with `hidden_act: gelu_exact` (what bert_tf.interop converts the Hugging Face folder
    to) give the published embeddings."""
    for path in minilm_ckpt_dir.iterdir():
        if path.name != "bert_config.json":
            os.symlink(path, tmp_path / path.name)
    config = json.loads((minilm_ckpt_dir / "bert_config.json").read_text())
    (tmp_path / "bert_config.json").write_text(json.dumps({**config, "hidden_act": "gelu_exact"}))
    texts = list(references["texts"][:-1])  # the long text is left to the 128-token default: windows
    vectors = bert_tf.encode(texts, tmp_path, normalize=True)
    assert np.abs(vectors - references["published"][:-1]).max() <= 1e-5
