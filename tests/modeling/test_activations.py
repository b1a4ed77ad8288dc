"""`bert_tf.modeling.activations`: the tanh form of GELU and `get_activation`'s names and errors."""
import numpy as np
import pytest

from bert_tf.config import SUPPORTED_ACTIVATIONS
from bert_tf.modeling.activations import gelu_tanh, get_activation
from tests.harness.layers import dtype_name, to_numpy
from tests.modeling import numpy_reference

POINTS = np.linspace(-6.0, 6.0, 241).astype(np.float32)


def test_gelu_is_the_tanh_approximation_not_erf():
    actual = to_numpy(gelu_tanh(POINTS))
    np.testing.assert_allclose(actual, numpy_reference.gelu_tanh(POINTS), atol=1e-6, rtol=0)
    # The two forms differ by up to about 2e-4 (near |x| = 2): far more than float32 noise.
    assert np.abs(actual - numpy_reference.gelu_erf(POINTS)).max() > 1e-4


def test_gelu_keeps_the_input_dtype():
    assert dtype_name(gelu_tanh(POINTS)) == "float32"


@pytest.mark.parametrize("name, expected", [
    ("gelu", numpy_reference.gelu_tanh),
    ("relu", lambda x: np.maximum(x, 0.0)),
    ("tanh", np.tanh),
    ("linear", lambda x: x),
    ("gelu_exact", numpy_reference.gelu_erf),
])
def test_each_supported_name_maps_to_its_function(name, expected):
    np.testing.assert_allclose(to_numpy(get_activation(name)(POINTS)), expected(POINTS), atol=1e-6, rtol=0)


def test_names_are_case_insensitive_and_every_supported_name_works():
    assert get_activation("GELU") is get_activation("gelu")
    assert get_activation("Tanh") is get_activation("tanh")
    for name in SUPPORTED_ACTIVATIONS:
        assert callable(get_activation(name))


@pytest.mark.parametrize("name", ["swish", "gelu_new", "", None, 3])
def test_unsupported_names_are_a_value_error_listing_the_supported_ones(name):
    with pytest.raises(ValueError, match="unsupported activation") as error:
        get_activation(name)
    assert ", ".join(SUPPORTED_ACTIVATIONS) in str(error.value)
    assert repr(name) in str(error.value)
