"""Checks for Keras layers and models that every layer test shares: build, call, dtype policies, serialization.

The idea comes from keras-hub's `TestCase.run_layer_test`, `run_serialization_test` and `run_precision_test`;
the code is this project's, written for its conventions: each variable's Keras `.path` is its checkpoint
name, weights exist before the first call (checkpoints are loaded before any call), and a layer runs under
`float32` and under `mixed_bfloat16` (bfloat16 computation, float32 variables).

Backend-agnostic: only `keras`, `keras.ops` and numpy, so the tests that use it run under
`KERAS_BACKEND=tensorflow` and `KERAS_BACKEND=jax` alike.

Vocabulary:
  layer factory: a function of one dtype policy name (`"float32"`, `"mixed_bfloat16"`) that returns a new
    layer or model built with that policy (`dtype=policy`); it is called once per policy.
  layer call: a function of the layer that calls it on fixed inputs and returns its outputs (a tensor, or
    a dict / list / tuple of tensors); fixed inputs, so that two layers with the same weights agree.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import keras
import numpy as np
import pytest

DTYPE_POLICIES = ("float32", "mixed_bfloat16")
# In `expected_output_dtypes`: the dtype policy's compute dtype (bfloat16 under mixed_bfloat16).
COMPUTE_DTYPE = "compute"

LayerFactory = Callable[[str], keras.layers.Layer]
LayerCall = Callable[[keras.layers.Layer], Any]
# One dtype for every output, or, for dict outputs, one per key (applying to every tensor under the key).
OutputDtypes = Union[str, Mapping[str, str]]
# Expected weights: their paths, or their paths and shapes.
WeightPaths = Union[Sequence[str], Mapping[str, Sequence[int]]]


def dtype_name(tensor) -> str:
    """The standardized dtype name of a tensor or variable of any backend (`"float32"`, `"bfloat16"`, ...)."""
    return keras.backend.standardize_dtype(tensor.dtype)


def to_numpy(structure):
    """A tensor, variable or nested structure of them -> the same structure of numpy arrays."""
    return keras.tree.map_structure(keras.ops.convert_to_numpy, structure)


def to_float32_numpy(structure):
    """Like `to_numpy`, with floating arrays as float32 (bfloat16 converts exactly; numpy compares it badly)."""
    return keras.tree.map_structure(lambda tensor: np.asarray(keras.ops.convert_to_numpy(tensor), np.float32),
                                    structure)


def weight_summary(layer) -> list:
    """`(path, shape, dtype)` of each of `layer.weights`, in order."""
    return [(weight.path, tuple(weight.shape), dtype_name(weight)) for weight in layer.weights]


def weights_by_path(layer) -> dict:
    """`layer.weights` by `.path`; fails on two weights with one path (a checkpoint cannot hold both)."""
    weights = {weight.path: weight for weight in layer.weights}
    assert len(weights) == len(layer.weights), f"duplicate weight paths in {layer.name}: {weight_paths(layer)}"
    return weights


def weight_paths(layer) -> list:
    """The `.path` of each of `layer.weights`, in order."""
    return [weight.path for weight in layer.weights]


def copy_weights_by_path(source, target) -> None:
    """Assigns each weight of `target` the value of the `source` weight with the same path (same paths, shapes)."""
    source_weights, target_weights = weights_by_path(source), weights_by_path(target)
    assert sorted(target_weights) == sorted(source_weights), "the two layers' weight paths differ"
    for path, weight in source_weights.items():
        assert tuple(target_weights[path].shape) == tuple(weight.shape), f"{path}: shapes differ"
        target_weights[path].assign(keras.ops.convert_to_numpy(weight))


def assert_outputs_equal(actual, expected, atol: float = 0.0) -> None:
    """Same structure, dtypes and shapes; values within `atol` (0: identical)."""
    keras.tree.assert_same_structure(actual, expected)
    for actual_tensor, expected_tensor in zip(keras.tree.flatten(actual), keras.tree.flatten(expected)):
        assert dtype_name(actual_tensor) == dtype_name(expected_tensor), "output dtypes differ"
        np.testing.assert_allclose(to_float32_numpy(actual_tensor), to_float32_numpy(expected_tensor),
                                   atol=atol, rtol=0)


def calling_with(*args, **kwargs) -> LayerCall:
    """The layer call `layer(*args, **kwargs)`, on these fixed arguments."""
    return lambda layer: layer(*args, **kwargs)


def check_dropout_only_in_training(layer, *args, **kwargs) -> None:
    """Dropout acts in training only: `layer(*args, **kwargs)` gives identical outputs when called again and with
    `training=False`, and every output changes with `training=True` (the layer needs a large dropout rate)."""
    by_default = keras.tree.flatten(to_float32_numpy(layer(*args, **kwargs)))
    for repeated in (layer(*args, **kwargs), layer(*args, training=False, **kwargs)):
        for output, expected in zip(keras.tree.flatten(to_float32_numpy(repeated)), by_default):
            np.testing.assert_array_equal(output, expected)
    in_training = keras.tree.flatten(to_float32_numpy(layer(*args, training=True, **kwargs)))
    unchanged = [index for index, (output, expected) in enumerate(zip(in_training, by_default))
                 if np.allclose(output, expected)]
    assert not unchanged, f"outputs {unchanged} (flattened) are the same with training=True: no dropout"


def sublayers(layer) -> list:
    """Every layer inside `layer`, at any depth (not `layer` itself)."""
    # Keras has no public recursive walk over a plain Layer's children; this is the one Keras itself uses.
    return list(layer._flatten_layers(include_self=False, recursive=True))


# ------------------------------------------------------------------------------------------- layer test
def run_layer_test(
    layer_factory: LayerFactory,
    call: LayerCall,
    *,
    expected_output_shapes,
    expected_trainable_weights: int,
    expected_non_trainable_weights: int = 0,
    expected_weight_paths: Optional[WeightPaths] = None,
    expected_output_dtypes: OutputDtypes = COMPUTE_DTYPE,
    mixed_precision_atol: Optional[float] = None,
    build_input_shape=None,
    dtype_policies: Sequence[str] = DTYPE_POLICIES,
) -> dict:
    """Builds and calls a layer under each dtype policy and checks its weights and outputs.

    Under each policy in `dtype_policies`, the layer from `layer_factory(policy)` (built with
    `build(build_input_shape)` unless the factory built it) must have:
      - `policy` as its dtype policy, and so must every layer inside it (a sublayer without
        `dtype=self.dtype_policy` would silently compute in float32);
      - `expected_trainable_weights` trainable and `expected_non_trainable_weights` non-trainable weights, all
        in the policy's variable dtype (float32 under both default policies), all with distinct paths, equal
        to `expected_weight_paths` when given (a list, or a dict path -> shape to check the shapes too);
      - the same weights after `call(layer)` as before (none created by the call: checkpoints load first);
      - outputs with `expected_output_shapes` (a shape tuple, or the outputs' structure of shape tuples) and
        `expected_output_dtypes` (`COMPUTE_DTYPE`, the policy's compute dtype, or a dtype name such as
        `"float32"` for outputs the layer casts; for dict outputs also a dict key -> dtype).
    With `mixed_precision_atol`, the mixed-precision layer, given the float32 layer's weights, must give the
    float32 outputs within that absolute tolerance.

    Returns:
      Policy name -> `(layer, outputs)`, for further checks.
    """
    results = {}
    for policy in dtype_policies:
        layer = layer_factory(policy)
        if not layer.built:
            layer.build(build_input_shape)
        check_dtype_policies(layer, policy)
        check_weights(layer, expected_trainable_weights, expected_non_trainable_weights, expected_weight_paths)
        weights_before_call = weight_summary(layer)
        outputs = call(layer)
        assert weight_summary(layer) == weights_before_call, "calling the layer changed its weights"
        check_outputs(outputs, expected_output_shapes, expected_output_dtypes, layer.dtype_policy.compute_dtype)
        results[policy] = layer, outputs
    if mixed_precision_atol is not None:
        check_mixed_precision_outputs(results, call, mixed_precision_atol)
    return results


def check_dtype_policies(layer, policy: str) -> None:
    """`layer` and every layer inside it have the dtype policy named `policy`."""
    assert layer.dtype_policy.name == policy, f"{layer.name} has the policy {layer.dtype_policy.name}, not {policy}"
    wrong = {sublayer.name: sublayer.dtype_policy.name for sublayer in sublayers(layer)
             if sublayer.dtype_policy.name != policy}
    assert not wrong, f"sublayers of {layer.name} not under {policy}: {wrong}"


def check_weights(layer, expected_trainable: int, expected_non_trainable: int = 0,
                  expected_paths: Optional[WeightPaths] = None) -> None:
    """Weight counts, distinct paths (and the expected ones, with shapes if a dict), the policy's variable dtype."""
    trainable = [weight.path for weight in layer.trainable_weights]
    non_trainable = [weight.path for weight in layer.non_trainable_weights]
    assert len(trainable) == expected_trainable, f"{len(trainable)} trainable weights: {trainable}"
    assert len(non_trainable) == expected_non_trainable, f"{len(non_trainable)} non-trainable weights: {non_trainable}"
    weights = weights_by_path(layer)
    if expected_paths is not None:
        unexpected, missing = sorted(set(weights) - set(expected_paths)), sorted(set(expected_paths) - set(weights))
        assert not unexpected and not missing, f"unexpected weight paths {unexpected}, missing {missing}"
        if isinstance(expected_paths, Mapping):
            wrong = {path: (tuple(weight.shape), tuple(expected_paths[path])) for path, weight in weights.items()
                     if tuple(weight.shape) != tuple(expected_paths[path])}
            assert not wrong, f"weight shapes (actual, expected): {wrong}"
    variable_dtype = layer.dtype_policy.variable_dtype
    wrong = {path: dtype_name(weight) for path, weight in weights.items() if dtype_name(weight) != variable_dtype}
    assert not wrong, f"weights not in {variable_dtype}: {wrong}"


def check_outputs(outputs, expected_shapes, expected_dtypes: OutputDtypes, compute_dtype: str) -> None:
    """Output shapes (a shape tuple or the outputs' structure of them) and dtypes (see `run_layer_test`)."""
    actual_shapes = keras.tree.map_structure(lambda tensor: tuple(tensor.shape), outputs)
    assert actual_shapes == expected_shapes, f"output shapes {actual_shapes}, expected {expected_shapes}"
    actual_dtypes = keras.tree.map_structure(dtype_name, outputs)
    expected_dtype_structure = expected_output_dtype_structure(outputs, expected_dtypes, compute_dtype)
    assert actual_dtypes == expected_dtype_structure, \
        f"output dtypes {actual_dtypes}, expected {expected_dtype_structure}"


def expected_output_dtype_structure(outputs, expected_dtypes: OutputDtypes, compute_dtype: str):
    """`expected_dtypes` spelled out as the outputs' structure of dtype names (`COMPUTE_DTYPE` resolved)."""

    def resolve(dtype, structure):
        """`dtype` (compute resolved) at every tensor of `structure`."""
        dtype = compute_dtype if dtype == COMPUTE_DTYPE else dtype
        return keras.tree.map_structure(lambda _: dtype, structure)

    if isinstance(expected_dtypes, str):
        return resolve(expected_dtypes, outputs)
    assert isinstance(outputs, Mapping) and sorted(expected_dtypes) == sorted(outputs), \
        "per-key output dtypes need dict outputs and one dtype per key"
    return {key: resolve(expected_dtypes[key], value) for key, value in outputs.items()}


def check_mixed_precision_outputs(results: dict, call: LayerCall, atol: float) -> None:
    """The mixed-precision layer with the float32 layer's weights gives the float32 outputs within `atol`."""
    assert {"float32", "mixed_bfloat16"} <= set(results), "the comparison needs both dtype policies"
    float32_layer, float32_outputs = results["float32"]
    mixed_layer, _ = results["mixed_bfloat16"]
    copy_weights_by_path(float32_layer, mixed_layer)
    mixed_outputs = to_float32_numpy(call(mixed_layer))
    keras.tree.assert_same_structure(mixed_outputs, float32_outputs)
    for mixed, full in zip(keras.tree.flatten(mixed_outputs), keras.tree.flatten(to_numpy(float32_outputs))):
        np.testing.assert_allclose(mixed, full, atol=atol, rtol=0)


# ---------------------------------------------------------------------------------- serialization test
def run_serialization_test(original, call: Optional[LayerCall] = None, atol: float = 0.0) -> tuple:
    """Round trips `original` (a layer or model) through its config, both ways Keras offers.

    Checks that `get_config()` is plain JSON, and that `type(original).from_config(get_config())` and
    `keras.saving.deserialize_keras_object(serialize_keras_object(original))` (through JSON text; the class
    must be registered under its registered name) each give an object of the same class, name, dtype policy
    and `get_config()`, with the same weight paths, shapes and dtypes in the same order. With `call`, each
    copy, given the original's weights by path, must give the original's outputs (same structure and dtypes,
    values within `atol`; 0: identical).

    Returns:
      `(from_config_copy, deserialized_copy)`, for further checks.
    """
    if call is not None:
        call(original)  # builds a layer whose weights are made on the first call
    config = original.get_config()
    assert json.loads(json.dumps(config)) == config, "get_config() is not plain JSON"
    from_config_copy = type(original).from_config(config)
    assert_same_object(original, from_config_copy, call, atol)

    serialized = keras.saving.serialize_keras_object(original)
    registered_name = keras.saving.get_registered_name(type(original))
    assert serialized["registered_name"] == registered_name
    assert keras.saving.get_registered_object(registered_name) is type(original), \
        f"{type(original).__name__} is not registered with keras.saving.register_keras_serializable"
    deserialized_copy = keras.saving.deserialize_keras_object(json.loads(json.dumps(serialized)))
    assert_same_object(original, deserialized_copy, call, atol)
    return from_config_copy, deserialized_copy


def assert_same_object(original, restored, call: Optional[LayerCall] = None, atol: float = 0.0) -> None:
    """Same class, name, dtype policy, config and weights (paths, shapes, dtypes); with `call`, same outputs."""
    assert type(restored) is type(original), f"restored a {type(restored).__name__}"
    assert restored.name == original.name, f"restored the name {restored.name!r}"
    assert restored.dtype_policy.name == original.dtype_policy.name, "restored another dtype policy"
    assert restored.get_config() == original.get_config(), "restored another config"
    if call is not None:
        call(restored)  # built as the original was
    assert weight_summary(restored) == weight_summary(original), "restored other weights (path, shape, dtype)"
    if call is not None:
        copy_weights_by_path(original, restored)
        assert_outputs_equal(call(restored), call(original), atol=atol)


@dataclasses.dataclass(frozen=True)
class LayerCase:
    """A layer or model under test.

    Attributes:
      make: the layer factory (dtype policy name -> a new layer).
      call: the layer call (layer -> outputs on fixed inputs).
      marks: pytest marks for this case's parametrized tests (e.g. an expected failure).
    """

    make: LayerFactory
    call: LayerCall
    marks: tuple = ()


def serialization_round_trip_test(cases: Mapping[str, LayerCase], dtype_policies: Sequence[str] = DTYPE_POLICIES):
    """A pytest test running `run_serialization_test` on each case under each dtype policy.

    Assign the result to a `test_...` name in a test module: one test per case and policy.
    """

    @pytest.mark.parametrize("dtype_policy", dtype_policies)
    @pytest.mark.parametrize("case_name", [pytest.param(name, marks=case.marks, id=name)
                                           for name, case in cases.items()])
    def test_serialization_round_trip(case_name, dtype_policy):
        """The case's layer, made under `dtype_policy`, survives both config round trips (same outputs)."""
        case = cases[case_name]
        run_serialization_test(case.make(dtype_policy), case.call)

    return test_serialization_round_trip
