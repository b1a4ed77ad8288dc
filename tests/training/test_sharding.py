"""Tests for bert_tf.training.sharding: how batches reach replicas and workers, and the TPU input settings.

The two-process runs are in test_strategies.py; here each worker's pipeline is built in this process with
the `tf.distribute.InputContext` a worker would get.
"""
import dataclasses

import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("the training loop is TensorFlow-backend only", allow_module_level=True)

import tensorflow as tf  # noqa: E402

import bert_tf  # noqa: E402
from bert_tf.tasks.classification import features as classifier_features  # noqa: E402
from bert_tf.tasks.pretraining import dataset as pretraining_dataset  # noqa: E402
from bert_tf.training import datasets, optimization, sharding, strategies  # noqa: E402
from bert_tf.training.run_options import RunOptions  # noqa: E402
from bert_tf.training.trainer import Trainer  # noqa: E402
from tests.training.toy_task import cross_entropy, small_config  # noqa: E402

PRETRAINING_FILES = ("original_sample_text_seq128.tfrecord", "original_wikitext2_wwm_seq128.tfrecord")


def numbered_batches(num_examples, batch_size):
    """Batches of ({"ids": [n, 3]}, labels [n]) where every value of example i is i; the last one may be short."""
    ids = np.repeat(np.arange(num_examples, dtype=np.int32)[:, None], 3, axis=1)
    return tf.data.Dataset.from_tensor_slices(({"ids": ids}, np.arange(num_examples))).batch(batch_size)


def replica_slices(dataset, workers, replicas_per_worker):
    """[worker][element] of what each worker's pipeline yields (its replicas' slices, replica-major per step)."""
    total = workers * replicas_per_worker
    return [list(sharding.shard_by_example(dataset, tf.distribute.InputContext(workers, worker, total))
                 .as_numpy_iterator()) for worker in range(workers)]


@pytest.mark.parametrize("workers,replicas_per_worker,batch_size", [(2, 1, 4), (3, 1, 4), (2, 2, 8), (1, 2, 5)])
def test_every_replica_gets_its_slice_of_each_global_batch(workers, replicas_per_worker, batch_size):
    dataset = numbered_batches(23, batch_size)  # a short last batch: 23 = 2 * 8 + 7, 5 * 4 + 3, ...
    per_worker = replica_slices(dataset, workers, replicas_per_worker)
    global_batches = list(dataset.as_numpy_iterator())
    for worker_elements in per_worker:
        assert len(worker_elements) == len(global_batches) * replicas_per_worker
    for step, (features, labels) in enumerate(global_batches):
        parts = [per_worker[worker][step * replicas_per_worker + local]
                 for worker in range(workers) for local in range(replicas_per_worker)]
        # Replica order is the batch's order: concatenated, the slices are the batch, each row once.
        np.testing.assert_array_equal(np.concatenate([part[1] for part in parts]), labels)
        np.testing.assert_array_equal(np.concatenate([part[0]["ids"] for part in parts]), features["ids"])
        sizes = [len(part[1]) for part in parts]
        assert max(sizes) - min(sizes) <= 1, sizes  # as even as the batch allows


def test_static_batches_keep_static_slices_for_tpus():
    dataset = numbered_batches(24, 8).rebatch(8, drop_remainder=True)
    context = tf.distribute.InputContext(1, 0, 2)
    assert sharding.shard_by_example(dataset, context).element_spec[0]["ids"].shape.as_list() == [4, 3]
    uneven = sharding.shard_by_example(numbered_batches(24, 8), context)
    assert uneven.element_spec[0]["ids"].shape.as_list() == [None, 3]


def test_choosing_file_or_example_sharding():
    assert sharding.choose_sharding("auto", 4, 2, 32) == sharding.BY_FILE
    assert sharding.choose_sharding("auto", 1, 2, 32) == sharding.BY_EXAMPLE  # fewer files than workers
    assert sharding.choose_sharding("auto", 4, 3, 32) == sharding.BY_EXAMPLE  # 32 is not 3 equal shares
    assert sharding.choose_sharding("auto", 4, 1, 32) == sharding.BY_EXAMPLE  # one worker: nothing to shard
    assert sharding.choose_sharding("example", 4, 2, 32) == sharding.BY_EXAMPLE
    with pytest.raises(ValueError, match="cannot shard 1 input file.* by file over 2 workers"):
        sharding.choose_sharding("file", 1, 2, 32)
    with pytest.raises(ValueError, match="unknown input sharding 'rows'"):
        sharding.choose_sharding("rows", 1, 2, 32)


def _record_ids(dataset, batches):
    """The input_ids rows (as bytes) of the first `batches` batches of a pretraining pipeline."""
    rows = []
    for batch in dataset.take(batches).as_numpy_iterator():
        rows += [row.tobytes() for row in batch["input_ids"]]
    return rows


def test_by_file_every_record_is_read_by_one_worker(refs_dir):
    files = [str(refs_dir / name) for name in PRETRAINING_FILES]
    contexts = [tf.distribute.InputContext(2, worker, 2) for worker in range(2)]
    assert [sharding.worker_files(files, context) for context in contexts] == [[files[0]], [files[1]]]
    per_worker = pretraining_dataset.training_input(files, 128, 20, batch_size=8, num_accumulation_steps=1,
                                                    seed=3, input_sharding="auto", workers=2)
    assert callable(per_worker)
    seen = []
    for context, path in zip(contexts, files):
        dataset = per_worker(context)
        assert dataset.element_spec["input_ids"].shape.as_list()[1:] == [128]
        own = {row.tobytes() for batch in tf.data.TFRecordDataset(path).batch(512).map(
            lambda records: tf.io.parse_example(records, {"input_ids": tf.io.FixedLenFeature([128], tf.int64)}))
            for row in batch["input_ids"].numpy().astype(np.int32)}
        # Two passes over its file and the shuffle buffer (100 records, which mixes neighbouring passes).
        rows = _record_ids(dataset, (2 * len(own) + 400) // 4)
        assert set(rows) == own, path  # every record of its own files, none of the other worker's
        seen.append(own)
    assert not seen[0] & seen[1]
    # By example (the default for one file, or when asked), every worker gets the same global batches.
    assert isinstance(pretraining_dataset.training_input(files[:1], 128, 20, 8, 1, 3, "auto", 2), tf.data.Dataset)
    assert isinstance(pretraining_dataset.training_input(files, 128, 20, 8, 1, 3, "example", 2), tf.data.Dataset)


def test_tpu_input_is_static_and_several_steps_run_per_call(tmp_path, refs_dir):
    """On TPUs: batches padded to max_seq_length, remainders dropped, --iterations_per_loop steps per call."""
    lengths = np.random.default_rng(0).integers(3, 33, size=40)
    masks = [[1] * length + [0] * (32 - length) for length in lengths]
    classifier_features.write_features_tfrecord([classifier_features.InputFeatures(
        input_ids=[1000 + index * bit for bit in mask], input_mask=mask, segment_ids=[0] * 32, label_id=index % 2)
        for index, mask in enumerate(masks)], str(tmp_path / "train.tf_record"))
    layout = classifier_features.record_layout(32)
    dataset = datasets.training_dataset(str(tmp_path / "train.tf_record"), layout, 8, 100, pad_to_max_length=True,
                                        seed=1, drop_remainder=True)
    for spec in tf.nest.flatten(dataset.element_spec):
        assert spec.shape.is_fully_defined(), dataset.element_spec
    per_replica = sharding.shard_by_example(dataset, tf.distribute.InputContext(1, 0, 2))
    assert all(spec.shape.is_fully_defined() for spec in tf.nest.flatten(per_replica.element_spec))
    assert sharding.static_batch_problem(dataset.element_spec, 8) is None  # what a TPUStrategy checks first
    assert "not divisible by the 3 replicas" in sharding.static_batch_problem(dataset.element_spec, 3)
    per_batch_padding = datasets.training_dataset(str(tmp_path / "train.tf_record"), layout, 8, 100)
    assert "dynamic shape (None, None)" in sharding.static_batch_problem(per_batch_padding.element_spec, 8)
    evaluation = pretraining_dataset.make_pretraining_dataset([str(refs_dir / PRETRAINING_FILES[0])], 128, 20, 7,
                                                              is_training=False, drop_remainder=True)
    assert all(spec.shape.is_fully_defined() for spec in tf.nest.flatten(evaluation.element_spec))

    options = RunOptions(output_dir=str(tmp_path / "out"), iterations_per_loop=3, save_checkpoints_steps=100, seed=1)
    config = dataclasses.replace(options.trainer_config(5, None, on_tpu=True), progress_bar=False)
    assert config.steps_per_loop == 3
    model_config = small_config(dropout=False)
    trainer = Trainer(config, model_fn=lambda dtype: bert_tf.BertClassifier(model_config, 2, dtype=dtype),
                      optimizer_config=optimization.OptimizerConfig(1e-3, 5, 1), loss_fn=cross_entropy,
                      strategy=strategies.create_strategy("one_device"))
    result = trainer.train(dataset)
    assert result.global_step == 5 and len(result.losses) == 2  # 3 steps, then 2 to stop at the end
    assert trainer._train_function.experimental_get_tracing_count() == 1
