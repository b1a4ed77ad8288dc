"""Shared pytest fixtures: where the read-only assets in ``../shared`` live.

The assets are found as ``../shared`` next to the project root, or wherever ``BERT_TF_SHARED`` points.
A test that needs them skips when they are absent, except under ``CI=true`` where it fails instead.
"""
import os
import pathlib

import pytest

PROJECT_ROOT = pathlib.Path(__file__).resolve().parent.parent


def shared_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("BERT_TF_SHARED", PROJECT_ROOT.parent / "shared")).resolve()


def require_shared(*relative_parts: str) -> pathlib.Path:
    """Returns ``shared/<relative_parts>``; skips the test if absent (fails under CI=true)."""
    path = shared_dir().joinpath(*relative_parts)
    if not path.exists():
        message = f"shared asset not found: {path} (set BERT_TF_SHARED)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def shared():
    return require_shared()


@pytest.fixture(scope="session")
def tiny_ckpt_dir():
    return require_shared("checkpoints", "tiny_uncased_L-2_H-64_A-4")


@pytest.fixture(scope="session")
def minilm_ckpt_dir():
    return require_shared("checkpoints", "minilm_l6_h384_uncased")


@pytest.fixture(scope="session")
def refs_dir():
    return require_shared("refs")


@pytest.fixture(scope="session")
def data_dir():
    return require_shared("data")
