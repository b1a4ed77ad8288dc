"""Activation functions by their `bert_config.json` names, as the original `modeling.get_activation`."""
from keras import activations, ops

from bert_tf.config import SUPPORTED_ACTIVATIONS


def gelu_tanh(x):
    """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), as the original."""
    return activations.gelu(x, approximate=True)


def gelu_exact(x):
    """GELU, exact: 0.5 x (1 + erf(x / sqrt(2))); Hugging Face's "gelu" (not in the original code)."""
    return activations.gelu(x, approximate=False)


def linear(x):
    return x


_ACTIVATIONS = {
    "gelu": gelu_tanh,
    "relu": ops.relu,
    "tanh": ops.tanh,
    "linear": linear,
    "gelu_exact": gelu_exact,
}
assert set(_ACTIVATIONS) == set(SUPPORTED_ACTIVATIONS)


def get_activation(name: str):
    """Maps a `hidden_act` string to a function of one tensor; ValueError for an unknown name."""
    try:
        return _ACTIVATIONS[name.lower()]
    except (KeyError, AttributeError):
        raise ValueError(
            f"unsupported activation {name!r}; use one of {', '.join(SUPPORTED_ACTIVATIONS)}"
        ) from None
