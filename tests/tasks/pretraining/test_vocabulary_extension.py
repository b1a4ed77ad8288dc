"""Tests for bert_tf.tasks.pretraining.vocabulary_extension (extend_vocab.py): [unused] slots filled first, then
growth; old rows bit-identical, new rows the mean of the old pieces, Adam slots resized, the rest copied."""
import json

import numpy as np
import pytest

from bert_tf.checkpoint import list_checkpoint, read_tensors, save_tensors
from bert_tf.tasks.pretraining import vocabulary_extension as extension
from bert_tf.tokenization import FullTokenizer

WORDS = ["covid", "coronavirus", "##virions"]


def test_fills_unused_slots_with_mean_rows_and_copies_the_rest(tmp_path, tiny_ckpt_dir):
    words_file = tmp_path / "words.txt"
    words_file.write_text("\n".join(WORDS) + "\n\n", encoding="utf-8")
    summary = extension.extend_vocabulary(str(tiny_ckpt_dir), str(words_file), str(tmp_path / "out"))
    assert (summary.num_filled, summary.num_grown, summary.new_size) == (3, 0, 30522)

    old_tokenizer = FullTokenizer(str(tiny_ckpt_dir / "vocab.txt"))
    old_lines = (tiny_ckpt_dir / "vocab.txt").read_text(encoding="utf-8").splitlines()
    new_lines = (tmp_path / "out" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert new_lines == ["[PAD]"] + WORDS + old_lines[4:]
    new_tokenizer = FullTokenizer(str(tmp_path / "out" / "vocab.txt"))
    assert new_tokenizer.tokenize("covid coronavirus") == ["covid", "coronavirus"]
    assert len(old_tokenizer.tokenize("covid coronavirus")) > 2

    old, new = read_tensors(tiny_ckpt_dir), read_tensors(tmp_path / "out")
    assert list_checkpoint(tmp_path / "out") == list_checkpoint(tiny_ckpt_dir)
    resized = {name for name in old if name.startswith((extension.WORD_EMBEDDINGS, extension.OUTPUT_BIAS))}
    assert set(summary.resized) == resized and len(resized) == 6
    for name in old:
        if name not in resized:
            assert new[name].tobytes() == old[name].tobytes(), name
    for name in (extension.WORD_EMBEDDINGS, extension.OUTPUT_BIAS):
        kept = np.r_[0, 4:30522]
        assert new[name][kept].tobytes() == old[name][kept].tobytes()  # old rows bit-identical
        for row, word in enumerate(WORDS, 1):
            spelled = old_tokenizer.tokenize(word if row < 3 else "corona" + word[2:])
            if row == 3:  # a continuation: WordPiece's pieces after a word ("corona" is one piece)
                assert spelled[0] == "corona"
                spelled = spelled[1:]
            pieces = old_tokenizer.convert_tokens_to_ids(spelled)
            assert len(pieces) > 1
            expected = old[name][pieces].astype(np.float64).mean(axis=0).astype(np.float32)
            np.testing.assert_array_equal(new[name][row], expected)
        for slot in ("adam_m", "adam_v"):
            assert new[f"{name}/{slot}"][kept].tobytes() == old[f"{name}/{slot}"][kept].tobytes()
            assert not new[f"{name}/{slot}"][1:4].any()
    assert json.loads((tmp_path / "out" / "bert_config.json").read_text()) == json.loads(
        (tiny_ckpt_dir / "bert_config.json").read_text())


def small_model(folder, num_unused=2, with_bias=True, with_slots=True):
    """A model folder with an 11-entry vocabulary (`num_unused` [unused] slots) and a 4-wide embedding."""
    tokens = ["[PAD]"] + [f"[unused{index}]" for index in range(num_unused)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]",
                                                                                "a", "b", "##b",
                                                                                "##a"]
    folder.mkdir()
    (folder / "vocab.txt").write_text("".join(token + "\n" for token in tokens), encoding="utf-8")
    config = dict(vocab_size=len(tokens), hidden_size=4, num_hidden_layers=1, num_attention_heads=1,
                  intermediate_size=8, max_position_embeddings=16, type_vocab_size=2)
    (folder / "bert_config.json").write_text(json.dumps(config), encoding="utf-8")
    rng = np.random.default_rng(0)
    tensors = {extension.WORD_EMBEDDINGS: rng.normal(size=(len(tokens), 4)).astype(np.float32),
               "bert/embeddings/position_embeddings": rng.normal(size=(16, 4)).astype(np.float32),
               "global_step": np.array(7, dtype=np.int64)}
    if with_bias:
        tensors[extension.OUTPUT_BIAS] = rng.normal(size=len(tokens)).astype(np.float32)
    if with_slots:
        for name in list(tensors):
            if name != "global_step":
                tensors[f"{name}/adam_m"] = rng.normal(size=tensors[name].shape).astype(np.float32)
    save_tensors(tensors, folder / "bert_model.ckpt")
    return folder, tokens


@pytest.mark.parametrize("with_bias", [True, False])
def test_grow_appends_the_words_that_find_no_slot(tmp_path, with_bias):
    model, tokens = small_model(tmp_path / "model", with_bias=with_bias)
    words_file = tmp_path / "words.txt"
    words_file.write_text("ab\nbb\nbab\n", encoding="utf-8")
    with pytest.raises(extension.VocabularyExtensionError, match="3 words but .* only 2 .*add --grow"):
        extension.extend_vocabulary(str(model), str(words_file), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
    summary = extension.extend_vocabulary(str(model), str(words_file), str(tmp_path / "out"), grow=True)
    assert (summary.num_filled, summary.num_grown, summary.old_size, summary.new_size) == (2, 1, 11, 12)
    lines = (tmp_path / "out" / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert lines == ["[PAD]", "ab", "bb"] + tokens[3:] + ["bab"]
    assert json.loads((tmp_path / "out" / "bert_config.json").read_text())["vocab_size"] == 12
    old, new = read_tensors(model), read_tensors(tmp_path / "out")
    names = [extension.WORD_EMBEDDINGS] + ([extension.OUTPUT_BIAS] if with_bias else [])
    for name in names:
        assert new[name].shape[0] == 12 and new[f"{name}/adam_m"].shape[0] == 12
        assert new[name][[0, *range(3, 11)]].tobytes() == old[name][[0, *range(3, 11)]].tobytes()
        for row, word in ((1, "ab"), (2, "bb"), (11, "bab")):
            spelled = FullTokenizer(str(model / "vocab.txt")).tokenize(word)
            ids = [tokens.index(piece) for piece in spelled]
            assert len(ids) > 1 and "[UNK]" not in spelled  # a ##b, b ##b, b ##a ##b
            np.testing.assert_array_equal(new[name][row], old[name][ids].astype(np.float64).mean(0).astype(np.float32))
            assert not new[f"{name}/adam_m"][row].any()
    assert new["global_step"] == 7
    assert new["bert/embeddings/position_embeddings"].tobytes() == old["bert/embeddings/position_embeddings"].tobytes()
    assert extension.OUTPUT_BIAS in new if with_bias else extension.OUTPUT_BIAS not in new


def test_words_the_tokenizer_never_keeps_whole_are_refused(tmp_path):
    vocab = {"[UNK]": 0, "the": 1}
    for word, message in [("Covid", "write it as 'covid'"), ("北京", "would never be used"),
                          ("e-mail", "would never be used"), ("the", "already in the vocabulary"),
                          ("café", "write it as 'cafe'")]:
        path = tmp_path / "words.txt"
        path.write_text(f"ok\n{word}\n", encoding="utf-8")
        with pytest.raises(extension.VocabularyExtensionError, match=f"words.txt:2: .*{message}"):
            extension.read_words(str(path), vocab, do_lower_case=True)
    path.write_text("Covid\n", encoding="utf-8")
    assert extension.read_words(str(path), vocab, do_lower_case=False) == ["Covid"]
