"""The base of everything built from a `BertConfig`: Keras serialization of the layers (`BertLayer`) and the
models, and the original's `Dense` sublayers (`BertLayer.dense_sublayer`).

`get_config` holds the `BertConfig` as a dict, the name, `trainable`, the serialized dtype policy and the
extra constructor arguments a class names in `extra_arguments` (each stored as an attribute of the same
name); `from_config` turns the dict back into a `BertConfig`. So `keras.saving.deserialize_keras_object(
keras.saving.serialize_keras_object(layer))` builds the same layer (same class, variable paths and shapes;
fresh weights), and a functional model made of them can be saved to `.keras`.
"""
from typing import Tuple

import keras
from keras import layers

from bert_tf.config import BertConfig
from bert_tf.modeling.initializers import bert_initializer


class ConfigSerializable:
    """The `get_config` / `from_config` pair of a class whose constructor takes a `BertConfig` first."""

    extra_arguments: Tuple[str, ...] = ()

    def get_config(self):
        """The constructor arguments: `config` (the `BertConfig` as a dict), `name`, `trainable`, `dtype` (the
        serialized dtype policy) and the `extra_arguments`."""
        config = {"config": self.config.to_dict(), "name": self.name, "trainable": self.trainable,
                  "dtype": keras.dtype_policies.serialize(self.dtype_policy)}
        config.update({argument: getattr(self, argument) for argument in self.extra_arguments})
        return config

    @classmethod
    def from_config(cls, config):
        """The object `get_config` describes (freshly initialized weights).

        Args:
          config: a `get_config` dict; `config["config"]` may be a dict or a `BertConfig`, `config["dtype"]`
            a serialized policy, a `keras.DTypePolicy` or its name.
        """
        config = dict(config)
        bert_config = config.pop("config")
        if not isinstance(bert_config, BertConfig):
            bert_config = BertConfig.from_dict(bert_config)
        return cls(bert_config, **config)


def check_bert_config(config) -> BertConfig:
    """Returns `config`; raises TypeError when it is not a `BertConfig`."""
    if not isinstance(config, BertConfig):
        raise TypeError(f"expected a BertConfig, got {type(config).__name__}")
    return config


class BertLayer(ConfigSerializable, layers.Layer):
    """A Keras layer built from a `BertConfig` (kept as `self.config`); Keras-serializable.

    Args:
      config: the `BertConfig`.
      name: the layer's name (its scope in the variable paths).
      **kwargs: `keras.layers.Layer` arguments (`dtype`, `trainable`).
    """

    def __init__(self, config: BertConfig, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.config = check_bert_config(config)

    def dense_sublayer(self, units: int, name: str = "dense", activation=None) -> layers.Dense:
        """A `Dense` sublayer as the original makes them: `bert_initializer` kernel, zero bias, this layer's
        dtype policy; its weights are `<name>/kernel` and `<name>/bias` under this layer's scope."""
        return layers.Dense(units, activation=activation, kernel_initializer=bert_initializer(self.config),
                            name=name, dtype=self.dtype_policy)
