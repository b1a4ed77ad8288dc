"""Tests for bert_tf.training.trainer: the shared training loop on a learnable toy task (tests/training/toy_task.py):
original checkpoints, summaries, resuming, gradient accumulation, XLA, mixed precision, the guards.
"""
import os

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("the training loop is TensorFlow-backend only", allow_module_level=True)

import tensorflow as tf  # noqa: E402

import bert_tf  # noqa: E402
from bert_tf.checkpoint import CheckpointError, list_checkpoint, save_checkpoint  # noqa: E402
from bert_tf.errors import TrainingError  # noqa: E402
from bert_tf.training import precision  # noqa: E402
from bert_tf.training.trainer import CheckpointCadence, TrainingGuard  # noqa: E402
from tests.harness.scripts import snapshot  # noqa: E402
from tests.training.toy_task import (  # noqa: E402
    HEAD,
    make_trainer,
    small_config,
    toy_dataset,
    write_pretrained_checkpoint,
)


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory):
    return write_pretrained_checkpoint(tmp_path_factory.mktemp("pretrained"))


def test_training_lowers_loss_and_writes_original_checkpoints(pretrained_dir, tmp_path):
    output_dir = tmp_path / "out"
    trainer = make_trainer(pretrained_dir, output_dir, num_train_steps=30, keep_checkpoint_max=2)
    result = trainer.train(toy_dataset())
    assert trainer.restore_info.source == "init_checkpoint"
    assert result.global_step == 30 and result.steps_run == 30 and len(result.losses) == 30
    assert np.mean(result.losses[-5:]) < 0.5 * np.mean(result.losses[:5]), result.losses
    assert result.examples_per_second > 0
    # Batches of different lengths did not retrace the step function.
    assert len({batch[0]["input_ids"].shape[1] for batch in toy_dataset().take(8)}) > 1
    assert trainer._train_function.experimental_get_tracing_count() == 1

    # keep_checkpoint_max=2: steps 20 and 30 remain; the state file names the newest.
    index_files = sorted(name for name in os.listdir(output_dir) if name.endswith(".index"))
    assert index_files == ["model.ckpt-20.index", "model.ckpt-30.index"]
    assert result.last_checkpoint == str(output_dir / "model.ckpt-30")
    assert 'model_checkpoint_path: "model.ckpt-30"' in (output_dir / "checkpoint").read_text()

    entries = list_checkpoint(output_dir / "model.ckpt-30")
    model_names = {variable.path for variable in trainer.model.weights}
    assert {"output_weights", "output_bias", "bert/embeddings/word_embeddings"} <= model_names
    assert all(name.startswith("bert/") or name in HEAD for name in model_names)
    expected = model_names | {f"{name}/adam_{moment}" for name in model_names for moment in "mv"} | {"global_step"}
    assert set(entries) == expected
    reader = tf.train.load_checkpoint(str(output_dir / "model.ckpt-30"))
    assert reader.get_tensor("global_step") == 30
    np.testing.assert_array_equal(reader.get_tensor("output_weights"), trainer.model.classifier.output_weights.numpy())

    # TensorBoard scalars every log_every_steps (5).
    events = [name for name in os.listdir(output_dir) if name.startswith("events.out.tfevents")]
    assert len(events) == 1
    tags = {}
    for event in tf.compat.v1.train.summary_iterator(str(output_dir / events[0])):
        for value in event.summary.value:
            tags.setdefault(value.tag, []).append(event.step)
    assert set(tags) == {"loss", "learning_rate", "examples_per_second"}
    assert tags["loss"] == [5, 10, 15, 20, 25, 30]


def test_resume_restores_model_slots_and_step_and_wins_over_init_checkpoint(pretrained_dir, tmp_path):
    output_dir = tmp_path / "out"
    first = make_trainer(pretrained_dir, output_dir, num_train_steps=10)
    first.train(toy_dataset())
    saved = tf.train.load_checkpoint(str(output_dir / "model.ckpt-10"))

    # steps_per_loop: several steps per tf.function call (4, then 1 to stop at num_train_steps).
    second = make_trainer(pretrained_dir, output_dir, num_train_steps=15, steps_per_loop=4)
    info = second.build()
    assert info.source == "output_dir" and info.global_step == 10 and second.global_step == 10
    np.testing.assert_array_equal(second.model.classifier.output_weights.numpy(), saved.get_tensor("output_weights"))
    for name, slot in second.optimizer.slot_variables_by_name().items():
        np.testing.assert_array_equal(slot.numpy(), saved.get_tensor(name), err_msg=name)
    result = second.train(toy_dataset())
    assert (result.initial_step, result.global_step, result.steps_run) == (10, 15, 5)
    assert len(result.losses) == 2
    assert tf.train.load_checkpoint(str(output_dir / "model.ckpt-15")).get_tensor("global_step") == 15

    # Already at num_train_steps: nothing runs, nothing is written.
    before = snapshot(output_dir)
    third = make_trainer(pretrained_dir, output_dir, num_train_steps=15)
    result = third.train(toy_dataset())
    assert result.steps_run == 0 and result.global_step == 15
    assert snapshot(output_dir) == before


def test_output_dir_checkpoint_of_another_model_is_a_clear_error(pretrained_dir, tmp_path):
    output_dir = tmp_path / "out"
    other = bert_tf.BertClassifier(small_config(), 3)
    save_checkpoint(other, output_dir / "model.ckpt-7", global_step=7)
    before = snapshot(output_dir)
    trainer = make_trainer(pretrained_dir, output_dir, num_train_steps=10)
    with pytest.raises(CheckpointError) as raised:
        trainer.train(toy_dataset())
    message = str(raised.value)
    assert "\n" not in message
    assert "model.ckpt-7 of another model" in message
    assert "output_bias: checkpoint shape [3], model shape [2]; " in message
    assert "output_weights: checkpoint shape [3, 32], model shape [2, 32]; " in message
    assert snapshot(output_dir) == before


def test_gradient_accumulation_and_xla_equal_the_plain_big_batch_step(pretrained_dir, tmp_path):
    big = make_trainer(pretrained_dir, tmp_path / "big", num_train_steps=3, dropout=False)
    big_result = big.train(toy_dataset(batch_size=16))

    accumulated = make_trainer(pretrained_dir, tmp_path / "accumulated", num_train_steps=3, dropout=False,
                               num_accumulation_steps=2)
    accumulated_result = accumulated.train(toy_dataset(batch_size=8))
    assert accumulated_result.global_step == 3
    np.testing.assert_allclose(accumulated_result.losses, big_result.losses, rtol=1e-5)
    for big_variable, variable in zip(big.model.trainable_variables, accumulated.model.trainable_variables):
        np.testing.assert_allclose(variable.numpy(), big_variable.numpy(), atol=2e-6, err_msg=variable.path)

    compiled = make_trainer(pretrained_dir, tmp_path / "xla", num_train_steps=3, dropout=False, use_xla=True)
    np.testing.assert_allclose(compiled.train(toy_dataset(batch_size=16)).losses, big_result.losses, rtol=1e-4)


def test_mixed_float16_scales_the_loss_and_checkpoints_float32(pretrained_dir, tmp_path):
    for dtype in ("mixed_float16",):
        trainer = make_trainer(pretrained_dir, tmp_path / dtype, num_train_steps=2, dtype=dtype)
        result = trainer.train(toy_dataset())
        assert precision.uses_loss_scaling(trainer.optimizer)
        assert all(np.isfinite(result.losses)), (dtype, result.losses)
        entries = list_checkpoint(tmp_path / dtype / "model.ckpt-2")
        assert entries["output_weights"][1] == entries["output_weights/adam_v"][1] == "float32"
        assert "loss_scale" not in " ".join(entries)


def test_nan_loss_stops_training(pretrained_dir, tmp_path):
    trainer = make_trainer(pretrained_dir, tmp_path / "out", num_train_steps=5)
    trainer.loss_fn = lambda outputs, labels, features: outputs["logits"][:, 0] * np.nan
    with pytest.raises(TrainingError, match="loss became nan at step 1"):
        trainer.train(toy_dataset())


def test_training_guard_stops_on_nan_and_on_calls_without_update():
    TrainingGuard(check_loss=False).check(float("nan"), 0, 1)  # loss scaling: a NaN step is skipped, not fatal
    with pytest.raises(TrainingError, match="loss became inf at step 3"):
        TrainingGuard(check_loss=True).check(float("inf"), 2, 3)
    guard = TrainingGuard(check_loss=False, max_steps_without_update=3)
    guard.check(1.0, 4, 4)
    guard.check(1.0, 4, 5)  # an update resets the count
    guard.check(1.0, 5, 5)
    guard.check(1.0, 5, 5)
    with pytest.raises(TrainingError, match="no update for 3 steps at step 5"):
        guard.check(1.0, 5, 5)


def test_checkpoint_cadence_saves_every_n_steps_once_and_shortens_loops():
    cadence = CheckpointCadence(save_checkpoints_steps=10, start_step=0, latest=None)
    assert not cadence.due(0, 9) and cadence.due(9, 10) and cadence.due(8, 12)
    cadence.record(10, "out/model.ckpt-10")
    assert cadence.is_saved(10) and not cadence.due(9, 10) and cadence.latest == "out/model.ckpt-10"
    cadence.record(20, None)  # off the chief nothing is written: the newest checkpoint stays
    assert cadence.latest == "out/model.ckpt-10"
    resumed = CheckpointCadence(save_checkpoints_steps=10, start_step=10, latest="out/model.ckpt-10")
    assert resumed.is_saved(10) and not CheckpointCadence(10, 0, "out/model.ckpt-0").is_saved(0)
    assert cadence.steps_in_next_call(3, steps_per_loop=1, num_train_steps=100) == 1
    assert cadence.steps_in_next_call(3, steps_per_loop=4, num_train_steps=100) == 4
    assert cadence.steps_in_next_call(8, steps_per_loop=4, num_train_steps=100) == 2  # stops at step 10
    assert cadence.steps_in_next_call(10, steps_per_loop=4, num_train_steps=12) == 2  # stops at the end


def test_a_resumed_run_continues_the_input_and_ends_as_an_uninterrupted_run(tmp_path):
    pretrained = write_pretrained_checkpoint(tmp_path / "pretrained")
    whole = make_trainer(pretrained, tmp_path / "whole", num_train_steps=6, dropout=False)
    whole.train(toy_dataset())
    first = make_trainer(pretrained, tmp_path / "resumed", num_train_steps=6, dropout=False)
    first.config.num_train_steps = 3  # interrupted at step 3 (the learning-rate schedule is the 6 steps')
    first.train(toy_dataset())
    second = make_trainer(pretrained, tmp_path / "resumed", num_train_steps=6, dropout=False)
    result = second.train(toy_dataset())
    assert (result.initial_step, result.global_step) == (3, 6)
    for expected, variable in zip(whole.model.weights, second.model.weights):
        np.testing.assert_allclose(variable.numpy(), expected.numpy(), atol=1e-6, err_msg=variable.path)
