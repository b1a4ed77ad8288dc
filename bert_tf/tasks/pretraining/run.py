"""The library side of `run_pretraining.py`: input pipeline, the original losses, evaluation metrics.

Losses, as the original `run_pretraining.py`:
  masked LM:      sum(weight * -log p(label)) / (sum(weight) + 1e-5) over the masked positions
  next sentence:  mean cross-entropy over the batch
  total:          masked LM + next sentence

To make a step over several replicas, or over several accumulated micro-batches, equal to one step on
the whole batch, each part computes the *numerators* of those means on its examples and divides by the
whole batch's denominators (`LossDenominators`): the gradients then simply add up.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Sequence

import numpy as np
import tensorflow as tf

from bert_tf.tasks.pretraining.records import check_pretraining_tfrecord, pretraining_feature_spec

MLM_DENOMINATOR_EPSILON = 1e-5
EVAL_RESULT_KEYS = (
    "global_step",
    "loss",
    "masked_lm_accuracy",
    "masked_lm_loss",
    "next_sentence_accuracy",
    "next_sentence_loss",
)


# ------------------------------------------------------------------------------------ input pipeline
def expand_input_files(input_file: str | Sequence[str]) -> List[str]:
    """The original's `--input_file`: a comma list of files or globs. Errors name what matched nothing."""
    patterns = input_file.split(",") if isinstance(input_file, str) else list(input_file)
    files = []
    for pattern in (pattern.strip() for pattern in patterns):
        if not pattern:
            continue
        matches = sorted(tf.io.gfile.glob(pattern))
        if not matches:
            raise FileNotFoundError(f"--input_file: no file matches {pattern}")
        files.extend(matches)
    if not files:
        raise FileNotFoundError("--input_file is empty")
    return files


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
) -> tf.data.Dataset:
    """Batches of the original pretraining records, as the original `input_fn_builder`.

    Training: files shuffled and repeated, records interleaved across files and shuffled (buffer 100),
    fixed-size batches (remainder dropped). Evaluation: files in order, read once, remainder kept.

    Yields dicts of int32 `input_ids`, `input_mask`, `segment_ids` [B, S], `masked_lm_positions`,
    `masked_lm_ids` [B, P], `next_sentence_labels` [B, 1] and float32 `masked_lm_weights` [B, P].
    """
    spec = pretraining_feature_spec(max_seq_length, max_predictions_per_seq)
    options = tf.data.Options()
    options.deterministic = seed is not None
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
    dataset = dataset.batch(batch_size, drop_remainder=is_training)

    def parse(serialized):
        features = tf.io.parse_example(serialized, spec)
        return {
            name: tf.cast(value, tf.int32) if value.dtype == tf.int64 else value
            for name, value in features.items()
        }

    dataset = dataset.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


# -------------------------------------------------------------------------------------------- losses
@dataclasses.dataclass
class LossDenominators:
    """The whole batch's denominators: total masked-LM weight (+1e-5) and number of examples."""

    masked_lm: tf.Tensor
    next_sentence: tf.Tensor

    @classmethod
    def of_batch(cls, batch: Dict[str, tf.Tensor]) -> "LossDenominators":
        weights = tf.cast(batch["masked_lm_weights"], tf.float32)
        return cls(
            masked_lm=tf.reduce_sum(weights) + MLM_DENOMINATOR_EPSILON,
            next_sentence=tf.cast(tf.shape(batch["next_sentence_labels"])[0], tf.float32),
        )


def per_example_losses(outputs: Dict[str, tf.Tensor], batch: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Negative log-likelihoods: `masked_lm` [B, P] (unweighted) and `next_sentence` [B], float32."""
    log_probs = tf.cast(outputs["masked_lm_log_probs"], tf.float32)  # [B, P, V]
    masked_lm_ids = tf.cast(batch["masked_lm_ids"], tf.int32)
    masked_lm_nll = -tf.squeeze(tf.gather(log_probs, masked_lm_ids[..., None], batch_dims=2), -1)
    next_sentence_logits = tf.cast(outputs["next_sentence_logits"], tf.float32)
    labels = tf.reshape(tf.cast(batch["next_sentence_labels"], tf.int32), [-1])
    next_sentence_nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=next_sentence_logits)
    return {"masked_lm": masked_lm_nll, "next_sentence": next_sentence_nll}


def pretraining_loss(
    outputs: Dict[str, tf.Tensor], batch: Dict[str, tf.Tensor], denominators: LossDenominators | None = None
) -> Dict[str, tf.Tensor]:
    """The original loss, or this part's share of it when `denominators` are the whole batch's.

    Returns scalars `loss`, `masked_lm_loss`, `next_sentence_loss` (float32).
    """
    if denominators is None:
        denominators = LossDenominators.of_batch(batch)
    nll = per_example_losses(outputs, batch)
    weights = tf.cast(batch["masked_lm_weights"], tf.float32)
    masked_lm_loss = tf.reduce_sum(weights * nll["masked_lm"]) / denominators.masked_lm
    next_sentence_loss = tf.reduce_sum(nll["next_sentence"]) / denominators.next_sentence
    return {
        "loss": masked_lm_loss + next_sentence_loss,
        "masked_lm_loss": masked_lm_loss,
        "next_sentence_loss": next_sentence_loss,
    }


# ---------------------------------------------------------------------------------------- evaluation
def eval_batch_statistics(outputs: Dict[str, tf.Tensor], batch: Dict[str, tf.Tensor]) -> Dict[str, tf.Tensor]:
    """Sums over one batch from which `EvalAccumulator` forms the original's streaming metrics."""
    nll = per_example_losses(outputs, batch)
    weights = tf.cast(batch["masked_lm_weights"], tf.float32)
    masked_lm_predictions = tf.argmax(outputs["masked_lm_log_probs"], axis=-1, output_type=tf.int32)
    masked_lm_correct = tf.cast(tf.equal(masked_lm_predictions, tf.cast(batch["masked_lm_ids"], tf.int32)), tf.float32)
    labels = tf.reshape(tf.cast(batch["next_sentence_labels"], tf.int32), [-1])
    next_sentence_predictions = tf.argmax(outputs["next_sentence_logits"], axis=-1, output_type=tf.int32)
    batch_loss = pretraining_loss(outputs, batch)["loss"]
    return {
        "masked_lm_weight": tf.reduce_sum(weights),
        "masked_lm_correct": tf.reduce_sum(weights * masked_lm_correct),
        "masked_lm_nll": tf.reduce_sum(weights * nll["masked_lm"]),
        "next_sentence_count": tf.cast(tf.size(labels), tf.float32),
        "next_sentence_correct": tf.reduce_sum(tf.cast(tf.equal(next_sentence_predictions, labels), tf.float32)),
        "next_sentence_nll": tf.reduce_sum(nll["next_sentence"]),
        "batch_loss": batch_loss,
        "batches": tf.constant(1.0),
    }


class EvalAccumulator:
    """Adds up `eval_batch_statistics` and gives the original eval_results.txt values.

    As the original's `tf.metrics`: masked_lm_accuracy and masked_lm_loss are weighted by
    `masked_lm_weights`; next_sentence_* are means over examples; `loss` is the mean of the batches'
    total losses.
    """

    def __init__(self):
        self.totals: Dict[str, float] = {}

    def add(self, statistics: Dict[str, object]) -> None:
        for name, value in statistics.items():
            self.totals[name] = self.totals.get(name, 0.0) + float(np.asarray(value))

    def results(self, global_step: int) -> Dict[str, float]:
        totals = self.totals
        if not totals.get("batches"):
            raise ValueError("no evaluation batch was read: is the eval input empty?")
        return {
            "global_step": int(global_step),
            "loss": totals["batch_loss"] / totals["batches"],
            "masked_lm_accuracy": totals["masked_lm_correct"] / max(totals["masked_lm_weight"], 1e-12),
            "masked_lm_loss": totals["masked_lm_nll"] / max(totals["masked_lm_weight"], 1e-12),
            "next_sentence_accuracy": totals["next_sentence_correct"] / totals["next_sentence_count"],
            "next_sentence_loss": totals["next_sentence_nll"] / totals["next_sentence_count"],
        }


# ------------------------------------------------------------------------------- training and eval runs
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


def per_example_total_loss(outputs: Dict[str, tf.Tensor], labels, features: Dict[str, tf.Tensor]) -> tf.Tensor:
    """[B] losses whose mean over a group is the original total loss of the group (see attach_loss_weights)."""
    del labels
    nll = per_example_losses(outputs, features)
    weights = tf.cast(features["masked_lm_weights"], tf.float32)
    masked_lm = tf.reduce_sum(weights * nll["masked_lm"], axis=1) * features["masked_lm_loss_scale"]
    return masked_lm + nll["next_sentence"]


def evaluate(model, dataset: tf.data.Dataset, strategy: tf.distribute.Strategy, max_steps: int | None,
             global_step: int, use_xla: bool = False) -> Dict[str, float]:
    """Runs the model (training=False) over at most `max_steps` batches; returns eval_results.txt values."""

    def replica_fn(batch):
        outputs = model(batch, training=False)
        statistics = eval_batch_statistics(outputs, batch)
        # Replicas see parts of one global batch: the batch loss is averaged over them.
        statistics["batch_loss"] = statistics["batch_loss"] / strategy.num_replicas_in_sync
        statistics["batches"] = statistics["batches"] / strategy.num_replicas_in_sync
        return statistics

    replica_fn = tf.function(replica_fn, jit_compile=use_xla, reduce_retracing=True)

    @tf.function(reduce_retracing=True)
    def step(batch):
        per_replica = strategy.run(replica_fn, args=(batch,))
        return {name: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None) for name, value in per_replica.items()}

    if max_steps:
        dataset = dataset.take(max_steps)
    accumulator = EvalAccumulator()
    for batch in strategy.experimental_distribute_dataset(dataset):
        accumulator.add({name: value.numpy() for name, value in step(batch).items()})
    return accumulator.results(global_step)


def write_eval_results(results: Dict[str, float], path: str) -> None:
    """`key = value` lines sorted by key, as the original; temp name then rename."""
    temporary = f"{path}.tmp"
    with tf.io.gfile.GFile(temporary, "w") as writer:
        for key in sorted(results):
            writer.write(f"{key} = {results[key]}\n")
    tf.io.gfile.rename(temporary, path, overwrite=True)


@dataclasses.dataclass
class PretrainingRunConfig:
    """What `run_pretraining.py` does: the original flags plus the shared training-loop options."""

    bert_config_file: str
    input_file: str
    output_dir: str
    init_checkpoint: str | None = None
    max_seq_length: int = 128
    max_predictions_per_seq: int = 20
    do_train: bool = False
    do_eval: bool = False
    train_batch_size: int = 32
    eval_batch_size: int = 8
    learning_rate: float = 5e-5
    num_train_steps: int = 100000
    num_warmup_steps: int = 10000
    save_checkpoints_steps: int = 1000
    iterations_per_loop: int = 1000
    max_eval_steps: int = 100
    keep_checkpoint_max: int = 5
    optimizer: str = "adamw"
    num_accumulation_steps: int = 1
    strategy: str = "one_device"
    tpu_address: str | None = None
    use_xla: bool = False
    dtype: str = "float32"
    seed: int | None = None
    log_every_steps: int = 100


class PretrainingRunError(ValueError):
    """A run_pretraining configuration or input that cannot work; the message says which flag or file."""


def _validate(config: PretrainingRunConfig, bert_config) -> None:
    if not (config.do_train or config.do_eval):
        raise PretrainingRunError("at least one of --do_train or --do_eval must be True")
    if config.max_seq_length > bert_config.max_position_embeddings:
        raise PretrainingRunError(
            f"--max_seq_length={config.max_seq_length} is longer than max_position_embeddings="
            f"{bert_config.max_position_embeddings} of {config.bert_config_file}")
    if config.train_batch_size <= 0 or config.eval_batch_size <= 0:
        raise PretrainingRunError("--train_batch_size and --eval_batch_size must be positive")
    if config.num_accumulation_steps < 1:
        raise PretrainingRunError("--num_accumulation_steps must be at least 1")
    if config.do_train and config.num_train_steps <= 0:
        raise PretrainingRunError("--num_train_steps must be positive with --do_train")


def run(config: PretrainingRunConfig) -> Dict[str, object]:
    """Trains and/or evaluates as the original run_pretraining.py; returns {'train': ..., 'eval': ...}."""
    from bert_tf.config import BertConfig
    from bert_tf.modeling import BertPretrainingModel
    from bert_tf.training import loop, optimization, strategies

    bert_config = BertConfig.from_json_file(config.bert_config_file)
    _validate(config, bert_config)
    files = expand_input_files(config.input_file)
    check_input_files(files, config.max_seq_length, config.max_predictions_per_seq)
    tf.io.gfile.makedirs(config.output_dir)

    strategy = strategies.create_strategy(config.strategy, config.tpu_address)
    trainer = loop.Trainer(
        loop.TrainerConfig(
            output_dir=config.output_dir,
            num_train_steps=config.num_train_steps if config.do_train else 1,
            save_checkpoints_steps=config.save_checkpoints_steps,
            keep_checkpoint_max=config.keep_checkpoint_max,
            log_every_steps=config.log_every_steps,
            use_xla=config.use_xla,
            num_accumulation_steps=config.num_accumulation_steps,
            dtype=config.dtype,
            init_checkpoint=config.init_checkpoint,
            seed=config.seed,
        ),
        model_fn=lambda dtype: BertPretrainingModel(bert_config, dtype=dtype),
        optimizer_config=optimization.OptimizerConfig(
            learning_rate=config.learning_rate,
            num_train_steps=config.num_train_steps,
            num_warmup_steps=config.num_warmup_steps,
            optimizer=config.optimizer,
        ),
        loss_fn=per_example_total_loss,
        strategy=strategy,
    )
    trainer.build()
    results: Dict[str, object] = {}
    if config.do_train:
        group_size = config.train_batch_size * config.num_accumulation_steps
        dataset = make_pretraining_dataset(
            files, config.max_seq_length, config.max_predictions_per_seq, group_size, is_training=True,
            seed=config.seed)
        dataset = attach_loss_weights(dataset, config.train_batch_size, config.num_accumulation_steps)
        results["train"] = trainer.train(dataset)
    if config.do_eval:
        dataset = make_pretraining_dataset(
            files, config.max_seq_length, config.max_predictions_per_seq, config.eval_batch_size, is_training=False)
        eval_results = evaluate(trainer.model, dataset, strategy, config.max_eval_steps, trainer.global_step,
                                use_xla=config.use_xla)
        write_eval_results(eval_results, os.path.join(config.output_dir, "eval_results.txt"))
        results["eval"] = eval_results
    return results
