"""Tests for bert_tf.config: `bert_config.json` read and written as the original, with its checks."""
import json

import pytest

from bert_tf import BertConfig

ORIGINAL_FIELDS = {
    "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
    "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
    "type_vocab_size", "initializer_range",
}


def test_original_defaults():
    config = BertConfig(vocab_size=100)
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (768, 12, 12)
    assert (config.intermediate_size, config.hidden_act, config.max_position_embeddings) == (3072, "gelu", 512)
    assert (config.type_vocab_size, config.initializer_range) == (16, 0.02)
    assert config.hidden_dropout_prob == config.attention_probs_dropout_prob == 0.1


def test_reads_released_config_and_writes_it_back(minilm_ckpt_dir, tmp_path):
    source = minilm_ckpt_dir / "bert_config.json"
    config = BertConfig.from_json_file(source)
    assert config.hidden_size == 384 and config.num_hidden_layers == 6 and config.vocab_size == 30522
    target = tmp_path / "bert_config.json"
    config.to_json_file(target)
    assert json.loads(target.read_text()) == json.loads(source.read_text())
    assert set(json.loads(target.read_text())) == ORIGINAL_FIELDS


def test_extra_keys_of_multilingual_configs_are_kept(tmp_path):
    data = {
        "vocab_size": 119547, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
        "intermediate_size": 3072, "directionality": "bidi",
        "pooler_fc_size": 768, "pooler_num_attention_heads": 12, "pooler_type": "first_token_transform",
    }
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(data))
    config = BertConfig.from_json_file(path)
    assert config.extra["directionality"] == "bidi"
    config.to_json_file(tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text())["pooler_type"] == "first_token_transform"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"hidden_size": 100, "num_attention_heads": 12}, "hidden_size"),
        ({"num_hidden_layers": 0}, "num_hidden_layers"),
        ({"vocab_size": -3}, "vocab_size"),
        ({"intermediate_size": 2.5}, "intermediate_size"),
        ({"hidden_act": "swish"}, "hidden_act"),
        ({"hidden_dropout_prob": 1.5}, "hidden_dropout_prob"),
        ({"initializer_range": 0}, "initializer_range"),
    ],
)
def test_invalid_values_name_the_field(changes, field, tmp_path):
    data = {"vocab_size": 100, **changes}
    with pytest.raises(ValueError, match=field):
        BertConfig.from_dict(data)
    path = tmp_path / "bad_config.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="bad_config.json"):
        BertConfig.from_json_file(path)


@pytest.mark.parametrize("activation", ["gelu", "relu", "tanh", "linear"])
def test_supported_activations(activation):
    assert BertConfig(vocab_size=10, hidden_act=activation).hidden_act == activation


def test_unreadable_files_name_the_path(tmp_path):
    with pytest.raises(ValueError, match="missing.json"):
        BertConfig.from_json_file(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match="broken.json"):
        BertConfig.from_json_file(broken)


def test_a_file_without_its_architecture_names_what_is_missing(minilm_ckpt_dir, tmp_path):
    config = json.loads((minilm_ckpt_dir / "bert_config.json").read_text())
    del config["num_attention_heads"], config["intermediate_size"]
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"bert_config.json: missing num_attention_heads, intermediate_size \("):
        BertConfig.from_json_file(path)
