"""How batches reach the replicas of a `tf.distribute` strategy, so that N workers train as one process does.

Every pipeline yields *global* batches (`--train_batch_size` examples per step, whatever the number of
replicas). The share of each replica is chosen here, per input, never by TensorFlow's auto-sharding (which
shards by file whenever it can, failing on a single file, and otherwise by element: neither keeps the
batches of one process):

* **by example** (`shard_by_example`, the default; what `Trainer` and `predict` do with a `tf.data.Dataset`):
  every worker builds the same global pipeline (same files, same shuffle seed) and keeps its slice of each
  global batch: of a batch of n rows, replica r of N gets rows [r*n//N, (r+1)*n//N). Batch k holds the same
  examples for any N, so N workers make the same updates as one process with the same global batch and seed
  (to float rounding), and `gather` puts evaluation and prediction outputs back together in dataset order
  (a last partial batch is split unevenly, never padded or repeated). The cost: each worker reads and
  parses the whole global batch and drops the other workers' rows.
* **by file** (`worker_files`, for inputs of at least as many files as workers, e.g. the many files of
  pretraining data): worker w reads files w, w+W, ... and batches `global batch / W` of their records;
  every record is read by exactly one worker per pass over its files. The batches depend on W: such a run
  repeats itself (same W, same seed) but does not match a run on another number of workers.

`distribute_dataset` hands either kind to the strategy; `skip_batches` continues the pipeline where the
steps of a resumed run left it.
"""
from __future__ import annotations

from typing import Callable, List, Sequence, Union

import tensorflow as tf

BY_EXAMPLE = "example"
BY_FILE = "file"
SHARDING_CHOICES = ("auto", BY_EXAMPLE, BY_FILE)

# A global-batch dataset, or a function of an InputContext returning this worker's per-replica batches.
DatasetOrFunction = Union[tf.data.Dataset, Callable[[tf.distribute.InputContext], tf.data.Dataset]]


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """How many processes (workers) take part in `strategy`'s steps: 1 except under multi-worker strategies."""
    if strategy.num_replicas_in_sync == 1:
        return 1
    local_replicas = max(1, len(strategy.extended.worker_devices))
    return max(1, strategy.num_replicas_in_sync // local_replicas)


def describe_batch(strategy: tf.distribute.Strategy, global_batch_size: int) -> str:
    """`"32 (global; 16 per replica, 2 replicas on 2 workers)"` for logging a batch size flag."""
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return str(global_batch_size)
    per_replica = f"{global_batch_size // replicas}" if global_batch_size % replicas == 0 else \
        f"{global_batch_size // replicas}-{-(-global_batch_size // replicas)}"
    return (f"{global_batch_size} (global; {per_replica} per replica, {replicas} replicas on "
            f"{num_workers(strategy)} worker{'s' if num_workers(strategy) > 1 else ''})")


def _without_auto_shard(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """`dataset` not auto-sharded by TensorFlow, and in a deterministic order (every worker must build the same
    batches: a parallel map or interleave must not reorder them)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    options.deterministic = True
    return dataset.with_options(options)


def _element(args):
    """`dataset.map` passes a tuple element as several arguments: back to one structure."""
    return args[0] if len(args) == 1 else tuple(args)


def split_rows(element, num_parts: int, part: int):
    """Rows [part*n//num_parts, (part+1)*n//num_parts) of every tensor of a batch (n: its first dimension).

    A batch dimension known statically and divisible by `num_parts` gives static slices (TPUs); scalars
    are kept whole.
    """
    tensors = [tensor for tensor in tf.nest.flatten(element) if tensor.shape.rank != 0]
    if not tensors:
        return element
    static_rows = tensors[0].shape[0] if tensors[0].shape.rank is not None else None
    if static_rows is not None and static_rows % num_parts == 0:
        size = static_rows // num_parts
        start, end = part * size, (part + 1) * size
    else:
        rows = tf.shape(tensors[0], out_type=tf.int64)[0]
        start, end = part * rows // num_parts, (part + 1) * rows // num_parts
    return tf.nest.map_structure(lambda tensor: tensor if tensor.shape.rank == 0 else tensor[start:end], element)


def replica_batches(dataset: tf.data.Dataset, num_replicas: int, first_replica: int,
                    local_replicas: int) -> tf.data.Dataset:
    """The slices of each batch of `dataset` for replicas `first_replica` .. `+ local_replicas - 1`.

    Yields `local_replicas` consecutive elements per batch, in replica order (what
    `distribute_datasets_from_function` hands to a worker's replicas, one each).
    """
    if local_replicas == 1:
        sliced = dataset.map(lambda *args: split_rows(_element(args), num_replicas, first_replica),
                             num_parallel_calls=tf.data.AUTOTUNE)
    else:
        def parts(*args):
            element = _element(args)
            result = tf.data.Dataset.from_tensors(split_rows(element, num_replicas, first_replica))
            for offset in range(1, local_replicas):
                result = result.concatenate(
                    tf.data.Dataset.from_tensors(split_rows(element, num_replicas, first_replica + offset)))
            return result

        sliced = dataset.flat_map(parts)
    return _without_auto_shard(sliced).prefetch(tf.data.AUTOTUNE)


def local_replicas(context: tf.distribute.InputContext) -> int:
    """Replicas fed by one input pipeline (one worker)."""
    return context.num_replicas_in_sync // context.num_input_pipelines


def shard_by_example(dataset: tf.data.Dataset, context: tf.distribute.InputContext) -> tf.data.Dataset:
    """This worker's replicas' slices of every global batch of `dataset` (the same pipeline on every worker)."""
    count = local_replicas(context)
    return replica_batches(dataset, context.num_replicas_in_sync, context.input_pipeline_id * count, count)


def worker_files(files: Sequence[str], context: tf.distribute.InputContext) -> List[str]:
    """By-file sharding: the files this worker reads (every `num_input_pipelines`-th, from its index)."""
    return list(files)[context.input_pipeline_id::context.num_input_pipelines]


def choose_sharding(requested: str, num_files: int, workers: int, global_batch_size: int) -> str:
    """`BY_FILE` or `BY_EXAMPLE` for an input of `num_files` files read by `workers` workers.

    `auto`: by file when every worker gets a file and an equal share of the batch, else by example.

    Raises:
      ValueError: `file` requested where it cannot work, or an unknown choice.
    """
    if requested not in SHARDING_CHOICES:
        raise ValueError(f"unknown input sharding {requested!r}; choose one of {', '.join(SHARDING_CHOICES)}")
    possible = workers > 1 and num_files >= workers and global_batch_size % workers == 0
    if requested == BY_FILE and workers > 1 and not possible:
        raise ValueError(f"cannot shard {num_files} input file(s) by file over {workers} workers with a global "
                         f"batch of {global_batch_size}: it needs at least one file per worker and a batch "
                         "divisible by the number of workers")
    if requested == BY_EXAMPLE or not possible:
        return BY_EXAMPLE
    return BY_FILE


def static_batch_problem(element_spec, num_replicas: int):
    """Why batches of `element_spec` cannot be split into `num_replicas` static slices (what TPUs need), or None."""
    for spec in tf.nest.flatten(element_spec):
        if not spec.shape.is_fully_defined():
            return f"a batch has the dynamic shape {spec.shape} (pad to max_seq_length, drop the remainder)"
        if spec.shape.rank and spec.shape[0] % num_replicas:
            return f"the batch of {spec.shape[0]} is not divisible by the {num_replicas} replicas"
    return None


def distribute_dataset(strategy: tf.distribute.Strategy, dataset: DatasetOrFunction, skip_batches: int = 0):
    """`dataset` as a distributed dataset of `strategy`, starting after its first `skip_batches` batches.

    Args:
      dataset: global batches (sharded by example over every replica); or a function of a
        `tf.distribute.InputContext` returning this worker's per-replica batches, `local_replicas` consecutive
        elements per step (e.g. `replica_batches` of a by-file pipeline).
      skip_batches: global batches (steps x micro-batches) already consumed, e.g. by the steps before a resume.

    Raises:
      ValueError: under a TPUStrategy, batches that cannot be split into static per-replica slices.
    """
    if callable(dataset) and not isinstance(dataset, tf.data.Dataset):
        make_dataset = dataset

        def dataset_fn(context):
            return _without_auto_shard(make_dataset(context).skip(skip_batches * local_replicas(context)))

        return strategy.distribute_datasets_from_function(dataset_fn)
    if isinstance(strategy, tf.distribute.TPUStrategy):
        problem = static_batch_problem(dataset.element_spec, strategy.num_replicas_in_sync)
        if problem:
            raise ValueError(f"TPUs need static shapes: {problem}")
    if skip_batches:
        dataset = dataset.skip(skip_batches)
    if strategy.num_replicas_in_sync == 1:
        return strategy.experimental_distribute_dataset(_without_auto_shard(dataset))
    return strategy.distribute_datasets_from_function(lambda context: shard_by_example(dataset, context))


def gather(strategy: tf.distribute.Strategy, values):
    """Per-replica batch slices (rank >= 1) -> whole batches in replica order on every worker (multi-worker).

    Within one process the replicas' results are all local (`experimental_local_results`), so they are
    returned as they are. Call in the cross-replica context (e.g. in a `tf.function` after `strategy.run`).
    """
    if num_workers(strategy) == 1:
        return values
    return tf.nest.map_structure(lambda value: strategy.gather(value, axis=0), values)
