"""Token classification (named entities): BERT with one linear layer on every position's output.

The head's variables are `cls/ner/output_weights` [num_labels, H] and `cls/ner/output_bias` [num_labels]:
the layout of the original's other heads (`cls/seq_relationship/...`), in a scope of their own so that a
checkpoint says which task it was fine-tuned for. As everywhere in `bert_tf.modeling`, each variable's
Keras `.path` is its checkpoint name.
"""
import keras
from keras import layers, ops

from bert_tf.config import BertConfig
from bert_tf.errors import require_int
from bert_tf.modeling.heads import OutputProjection
from bert_tf.modeling.models import BertBase
from bert_tf.modeling.serializable import BertLayer

NER_HEAD_VARIABLES = ("cls/ner/output_weights", "cls/ner/output_bias")


@keras.saving.register_keras_serializable(package="bert_tf")
class TokenClassifierHead(BertLayer):
    """`cls/`: dropout (`hidden_dropout_prob`) on the sequence output, then `ner/output_weights`/`output_bias`.

    Call with `sequence_output` [B, S, H] (the compute dtype); returns float32 logits [B, S, num_labels].
    """

    extra_arguments = ("num_labels",)

    def __init__(self, config: BertConfig, num_labels: int, name: str = "cls", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.num_labels = num_labels
        self.dropout = layers.Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)
        self.ner = OutputProjection(config, num_outputs=num_labels, name="ner", dtype=self.dtype_policy)

    def build(self, input_shape=None):
        self.ner.build()  # inside this layer's name scope: `cls/ner/output_weights`, `cls/ner/output_bias`
        self.built = True

    def call(self, sequence_output, training=False):
        hidden = self.dropout(sequence_output, training=training)
        return ops.cast(self.ner(hidden), "float32")


@keras.saving.register_keras_serializable(package="bert_tf")
class BertTokenClassifier(BertBase):
    """BERT for token classification (run_ner.py): one label per word-piece position.

    Args:
      config: the `BertConfig`.
      num_labels: the size of the label set (`O`, `B-PER`, `I-PER`, ...).
      name: the model's name (not part of any variable path).
      **kwargs: `keras.Model` arguments (`dtype`: `float32`, `mixed_float16`, `mixed_bfloat16` or a policy).

    Inputs: a dict of int32 [B, S] `input_ids` (required), `input_mask`, `segment_ids`.
    Returns a dict: `logits` float32 [B, S, num_labels] (padding positions included; mask them).
    """

    extra_arguments = ("num_labels",)

    def __init__(self, config: BertConfig, num_labels: int, name="bert_token_classifier", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.num_labels = require_int("num_labels", num_labels)
        # The pooler (`bert/pooler/*`) is kept for the checkpoint but takes no part: like the original
        # optimizer, which skips variables without a gradient, it gets neither updates nor Adam slots.
        self.bert.pooler.trainable = False
        self.cls = TokenClassifierHead(config, self.num_labels, dtype=self.dtype_policy)
        self.cls.build()
        self.built = True

    def call(self, inputs, training=False):
        sequence_output = self._encode(inputs, training)["sequence_output"]
        return {"logits": self.cls(sequence_output, training=training)}
