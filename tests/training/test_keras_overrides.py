"""The Keras internals bert_tf.training.keras_overrides relies on are still there, unchanged.

Each failure names the Keras member and what changed; re-check `bert_tf/training/keras_overrides.py` (its
docstring lists every override and why) against the installed Keras before updating the expectations.
"""
import hashlib
import inspect
import textwrap

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("the optimizers' Keras overrides are TensorFlow-backend only", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from bert_tf.training import keras_overrides, optimization  # noqa: E402
from bert_tf.training.keras_overrides import PRIVATE_MEMBERS, PUBLIC_MEMBERS  # noqa: E402

RECHECK = "re-check bert_tf/training/keras_overrides.py against this Keras version"


def _major_minor(version: str):
    return tuple(int(part) for part in version.split(".")[:2])


def _built_instance(owner):
    """A built Keras optimizer of class `owner` (a concrete stand-in for the abstract `Optimizer`)."""
    variables = [keras.Variable(np.zeros((2,), np.float32), name="weight")]
    schedule = keras.optimizers.schedules.PolynomialDecay(0.1, 10)
    if owner is keras.optimizers.Lamb:
        optimizer = keras.optimizers.Lamb(learning_rate=schedule)
    elif owner is keras.optimizers.LossScaleOptimizer:
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(learning_rate=schedule))
    else:
        optimizer = keras.optimizers.SGD(learning_rate=schedule)
    optimizer.build(variables)
    return optimizer, variables, schedule


def test_installed_keras_is_a_checked_version():
    installed = _major_minor(keras.__version__)
    written_against = _major_minor(keras_overrides.KERAS_VERSION_WRITTEN_AGAINST)
    checked = sorted(_major_minor(version) for version in keras_overrides.CHECKED_KERAS_VERSIONS)
    assert written_against in checked
    assert installed >= written_against, (
        f"Keras {keras.__version__} is older than {keras_overrides.KERAS_VERSION_WRITTEN_AGAINST}, which "
        "bert_tf.training.keras_overrides was written against; install Keras >= that version")
    assert installed in checked, (
        f"Keras {keras.__version__} is newer than the versions bert_tf.training.keras_overrides was checked "
        f"against ({', '.join(keras_overrides.CHECKED_KERAS_VERSIONS)}); {RECHECK}, then add "
        f"\"{installed[0]}.{installed[1]}\" to CHECKED_KERAS_VERSIONS")


@pytest.mark.parametrize("member", PRIVATE_MEMBERS + PUBLIC_MEMBERS, ids=repr)
def test_keras_member_exists_with_the_expected_signature(member):
    if member.parameters is None:  # an attribute set by __init__/build, or a property
        optimizer, _, _ = _built_instance(member.owner)
        assert hasattr(member.owner, member.name) or hasattr(optimizer, member.name), (
            f"Keras {keras.__version__}: a built {member.owner.__name__} has no attribute `{member.name}` any "
            f"more; {RECHECK}")
        return
    method = getattr(member.owner, member.name, None)
    assert callable(method), f"Keras {keras.__version__}: {member!r} no longer exists; {RECHECK}"
    parameters = tuple(inspect.signature(method).parameters)
    assert parameters == member.parameters, (
        f"Keras {keras.__version__}: {member!r} now takes {parameters}, bert_tf expects {member.parameters}; "
        f"{RECHECK}")


@pytest.mark.parametrize("member", [m for m in PRIVATE_MEMBERS if m.source_sha256], ids=repr)
def test_keras_code_that_an_override_reimplements_is_unchanged(member):
    source = textwrap.dedent(inspect.getsource(getattr(member.owner, member.name)))
    digest = hashlib.sha256(source.encode()).hexdigest()[:16]
    assert digest == member.source_sha256, (
        f"Keras {keras.__version__} changed {member!r}, which "
        "bert_tf.training.keras_overrides.AllReducedUpdateStep re-implements (source SHA-256 "
        f"{digest}, expected {member.source_sha256}); port the change, then update source_sha256:\n{source}")


def test_every_private_member_is_documented():
    for member in PRIVATE_MEMBERS:
        assert member.name in keras_overrides.__doc__, f"{member!r} is not listed in the module docstring"


def test_private_attributes_hold_what_the_accessors_promise():
    optimizer, variables, schedule = _built_instance(keras.optimizers.Optimizer)
    assert list(keras_overrides.trainable_variables_of(optimizer)) == variables
    assert keras_overrides.variable_index(optimizer, variables[0]) == 0
    assert keras_overrides.learning_rate_or_schedule(optimizer) is schedule
    assert optimizer._distribution_strategy is tf.distribute.get_strategy()
    lamb, lamb_variables, _ = _built_instance(keras.optimizers.Lamb)
    momentums, velocities = keras_overrides.lamb_moments(lamb)
    assert len(momentums) == len(velocities) == 1 and tuple(momentums[0].shape) == tuple(lamb_variables[0].shape)


@pytest.mark.parametrize("optimizer_name", ["adamw", "lamb"])
def test_apply_goes_through_the_overridden_update_step(optimizer_name, monkeypatch):
    """Keras' `apply` still calls `_backend_update_step`, and ours (clipping the summed gradients) wins."""
    config = optimization.OptimizerConfig(learning_rate=0.1, num_train_steps=10, num_warmup_steps=0,
                                          optimizer=optimizer_name)
    optimizer = optimization.create_optimizer(config)
    override = keras_overrides.AllReducedUpdateStep
    assert type(optimizer)._backend_update_step is override._backend_update_step, (
        f"{type(optimizer).__name__}._backend_update_step is not AllReducedUpdateStep's")
    calls = []
    original = override._distributed_scaled_update_step

    def spy(self, distribution, grads_and_vars, learning_rate, gradient_scale):
        calls.append(gradient_scale)
        return original(self, distribution, grads_and_vars, learning_rate, gradient_scale)

    monkeypatch.setattr(override, "_distributed_scaled_update_step", spy)
    variable = keras.Variable(np.ones((3,), np.float32), name="weight")
    optimizer.apply([tf.constant([3.0, 4.0, 0.0])], [variable])
    assert len(calls) == 1, (
        f"Keras {keras.__version__}: Optimizer.apply no longer reaches _backend_update_step; {RECHECK}")
    np.testing.assert_allclose(float(calls[0]), 1.0 / 5.0, rtol=1e-6)  # global norm 5 clipped to 1
