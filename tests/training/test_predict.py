"""Tests for bert_tf.training.predict: every batch's outputs, in dataset order."""
import keras
import numpy as np
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("the training loop is TensorFlow-backend only", allow_module_level=True)

import tensorflow as tf  # noqa: E402

import bert_tf  # noqa: E402
from bert_tf.training import strategies  # noqa: E402
from bert_tf.training.predict import predict  # noqa: E402
from tests.training.toy_task import small_config, toy_arrays, trim_to_longest  # noqa: E402


def test_predict_returns_outputs_in_dataset_order():
    model = bert_tf.BertClassifier(small_config(), 2)
    features, labels = toy_arrays(num_examples=21)
    # Batches trimmed to different lengths, and a short last batch.
    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(8).map(trim_to_longest)
    result = predict(model, dataset, strategy=strategies.create_strategy("one_device"))
    assert result.batch_sizes == [8, 8, 5]
    np.testing.assert_array_equal(result.labels, labels)
    expected = model(features, training=False)["logits"].numpy()
    np.testing.assert_allclose(result.outputs["logits"], expected, atol=1e-5)
