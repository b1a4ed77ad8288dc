"""Tests for bert_tf.files: input file globs (`--input_file`)."""
import pytest

from bert_tf import files as file_helpers
from bert_tf.errors import InputError


def test_input_file_globs_and_missing_files(refs_dir, tmp_path):
    matched = file_helpers.expand_input_files(str(refs_dir / "original_*.tfrecord"))
    assert len(matched) == 2
    with pytest.raises(InputError, match="nothing_here"):
        file_helpers.expand_input_files(str(tmp_path / "nothing_here*.tfrecord"))
