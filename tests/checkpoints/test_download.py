"""`checkpoints/download.py`, offline: catalog, CLI errors, zip checks and unpacking (file:// URLs)."""
import ast
import importlib.util
import io
import os
import socket
import sys
import zipfile

import pytest

from tests.conftest import PROJECT_ROOT
from tests.harness.scripts import run_script

SCRIPT = PROJECT_ROOT / "checkpoints" / "download.py"
MODEL_FILES = {
    "bert_config.json": b'{"vocab_size": 4}\n',
    "vocab.txt": b"[PAD]\n[UNK]\n[CLS]\n[SEP]\n",
    "bert_model.ckpt.index": b"index bytes",
    "bert_model.ckpt.data-00000-of-00001": b"data bytes" * 1000,
    "bert_model.ckpt.meta": b"graph",
}


@pytest.fixture(scope="module")
def download():
    spec = importlib.util.spec_from_file_location("bert_checkpoint_download", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_script(*args):
    return run_script("checkpoints/download.py", *args, timeout=60)


def _make_zip(path, files, top_folder=None):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if top_folder:
            archive.writestr(top_folder + "/", b"")
        for name, data in files.items():
            archive.writestr(f"{top_folder}/{name}" if top_folder else name, data)
    return path


def _leftovers(folder):
    return [name for name in os.listdir(folder) if ".part" in name or ".partial-" in name or ".old-" in name]


# ------------------------------------------------------------------------------------------ catalog
def test_script_uses_only_the_standard_library():
    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module.split(".")[0])
    assert imported and imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_catalog_has_the_released_models(download):
    models = download.MODELS
    expected_urls = {
        "uncased_L-12_H-768_A-12": "2018_10_18/uncased_L-12_H-768_A-12.zip",
        "uncased_L-24_H-1024_A-16": "2018_10_18/uncased_L-24_H-1024_A-16.zip",
        "cased_L-12_H-768_A-12": "2018_10_18/cased_L-12_H-768_A-12.zip",
        "cased_L-24_H-1024_A-16": "2018_10_18/cased_L-24_H-1024_A-16.zip",
        "wwm_uncased_L-24_H-1024_A-16": "2019_05_30/wwm_uncased_L-24_H-1024_A-16.zip",
        "wwm_cased_L-24_H-1024_A-16": "2019_05_30/wwm_cased_L-24_H-1024_A-16.zip",
        "multi_cased_L-12_H-768_A-12": "2018_11_23/multi_cased_L-12_H-768_A-12.zip",
        "multilingual_L-12_H-768_A-12": "2018_11_03/multilingual_L-12_H-768_A-12.zip",
        "chinese_L-12_H-768_A-12": "2018_11_03/chinese_L-12_H-768_A-12.zip",
        "uncased_L-2_H-128_A-2": "2020_02_20/uncased_L-2_H-128_A-2.zip",
        "uncased_L-12_H-768_A-12_2020_02_20": "2020_02_20/uncased_L-12_H-768_A-12.zip",
    }
    for name, path in expected_urls.items():
        assert models[name].url == "https://storage.googleapis.com/bert_models/" + path
    small = [model for model in models.values() if model.release == "2020_02_20"]
    assert len(small) == 24 and len(models) == 33
    assert {model.shape for model in small} == {
        f"L={layers} H={hidden} A={hidden // 64}" for layers in (2, 4, 6, 8, 10, 12) for hidden in (128, 256, 512, 768)
    }
    assert [name for name, model in models.items() if model.cased] == [
        "wwm_cased_L-24_H-1024_A-16", "cased_L-12_H-768_A-12", "cased_L-24_H-1024_A-16", "multi_cased_L-12_H-768_A-12"]


def test_readme_lists_every_url(download):
    readme = (PROJECT_ROOT / "checkpoints" / "README.md").read_text(encoding="utf-8")
    for model in download.MODELS.values():
        assert model.url in readme, model.name


def test_list_and_unknown_name_on_the_command_line():
    listed = _run_script("--list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 33
    assert any(line.split()[0] == "uncased_L-12_H-768_A-12" and line.endswith(
        "https://storage.googleapis.com/bert_models/2018_10_18/uncased_L-12_H-768_A-12.zip") for line in lines)
    unknown = _run_script("uncased_L-12_H-786_A-12")
    assert unknown.returncode == 2
    assert "unknown model 'uncased_L-12_H-786_A-12'" in unknown.stderr
    assert "did you mean uncased_L-12_H-768_A-12" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    no_name = _run_script()
    assert no_name.returncode == 2 and "give a model NAME" in no_name.stderr


# ------------------------------------------------------------------------------------ fetch, unpack
@pytest.mark.parametrize("top_folder", ["uncased_L-2_H-128_A-2", None])
def test_fetch_unpacks_a_local_zip(download, tmp_path, top_folder):
    source = _make_zip(tmp_path / "source.zip", MODEL_FILES, top_folder)
    dest = tmp_path / "models"
    status = download.main(["uncased_L-2_H-128_A-2", "--dest", str(dest), "--url", source.as_uri(), "--quiet"])
    assert status == 0
    model_dir = dest / "uncased_L-2_H-128_A-2"
    assert sorted(os.listdir(model_dir)) == sorted(MODEL_FILES)
    for name, data in MODEL_FILES.items():
        assert (model_dir / name).read_bytes() == data
    assert os.listdir(dest) == ["uncased_L-2_H-128_A-2"]  # zip deleted, no temporary left


def test_existing_model_is_kept_unless_forced(download, tmp_path):
    source = _make_zip(tmp_path / "source.zip", MODEL_FILES, "x")
    dest = tmp_path / "models"
    assert download.main(["uncased_L-2_H-128_A-2", "--dest", str(dest), "--url", source.as_uri(), "--quiet"]) == 0
    config = dest / "uncased_L-2_H-128_A-2" / "bert_config.json"
    config.write_bytes(b"edited")
    messages = []
    download.fetch("uncased_L-2_H-128_A-2", dest=str(dest), url=source.as_uri(), log=messages.append)
    assert config.read_bytes() == b"edited" and "already in" in messages[0]
    download.fetch("uncased_L-2_H-128_A-2", dest=str(dest), url=source.as_uri(), force=True, keep_zip=True,
                   show_progress=False, log=messages.append)
    assert config.read_bytes() == MODEL_FILES["bert_config.json"]
    assert sorted(os.listdir(dest)) == ["uncased_L-2_H-128_A-2", "uncased_L-2_H-128_A-2.zip"]


def test_progress_is_reported(download, tmp_path):
    source = _make_zip(tmp_path / "source.zip", MODEL_FILES)
    stream = io.StringIO()
    progress = download._Progress(total=source.stat().st_size, stream=stream)
    progress.update(source.stat().st_size // 2)
    progress.update(source.stat().st_size, final=True)
    assert "50.0%" in stream.getvalue() and "100.0%" in stream.getvalue() and "MB/s" in stream.getvalue()


def test_bad_zips_are_rejected(download, tmp_path, capsys):
    dest = tmp_path / "models"
    not_zip = tmp_path / "error_page.zip"
    not_zip.write_text("<html>Access denied</html>")
    incomplete = _make_zip(tmp_path / "incomplete.zip", {"vocab.txt": b"a\n"})
    unsafe = _make_zip(tmp_path / "unsafe.zip", dict(MODEL_FILES, **{"../evil.txt": b"x"}))
    cases = [(not_zip, "is not a zip file"), (incomplete, "lacks bert_config.json"), (unsafe, "unsafe member path")]
    for source, expected in cases:
        status = download.main(["uncased_L-2_H-128_A-2", "--dest", str(dest), "--url", source.as_uri(), "--quiet"])
        error = capsys.readouterr().err
        assert status == 1 and expected in error, error
        assert not (dest / "uncased_L-2_H-128_A-2").exists()
        assert not (tmp_path / "evil.txt").exists()
        assert os.listdir(dest) == []


def test_offline_download_fails_with_a_clear_message(download, tmp_path):
    with socket.socket() as probe:  # a local port with nothing listening: connection refused, no network
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/uncased_L-2_H-128_A-2.zip"
    result = _run_script("uncased_L-2_H-128_A-2", "--dest", str(tmp_path), "--url", url)
    assert result.returncode == 1
    assert f"download.py: error: cannot download {url}:" in result.stderr
    assert "Are you offline?" in result.stderr and "Traceback" not in result.stderr
    assert os.listdir(tmp_path) == []
    missing = download.main(["uncased_L-2_H-128_A-2", "--dest", str(tmp_path), "--quiet",
                             "--url", (tmp_path / "absent.zip").as_uri()])
    assert missing == 1
