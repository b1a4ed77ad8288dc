"""Keras models: the encoder alone, with pretraining heads, and with a classifier.

Every model builds all of its weights in `__init__`, so each variable's `.path` is its name in the
original checkpoint (`bert/encoder/layer_3/attention/self/query/kernel`, `cls/predictions/output_bias`,
...) and a checkpoint can be loaded before the model was ever called.

Inputs: a dict of int32 arrays or tensors [B, S]: `input_ids` (required), `input_mask` (default all
ones), `segment_ids` (default all zeros); numpy arrays are accepted; eager or inside `tf.function`.

Every model is Keras-serializable (`bert_tf.modeling.serializable`: `get_config` holds the `BertConfig` as a
dict, the dtype policy and the head's size; registered as `bert_tf>BertModel`, ...), so
`keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))` builds the same model
(same variable paths, fresh weights).
"""
import keras

from bert_tf.config import BertConfig
from bert_tf.errors import require_int
from bert_tf.modeling.backbone import BertBackbone, standardize_inputs
from bert_tf.modeling.heads import ClassifierHead, PretrainingHeads
from bert_tf.modeling.serializable import ConfigSerializable, check_bert_config


class BertBase(ConfigSerializable, keras.Model):
    """Holds the `bert/` backbone; subclasses add their heads in `__init__`.

    Args:
      config: the `BertConfig`.
      name: the model's name (not part of any variable path).
      **kwargs: `keras.Model` arguments: `dtype` (a dtype policy or its name: `float32`,
        `mixed_float16`, `mixed_bfloat16`), `trainable`.

    Raises:
      TypeError: `config` is not a `BertConfig`.
    """

    def __init__(self, config: BertConfig, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.config = check_bert_config(config)
        self.bert = BertBackbone(config, dtype=self.dtype_policy)
        self.bert.build()

    def _encode(self, inputs, training, pooled_output_only=False):
        input_ids, input_mask, segment_ids = standardize_inputs(inputs)
        return self.bert(input_ids, input_mask, segment_ids, training=training,
                         pooled_output_only=pooled_output_only)


@keras.saving.register_keras_serializable(package="bert_tf")
class BertModel(BertBase):
    """The BERT encoder (`bert/*` weights).

    Args:
      config: the `BertConfig`.
      name: the model's name.
      **kwargs: `keras.Model` arguments (`dtype`: the dtype policy).

    Returns (from a call): a dict: `embedding_output` [B, S, H], `encoder_outputs` (list of L [B, S, H],
    one per block), `sequence_output` [B, S, H], `pooled_output` [B, H].
    """

    def __init__(self, config: BertConfig, name="bert_model", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.built = True

    def call(self, inputs, training=False):
        return self._encode(inputs, training)


@keras.saving.register_keras_serializable(package="bert_tf")
class BertPretrainingModel(BertBase):
    """BERT with the masked-LM and next-sentence heads (`bert/*` and `cls/*` weights).

    Args:
      config: the `BertConfig`.
      name: the model's name.
      **kwargs: `keras.Model` arguments (`dtype`: the dtype policy).

    Inputs additionally need int32 `masked_lm_positions` [B, P]. Returns the encoder's dict plus
    `masked_lm_log_probs` float32 [B, P, V] and `next_sentence_logits` float32 [B, 2].
    """

    def __init__(self, config: BertConfig, name="bert_pretraining", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.cls = PretrainingHeads(config, dtype=self.dtype_policy)
        self.cls.build()
        self.built = True

    def call(self, inputs, training=False):
        if not isinstance(inputs, dict) or "masked_lm_positions" not in inputs:
            raise ValueError("BertPretrainingModel inputs need a dict with 'masked_lm_positions' [B, P]")
        outputs = dict(self._encode(inputs, training))
        masked_lm_positions = keras.ops.cast(inputs["masked_lm_positions"], "int32")
        masked_lm_log_probs, next_sentence_logits = self.cls(
            outputs["sequence_output"],
            outputs["pooled_output"],
            masked_lm_positions,
            self.bert.embeddings.word_embeddings,
        )
        outputs["masked_lm_log_probs"] = masked_lm_log_probs
        outputs["next_sentence_logits"] = next_sentence_logits
        return outputs


@keras.saving.register_keras_serializable(package="bert_tf")
class BertClassifier(BertBase):
    """run_classifier's model: BERT, dropout on the pooled output, `output_weights`/`output_bias`.

    Args:
      config: the `BertConfig`.
      num_labels: the number of classes (1 for a regression task).
      name: the model's name.
      **kwargs: `keras.Model` arguments (`dtype`: the dtype policy).

    Returns (from a call): a dict: `pooled_output` [B, H] and `logits` float32 [B, num_labels]. Only the
    [CLS] position of the last block is computed, the one the pooler reads; for the per-token outputs call
    the encoder, `model.bert` (a `BertBackbone`).
    """

    extra_arguments = ("num_labels",)

    def __init__(self, config: BertConfig, num_labels: int, name="bert_classifier", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.num_labels = require_int("num_labels", num_labels)
        self.classifier = ClassifierHead(config, num_labels, dtype=self.dtype_policy)
        self.classifier.build()
        self.built = True

    def call(self, inputs, training=False):
        outputs = dict(self._encode(inputs, training, pooled_output_only=True))
        outputs["logits"] = self.classifier(outputs["pooled_output"], training=training)
        return outputs
