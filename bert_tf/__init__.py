"""bert_tf: BERT in TensorFlow 2 / Keras 3, loading and writing the original google-research/bert checkpoints.

The top-level names are imported lazily, so that `import bert_tf.tasks.classification.examples` or
`bert_tf.tokenization` does not pay for importing Keras and TensorFlow.
"""
import importlib

__version__ = "0.1.0"

_LAZY = {
    "BertConfig": "bert_tf.config",
    "BertModel": "bert_tf.modeling",
    "BertPretrainingModel": "bert_tf.modeling",
    "BertClassifier": "bert_tf.modeling",
    "BertQuestionAnswering": "bert_tf.modeling",
    "BertTokenClassifier": "bert_tf.modeling",
    "BertMultipleChoice": "bert_tf.modeling",
    "encode": "bert_tf.tasks.embedding.encoder",
    "SentenceEncoder": "bert_tf.tasks.embedding.encoder",
}
__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in ("modeling", "checkpoint", "config", "tokenization"):
        return importlib.import_module(f"bert_tf.{name}")
    raise AttributeError(f"module 'bert_tf' has no attribute {name!r}")


def __dir__():
    return __all__
