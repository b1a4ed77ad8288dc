"""SavedModel exports for TensorFlow Serving: raw text in, task outputs out.

`bert_tf.serving.export` is the public export layer every export builds on (the saved module, checks,
version folders, and its constants such as `SERVING_SIGNATURE`); one module per kind of model: `classifier`,
`squad`, `ner`, `multiple_choice`. The package re-exports the export layer and the classifier's export.
"""
from bert_tf.serving.classifier import *  # noqa: F401,F403
from bert_tf.serving.classifier import __all__ as _classifier_names
from bert_tf.serving.export import *  # noqa: F401,F403
from bert_tf.serving.export import __all__ as _export_names

__all__ = sorted(set(_classifier_names) | set(_export_names))
