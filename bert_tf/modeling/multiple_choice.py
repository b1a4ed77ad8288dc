"""Multiple choice (SWAG): BERT scores each (context, choice) pair; a softmax across a question's choices.

Each choice is packed with its context as a pair, `[CLS] context [SEP] choice [SEP]`; the model reads the
pooled output of every pair, applies dropout and one linear unit, and the C scores of a question are its
logits (softmax across them: the BERT paper's SWAG set-up, and Hugging Face's `BertForMultipleChoice`).

Variables: the encoder's `bert/*` and `cls/multiple_choice/output_weights` [1, H],
`cls/multiple_choice/output_bias` [1] (the original classifier's layout, in a scope of its own so that a
checkpoint says which task it was fine-tuned for). As everywhere in `bert_tf.modeling`, each variable's
Keras `.path` is its checkpoint name.
"""
import keras
from keras import layers, ops

from bert_tf.config import BertConfig
from bert_tf.modeling.heads import OutputProjection
from bert_tf.modeling.models import BertBase
from bert_tf.modeling.serializable import BertLayer

MULTIPLE_CHOICE_HEAD_VARIABLES = ("cls/multiple_choice/output_weights", "cls/multiple_choice/output_bias")
# The logit of a padding choice (`choice_mask` 0): its softmax probability is exactly 0.
MASKED_LOGIT = -1e9


@keras.saving.register_keras_serializable(package="bert_tf")
class MultipleChoiceHead(BertLayer):
    """`cls/`: dropout (`hidden_dropout_prob`) on the pooled output, then `multiple_choice/output_weights`
    [1, H] and `output_bias` [1]: one score per packed pair.

    Call with `pooled_output` [N, H] (the compute dtype); returns float32 scores [N].
    """

    def __init__(self, config: BertConfig, name: str = "cls", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.dropout = layers.Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)
        self.multiple_choice = OutputProjection(config, num_outputs=1, name="multiple_choice",
                                                dtype=self.dtype_policy)

    def build(self, input_shape=None):
        self.multiple_choice.build()  # inside this layer's scope: `cls/multiple_choice/output_weights`, ...
        self.built = True

    def call(self, pooled_output, training=False):
        hidden = self.dropout(pooled_output, training=training)
        return ops.cast(self.multiple_choice(hidden), "float32")[:, 0]


def standardize_choice_inputs(inputs):
    """A dict with int32 `input_ids` [B, C, S] and optional `input_mask`, `segment_ids` (defaults: all ones,
    all zeros) -> the three as int32 [B, C, S] tensors.

    Raises:
      ValueError: no `input_ids`, or `input_ids` not of rank 3.
    """
    if not isinstance(inputs, dict) or "input_ids" not in inputs:
        raise ValueError("BertMultipleChoice inputs need a dict with 'input_ids' [batch, choices, seq]")
    input_ids = ops.cast(ops.convert_to_tensor(inputs["input_ids"]), "int32")
    if len(input_ids.shape) != 3:
        raise ValueError(f"input_ids must have shape [batch, choices, seq], got {tuple(input_ids.shape)}")
    input_mask, segment_ids = inputs.get("input_mask"), inputs.get("segment_ids")
    input_mask = ops.ones_like(input_ids) if input_mask is None else ops.cast(input_mask, "int32")
    segment_ids = ops.zeros_like(input_ids) if segment_ids is None else ops.cast(segment_ids, "int32")
    return input_ids, input_mask, segment_ids


@keras.saving.register_keras_serializable(package="bert_tf")
class BertMultipleChoice(BertBase):
    """BERT for multiple choice (run_swag.py): one logit per (context, choice) pair.

    Args:
      config: the `BertConfig`.
      name: the model's name (not part of any variable path).
      **kwargs: `keras.Model` arguments (`dtype`: `float32`, `mixed_float16`, `mixed_bfloat16` or a policy).

    Inputs: a dict of int32 [B, C, S] `input_ids` (required), `input_mask`, `segment_ids`: C packed pairs per
    question (any C), and optionally int32 `choice_mask` [B, C] (0: a padding choice of a question with fewer
    than C, whose logit becomes `MASKED_LOGIT`); other keys are ignored. Returns a dict: `logits` float32
    [B, C] (softmax across the choices gives their probabilities). Only the [CLS] position of the last block
    is computed, the one the pooler reads.
    """

    def __init__(self, config: BertConfig, name="bert_multiple_choice", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.cls = MultipleChoiceHead(config, dtype=self.dtype_policy)
        self.cls.build()
        self.built = True

    def call(self, inputs, training=False):
        input_ids, input_mask, segment_ids = standardize_choice_inputs(inputs)
        shape = ops.shape(input_ids)
        num_choices, seq_length = shape[1], shape[2]

        def pairs(tensor):  # [B, C, S] -> [B * C, S]
            return ops.reshape(tensor, (-1, seq_length))

        pooled_output = self.bert(pairs(input_ids), pairs(input_mask), pairs(segment_ids), training=training,
                                  pooled_output_only=True)["pooled_output"]
        logits = ops.reshape(self.cls(pooled_output, training=training), (-1, num_choices))
        if inputs.get("choice_mask") is not None:
            logits = ops.where(ops.cast(inputs["choice_mask"], "int32") > 0, logits, MASKED_LOGIT)
        return {"logits": logits}
