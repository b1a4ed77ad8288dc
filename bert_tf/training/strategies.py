"""`tf.distribute` strategies by name, for the `--strategy` flag of every run script.

    one_device             one device: the first GPU if there is one, else the CPU (the default)
    mirrored               synchronous data parallelism over this machine's GPUs (or its logical CPUs
                           when there is no GPU and more than one logical CPU device is configured)
    multi_worker_mirrored  synchronous data parallelism over several machines (`TF_CONFIG` describes them)
    tpu                    a Cloud TPU (`--tpu_name`, or the TPU of this VM)

Under every strategy the global batch (what the dataset yields) is split across replicas
(`bert_tf.training.sharding`); the training loop averages the loss over the global batch, so the updates do not
depend on the number of replicas.

`multi_worker_mirrored` must be created before anything starts TensorFlow's runtime (the run scripts create it
first); `is_chief` says which process writes, `values_of_all_workers` lets the workers compare what they restored.
"""
from __future__ import annotations

import random
import signal
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from bert_tf.training import sharding

STRATEGY_NAMES = ("one_device", "mirrored", "multi_worker_mirrored", "tpu")
DEFAULT_STRATEGY = "one_device"


def default_device() -> str:
    """`/gpu:0` when TensorFlow sees a GPU, else `/cpu:0`."""
    return "/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0"


def _mirrored_devices() -> Optional[list]:
    """Devices for MirroredStrategy: None (its default: every GPU) unless there is no GPU and several
    logical CPUs were configured, in which case every logical CPU (useful for tests)."""
    if tf.config.list_logical_devices("GPU"):
        return None
    cpus = [device.name for device in tf.config.list_logical_devices("CPU")]
    return cpus if len(cpus) > 1 else None


def create_strategy(name: str = DEFAULT_STRATEGY, tpu_address: Optional[str] = None) -> tf.distribute.Strategy:
    """Creates the strategy called `name` (case-insensitive; '-' and '_' are the same).

    Args:
      name: one of STRATEGY_NAMES.
      tpu_address: for `tpu`: the TPU name or `grpc://` address (`--tpu_name` / `--master`); None or "" uses
        the TPU attached to this VM ("local").

    Raises:
      ValueError: an unknown name (listing the known ones), or `tpu` when no TPU can be reached.
    """
    key = str(name or DEFAULT_STRATEGY).strip().lower().replace("-", "_")
    if key == "one_device":
        device = default_device()
        logging.info("Training on one device: %s", device)
        return tf.distribute.OneDeviceStrategy(device)
    if key == "mirrored":
        strategy = tf.distribute.MirroredStrategy(devices=_mirrored_devices())
        logging.info("MirroredStrategy over %d replicas", strategy.num_replicas_in_sync)
        return strategy
    if key == "multi_worker_mirrored":
        return _create_multi_worker_strategy()
    if key == "tpu":
        return _create_tpu_strategy(tpu_address)
    raise ValueError(f"unknown distribution strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}")


_multi_worker_strategy: Optional[tf.distribute.Strategy] = None


def _create_multi_worker_strategy() -> tf.distribute.Strategy:
    """The process's MultiWorkerMirroredStrategy (one per process: later calls return the first)."""
    global _multi_worker_strategy
    if _multi_worker_strategy is not None:
        return _multi_worker_strategy
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as error:  # "Collective ops must be configured at program startup"
        raise ValueError(f"cannot start multi_worker_mirrored in this process ({error}): create the strategy "
                         "before anything else runs TensorFlow") from None
    try:  # TensorFlow's preemption notifier swallows SIGTERM; let `kill` stop a worker as it stops one process
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    except ValueError:  # not the main thread
        pass
    resolver = strategy.cluster_resolver
    logging.info("MultiWorkerMirroredStrategy: task %s:%s of %s, %d replicas in all", resolver.task_type,
                 resolver.task_id, resolver.cluster_spec().as_dict(), strategy.num_replicas_in_sync)
    _multi_worker_strategy = strategy
    return strategy


def _create_tpu_strategy(tpu_address: Optional[str]) -> tf.distribute.Strategy:
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "local")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, tf.errors.OpError, RuntimeError) as error:
        message = getattr(error, "message", str(error)).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"cannot connect to the TPU {tpu_address or 'local'!r}: {message}") from None
    return tf.distribute.TPUStrategy(resolver)


def is_tpu_strategy(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, (tf.distribute.TPUStrategy,))


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes checkpoints and summaries (always, except non-chief multi-worker tasks)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    cluster = resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def values_of_all_workers(strategy: tf.distribute.Strategy, values: Sequence[float]) -> np.ndarray:
    """`values` (float64) of every replica, [replicas, len(values)] in replica order, on every worker.

    A collective under multi-worker strategies: every worker must call it, at the same point.
    """
    local = tf.constant([list(values)], tf.float64)
    if strategy.num_replicas_in_sync == 1:
        return local.numpy()

    @tf.function
    def gather():
        return strategy.gather(strategy.run(lambda: tf.identity(local)), axis=0)

    return gather().numpy()


def shared_seed(strategy: tf.distribute.Strategy, seed: Optional[int]) -> Optional[int]:
    """`seed`; or, when None under several workers, a random seed the first replica drew, the same on every worker.

    Workers must shuffle their (identical) inputs alike for each to keep its share of the same global batches.
    """
    if seed is not None or sharding.num_workers(strategy) == 1:
        return seed
    return int(values_of_all_workers(strategy, [random.SystemRandom().randrange(2 ** 31)])[0, 0])


def replica_device_key() -> str:
    """A key naming the current replica's devices, for one traced function per replica device ("" when
    unknown: the default strategy, or a multi-worker replica context whose `devices` raises)."""
    context = tf.distribute.get_replica_context()
    try:
        return repr(context.devices) if context is not None else ""
    except (AttributeError, IndexError, RuntimeError, ValueError):
        return ""
