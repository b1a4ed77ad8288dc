"""bert_tf: BERT in TensorFlow 2 / Keras 3, loading and writing the original google-research/bert checkpoints."""
from bert_tf.config import BertConfig
from bert_tf.modeling import BertClassifier, BertModel, BertPretrainingModel

__version__ = "0.1.0"
__all__ = ["BertConfig", "BertModel", "BertPretrainingModel", "BertClassifier", "__version__"]
