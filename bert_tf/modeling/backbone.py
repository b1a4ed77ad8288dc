"""The `bert/` section: embeddings, the transformer encoder and the pooler, in one layer."""
import keras
from keras import ops

from bert_tf.config import BertConfig
from bert_tf.modeling.attention import attention_mask_bias
from bert_tf.modeling.embeddings import BertEmbeddings
from bert_tf.modeling.serializable import BertLayer
from bert_tf.modeling.transformer import TransformerEncoder


@keras.saving.register_keras_serializable(package="bert_tf")
class Pooler(BertLayer):
    """`pooler/dense`: tanh(h[:, 0] W + b). [B, S, H] -> [B, H]."""

    def __init__(self, config: BertConfig, name: str = "pooler", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.hidden_size = config.hidden_size
        self.dense = self.dense_sublayer(config.hidden_size, activation="tanh")

    def build(self, input_shape=None):
        self.dense.build((None, self.hidden_size))
        self.built = True

    def call(self, sequence_output):
        return self.dense(sequence_output[:, 0, :])


def standardize_inputs(inputs):
    """Accepts `input_ids` alone or a dict with `input_ids` and optional `input_mask`, `segment_ids`.

    Returns int32 tensors (input_ids, input_mask, segment_ids), each [B, S]; a missing mask is all
    ones and missing segments all zeros, as in the original.
    """
    if isinstance(inputs, dict):
        if "input_ids" not in inputs:
            raise ValueError(f"BERT inputs need 'input_ids'; got keys {sorted(inputs)}")
        input_ids = inputs["input_ids"]
        input_mask = inputs.get("input_mask")
        segment_ids = inputs.get("segment_ids")
    else:
        input_ids, input_mask, segment_ids = inputs, None, None
    input_ids = ops.cast(ops.convert_to_tensor(input_ids), "int32")
    if len(input_ids.shape) != 2:
        raise ValueError(f"input_ids must have shape [batch, seq], got {tuple(input_ids.shape)}")
    input_mask = ops.ones_like(input_ids) if input_mask is None else ops.cast(input_mask, "int32")
    segment_ids = ops.zeros_like(input_ids) if segment_ids is None else ops.cast(segment_ids, "int32")
    return input_ids, input_mask, segment_ids


@keras.saving.register_keras_serializable(package="bert_tf")
class BertBackbone(BertLayer):
    """`bert/`: the pretrained encoder that every task model shares.

    Call with int32 `input_ids`, `input_mask`, `segment_ids` [B, S]. Returns a dict:
      `embedding_output` [B, S, H], `encoder_outputs` (list of L tensors [B, S, H]),
      `sequence_output` [B, S, H] (the last block's output), `pooled_output` [B, H].
    Tensors are in the layer's compute dtype (float32, or bfloat16/float16 under a mixed policy).
    With `pooled_output_only=True` the dict holds `pooled_output` alone, and the last block computes
    only the [CLS] position it reads (what a sentence classifier needs; same numbers, less work).
    """

    def __init__(self, config: BertConfig, name: str = "bert", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.embeddings = BertEmbeddings(config, dtype=self.dtype_policy)
        self.encoder = TransformerEncoder(config, dtype=self.dtype_policy)
        self.pooler = Pooler(config, dtype=self.dtype_policy)

    def build(self, input_shape=None):
        self.embeddings.build()
        self.encoder.build()
        self.pooler.build()
        self.built = True

    def call(self, input_ids, input_mask, segment_ids, training=False, pooled_output_only=False):
        embedding_output = self.embeddings(input_ids, segment_ids, training=training)
        mask_bias = attention_mask_bias(input_mask, embedding_output.dtype)
        encoder_outputs = self.encoder(
            embedding_output, mask_bias, training=training, last_layer_first_token_only=pooled_output_only)
        sequence_output = encoder_outputs[-1]
        if pooled_output_only:
            return {"pooled_output": self.pooler(sequence_output)}
        return {
            "embedding_output": embedding_output,
            "encoder_outputs": encoder_outputs,
            "sequence_output": sequence_output,
            "pooled_output": self.pooler(sequence_output),
        }
