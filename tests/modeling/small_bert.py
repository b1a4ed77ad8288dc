"""A small random BERT for the layer tests: its config, its inputs, and the checkpoint names of its weights.

Every test uses the same config and input shape where it can: under JAX each new shape compiles its
operations anew (seconds), so shared shapes keep the JAX run short.
"""
import numpy as np

from bert_tf.config import BertConfig

SMALL_CONFIG_VALUES = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                           intermediate_size=64, max_position_embeddings=16, type_vocab_size=2)
BATCH_SIZE, SEQ_LENGTH = 2, 8
PADDED_POSITIONS = 3  # at the end of the last row of `token_inputs`
# bfloat16 keeps 8 significant bits: a small model's outputs (LayerNorm-scaled, about 1) move by a few 1e-2.
MIXED_PRECISION_ATOL = 0.1

def small_config(**changes) -> BertConfig:
    """The small config (2 blocks, H 32, 4 heads, vocabulary 100), with `changes`; unknown keys go to `extra`."""
    return BertConfig.from_dict({**SMALL_CONFIG_VALUES, **changes})


def token_inputs(config: BertConfig, batch_size: int = BATCH_SIZE, seq_length: int = SEQ_LENGTH,
                 seed: int = 0) -> dict:
    """Random int32 `input_ids`, `input_mask`, `segment_ids` [B, S]: two segments, the last row padded."""
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(1, config.vocab_size, size=(batch_size, seq_length)).astype(np.int32)
    input_mask = np.ones_like(input_ids)
    input_mask[-1, seq_length - PADDED_POSITIONS:] = 0
    input_ids[input_mask == 0] = 0
    segment_ids = np.zeros_like(input_ids)
    segment_ids[:, seq_length // 2:] = 1
    return {"input_ids": input_ids, "input_mask": input_mask, "segment_ids": segment_ids * input_mask}


def hidden_states(width: int, batch_size: int = BATCH_SIZE, seq_length: int = SEQ_LENGTH, seed: int = 0):
    """Random float32 hidden states [B, S, width] (standard normal)."""
    return np.random.default_rng(seed).standard_normal((batch_size, seq_length, width)).astype(np.float32)


def embedding_weight_shapes(config: BertConfig, scope: str = "bert/embeddings") -> dict:
    """Checkpoint name -> shape of the embedding section's weights."""
    hidden = config.hidden_size
    return {
        f"{scope}/word_embeddings": (config.vocab_size, hidden),
        f"{scope}/token_type_embeddings": (config.type_vocab_size, hidden),
        f"{scope}/position_embeddings": (config.max_position_embeddings, hidden),
        f"{scope}/LayerNorm/gamma": (hidden,),
        f"{scope}/LayerNorm/beta": (hidden,),
    }


def self_attention_weight_shapes(config: BertConfig, scope: str) -> dict:
    """Checkpoint name -> shape of `scope/{query,key,value}/{kernel,bias}`."""
    hidden = config.hidden_size
    shapes = {}
    for projection in ("query", "key", "value"):
        shapes[f"{scope}/{projection}/kernel"] = (hidden, hidden)
        shapes[f"{scope}/{projection}/bias"] = (hidden,)
    return shapes


def dense_layer_norm_weight_shapes(config: BertConfig, input_width: int, scope: str) -> dict:
    """Checkpoint name -> shape of an `output` section: `scope/dense/*` and `scope/LayerNorm/*`."""
    hidden = config.hidden_size
    return {f"{scope}/dense/kernel": (input_width, hidden), f"{scope}/dense/bias": (hidden,),
            f"{scope}/LayerNorm/gamma": (hidden,), f"{scope}/LayerNorm/beta": (hidden,)}


def attention_weight_shapes(config: BertConfig, scope: str = "attention") -> dict:
    """Checkpoint name -> shape of an `attention/` section (`self/` and `output/`)."""
    return {**self_attention_weight_shapes(config, f"{scope}/self"),
            **dense_layer_norm_weight_shapes(config, config.hidden_size, f"{scope}/output")}


def block_weight_shapes(config: BertConfig, scope: str) -> dict:
    """Checkpoint name -> shape of one transformer block's weights (`scope` is e.g. `bert/encoder/layer_0`)."""
    return {
        **attention_weight_shapes(config, f"{scope}/attention"),
        f"{scope}/intermediate/dense/kernel": (config.hidden_size, config.intermediate_size),
        f"{scope}/intermediate/dense/bias": (config.intermediate_size,),
        **dense_layer_norm_weight_shapes(config, config.intermediate_size, f"{scope}/output"),
    }


def encoder_weight_shapes(config: BertConfig, scope: str = "encoder") -> dict:
    """Checkpoint name -> shape of the blocks `scope/layer_0` ... `scope/layer_{L-1}`."""
    shapes = {}
    for index in range(config.num_hidden_layers):
        shapes.update(block_weight_shapes(config, f"{scope}/layer_{index}"))
    return shapes


def backbone_weight_shapes(config: BertConfig, scope: str = "bert") -> dict:
    """Checkpoint name -> shape of every `bert/` weight: embeddings, blocks, pooler."""
    hidden = config.hidden_size
    return {**embedding_weight_shapes(config, f"{scope}/embeddings"),
            **encoder_weight_shapes(config, f"{scope}/encoder"),
            f"{scope}/pooler/dense/kernel": (hidden, hidden), f"{scope}/pooler/dense/bias": (hidden,)}


def output_projection_weight_shapes(config: BertConfig, num_outputs: int, scope: str) -> dict:
    """Checkpoint name -> shape of `scope/output_weights` [num_outputs, H] and `scope/output_bias`."""
    return {f"{scope}/output_weights": (num_outputs, config.hidden_size), f"{scope}/output_bias": (num_outputs,)}


def prediction_transform_weight_shapes(config: BertConfig, scope: str = "cls/predictions/transform") -> dict:
    """Checkpoint name -> shape of the masked-LM head's `transform/` (`dense/*`, `LayerNorm/*`)."""
    hidden = config.hidden_size
    return {f"{scope}/dense/kernel": (hidden, hidden), f"{scope}/dense/bias": (hidden,),
            f"{scope}/LayerNorm/gamma": (hidden,), f"{scope}/LayerNorm/beta": (hidden,)}


def masked_lm_weight_shapes(config: BertConfig, scope: str = "cls/predictions") -> dict:
    """Checkpoint name -> shape of the masked-LM head (`transform/` and `output_bias`)."""
    return {**prediction_transform_weight_shapes(config, f"{scope}/transform"),
            f"{scope}/output_bias": (config.vocab_size,)}


def pretraining_heads_weight_shapes(config: BertConfig, scope: str = "cls") -> dict:
    """Checkpoint name -> shape of `cls/predictions/*` and `cls/seq_relationship/*`."""
    return {**masked_lm_weight_shapes(config, f"{scope}/predictions"),
            **output_projection_weight_shapes(config, 2, f"{scope}/seq_relationship")}
