"""The original's weight initializer."""
from keras import initializers

from bert_tf.config import BertConfig


def bert_initializer(config: BertConfig):
    """Truncated normal (cut at 2 stddev) with stddev `initializer_range`, as `modeling.create_initializer`."""
    return initializers.TruncatedNormal(stddev=config.initializer_range)
