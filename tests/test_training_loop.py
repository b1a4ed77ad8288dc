"""The shared training loop (bert_tf.training.trainer, restore, predict) on a learnable toy task.

Most tests use a one-layer BERT (fast to trace) started from a "pretrained" checkpoint of it written by a
fixture in the original format; run_classifier's tests use the shared tiny checkpoint.
"""
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("the training loop is TensorFlow-backend only", allow_module_level=True)

import tensorflow as tf  # noqa: E402

import bert_tf  # noqa: E402
from bert_tf.checkpoint import CheckpointError, list_checkpoint, save_checkpoint  # noqa: E402
from bert_tf.errors import TrainingError  # noqa: E402
from bert_tf.training import optimization, precision, strategies  # noqa: E402
from bert_tf.training.predict import predict  # noqa: E402
from bert_tf.training.summaries import ThroughputTimer  # noqa: E402
from bert_tf.training.trainer import CheckpointCadence, Trainer, TrainerConfig, TrainingGuard  # noqa: E402

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent
HEAD = ("output_weights", "output_bias")
SEQ_LENGTH = 16


def small_config(dropout=True):
    """One block, H=32: the same variables per block as BERT-Base, traced in about a second."""
    config = bert_tf.BertConfig(vocab_size=2048, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=64, type_vocab_size=2)
    if not dropout:
        config = dataclasses.replace(config, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return config


def write_pretrained_checkpoint(directory):
    """A random one-block encoder saved as `<directory>/bert_model.ckpt` (original names, no head)."""
    keras.utils.set_random_seed(0)
    save_checkpoint(bert_tf.BertModel(small_config()), pathlib.Path(directory) / "bert_model.ckpt")
    return pathlib.Path(directory)


@pytest.fixture(scope="module")
def pretrained_dir(tmp_path_factory):
    return write_pretrained_checkpoint(tmp_path_factory.mktemp("pretrained"))


def toy_arrays(num_examples=64, seed=0):
    """Label 1 iff token 2000 appears; lengths vary so that batches could be padded differently."""
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(1000, 1999, size=(num_examples, SEQ_LENGTH)).astype(np.int32)
    labels = rng.integers(0, 2, size=num_examples).astype(np.int32)
    input_ids[labels == 1, 3] = 2000
    lengths = rng.integers(6, SEQ_LENGTH + 1, size=num_examples)
    input_mask = (np.arange(SEQ_LENGTH)[None, :] < lengths[:, None]).astype(np.int32)
    input_ids *= input_mask
    return {"input_ids": input_ids, "input_mask": input_mask,
            "segment_ids": np.zeros_like(input_ids)}, labels


def trim_to_longest(features, labels):
    """Per-batch padding: cut the sequence features to the batch's longest example."""
    length = tf.reduce_max(tf.reduce_sum(features["input_mask"], axis=1))
    return {name: value[:, :length] for name, value in features.items()}, labels


def toy_dataset(batch_size=8, repeat=True, seed=0):
    """Batches of toy examples, each padded to its own longest example."""
    features, labels = toy_arrays(seed=seed)
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    if repeat:
        dataset = dataset.repeat()
    return dataset.batch(batch_size).map(trim_to_longest)


def cross_entropy(outputs, labels, features):
    del features
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=outputs["logits"])


def make_trainer(pretrained_dir, output_dir, num_train_steps, dropout=True, learning_rate=1e-3, **overrides):
    config = small_config(dropout)
    trainer_config = TrainerConfig(
        output_dir=str(output_dir), num_train_steps=num_train_steps, save_checkpoints_steps=10,
        log_every_steps=5, init_checkpoint=str(pretrained_dir / "bert_model.ckpt"), expected_missing=HEAD,
        seed=1, progress_bar=False)
    trainer_config = dataclasses.replace(trainer_config, **overrides)
    return Trainer(
        trainer_config,
        model_fn=lambda dtype: bert_tf.BertClassifier(config, 2, dtype=dtype),
        optimizer_config=optimization.OptimizerConfig(learning_rate=learning_rate, num_train_steps=num_train_steps,
                                                      num_warmup_steps=2),
        loss_fn=cross_entropy,
        strategy=strategies.create_strategy("one_device"),
    )


def snapshot(directory):
    """name -> bytes of every file in `directory` (to prove nothing was changed)."""
    return {name: (pathlib.Path(directory) / name).read_bytes() for name in sorted(os.listdir(directory))}


# ------------------------------------------------------------------------------------------------
# strategies and dtype policies
# ------------------------------------------------------------------------------------------------


def test_strategy_names():
    assert isinstance(strategies.create_strategy("one_device"), tf.distribute.OneDeviceStrategy)
    assert isinstance(strategies.create_strategy("One-Device"), tf.distribute.OneDeviceStrategy)
    with pytest.raises(ValueError, match="unknown distribution strategy 'parallel'.*one_device, mirrored"):
        strategies.create_strategy("parallel")


def test_dtype_names_and_loss_scaling_keeps_checkpoint_slots(pretrained_dir, tmp_path):
    assert precision.canonical_dtype("bf16") == "mixed_bfloat16"
    with pytest.raises(ValueError, match="unknown --dtype 'float8'"):
        precision.canonical_dtype("float8")
    model = bert_tf.BertClassifier(small_config(), 2, dtype=precision.dtype_policy("mixed_float16"))
    inner = optimization.create_optimizer(optimization.OptimizerConfig(1e-3, 10, 1))
    inner.build(model.trainable_variables)
    wrapped = precision.wrap_optimizer(inner, "mixed_float16")
    assert precision.uses_loss_scaling(wrapped) and not precision.uses_loss_scaling(inner)
    wrapped.build(model.trainable_variables)
    assert wrapped.slot_variables_by_name().keys() == inner.slot_variables_by_name().keys()
    inner.set_iterations(3)
    prefix = save_checkpoint(model, tmp_path / "model.ckpt-3", optimizer=wrapped)
    entries = list_checkpoint(prefix)
    assert "output_weights/adam_m" in entries and entries["global_step"][1] == "int64"
    assert entries["bert/embeddings/word_embeddings"][1] == "float32"


# ------------------------------------------------------------------------------------------------
# training, checkpoints, summaries, resuming
# ------------------------------------------------------------------------------------------------


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


def test_throughput_timer_leaves_out_the_first_call():
    timer = ThroughputTimer()
    timer.add(10.0, 8)
    assert timer.examples_per_second == pytest.approx(0.8)  # a single call counts although it traced
    timer.add(1.0, 8)
    timer.add(1.0, 8)
    assert timer.examples_per_second == pytest.approx(8.0)
    assert (timer.total_seconds, timer.total_examples) == (12.0, 24)
    assert ThroughputTimer().examples_per_second == 0.0


def test_predict_returns_outputs_in_dataset_order(pretrained_dir):
    model = bert_tf.BertClassifier(small_config(), 2)
    features, labels = toy_arrays(num_examples=21)
    # Batches trimmed to different lengths, and a short last batch.
    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(8).map(trim_to_longest)
    result = predict(model, dataset, strategy=strategies.create_strategy("one_device"))
    assert result.batch_sizes == [8, 8, 5]
    np.testing.assert_array_equal(result.labels, labels)
    expected = model(features, training=False)["logits"].numpy()
    np.testing.assert_allclose(result.outputs["logits"], expected, atol=1e-5)


# ------------------------------------------------------------------------------------------------
# MirroredStrategy over two logical CPUs (a subprocess: logical devices are process-wide)
# ------------------------------------------------------------------------------------------------

MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
    sys.path.insert(0, "tests")
    import pathlib
    import test_training_loop as helpers
    from bert_tf.training import strategies

    output = pathlib.Path(sys.argv[1])
    pretrained = helpers.write_pretrained_checkpoint(output / "pretrained")
    losses = {}
    for name in ("one_device", "mirrored"):
        trainer = helpers.make_trainer(pretrained, output / name, num_train_steps=3, dropout=False)
        trainer.strategy = strategies.create_strategy(name)
        losses[name] = trainer.train(helpers.toy_dataset(batch_size=16)).losses
        losses[name + "_replicas"] = trainer.strategy.num_replicas_in_sync
        # Evaluation under the strategy: 21 examples in batches of 8 (the last one split 3 + 2).
        features, labels = helpers.toy_arrays(num_examples=21, seed=1)
        dataset = helpers.tf.data.Dataset.from_tensor_slices((features, labels)).batch(8).map(helpers.trim_to_longest)
        predicted = helpers.predict(trainer.model, dataset, strategy=trainer.strategy)
        assert list(predicted.labels) == list(labels), predicted.labels
        losses[name + "_logits"] = predicted.outputs["logits"].tolist()
    print("LOSSES" + json.dumps(losses))
    """
)


@pytest.mark.slow
def test_mirrored_strategy_on_two_cpus_gives_the_same_losses(tmp_path):
    environment = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), environment.get("PYTHONPATH")]))
    completed = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path)], cwd=PROJECT_ROOT,
        env=environment, capture_output=True, text=True, timeout=300)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("LOSSES")]
    assert completed.returncode == 0 and lines, completed.stdout[-3000:] + completed.stderr[-5000:]
    losses = json.loads(lines[0][len("LOSSES"):])
    assert losses["one_device_replicas"] == 1 and losses["mirrored_replicas"] == 2
    # The first step's loss (same weights, same batch split over two replicas) and the later ones (the
    # updates from the all-reduced gradients) match one device.
    np.testing.assert_allclose(losses["mirrored"][0], losses["one_device"][0], rtol=1e-6)
    np.testing.assert_allclose(losses["mirrored"], losses["one_device"], rtol=1e-4)
    np.testing.assert_allclose(losses["mirrored_logits"], losses["one_device_logits"], atol=1e-4)
