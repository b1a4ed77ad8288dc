"""Tests for bert_tf.training.run_options: the model files of `--bert_dir`, and explicit flags over them."""
from bert_tf.training.run_options import resolve_model_files


def test_bert_dir_is_overridden_by_explicit_flags(tmp_path, minilm_ckpt_dir):
    files = resolve_model_files(str(minilm_ckpt_dir))
    assert files.vocab_file == str(minilm_ckpt_dir / "vocab.txt")
    assert files.bert_config_file == str(minilm_ckpt_dir / "bert_config.json")
    assert files.init_checkpoint == str(minilm_ckpt_dir / "bert_model.ckpt")
    files = resolve_model_files(str(minilm_ckpt_dir), vocab_file="my_vocab.txt", init_checkpoint="other.ckpt")
    assert (files.vocab_file, files.init_checkpoint) == ("my_vocab.txt", "other.ckpt")
    assert files.bert_config_file == str(minilm_ckpt_dir / "bert_config.json")


def test_casing_that_contradicts_the_vocabulary_is_refused(data_dir):
    import pytest

    from bert_tf.errors import InputError
    from bert_tf.training.run_options import check_casing

    def vocab(name):
        path = data_dir / "vocab" / name / "vocab.txt"
        return path.read_text(encoding="utf-8").splitlines(), str(path)

    uncased, cased, chinese = vocab("bert-base-uncased"), vocab("bert-base-cased"), vocab("bert-base-chinese")
    check_casing(uncased[0], True, uncased[1])
    check_casing(cased[0], False, cased[1])
    with pytest.raises(InputError, match="is uncased .*every word with a capital becomes \\[UNK\\]"):
        check_casing(uncased[0], False, uncased[1])
    with pytest.raises(InputError, match="is cased"):
        check_casing(cased[0], True, cased[1])
    for do_lower_case in (True, False):  # few Latin words: either casing (Hugging Face keeps Chinese cased)
        check_casing(chinese[0], do_lower_case, chinese[1])
