"""Backend-agnostic Keras 3 BERT (only `keras` and `keras.ops`; runs under TensorFlow or JAX)."""
from bert_tf.modeling.backbone import BertBackbone
from bert_tf.modeling.heads import ClassifierHead, MaskedLMHead, PretrainingHeads
from bert_tf.modeling.models import BertClassifier, BertModel, BertPretrainingModel

__all__ = [
    "BertBackbone",
    "BertClassifier",
    "BertModel",
    "BertPretrainingModel",
    "ClassifierHead",
    "MaskedLMHead",
    "PretrainingHeads",
]
