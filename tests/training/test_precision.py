"""Tests for bert_tf.training.precision: `--dtype` names, and loss scaling that keeps the checkpoint's slots."""
import keras
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("the training loop is TensorFlow-backend only", allow_module_level=True)

import bert_tf  # noqa: E402
from bert_tf.checkpoint import list_checkpoint, save_checkpoint  # noqa: E402
from bert_tf.training import optimization, precision  # noqa: E402
from tests.training.toy_task import small_config  # noqa: E402


def test_dtype_names_and_loss_scaling_keeps_checkpoint_slots(tmp_path):
    assert precision.canonical_dtype("bf16") == "mixed_bfloat16"
    with pytest.raises(ValueError, match="unknown --dtype 'float8'"):
        precision.canonical_dtype("float8")
    model = bert_tf.BertClassifier(small_config(), 2, dtype=precision.dtype_policy("mixed_float16"))
    inner = optimization.create_optimizer(optimization.OptimizerConfig(1e-3, 10, 1))
    inner.build(model.trainable_variables)
    wrapped = precision.wrap_optimizer(inner, "mixed_float16")
    assert precision.uses_loss_scaling(wrapped) and not precision.uses_loss_scaling(inner)
    wrapped.build(model.trainable_variables)
    assert wrapped.slot_variables_by_name().keys() == inner.slot_variables_by_name().keys()
    inner.set_iterations(3)
    prefix = save_checkpoint(model, tmp_path / "model.ckpt-3", optimizer=wrapped)
    entries = list_checkpoint(prefix)
    assert "output_weights/adam_m" in entries and entries["global_step"][1] == "int64"
    assert entries["bert/embeddings/word_embeddings"][1] == "float32"
