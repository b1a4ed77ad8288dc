"""One post-LN transformer block (`bert/encoder/layer_N/*`) and the stack of them (`bert/encoder/`)."""
import keras

from bert_tf.config import BertConfig
from bert_tf.modeling.activations import get_activation
from bert_tf.modeling.attention import Attention, DenseResidualLayerNorm
from bert_tf.modeling.serializable import BertLayer


@keras.saving.register_keras_serializable(package="bert_tf")
class Intermediate(BertLayer):
    """`intermediate/dense`: [B, S, H] -> activation(x W + b) [B, S, intermediate_size]."""

    def __init__(self, config: BertConfig, name: str = "intermediate", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.hidden_size = config.hidden_size
        self.dense = self.dense_sublayer(config.intermediate_size, activation=get_activation(config.hidden_act))

    def build(self, input_shape=None):
        self.dense.build((None, None, self.hidden_size))
        self.built = True

    def call(self, hidden_states):
        return self.dense(hidden_states)


@keras.saving.register_keras_serializable(package="bert_tf")
class TransformerBlock(BertLayer):
    """`layer_N/`: attention, then feed-forward, each followed by dropout, residual and LayerNorm.

    Call with `hidden_states` [B, S, H] and `mask_bias` [B, 1, 1, S]; returns [B, S, H]. With
    `first_token_only`, only position 0 is computed (it still attends to every position): returns
    [B, 1, H], equal to the first row of the full output, for heads that read the [CLS] token alone.
    """

    def __init__(self, config: BertConfig, name: str, **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.attention = Attention(config, dtype=self.dtype_policy)
        self.intermediate = Intermediate(config, dtype=self.dtype_policy)
        self.block_output = DenseResidualLayerNorm(
            config, input_width=config.intermediate_size, name="output", dtype=self.dtype_policy
        )

    def build(self, input_shape=None):
        self.attention.build()
        self.intermediate.build()
        self.block_output.build()
        self.built = True

    def call(self, hidden_states, mask_bias, training=False, first_token_only=False):
        query_states = hidden_states[:, :1, :] if first_token_only else None
        attention_output = self.attention(hidden_states, mask_bias, training=training, query_states=query_states)
        intermediate_output = self.intermediate(attention_output)
        return self.block_output(intermediate_output, attention_output, training=training)


@keras.saving.register_keras_serializable(package="bert_tf")
class TransformerEncoder(BertLayer):
    """`encoder/`: `num_hidden_layers` blocks named `layer_0` ... `layer_{L-1}`.

    Call with `hidden_states` [B, S, H] and `mask_bias` [B, 1, 1, S]; returns the list of every
    block's output, L tensors [B, S, H]. With `last_layer_first_token_only`, the last block computes
    position 0 only and its entry is [B, 1, H] (about 1/L less work when only [CLS] is read).
    """

    def __init__(self, config: BertConfig, name: str = "encoder", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.blocks = [
            TransformerBlock(config, name=f"layer_{index}", dtype=self.dtype_policy)
            for index in range(config.num_hidden_layers)
        ]

    def build(self, input_shape=None):
        for block in self.blocks:
            block.build()
        self.built = True

    def call(self, hidden_states, mask_bias, training=False, last_layer_first_token_only=False):
        all_outputs = []
        for index, block in enumerate(self.blocks):
            first_token_only = last_layer_first_token_only and index == len(self.blocks) - 1
            hidden_states = block(hidden_states, mask_bias, training=training, first_token_only=first_token_only)
            all_outputs.append(hidden_states)
        return all_outputs
