"""SavedModel exports for TensorFlow Serving: raw text in, task outputs out (`classifier`)."""
from bert_tf.serving.classifier import *  # noqa: F401,F403
from bert_tf.serving.classifier import __all__  # noqa: F401
