"""Tests for bert_tf.training.train_step: the loss of a step over several replicas."""
import keras
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("the training loop is TensorFlow-backend only", allow_module_level=True)

import tensorflow as tf  # noqa: E402

from bert_tf.training import train_step  # noqa: E402


def test_the_loss_is_averaged_over_the_examples_of_all_replicas():
    # Replicas holding 3 and 4 rows of a batch of 7: each divides its sum by 7, not by its rows x replicas.
    losses = tf.constant([1.0, 2.0, 3.0])
    assert float(train_step.replica_mean_loss(losses, tf.constant(7.0))) == pytest.approx(6 / 7)
    assert float(train_step.replica_mean_loss(losses)) == pytest.approx(2.0)  # one replica
