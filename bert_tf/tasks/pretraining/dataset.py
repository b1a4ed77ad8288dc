"""The pretraining input pipeline: the original tool's TFRecords -> batches, as the original `input_fn_builder`.

`training_input` chooses how several workers share it (`bert_tf.training.sharding`): by example (each worker
keeps its slice of the one-process batches), or by file when there are at least as many files as workers.
"""
from __future__ import annotations

import os
from typing import Sequence

import tensorflow as tf

from bert_tf.tasks.pretraining.losses import LossDenominators
from bert_tf.tasks.pretraining.records import check_pretraining_tfrecord, pretraining_feature_spec
from bert_tf.training import sharding


def check_input_files(files: Sequence[str], max_seq_length: int, max_predictions_per_seq: int) -> None:
    """Raises a PretrainingRecordError naming the first file whose features do not fit the flags."""
    for path in files:
        check_pretraining_tfrecord(path, max_seq_length, max_predictions_per_seq)


def make_pretraining_dataset(
    files: Sequence[str],
    max_seq_length: int,
    max_predictions_per_seq: int,
    batch_size: int,
    is_training: bool,
    seed: int | None = None,
    drop_remainder: bool | None = None,
) -> tf.data.Dataset:
    """Batches of the original pretraining records, as the original `input_fn_builder`.

    Training: files shuffled and repeated, records interleaved across files and shuffled (buffer 100),
    fixed-size batches (remainder dropped). Evaluation: files in order, read once, remainder kept unless
    `drop_remainder` (static shapes, for TPUs).

    Yields dicts of int32 `input_ids`, `input_mask`, `segment_ids` [B, S], `masked_lm_positions`,
    `masked_lm_ids` [B, P], `next_sentence_labels` [B, 1] and float32 `masked_lm_weights` [B, P].
    """
    spec = pretraining_feature_spec(max_seq_length, max_predictions_per_seq)
    options = tf.data.Options()
    options.deterministic = seed is not None or not is_training  # evaluation: the same batches every time
    if is_training:
        dataset = tf.data.Dataset.from_tensor_slices(list(files)).repeat()
        dataset = dataset.shuffle(len(files), seed=seed)
        dataset = dataset.interleave(
            tf.data.TFRecordDataset,
            cycle_length=min(len(files), os.cpu_count() or 1),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=seed is not None,
        )
        dataset = dataset.shuffle(100, seed=seed)
    else:
        dataset = tf.data.TFRecordDataset(list(files))
    dataset = dataset.batch(batch_size, drop_remainder=is_training if drop_remainder is None else drop_remainder)

    def parse(serialized):
        features = tf.io.parse_example(serialized, spec)
        return {
            name: tf.cast(value, tf.int32) if value.dtype == tf.int64 else value
            for name, value in features.items()
        }

    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def attach_loss_weights(dataset: tf.data.Dataset, micro_batch_size: int, num_micro_batches: int) -> tf.data.Dataset:
    """Splits each batch of `micro_batch_size * num_micro_batches` examples into micro-batches.

    Every example gets a float32 feature `masked_lm_loss_scale` = group size / (the group's masked-LM
    weight + 1e-5), so that the *mean* of `per_example_total_loss` over the whole group is exactly the
    original loss of the group, however the group is split across accumulation steps and replicas.
    """

    def add_scale(batch):
        denominators = LossDenominators.of_batch(batch)
        scale = denominators.next_sentence / denominators.masked_lm
        batch = dict(batch)
        batch["masked_lm_loss_scale"] = tf.fill(tf.shape(batch["next_sentence_labels"])[:1], scale)
        return batch

    dataset = dataset.map(add_scale, num_parallel_calls=tf.data.AUTOTUNE)
    if num_micro_batches > 1:
        dataset = dataset.unbatch().batch(micro_batch_size, drop_remainder=True)
    return dataset


def training_input(files: Sequence[str], max_seq_length: int, max_predictions_per_seq: int, batch_size: int,
                   num_accumulation_steps: int, seed: int | None, input_sharding: str = "auto", workers: int = 1):
    """What `Trainer.train` takes: global batches (by example), or a per-worker function (by file).

    Args:
      batch_size: the global batch of one micro-batch (`--train_batch_size`); an update takes
        `num_accumulation_steps` of them (see `attach_loss_weights`).
      input_sharding: `auto`, `example` or `file` (`sharding.choose_sharding`).
      workers: the number of workers.

    By file, worker w reads every `workers`-th file from the w-th and batches `batch_size / workers` of their
    records; the masked-LM loss is normalized over each worker's share of the batch (as the original did per
    TPU core). The batches then depend on the number of workers (see `bert_tf.training.sharding`).

    Raises:
      ValueError: `file` sharding where it cannot work.
    """
    mode = sharding.choose_sharding(input_sharding, len(files), workers, batch_size)

    def pipeline(shard_files, micro_batch):
        dataset = make_pretraining_dataset(shard_files, max_seq_length, max_predictions_per_seq,
                                           micro_batch * num_accumulation_steps, is_training=True, seed=seed)
        return attach_loss_weights(dataset, micro_batch, num_accumulation_steps)

    if mode == sharding.BY_EXAMPLE:
        return pipeline(files, batch_size)

    def per_worker(context: tf.distribute.InputContext) -> tf.data.Dataset:
        batches = pipeline(sharding.worker_files(files, context), batch_size // context.num_input_pipelines)
        local = sharding.local_replicas(context)
        return sharding.replica_batches(batches, local, 0, local)

    return per_worker
