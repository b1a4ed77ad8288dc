"""Tests for bert_tf.serving.export: the version folders of an export (`next_version`) and the check of
`--export_dir` before a run (`check_export_dir`)."""
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("tensorflow_text")

from bert_tf import serving  # noqa: E402
from bert_tf.errors import InputError  # noqa: E402


def test_next_version_is_newer_than_every_existing_one(tmp_path):
    assert serving.next_version(str(tmp_path / "absent"), now=1000.7) == 1000
    (tmp_path / "999").mkdir()
    (tmp_path / "tmp-export-abc").mkdir()
    (tmp_path / "notes").mkdir()
    assert serving.next_version(str(tmp_path), now=1000.2) == 1000
    (tmp_path / "1005").mkdir()
    assert serving.next_version(str(tmp_path), now=1000.2) == 1006


def test_check_export_refuses_a_file(tmp_path):
    from bert_tf.serving.export import check_export_dir

    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        check_export_dir(str(path))
    check_export_dir(str(tmp_path / "new"))
