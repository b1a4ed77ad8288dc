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

from bert_tf.training import sharding, strategies
from bert_tf.training.progress import BatchProgress

MODEL_INPUTS = ("input_ids", "input_mask", "segment_ids")


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
    distributed = sharding.distribute_dataset(strategy, dataset)

    def step(element):
        return sharding.gather(strategy, strategy.run(replica_fn, args=(element,)))

    # Traced once for the dataset's element spec (batches of any length), not once per batch shape.
    step = tf.function(step, input_signature=[distributed.element_spec])
    collected: Dict[str, list] = {}
    batch_sizes: List[int] = []
    cardinality = int(dataset.cardinality())
    progress = BatchProgress(title, cardinality if cardinality > 0 else None)
    for element in distributed:
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


def padded_outputs(model, max_seq_length: int, pad_values: Mapping[str, float],
                   input_keys: Sequence[str] = MODEL_INPUTS):
    """A callable for `predict`: `model`'s inference outputs, those named in `pad_values` padded on their
    sequence axis (axis 1) to `max_seq_length` with their value, so that batches of different lengths stack.

    The padded positions are past every example's tokens (never read, or never chosen: SQuAD pads its
    logits with -1e30). The forward pass is a `tf.function` of [None, None] inputs (`input_keys` only),
    traced once per replica device (each with its own variable copies) instead of once per batch length.

    Args:
      model: called as `model(features, training=False)`, returning a dict.
      max_seq_length: the length to pad to.
      pad_values: output name -> padding value; other outputs pass through as they are.
      input_keys: the int32 [B, S] features the model reads.
    """
    spec = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in input_keys}
    traced = {}

    def pad(name, value):
        if name not in pad_values:
            return value
        paddings = [[0, 0], [0, max_seq_length - tf.shape(value)[1]]] + [[0, 0]] * (value.shape.rank - 2)
        return tf.pad(value, paddings, constant_values=pad_values[name])

    def padded(features):
        outputs = model(features, training=False)
        return {name: pad(name, value) for name, value in outputs.items()}

    def padded_model(features, training=False):
        del training  # inference only
        device = strategies.replica_device_key()
        if device not in traced:
            traced[device] = tf.function(padded, input_signature=[spec])
        return traced[device]({name: features[name] for name in input_keys})

    return padded_model
