"""Task heads on top of `bert/`, each with the variable names the original scripts give them.

| head | original script | variables |
|---|---|---|
| `PretrainingHeads` | run_pretraining | `cls/`: the next two |
| `MaskedLMHead` | run_pretraining | `cls/predictions/transform/{dense,LayerNorm}/*`, `.../output_bias` [V] |
| `OutputProjection` | run_pretraining | next sentence `cls/seq_relationship/output_weights` [2, H], `output_bias` [2] |
| `ClassifierHead` | run_classifier | `output_weights` [num_labels, H], `output_bias` [num_labels] |

The masked-LM output layer has no weights of its own but the word embeddings [V, H] (tied, as the original).
"""
import keras
from keras import layers, ops

from bert_tf.config import BertConfig
from bert_tf.errors import require_int
from bert_tf.modeling.activations import get_activation
from bert_tf.modeling.constants import LAYER_NORM_EPSILON
from bert_tf.modeling.initializers import bert_initializer
from bert_tf.modeling.serializable import BertLayer


def gather_positions(sequence_tensor, positions):
    """Picks the hidden states at `positions`: [B, S, H] and int32 [B, P] -> [B, P, H]."""
    return ops.take_along_axis(sequence_tensor, ops.expand_dims(ops.cast(positions, "int32"), -1), axis=1)


@keras.saving.register_keras_serializable(package="bert_tf")
class OutputProjection(BertLayer):
    """`output_weights` [num_outputs, H] and `output_bias` [num_outputs]: x W^T + b, the original layout.

    The original stores these kernels transposed compared with a Keras `Dense`, so they are plain
    variables here.

    Args:
      config: the `BertConfig` (H and the initializer).
      num_outputs: rows of `output_weights`.
      name: the scope of the two variables (e.g. `seq_relationship`).
    """

    extra_arguments = ("num_outputs",)

    def __init__(self, config: BertConfig, num_outputs: int, name: str, **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.hidden_size = config.hidden_size
        self.num_outputs = num_outputs
        self.initializer = bert_initializer(config)

    def build(self, input_shape=None):
        self.output_weights = self.add_weight(
            name="output_weights", shape=(self.num_outputs, self.hidden_size), initializer=self.initializer
        )
        self.output_bias = self.add_weight(name="output_bias", shape=(self.num_outputs,), initializer="zeros")
        self.built = True

    def call(self, hidden):
        """Projects `hidden` [..., H]; returns [..., num_outputs] in the compute dtype."""
        return ops.matmul(hidden, ops.transpose(self.output_weights)) + self.output_bias


@keras.saving.register_keras_serializable(package="bert_tf")
class PredictionTransform(BertLayer):
    """`transform/`: dense (H -> H, `hidden_act`) then LayerNorm. [B, P, H] -> [B, P, H]."""

    def __init__(self, config: BertConfig, name: str = "transform", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.hidden_size = config.hidden_size
        self.dense = self.dense_sublayer(config.hidden_size, activation=get_activation(config.hidden_act))
        self.layer_norm = layers.LayerNormalization(
            epsilon=LAYER_NORM_EPSILON, name="LayerNorm", dtype=self.dtype_policy
        )

    def build(self, input_shape=None):
        self.dense.build((None, None, self.hidden_size))
        self.layer_norm.build((None, None, self.hidden_size))
        self.built = True

    def call(self, hidden):
        return self.layer_norm(self.dense(hidden))


@keras.saving.register_keras_serializable(package="bert_tf")
class MaskedLMHead(BertLayer):
    """`predictions/`: masked-LM log-probabilities, output layer tied to the word embeddings.

    Weights: `transform/` (see `PredictionTransform`) and `output_bias` [V].
    """

    def __init__(self, config: BertConfig, name: str = "predictions", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.vocab_size = config.vocab_size
        self.transform = PredictionTransform(config, dtype=self.dtype_policy)

    def build(self, input_shape=None):
        self.transform.build()
        self.output_bias = self.add_weight(name="output_bias", shape=(self.vocab_size,), initializer="zeros")
        self.built = True

    def call(self, sequence_output, masked_lm_positions, embedding_table):
        """Scores the vocabulary at the masked positions.

        Args:
          sequence_output: the encoder's last hidden states [B, S, H].
          masked_lm_positions: int32 [B, P], the positions to predict.
          embedding_table: the word embeddings [V, H] (the tied output weights).

        Returns:
          float32 log-probabilities [B, P, V].
        """
        hidden = self.transform(gather_positions(sequence_output, masked_lm_positions))
        logits = ops.matmul(hidden, ops.transpose(embedding_table)) + self.output_bias
        return ops.log_softmax(ops.cast(logits, "float32"), axis=-1)


@keras.saving.register_keras_serializable(package="bert_tf")
class PretrainingHeads(BertLayer):
    """`cls/`: the masked-LM head (`predictions/`) and the next-sentence head (`seq_relationship/`)."""

    def __init__(self, config: BertConfig, name: str = "cls", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.predictions = MaskedLMHead(config, dtype=self.dtype_policy)
        self.seq_relationship = OutputProjection(
            config, num_outputs=2, name="seq_relationship", dtype=self.dtype_policy
        )

    def build(self, input_shape=None):
        self.predictions.build()
        self.seq_relationship.build()
        self.built = True

    def call(self, sequence_output, pooled_output, masked_lm_positions, embedding_table):
        """Both pretraining predictions.

        Args:
          sequence_output: [B, S, H].
          pooled_output: [B, H].
          masked_lm_positions: int32 [B, P].
          embedding_table: the word embeddings [V, H].

        Returns:
          (`masked_lm_log_probs` float32 [B, P, V], `next_sentence_logits` float32 [B, 2]).
        """
        masked_lm_log_probs = self.predictions(sequence_output, masked_lm_positions, embedding_table)
        next_sentence_logits = ops.cast(self.seq_relationship(pooled_output), "float32")
        return masked_lm_log_probs, next_sentence_logits


@keras.saving.register_keras_serializable(package="bert_tf")
class ClassifierHead(BertLayer):
    """run_classifier's head: dropout on the pooled output, then `output_weights`/`output_bias`.

    The original creates these two variables at the root of the graph, so they have no scope here
    either.

    Args:
      config: the `BertConfig` (H, dropout and the initializer).
      num_labels: rows of `output_weights`.
    """

    extra_arguments = ("num_labels",)

    def __init__(self, config: BertConfig, num_labels: int, name: str = "classifier", **kwargs):
        super().__init__(config, name=name, **kwargs)
        self.num_labels = require_int("num_labels", num_labels)
        self.dropout = layers.Dropout(config.hidden_dropout_prob, dtype=self.dtype_policy)
        # Created here, outside any name scope (`build` runs inside this layer's scope), so that the
        # paths are exactly "output_weights" and "output_bias"; in the policy's variable dtype.
        initializer = bert_initializer(config)
        self.output_weights = keras.Variable(initializer((self.num_labels, config.hidden_size)),
                                             name="output_weights", dtype=self.variable_dtype)
        self.output_bias = keras.Variable(ops.zeros((self.num_labels,)), name="output_bias",
                                          dtype=self.variable_dtype)

    def build(self, input_shape=None):
        self.built = True

    def call(self, pooled_output, training=False):
        """Classifies `pooled_output` [B, H] (dropout when `training`); returns float32 logits [B, num_labels]."""
        hidden = self.dropout(pooled_output, training=training)
        logits = ops.matmul(hidden, ops.transpose(self.output_weights)) + self.output_bias
        return ops.cast(logits, "float32")
