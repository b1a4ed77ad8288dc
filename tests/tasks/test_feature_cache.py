"""Tests for bert_tf.tasks.feature_cache through run_classifier.py: a cached feature file is reused while
its inputs' content is the same, and written again when it changes (not when only sizes and times match)."""
import os

import keras
import pytest

if keras.backend.backend() != "tensorflow":
    pytest.skip("the scripts train with the TensorFlow backend", allow_module_level=True)

from tests.harness.scripts import glue_subset, run_main  # noqa: E402


def test_feature_cache_is_keyed_on_content_not_on_size_and_time(tmp_path, data_dir, tiny_ckpt_dir):
    mrpc = glue_subset(data_dir / "glue" / "MRPC", tmp_path / "MRPC")
    output_dir = tmp_path / "out"
    flags_list = ["--task=MRPC", f"--data_dir={mrpc}", f"--bert_dir={tiny_ckpt_dir}", f"--output_dir={output_dir}",
                  "--do_eval", "--max_seq_length=32", "--seed=3"]
    # Evaluation needs a fine-tuned head: one training step writes one into output_dir.
    assert run_main("run_classifier", *flags_list, "--do_train", "--nodo_eval", "--max_train_steps=1") == 0
    assert run_main("run_classifier", *flags_list) == 0
    first = (output_dir / "eval_results.txt").read_text()
    assert run_main("run_classifier", *flags_list) == 0
    assert (output_dir / "eval_results.txt").read_text() == first  # same checkpoint, same loss
    dev = mrpc / "dev.tsv"
    stat = dev.stat()
    text = dev.read_text(encoding="utf-8")
    rows = text.splitlines(keepends=True)
    swapped = rows[0] + rows[2] + rows[1] + "".join(rows[3:])  # same size, other content
    assert len(swapped) == len(text) and swapped != text
    dev.write_text(swapped, encoding="utf-8")
    os.utime(dev, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    meta_before = (output_dir / "eval.tf_record.meta.json").read_text()
    assert run_main("run_classifier", *flags_list) == 0
    assert (output_dir / "eval.tf_record.meta.json").read_text() != meta_before
