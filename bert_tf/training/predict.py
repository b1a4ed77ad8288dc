"""Inference under a `tf.distribute` strategy: `predict` runs a model over a dataset and collects numpy outputs.

    outputs = predict(trainer.model, eval_dataset, strategy=trainer.strategy).outputs["logits"]

Batches may differ in sequence length (per-batch padding); with `use_xla` the forward pass is compiled once
per distinct batch shape.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from bert_tf.training import sharding
from bert_tf.training.progress import BatchProgress


@dataclasses.dataclass
class PredictResult:
    """Outputs of `predict`, one row per example in dataset order.

    Attributes:
      outputs: output name -> array [N, ...] (numpy, the model's dtype; logits are float32).
      labels: the dataset's labels [N] (None for a features-only dataset).
      features: every rank-1 feature (e.g. `is_real_example` [N]).
      batch_sizes: examples per dataset batch, in order.
    """

    outputs: Dict[str, np.ndarray]
    labels: Optional[np.ndarray]
    features: Dict[str, np.ndarray]
    batch_sizes: List[int]


def split_element(element) -> Tuple[Any, Any]:
    """A dataset element -> (features, labels); labels is None for a features-only dataset.

    Raises:
      ValueError: a tuple element that is not a (features, labels) pair.
    """
    if isinstance(element, (tuple, list)):
        if len(element) != 2:
            raise ValueError(f"dataset elements must be (features, labels) or features, got {len(element)} parts")
        return element[0], element[1]
    return element, None


def predict(model, dataset: tf.data.Dataset, strategy: Optional[tf.distribute.Strategy] = None,
            output_keys: Sequence[str] = ("logits",), use_xla: bool = False,
            title: str = "prediction") -> PredictResult:
    """Runs `model(features, training=False)` over `dataset` under `strategy` and collects numpy outputs.

    Args:
      model: a model built under `strategy` (or with no strategy), returning a dict of outputs.
      dataset: a finite dataset of (features dict, labels) or features dicts, global batches; batches may
        differ in sequence length.
      strategy: default: the current (default) strategy.
      output_keys: which outputs to return.
      use_xla: compile the forward pass with XLA (once per distinct batch shape).
      title: names the pass in the progress lines (logged at least every 30 seconds and at the end).

    Returns:
      A `PredictResult`, rows in dataset order. Under several replicas each predicts its slice of every batch
      (`bert_tf.training.sharding`) and the slices come back in order, on every worker: each example exactly
      once, a last partial batch included.

    Raises:
      KeyError: the model has no output named in `output_keys`.
    """
    strategy = strategy or tf.distribute.get_strategy()
    output_keys = tuple(output_keys)

    def replica_fn(element):
        features, labels = split_element(element)
        outputs = model(features, training=False)
        missing = [key for key in output_keys if key not in outputs]
        if missing:
            raise KeyError(f"model outputs have no {missing}; available: {sorted(outputs)}")
        vector_features = {name: value for name, value in features.items() if value.shape.rank == 1}
        result = {"outputs": {key: outputs[key] for key in output_keys}, "features": vector_features}
        if labels is not None:
            result["labels"] = labels
        # A scalar per replica becomes one row, so that replicas' results concatenate.
        return tf.nest.map_structure(lambda value: value[None] if value.shape.rank == 0 else value, result)

    replica_fn = tf.function(replica_fn, jit_compile=use_xla, reduce_retracing=True)

    @tf.function(reduce_retracing=True)
    def step(element):
        return sharding.gather(strategy, strategy.run(replica_fn, args=(element,)))

    collected: Dict[str, list] = {}
    batch_sizes: List[int] = []
    cardinality = int(dataset.cardinality())
    progress = BatchProgress(title, cardinality if cardinality > 0 else None)
    for element in sharding.distribute_dataset(strategy, dataset):
        batch_sizes.append(_collect_batch(strategy, step(element), collected))
        progress.update(batch_sizes[-1])
    progress.close()
    arrays = {name: np.concatenate(parts, axis=0) for name, parts in collected.items()}
    outputs = {key: arrays.pop(f"outputs/{key}") for key in output_keys if f"outputs/{key}" in arrays}
    labels = arrays.pop("labels", None)
    features = {name[len("features/"):]: value for name, value in arrays.items() if name.startswith("features/")}
    return PredictResult(outputs=outputs, labels=labels, features=features, batch_sizes=batch_sizes)


def _collect_batch(strategy: tf.distribute.Strategy, result: Mapping[str, Any], collected: Dict[str, list]) -> int:
    """Appends one batch's per-replica results to `collected` (flat name -> arrays); returns its rows."""
    batch_rows = None
    for name, value in _flatten_dict(result).items():
        parts = [np.asarray(part) for part in strategy.experimental_local_results(value)]
        array = np.concatenate(parts, axis=0) if parts[0].ndim else np.stack(parts)
        collected.setdefault(name, []).append(array)
        batch_rows = array.shape[0] if batch_rows is None else batch_rows
    return int(batch_rows or 0)


def _flatten_dict(nested: Mapping[str, Any], prefix: str = "") -> Dict[str, Any]:
    """{"a": {"b": x}} -> {"a/b": x}."""
    flat = {}
    for key, value in nested.items():
        if isinstance(value, Mapping):
            flat.update(_flatten_dict(value, f"{prefix}{key}/"))
        else:
            flat[f"{prefix}{key}"] = value
    return flat
