"""The embedding section of BERT: `bert/embeddings/*`."""
import keras
from keras import layers, ops

from bert_tf.config import BertConfig
from bert_tf.modeling.constants import LAYER_NORM_EPSILON
from bert_tf.modeling.initializers import bert_initializer
from bert_tf.modeling.serializable import BertLayer


@keras.saving.register_keras_serializable(package="bert_tf")
class BertEmbeddings(BertLayer):
    """Word + segment (token type) + position embeddings, then LayerNorm and dropout.

    Weights (paths under the parent `bert/`):
      `embeddings/word_embeddings` [V, H], `embeddings/token_type_embeddings`
      [type_vocab_size, H], `embeddings/position_embeddings` [max_position_embeddings, H],
      `embeddings/LayerNorm/{gamma,beta}` [H].

    Args:
      config: the `BertConfig`.
      name: the scope of the weights.
    """

    def __init__(self, config: BertConfig, name: str = "embeddings", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.layer_norm = layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, name="LayerNorm", dtype=self.dtype_policy
        )
        self.dropout = layers.Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)

    def build(self, input_shape=None):
        config = self.config
        initializer = bert_initializer(config)
        self.word_embeddings = self.add_weight(
            name="word_embeddings",
            shape=(config.vocab_size, config.hidden_size),
            initializer=initializer,
        )
        self.token_type_embeddings = self.add_weight(
            name="token_type_embeddings",
            shape=(config.type_vocab_size, config.hidden_size),
            initializer=initializer,
        )
        self.position_embeddings = self.add_weight(
            name="position_embeddings",
            shape=(config.max_position_embeddings, config.hidden_size),
            initializer=initializer,
        )
        self.layer_norm.build((None, None, config.hidden_size))
        self.built = True

    def call(self, input_ids, segment_ids, training=False):
        """Embeds a batch (dropout when `training`).

        Args:
          input_ids: int32 [B, S], S <= max_position_embeddings.
          segment_ids: int32 [B, S].

        Returns:
          The embedding output [B, S, H] in the layer's compute dtype.

        Raises:
          ValueError: a statically known S longer than max_position_embeddings.
        """
        seq_length = ops.shape(input_ids)[1]
        check_sequence_length(seq_length, self.config.max_position_embeddings)
        word = ops.take(self.word_embeddings, input_ids, axis=0)
        token_type = ops.take(self.token_type_embeddings, segment_ids, axis=0)
        position = ops.expand_dims(self.position_embeddings[:seq_length], 0)
        embeddings = word + token_type + ops.cast(position, word.dtype)
        return self.dropout(self.layer_norm(embeddings), training=training)


def check_sequence_length(seq_length, max_position_embeddings: int) -> None:
    """Checks a sequence length against the position table.

    A length only known at run time (a `None` dimension inside a traced function) cannot be checked in
    Python; there the position slice and the addition fail with a shape error instead of a silent result.

    Raises:
      ValueError: a statically known `seq_length` exceeds `max_position_embeddings`.
    """
    if isinstance(seq_length, int) and seq_length > max_position_embeddings:
        raise ValueError(
            f"sequence length {seq_length} is longer than max_position_embeddings "
            f"({max_position_embeddings}) of this BERT config; truncate the input (max_seq_length)"
        )

