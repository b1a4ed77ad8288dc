"""A learnable toy task for the training-loop tests (tests/training/): a one-layer BERT (fast to trace),
started from a "pretrained" checkpoint of it in the original format, on batches padded per batch.

Label 1 iff token 2000 appears. Importable in a new process (`from tests.training import toy_task`), as the
two-CPU MirroredStrategy test does.
"""
import dataclasses
import pathlib

import keras
import numpy as np
import tensorflow as tf

import bert_tf
from bert_tf.checkpoint import save_checkpoint
from bert_tf.training import optimization, strategies
from bert_tf.training.trainer import Trainer, TrainerConfig

HEAD = ("output_weights", "output_bias")
SEQ_LENGTH = 16


def small_config(dropout=True):
    """One block, H=32: the same variables per block as BERT-Base, traced in about a second."""
    config = bert_tf.BertConfig(vocab_size=2048, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=64, type_vocab_size=2)
    if not dropout:
        config = dataclasses.replace(config, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return config


def write_pretrained_checkpoint(directory):
    """A random one-block encoder saved as `<directory>/bert_model.ckpt` (original names, no head)."""
    keras.utils.set_random_seed(0)
    save_checkpoint(bert_tf.BertModel(small_config()), pathlib.Path(directory) / "bert_model.ckpt")
    return pathlib.Path(directory)


def toy_arrays(num_examples=64, seed=0):
    """Label 1 iff token 2000 appears; lengths vary so that batches could be padded differently."""
    rng = np.random.default_rng(seed)
    input_ids = rng.integers(1000, 1999, size=(num_examples, SEQ_LENGTH)).astype(np.int32)
    labels = rng.integers(0, 2, size=num_examples).astype(np.int32)
    input_ids[labels == 1, 3] = 2000
    lengths = rng.integers(6, SEQ_LENGTH + 1, size=num_examples)
    input_mask = (np.arange(SEQ_LENGTH)[None, :] < lengths[:, None]).astype(np.int32)
    input_ids *= input_mask
    return {"input_ids": input_ids, "input_mask": input_mask,
            "segment_ids": np.zeros_like(input_ids)}, labels


def trim_to_longest(features, labels):
    """Per-batch padding: cut the sequence features to the batch's longest example."""
    length = tf.reduce_max(tf.reduce_sum(features["input_mask"], axis=1))
    return {name: value[:, :length] for name, value in features.items()}, labels


def toy_dataset(batch_size=8, repeat=True, seed=0):
    """Batches of toy examples, each padded to its own longest example."""
    features, labels = toy_arrays(seed=seed)
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    if repeat:
        dataset = dataset.repeat()
    return dataset.batch(batch_size).map(trim_to_longest)


def cross_entropy(outputs, labels, features):
    del features
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=outputs["logits"])


def make_trainer(pretrained_dir, output_dir, num_train_steps, dropout=True, learning_rate=1e-3, **overrides):
    config = small_config(dropout)
    trainer_config = TrainerConfig(
        output_dir=str(output_dir), num_train_steps=num_train_steps, save_checkpoints_steps=10,
        log_every_steps=5, init_checkpoint=str(pretrained_dir / "bert_model.ckpt"), expected_missing=HEAD,
        seed=1, progress_bar=False)
    trainer_config = dataclasses.replace(trainer_config, **overrides)
    return Trainer(
        trainer_config,
        model_fn=lambda dtype: bert_tf.BertClassifier(config, 2, dtype=dtype),
        optimizer_config=optimization.OptimizerConfig(learning_rate=learning_rate, num_train_steps=num_train_steps,
                                                      num_warmup_steps=2),
        loss_fn=cross_entropy,
        strategy=strategies.create_strategy("one_device"),
    )
