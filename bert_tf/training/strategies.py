"""`tf.distribute` strategies by name, for the `--strategy` flag of every run script.

    one_device             one device: the first GPU if there is one, else the CPU (the default)
    mirrored               synchronous data parallelism over this machine's GPUs (or its logical CPUs
                           when there is no GPU and more than one logical CPU device is configured)
    multi_worker_mirrored  synchronous data parallelism over several machines (`TF_CONFIG` describes them)
    tpu                    a Cloud TPU (`--tpu_name`, or the TPU of this VM)

Under every strategy the global batch (what the dataset yields) is split across replicas; the training loop
averages the loss over the global batch, so the updates do not depend on the number of replicas.
"""
from __future__ import annotations

from typing import Optional

import tensorflow as tf
from absl import logging


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
        return tf.distribute.MultiWorkerMirroredStrategy()
    if key == "tpu":
        return _create_tpu_strategy(tpu_address)
    raise ValueError(f"unknown distribution strategy {name!r}; choose one of {', '.join(STRATEGY_NAMES)}")


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
