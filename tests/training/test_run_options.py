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
