"""Backend-agnostic Keras 3 BERT (only `keras` and `keras.ops`; runs under TensorFlow or JAX).

Each variable's Keras `.path` is its name in the original google-research/bert checkpoint
(`bert/encoder/layer_3/attention/self/query/kernel`, `cls/predictions/output_bias`, ...), so checkpoints
load and save by name.

Shapes in the docstrings of this package use these letters:

| letter | meaning |
|---|---|
| B | batch size |
| S | sequence length (positions per example, padding included) |
| H | hidden size (`hidden_size`) |
| A | attention heads (`num_attention_heads`; each head has H/A dimensions) |
| L | layers: transformer blocks (`num_hidden_layers`) |
| P | masked positions per sequence (`max_predictions_per_seq`) |
| V | vocabulary size (`vocab_size`) |
| T | tokens that attend when not all S positions do (queries; T = 1 for [CLS] alone) |
"""
from bert_tf.modeling.backbone import BertBackbone
from bert_tf.modeling.heads import ClassifierHead, MaskedLMHead, PretrainingHeads
from bert_tf.modeling.models import BertBase, BertClassifier, BertModel, BertPretrainingModel
from bert_tf.modeling.multiple_choice import BertMultipleChoice, MultipleChoiceHead
from bert_tf.modeling.question_answering import BertQuestionAnswering, SquadHead
from bert_tf.modeling.token_classification import BertTokenClassifier, TokenClassifierHead

__all__ = [
    "BertBackbone",
    "BertBase",
    "BertClassifier",
    "BertModel",
    "BertMultipleChoice",
    "BertPretrainingModel",
    "BertQuestionAnswering",
    "BertTokenClassifier",
    "ClassifierHead",
    "MaskedLMHead",
    "MultipleChoiceHead",
    "PretrainingHeads",
    "SquadHead",
    "TokenClassifierHead",
]
