"""Tests for bert_tf.checkpoint: original-format checkpoint I/O (resolution, strict loading, round trip, state
file)."""
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

import bert_tf
from bert_tf.checkpoint import (
    CheckpointError,
    latest_checkpoint,
    list_checkpoint,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)


def _config(checkpoint_dir):
    return bert_tf.BertConfig.from_json_file(checkpoint_dir / "bert_config.json")


def test_resolves_prefix_files_and_folders(tiny_ckpt_dir):
    prefix = str(tiny_ckpt_dir / "bert_model.ckpt")
    assert resolve_checkpoint(prefix) == prefix
    assert resolve_checkpoint(prefix + ".index") == prefix
    assert resolve_checkpoint(prefix + ".data-00000-of-00001") == prefix
    assert resolve_checkpoint(tiny_ckpt_dir) == prefix


def test_missing_or_invalid_paths_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="nowhere/bert_model.ckpt"):
        resolve_checkpoint(tmp_path / "nowhere" / "bert_model.ckpt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        resolve_checkpoint(tmp_path)
    not_a_checkpoint = tmp_path / "model.ckpt"
    not_a_checkpoint.write_text("hello")
    with pytest.raises(CheckpointError, match="not a TensorFlow checkpoint"):
        resolve_checkpoint(not_a_checkpoint)
    (tmp_path / "broken.ckpt.index").write_bytes(b"garbage")
    model = bert_tf.BertModel(bert_tf.BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1,
                                                 num_attention_heads=2, intermediate_size=8))
    with pytest.raises(CheckpointError, match="broken.ckpt"):
        load_checkpoint(model, tmp_path / "broken.ckpt")


def test_round_trip_is_bit_identical(tiny_ckpt_dir, tmp_path):
    config = _config(tiny_ckpt_dir)
    model = bert_tf.BertPretrainingModel(config)
    load_checkpoint(model, tiny_ckpt_dir)
    prefix = save_checkpoint(model, tmp_path / "out" / "bert_model.ckpt", global_step=7)
    assert os.path.exists(prefix + ".index") and os.path.exists(prefix + ".data-00000-of-00001")
    assert not [name for name in os.listdir(tmp_path / "out") if "tmp" in name]

    written = list_checkpoint(prefix)
    original = list_checkpoint(tiny_ckpt_dir)
    model_names = {name for name in original if not name.endswith(("adam_m", "adam_v")) and name != "global_step"}
    assert set(written) == model_names | {"global_step"}
    for name in model_names:
        assert written[name] == original[name]
    original_reader = tf.train.load_checkpoint(str(tiny_ckpt_dir / "bert_model.ckpt"))
    written_reader = tf.train.load_checkpoint(prefix)
    for name in model_names:
        a, b = original_reader.get_tensor(name), written_reader.get_tensor(name)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes(), name
    assert written_reader.get_tensor("global_step") == 7

    reloaded = bert_tf.BertPretrainingModel(config)
    report = load_checkpoint(reloaded, tmp_path / "out")  # folder with a state file
    assert report.checkpoint == prefix and len(report.restored) == 46
    for before, after in zip(model.weights, reloaded.weights):
        assert before.path == after.path
        assert np.asarray(before).tobytes() == np.asarray(after).tobytes()


def test_saved_checkpoint_loads_with_tf1_name_based_restore(tiny_ckpt_dir, tmp_path):
    """The original code restores by name through a tf.compat.v1 Saver; do exactly that in a graph."""
    config = _config(tiny_ckpt_dir)
    model = bert_tf.BertPretrainingModel(config)
    load_checkpoint(model, tiny_ckpt_dir)
    save_checkpoint(model, tmp_path / "model.ckpt-3", global_step=3)
    expected = {variable.path: np.asarray(variable) for variable in model.weights}
    graph = tf.Graph()
    with graph.as_default():
        variables = {
            name: tf.compat.v1.get_variable(name, shape=value.shape, dtype=tf.float32)
            for name, value in expected.items()
        }
        global_step = tf.compat.v1.train.get_or_create_global_step()
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session(graph=graph) as session:
            saver.restore(session, tf.train.latest_checkpoint(str(tmp_path)))
            values = session.run(variables)
            assert session.run(global_step) == 3
    for name, value in values.items():
        np.testing.assert_array_equal(value, expected[name])


def test_wrong_config_lists_every_mismatch_before_assigning(tiny_ckpt_dir):
    config = _config(tiny_ckpt_dir)
    config.intermediate_size = 128
    model = bert_tf.BertModel(config)
    before = [np.asarray(variable).copy() for variable in model.weights]
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(model, tiny_ckpt_dir)
    message = str(error.value)
    for layer in (0, 1):
        assert f"bert/encoder/layer_{layer}/intermediate/dense/kernel: checkpoint shape [64, 256], model shape [64, 128]" in message
        assert f"bert/encoder/layer_{layer}/output/dense/kernel: checkpoint shape [256, 64], model shape [128, 64]" in message
    assert "6 variables" in message
    for value, variable in zip(before, model.weights):
        np.testing.assert_array_equal(value, np.asarray(variable))


def test_missing_variables_are_errors_unless_expected(minilm_ckpt_dir):
    config = _config(minilm_ckpt_dir)
    model = bert_tf.BertPretrainingModel(config)  # the MiniLM checkpoint has no cls/* heads
    with pytest.raises(CheckpointError, match="cls/predictions/output_bias: missing from the checkpoint"):
        load_checkpoint(model, minilm_ckpt_dir)
    report = load_checkpoint(model, minilm_ckpt_dir, expected_missing=[r"cls/.*"])
    assert len(report.restored) == 103
    assert set(report.initialized) == {variable.path for variable in model.weights if variable.path.startswith("cls/")}


def test_classifier_on_pretrained_encoder(tiny_ckpt_dir):
    model = bert_tf.BertClassifier(_config(tiny_ckpt_dir), num_labels=2)
    report = load_checkpoint(model, tiny_ckpt_dir, expected_missing=["output_weights", "output_bias"])
    assert sorted(report.initialized) == ["output_bias", "output_weights"]
    assert "global_step" in report.ignored and "cls/predictions/output_bias" in report.ignored
    assert "bert/embeddings/word_embeddings/adam_m" in report.ignored


class _SlotOptimizer:
    """The slot interface checkpoint I/O relies on, as the training optimizers expose it."""

    def __init__(self, model):
        self.iterations = tf.Variable(0, dtype=tf.int64)
        self.slots = {}
        for variable in model.weights:
            for slot in ("adam_m", "adam_v"):
                self.slots[f"{variable.path}/{slot}"] = tf.Variable(tf.zeros(variable.shape))

    def slot_variables_by_name(self):
        return self.slots


def test_optimizer_slots_and_global_step_round_trip(tiny_ckpt_dir, tmp_path):
    config = _config(tiny_ckpt_dir)
    model = bert_tf.BertPretrainingModel(config)
    optimizer = _SlotOptimizer(model)
    report = load_checkpoint(model, tiny_ckpt_dir, optimizer=optimizer)
    assert report.optimizer_slots_restored == 92 and int(optimizer.iterations.numpy()) == 12345
    reader = tf.train.load_checkpoint(str(tiny_ckpt_dir / "bert_model.ckpt"))
    name = "bert/encoder/layer_1/attention/self/key/kernel/adam_v"
    np.testing.assert_array_equal(optimizer.slots[name].numpy(), reader.get_tensor(name))

    prefix = save_checkpoint(model, tmp_path / "model.ckpt-12345", optimizer=optimizer)
    original = list_checkpoint(tiny_ckpt_dir)
    assert list_checkpoint(prefix) == original  # same names, shapes and dtypes as run_pretraining writes
    written = tf.train.load_checkpoint(prefix)
    for entry in original:
        assert written.get_tensor(entry).tobytes() == reader.get_tensor(entry).tobytes(), entry


def test_state_file_tracks_newest_and_prunes(tmp_path):
    model = bert_tf.BertModel(bert_tf.BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1,
                                                 num_attention_heads=2, intermediate_size=8))
    for step in (1, 2, 3):
        save_checkpoint(model, tmp_path / f"model.ckpt-{step}", global_step=step, max_to_keep=2)
    assert latest_checkpoint(tmp_path) == str(tmp_path / "model.ckpt-3")
    assert not os.path.exists(tmp_path / "model.ckpt-1.index")
    assert os.path.exists(tmp_path / "model.ckpt-2.index")
    state = (tmp_path / "checkpoint").read_text()
    assert state.startswith('model_checkpoint_path: "model.ckpt-3"')
    assert tf.train.get_checkpoint_state(str(tmp_path)).model_checkpoint_path == str(tmp_path / "model.ckpt-3")
    # A folder moved elsewhere still resolves: the state file holds relative names.
    moved = tmp_path.parent / (tmp_path.name + "_moved")
    shutil.copytree(tmp_path, moved)
    assert resolve_checkpoint(moved) == str(moved / "model.ckpt-3")


def test_a_failed_save_leaves_no_partial_files_and_says_so(tmp_path, monkeypatch):
    model = bert_tf.BertModel(bert_tf.BertConfig(vocab_size=10, hidden_size=8, num_hidden_layers=1,
                                                 num_attention_heads=2, intermediate_size=8))
    save_checkpoint(model, tmp_path / "model.ckpt-1", global_step=1)
    before = sorted(os.listdir(tmp_path))

    def disk_full(prefix, **_):  # what SaveV2 leaves when the disk fills: a partial data file, then an error
        with open(f"{prefix}.data-00000-of-00001.tempstate123", "wb") as writer:
            writer.write(b"partial")
        raise tf.errors.ResourceExhaustedError(None, None, "{{function_node __wrapped__SaveV2_dtypes_8}} "
                                               "out/x.tempstate123; No space left on device [Op:SaveV2]")

    monkeypatch.setattr(tf.raw_ops, "SaveV2", disk_full)
    with pytest.raises(CheckpointError) as raised:
        save_checkpoint(model, tmp_path / "model.ckpt-2", global_step=2)
    message = str(raised.value)
    assert "model.ckpt-2" in message and "No space left on device" in message and "previous checkpoints" in message
    assert "{{function_node" not in message and "[Op:" not in message
    assert sorted(os.listdir(tmp_path)) == before
    assert latest_checkpoint(tmp_path) == str(tmp_path / "model.ckpt-1")
