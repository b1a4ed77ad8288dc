"""run_squad's model: BERT and a span head that scores every token as an answer start and end.

Variables: the encoder's `bert/*` and the original's `cls/squad/output_weights` [2, H] and
`cls/squad/output_bias` [2] (row 0 scores starts, row 1 ends), so a checkpoint fine-tuned by the original
`run_squad.py` loads unchanged and the other way round. As everywhere in `bert_tf.modeling`, each
variable's Keras `.path` is its checkpoint name.
"""
import keras
from keras import initializers, ops

from bert_tf.config import BertConfig
from bert_tf.modeling.heads import OutputProjection
from bert_tf.modeling.models import BertBase
from bert_tf.modeling.serializable import BertLayer

SQUAD_HEAD_VARIABLES = ("cls/squad/output_weights", "cls/squad/output_bias")
# The original `create_model` initializes the head with a fixed stddev, not `initializer_range`.
HEAD_INITIALIZER_STDDEV = 0.02


@keras.saving.register_keras_serializable(package="bert_tf")
class SquadHead(BertLayer):
    """`cls/squad/`: one [2, H] projection of every token's final hidden state (no dropout, as the original).

    Args:
      config: the `BertConfig` (H).
      name: the outer scope (`cls`).
      **kwargs: `keras.layers.Layer` arguments (`dtype`: the dtype policy).
    """

    def __init__(self, config: BertConfig, name: str = "cls", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.squad = OutputProjection(config, num_outputs=2, name="squad", dtype=self.dtype_policy)
        self.squad.initializer = initializers.TruncatedNormal(stddev=HEAD_INITIALIZER_STDDEV)

    def build(self, input_shape=None):
        self.squad.build()  # inside this layer's name scope: `cls/squad/output_weights`, `cls/squad/output_bias`
        self.built = True

    def call(self, sequence_output):
        """Scores every position.

        Args:
          sequence_output: the encoder's last hidden states [B, S, H] (compute dtype).

        Returns:
          `(start_logits, end_logits)`, each float32 [B, S].
        """
        logits = ops.cast(self.squad(sequence_output), "float32")  # [B, S, 2]
        return logits[..., 0], logits[..., 1]


@keras.saving.register_keras_serializable(package="bert_tf")
class BertQuestionAnswering(BertBase):
    """BERT with the SQuAD span head (the original `run_squad.create_model`).

    Args:
      config: the `BertConfig`.
      name: the model's name (not part of any variable path).
      **kwargs: `keras.Model` arguments (`dtype`: `float32`, `mixed_float16`, `mixed_bfloat16` or a policy).

    Inputs: a dict of int32 [B, S] `input_ids` (required), `input_mask`, `segment_ids` (other keys, such as
    `unique_ids`, are ignored). Returns a dict: `start_logits` and `end_logits`, float32 [B, S] (padding
    positions included, as in the original). With `training=True` the encoder's dropouts are active.
    """

    def __init__(self, config: BertConfig, name="bert_question_answering", **kwargs):
        super().__init__(config, name=name, **kwargs)
        # The pooler (`bert/pooler/*`) stays for the checkpoint but takes no part: like the original
        # optimizer, which skips variables without a gradient, it gets neither updates nor Adam slots.
        self.bert.pooler.trainable = False
        self.cls = SquadHead(config, dtype=self.dtype_policy)
        self.cls.build()
        self.built = True

    def call(self, inputs, training=False):
        sequence_output = self._encode(inputs, training)["sequence_output"]
        start_logits, end_logits = self.cls(sequence_output)
        return {"start_logits": start_logits, "end_logits": end_logits}
