"""Tests for bert_tf.training.optimization (schedules, optimizers, accumulation) against numpy versions of the
original."""
import textwrap

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("optimizers are TensorFlow-backend only", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from bert_tf.training import optimization  # noqa: E402
from tests.harness.scripts import run_python  # noqa: E402

# Checkpoint-style variable names: which of them the original decays.
VARIABLE_SPECS = [
    ("bert/embeddings/word_embeddings", (7, 4), True),
    ("bert/embeddings/LayerNorm/gamma", (4,), False),
    ("bert/encoder/layer_0/attention/output/dense/kernel", (4, 4), True),
    ("bert/encoder/layer_0/attention/output/dense/bias", (4,), False),
    ("bert/encoder/layer_0/attention/output/LayerNorm/beta", (4,), False),
    ("cls/predictions/transform/layer_norm/gamma", (4,), False),
    ("cls/predictions/output_bias", (7,), False),
    ("cls/seq_relationship/output_weights", (2, 4), True),
]


def make_path_variable(path, initial_value):
    """A keras.Variable whose .path is `path` (scopes from the path's components)."""
    *scopes, name = path.split("/")

    def create(remaining_scopes):
        if not remaining_scopes:
            return keras.Variable(initial_value, name=name, dtype="float32")
        with keras.name_scope(remaining_scopes[0]):
            return create(remaining_scopes[1:])

    variable = create(scopes)
    assert variable.path == path
    return variable


def original_learning_rate(step, init_lr, num_train_steps, num_warmup_steps):
    """The original create_optimizer's learning rate at global_step `step` (float64)."""
    decayed = init_lr * (1.0 - min(step, num_train_steps) / num_train_steps)
    if num_warmup_steps and step < num_warmup_steps:
        return init_lr * step / num_warmup_steps
    return decayed


class NumpyAdamWeightDecay:
    """The original AdamWeightDecayOptimizer + clip_by_global_norm(1.0) + schedule, in float64 numpy."""

    def __init__(self, params, decay_flags, init_lr, num_train_steps, num_warmup_steps, clip_norm=1.0,
                 weight_decay_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-6):
        self.params = [np.array(p, dtype=np.float64) for p in params]
        self.first_moments = [np.zeros_like(p) for p in self.params]
        self.second_moments = [np.zeros_like(p) for p in self.params]
        self.decay_flags = decay_flags
        self.schedule = (init_lr, num_train_steps, num_warmup_steps)
        self.clip_norm = clip_norm
        self.weight_decay_rate, self.beta_1, self.beta_2, self.epsilon = weight_decay_rate, beta_1, beta_2, epsilon
        self.global_step = 0

    def step(self, gradients):
        gradients = [np.asarray(g, dtype=np.float64) for g in gradients]
        if self.clip_norm:
            global_norm = np.sqrt(sum(np.sum(g * g) for g in gradients))
            gradients = [g * self.clip_norm / max(global_norm, self.clip_norm) for g in gradients]
        learning_rate = original_learning_rate(self.global_step, *self.schedule)
        for index, gradient in enumerate(gradients):
            m = self.beta_1 * self.first_moments[index] + (1 - self.beta_1) * gradient
            v = self.beta_2 * self.second_moments[index] + (1 - self.beta_2) * gradient**2
            update = m / (np.sqrt(v) + self.epsilon)
            if self.decay_flags[index]:
                update = update + self.weight_decay_rate * self.params[index]
            self.params[index] = self.params[index] - learning_rate * update
            self.first_moments[index], self.second_moments[index] = m, v
        self.global_step += 1


def make_variables(seed=0):
    rng = np.random.default_rng(seed)
    initial_values = [rng.normal(size=shape).astype(np.float32) for _, shape, _ in VARIABLE_SPECS]
    variables = [make_path_variable(path, value) for (path, _, _), value in zip(VARIABLE_SPECS, initial_values)]
    return variables, initial_values


def gradient_steps(num_steps, seed=1):
    """Per step a list of gradients; scales alternate so the global norm is sometimes below 1, sometimes above."""
    rng = np.random.default_rng(seed)
    steps = []
    for step in range(num_steps):
        scale = 0.02 if step % 2 else 3.0
        steps.append([(scale * rng.normal(size=shape)).astype(np.float32) for _, shape, _ in VARIABLE_SPECS])
    return steps


# ------------------------------------------------------------------------------------------------
# Schedule
# ------------------------------------------------------------------------------------------------


def test_schedule_matches_original_formula():
    schedule = optimization.WarmupLinearDecay(2e-5, num_train_steps=1000, num_warmup_steps=100)
    for step in [0, 1, 50, 99, 100, 101, 500, 999, 1000, 1500]:
        expected = original_learning_rate(step, 2e-5, 1000, 100)
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-6, abs=1e-12), step
    assert float(schedule(0)) == 0.0  # the original's first update has learning rate 0
    assert float(schedule(50)) == pytest.approx(1e-5, rel=1e-6)
    assert float(schedule(100)) == pytest.approx(2e-5 * 0.9, rel=1e-6)  # after warmup: decayed, not peak
    assert float(schedule(500)) == pytest.approx(1e-5, rel=1e-6)
    assert float(schedule(1000)) == 0.0 and float(schedule(1500)) == 0.0
    assert float(schedule(tf.constant(50, tf.int64))) == pytest.approx(1e-5, rel=1e-6)


def test_schedule_without_warmup_and_config_round_trip():
    schedule = optimization.WarmupLinearDecay(1e-4, num_train_steps=10, num_warmup_steps=0)
    assert float(schedule(0)) == pytest.approx(1e-4)
    assert float(schedule(5)) == pytest.approx(5e-5)
    restored = optimization.WarmupLinearDecay.from_config(schedule.get_config())
    assert restored.get_config() == {"initial_learning_rate": 1e-4, "num_train_steps": 10, "num_warmup_steps": 0}
    with pytest.raises(ValueError, match="num_train_steps"):
        optimization.WarmupLinearDecay(1e-4, num_train_steps=0)


# ------------------------------------------------------------------------------------------------
# AdamWeightDecay
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_tf_function", [False, True])
def test_adam_weight_decay_matches_numpy_original(use_tf_function):
    variables, initial_values = make_variables()
    config = optimization.OptimizerConfig(learning_rate=0.05, num_train_steps=8, num_warmup_steps=2)
    optimizer = optimization.create_optimizer(config)
    assert isinstance(optimizer, optimization.AdamWeightDecay)
    reference = NumpyAdamWeightDecay(initial_values, [decay for _, _, decay in VARIABLE_SPECS], 0.05, 8, 2)

    def apply(gradients):
        optimizer.apply(gradients, variables)

    if use_tf_function:
        apply = tf.function(apply)
    for gradients in gradient_steps(6):
        apply([tf.constant(g) for g in gradients])
        reference.step(gradients)

    assert int(optimizer.iterations.numpy()) == 6
    slots = optimizer.slot_variables_by_name()
    for (path, _, _), variable, expected, m, v in zip(
        VARIABLE_SPECS, variables, reference.params, reference.first_moments, reference.second_moments
    ):
        np.testing.assert_allclose(variable.numpy(), expected, atol=1e-6, rtol=0, err_msg=path)
        np.testing.assert_allclose(slots[path + "/adam_m"].numpy(), m, atol=1e-6, rtol=0, err_msg=path)
        np.testing.assert_allclose(slots[path + "/adam_v"].numpy(), v, atol=1e-6, rtol=0, err_msg=path)
        assert variable.dtype == "float32" and slots[path + "/adam_m"].dtype == "float32"


def test_sparse_embedding_gradients_match_dense_ones():
    """tf.gather gives IndexedSlices gradients (word embeddings); updates must equal the dense-gradient ones."""
    rng = np.random.default_rng(2)
    table = rng.normal(size=(7, 4)).astype(np.float32)
    weights = 3.0 * rng.normal(size=(3, 4)).astype(np.float32)
    sparse_table = make_path_variable("bert/embeddings/word_embeddings", table)
    dense_table = make_path_variable("bert/embeddings/word_embeddings", table)
    sparse_optimizer = optimization.AdamWeightDecay(learning_rate=0.1)
    dense_optimizer = optimization.AdamWeightDecay(learning_rate=0.1)
    accumulator = optimization.GradientAccumulator([sparse_table])

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.gather(sparse_table, [1, 1, 3]) * weights)
        (gradient,) = tape.gradient(loss, [sparse_table])
        dense_gradient = tf.convert_to_tensor(gradient)
        accumulator.accumulate([gradient])
        sparse_optimizer.apply([gradient], [sparse_table])
        dense_optimizer.apply([dense_gradient], [dense_table])
        return isinstance(gradient, tf.IndexedSlices), dense_gradient

    is_sparse, dense_gradient = step()
    assert is_sparse
    np.testing.assert_allclose(accumulator.mean_gradients()[0].numpy(), dense_gradient.numpy(), rtol=1e-6)
    np.testing.assert_allclose(sparse_table.numpy(), dense_table.numpy(), atol=1e-7, rtol=0)
    assert not np.allclose(sparse_table.numpy(), table)


def test_weight_decay_exclusion_is_regex_search_on_path():
    variables, _ = make_variables()
    optimizer = optimization.AdamWeightDecay(learning_rate=0.1)
    assert [optimizer.uses_weight_decay(v) for v in variables] == [decay for _, _, decay in VARIABLE_SPECS]
    no_decay = optimization.AdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.0)
    assert not any(no_decay.uses_weight_decay(v) for v in variables)
    custom = optimization.AdamWeightDecay(learning_rate=0.1, exclude_from_weight_decay=["^cls/", "kernel$"])
    assert [custom.uses_weight_decay(v) for v in variables] == [True, True, False, True, True, False, False, False]


def test_zero_gradients_only_decay_non_excluded_variables():
    variables, initial_values = make_variables()
    optimizer = optimization.AdamWeightDecay(learning_rate=0.1, weight_decay_rate=0.5)
    optimizer.apply([tf.zeros(v.shape) for v in variables], variables)
    for (path, _, decay), variable, initial in zip(VARIABLE_SPECS, variables, initial_values):
        if decay:  # float32 rounding: relative 1e-6
            np.testing.assert_allclose(variable.numpy(), initial * (1 - 0.1 * 0.5), rtol=1e-6, err_msg=path)
        else:
            np.testing.assert_array_equal(variable.numpy(), initial, err_msg=path)


def test_clipping_uses_global_norm_over_all_gradients():
    variables, _ = make_variables()
    optimizer = optimization.AdamWeightDecay(learning_rate=0.0)
    gradients = [np.full(v.shape, 5.0, np.float32) for v in variables]
    global_norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in gradients))
    optimizer.apply([tf.constant(g) for g in gradients], variables)
    slots = optimizer.slot_variables_by_name()
    for (path, _, _), gradient in zip(VARIABLE_SPECS, gradients):
        # m after one step is (1 - beta_1) * clipped gradient
        np.testing.assert_allclose(slots[path + "/adam_m"].numpy(), 0.1 * gradient / global_norm, rtol=1e-6)

    unclipped = optimization.AdamWeightDecay(learning_rate=0.0, clip_norm=None)
    unclipped.apply([tf.constant(g) for g in gradients], variables)
    np.testing.assert_allclose(unclipped.slot_variables_by_name()[VARIABLE_SPECS[0][0] + "/adam_m"].numpy(),
                               0.1 * gradients[0], rtol=1e-6)


@pytest.mark.parametrize("scale_of_gradients", [0.01, 3.0, np.inf, np.nan])
def test_clip_scale_is_the_factor_tf_clip_by_global_norm_applies(scale_of_gradients):
    """AdamWeightDecay multiplies by the clipping factor inside its update: the same factor, NaN included."""
    rng = np.random.default_rng(0)
    gradients = [tf.constant(rng.normal(size=shape).astype(np.float32) * scale_of_gradients)
                 for _, shape, _ in VARIABLE_SPECS]
    clipped, _ = tf.clip_by_global_norm(gradients, 1.0)
    scale = optimization.global_norm_clip_scale(gradients, 1.0)
    for gradient, expected in zip(gradients, clipped):
        np.testing.assert_array_equal((gradient * scale).numpy(), expected.numpy())


def test_keras_global_clipnorm_gives_the_same_numbers_on_one_device():
    """On one device Keras' global_clipnorm equals tf.clip_by_global_norm (it differs only across replicas)."""
    rng = np.random.default_rng(3)
    gradients = [rng.normal(size=shape).astype(np.float32) * 4 for _, shape, _ in VARIABLE_SPECS]
    variables = [keras.Variable(np.zeros(g.shape, np.float32)) for g in gradients]
    keras.optimizers.SGD(learning_rate=1.0, global_clipnorm=1.0).apply([tf.constant(g) for g in gradients], variables)
    clipped, _ = tf.clip_by_global_norm([tf.constant(g) for g in gradients], 1.0)
    for variable, expected in zip(variables, clipped):
        np.testing.assert_allclose(-variable.numpy(), expected.numpy(), atol=1e-7, rtol=0)


def test_slot_names_restore_and_iterations():
    variables, _ = make_variables()
    optimizer = optimization.AdamWeightDecay(learning_rate=optimization.WarmupLinearDecay(1.0, 10, 4))
    with pytest.raises(ValueError, match="not built"):
        optimizer.slot_variables_by_name()
    optimizer.build(variables)
    slots = optimizer.slot_variables_by_name()
    expected_names = [f"{path}/{suffix}" for path, _, _ in VARIABLE_SPECS for suffix in ("adam_m", "adam_v")]
    assert list(slots) == expected_names
    for path, shape, _ in VARIABLE_SPECS:
        assert tuple(slots[path + "/adam_v"].shape) == shape

    values = {name: np.full(slot.shape, index, np.float32) for index, (name, slot) in enumerate(slots.items())}
    values["bert/embeddings/word_embeddings"] = np.zeros((7, 4), np.float32)  # not a slot: ignored
    values["global_step"] = np.int64(7)
    assert optimizer.assign_slots_from(values) == expected_names
    for index, name in enumerate(expected_names):
        np.testing.assert_array_equal(slots[name].numpy(), np.full(slots[name].shape, index, np.float32))

    with pytest.raises(KeyError, match="missing"):
        optimizer.assign_slots_from({expected_names[0]: values[expected_names[0]]})
    assert optimizer.assign_slots_from({expected_names[0]: values[expected_names[0]]}, allow_missing=True) == [
        expected_names[0]
    ]
    with pytest.raises(ValueError, match="shape"):
        optimizer.assign_slots_from({**values, expected_names[1]: np.zeros((3,), np.float32)})

    optimizer.set_iterations(2)
    assert int(optimizer.iterations.numpy()) == 2
    assert float(optimizer.learning_rate) == pytest.approx(0.5)


def test_config_round_trip_and_rejected_arguments():
    optimizer = optimization.create_optimizer(optimization.OptimizerConfig(1e-4, 100, 10, clip_norm=2.0))
    restored = optimization.AdamWeightDecay.from_config(optimizer.get_config())
    assert restored.get_config() == optimizer.get_config()
    assert restored.clip_norm == 2.0 and float(restored.learning_rate) == 0.0
    with pytest.raises(ValueError, match="clip_norm"):
        optimization.AdamWeightDecay(learning_rate=0.1, global_clipnorm=1.0)
    with pytest.raises(ValueError, match="weight_decay_rate"):
        optimization.Lamb(learning_rate=0.1, weight_decay=0.1)
    with pytest.raises(ValueError, match="unknown optimizer"):
        optimization.create_optimizer(optimization.OptimizerConfig(1e-4, 100, 10, optimizer="sgd"))


def test_mixed_precision_dense_with_loss_scale_optimizer():
    rng = np.random.default_rng(4)
    features = rng.normal(size=(8, 5)).astype(np.float32)
    targets = rng.normal(size=(8, 3)).astype(np.float32)
    kernel = rng.normal(size=(5, 3)).astype(np.float32)

    def train_once(dtype_policy, wrap_loss_scale):
        layer = keras.layers.Dense(3, dtype=dtype_policy, name="dense")
        layer.build((None, 5))
        layer.kernel.assign(kernel)
        inner = optimization.AdamWeightDecay(learning_rate=1e-2)
        optimizer = keras.optimizers.LossScaleOptimizer(inner) if wrap_loss_scale else inner

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                outputs = tf.cast(layer(features), tf.float32)
                loss = tf.reduce_mean(tf.square(outputs - targets))
                scaled_loss = optimizer.scale_loss(loss)
            gradients = tape.gradient(scaled_loss, layer.trainable_variables)
            optimizer.apply(gradients, layer.trainable_variables)

        step()
        return layer, inner

    mixed_layer, mixed_optimizer = train_once("mixed_float16", wrap_loss_scale=True)
    float_layer, _ = train_once("float32", wrap_loss_scale=False)
    assert mixed_layer.kernel.dtype == "float32"
    assert all(slot.dtype == "float32" for slot in mixed_optimizer.slot_variables_by_name().values())
    assert int(mixed_optimizer.iterations.numpy()) == 1
    assert not np.allclose(mixed_layer.kernel.numpy(), kernel)
    # float16 activations change the gradients slightly; Adam's first step is ~lr * sign(gradient).
    np.testing.assert_allclose(mixed_layer.kernel.numpy(), float_layer.kernel.numpy(), atol=1e-4)


# ------------------------------------------------------------------------------------------------
# LAMB
# ------------------------------------------------------------------------------------------------


def test_lamb_slots_and_path_based_weight_decay():
    variables, initial_values = make_variables()
    config = optimization.OptimizerConfig(learning_rate=0.1, num_train_steps=10, num_warmup_steps=0,
                                          optimizer="lamb", weight_decay_rate=0.5)
    optimizer = optimization.create_optimizer(config)
    assert isinstance(optimizer, optimization.Lamb) and isinstance(optimizer, keras.optimizers.Lamb)
    optimizer.apply([tf.zeros(v.shape) for v in variables], variables)  # only the weight decay moves weights
    for (path, _, decay), variable, initial in zip(VARIABLE_SPECS, variables, initial_values):
        if decay:  # float32 rounding: relative 1e-6
            np.testing.assert_allclose(variable.numpy(), initial * (1 - 0.1 * 0.5), rtol=1e-6, err_msg=path)
        else:
            np.testing.assert_array_equal(variable.numpy(), initial, err_msg=path)

    slots = optimizer.slot_variables_by_name()
    assert list(slots) == [f"{path}/{suffix}" for path, _, _ in VARIABLE_SPECS for suffix in ("adam_m", "adam_v")]
    gradients = [np.full(v.shape, 5.0, np.float32) for v in variables]
    global_norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in gradients))
    optimizer.apply([tf.constant(g) for g in gradients], variables)
    np.testing.assert_allclose(slots["cls/predictions/output_bias/adam_m"].numpy(), 0.1 * 5.0 / global_norm,
                               rtol=1e-6)
    restored = optimization.Lamb.from_config(optimizer.get_config())
    assert restored.get_config() == optimizer.get_config()


# ------------------------------------------------------------------------------------------------
# Gradient accumulation
# ------------------------------------------------------------------------------------------------


def build_dense_model(kernel, bias):
    model = keras.Sequential([keras.Input((kernel.shape[0],)), keras.layers.Dense(kernel.shape[1], name="dense")])
    model.layers[0].kernel.assign(kernel)
    model.layers[0].bias.assign(bias)
    return model


def test_gradient_accumulation_equals_one_big_batch():
    rng = np.random.default_rng(5)
    features = rng.normal(size=(32, 6)).astype(np.float32)
    targets = rng.normal(size=(32, 3)).astype(np.float32)
    kernel = rng.normal(size=(6, 3)).astype(np.float32)
    bias = rng.normal(size=(3,)).astype(np.float32)

    def loss_fn(model, x, y):
        return tf.reduce_mean(tf.square(model(x) - y))

    big_model = build_dense_model(kernel, bias)
    big_optimizer = optimization.AdamWeightDecay(learning_rate=1e-3)

    @tf.function
    def big_step():
        with tf.GradientTape() as tape:
            loss = loss_fn(big_model, features, targets)
        gradients = tape.gradient(loss, big_model.trainable_variables)
        big_optimizer.apply(gradients, big_model.trainable_variables)
        return gradients

    small_model = build_dense_model(kernel, bias)
    small_optimizer = optimization.AdamWeightDecay(learning_rate=1e-3)
    accumulator = optimization.GradientAccumulator(small_model.trainable_variables)

    @tf.function
    def accumulate(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(small_model, x, y)
        accumulator.accumulate(tape.gradient(loss, small_model.trainable_variables))

    @tf.function
    def apply_accumulated():
        mean_gradients = accumulator.mean_gradients()
        small_optimizer.apply(mean_gradients, small_model.trainable_variables)
        accumulator.reset()
        return mean_gradients

    big_gradients = big_step()
    for start in range(0, 32, 8):
        accumulate(features[start:start + 8], targets[start:start + 8])
    assert int(accumulator.step) == 4
    mean_gradients = apply_accumulated()
    assert int(accumulator.step) == 0
    assert all(np.all(value.numpy() == 0) for value in accumulator.mean_gradients())

    for big, mean in zip(big_gradients, mean_gradients):
        np.testing.assert_allclose(mean.numpy(), big.numpy(), atol=1e-6, rtol=0)
    for big, small in zip(big_model.trainable_variables, small_model.trainable_variables):
        np.testing.assert_allclose(small.numpy(), big.numpy(), atol=1e-5, rtol=0)


# ------------------------------------------------------------------------------------------------
# tf.distribute.MirroredStrategy with two logical CPUs (in a subprocess: logical devices are process-wide)
# ------------------------------------------------------------------------------------------------

MIRRORED_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

    import keras
    from bert_tf.training import optimization

    rng = np.random.default_rng(7)
    GLOBAL_BATCH = 16
    features = rng.normal(size=(2, GLOBAL_BATCH, 6)).astype(np.float32)   # [micro-batch, batch, features]
    targets = 50.0 * rng.normal(size=(2, GLOBAL_BATCH, 3)).astype(np.float32)  # large: clipping is active
    kernel = rng.normal(size=(6, 3)).astype(np.float32)
    bias = rng.normal(size=(3,)).astype(np.float32)

    def build(strategy, optimizer_name):
        with strategy.scope():
            model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, name="dense")], name="bert")
            model.layers[0].kernel.assign(kernel)
            model.layers[0].bias.assign(bias)
            config = optimization.OptimizerConfig(learning_rate=0.1, num_train_steps=10, num_warmup_steps=1,
                                                  optimizer=optimizer_name)
            optimizer = optimization.create_optimizer(config)
            optimizer.build(model.trainable_variables)
            accumulator = optimization.GradientAccumulator(model.trainable_variables)
        return model, optimizer, accumulator

    def local_loss(model, x, y):
        # per-example losses summed and divided by the GLOBAL batch: replica gradients sum to the batch mean
        per_example = tf.reduce_mean(tf.square(model(x) - y), axis=-1)
        return tf.nn.compute_average_loss(per_example, global_batch_size=GLOBAL_BATCH)

    def train(strategy, optimizer_name, micro_batches):
        model, optimizer, accumulator = build(strategy, optimizer_name)
        replicas = strategy.num_replicas_in_sync
        local = GLOBAL_BATCH // replicas

        def split(array):
            return strategy.experimental_distribute_values_from_function(
                lambda ctx: tf.constant(array[ctx.replica_id_in_sync_group * local:
                                              (ctx.replica_id_in_sync_group + 1) * local]))

        @tf.function
        def step(x, y):
            def replica_fn(x, y):
                with tf.GradientTape() as tape:
                    loss = local_loss(model, x, y)
                gradients = tape.gradient(loss, model.trainable_variables)
                optimizer.apply(gradients, model.trainable_variables)
            strategy.run(replica_fn, args=(x, y))

        @tf.function
        def accumulate(x, y):
            def replica_fn(x, y):
                with tf.GradientTape() as tape:
                    loss = local_loss(model, x, y)
                accumulator.accumulate(tape.gradient(loss, model.trainable_variables))
            strategy.run(replica_fn, args=(x, y))

        @tf.function
        def apply_accumulated():
            def replica_fn():
                optimizer.apply(accumulator.mean_gradients(), model.trainable_variables)
                accumulator.reset()
            strategy.run(replica_fn)

        for _ in range(3):
            if micro_batches == 1:
                step(split(features[0]), split(targets[0]))
            else:
                for index in range(micro_batches):
                    accumulate(split(features[index]), split(targets[index]))
                apply_accumulated()
        slots = {name: slot.numpy() for name, slot in optimizer.slot_variables_by_name().items()}
        return [v.numpy() for v in model.trainable_variables], slots, int(optimizer.iterations.numpy())

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert mirrored.num_replicas_in_sync == 2
    default = tf.distribute.get_strategy()
    for optimizer_name in ["adamw", "lamb"]:
        for micro_batches in [1, 2]:
            single = train(default, optimizer_name, micro_batches)
            distributed = train(mirrored, optimizer_name, micro_batches)
            assert single[2] == distributed[2] == 3, (single[2], distributed[2])
            for a, b in zip(single[0], distributed[0]):
                np.testing.assert_allclose(b, a, atol=1e-6, rtol=0,
                                           err_msg=f"{optimizer_name} micro_batches={micro_batches}")
            assert list(single[1]) == list(distributed[1]) == [
                "bert/dense/kernel/adam_m", "bert/dense/kernel/adam_v", "bert/dense/bias/adam_m",
                "bert/dense/bias/adam_v"]
            for name in single[1]:
                np.testing.assert_allclose(distributed[1][name], single[1][name], atol=1e-6, rtol=0, err_msg=name)
            assert not np.allclose(single[0][0], kernel)

    # Restoring slots and the step under the strategy (cross-replica context) sets every replica's copy.
    model, optimizer, _ = build(mirrored, "adamw")
    values = {name: np.full(slot.shape, 0.25, np.float32) for name, slot in optimizer.slot_variables_by_name().items()}
    optimizer.assign_slots_from(values)
    optimizer.set_iterations(5)
    for slot in optimizer.slot_variables_by_name().values():
        for component in mirrored.experimental_local_results(slot.value):
            np.testing.assert_array_equal(component.numpy(), 0.25)
    assert int(optimizer.iterations.numpy()) == 5
    print("MIRRORED_OK")
    """
)


def test_mirrored_strategy_matches_single_device():
    result = run_python(MIRRORED_SCRIPT, timeout=300)
    assert result.returncode == 0 and "MIRRORED_OK" in result.stdout, result.stdout[-3000:] + result.stderr[-6000:]
