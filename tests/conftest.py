"""Shared fixtures: the real data set beside the repository, and a throwaway settings object."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from glasshouse.config import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
#: Models are converted once per machine and reused by every test run (the cache is content-keyed).
MODEL_CACHE = REPO_ROOT / "var" / "test-model-cache"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it are skipped (with the reason) when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real face data not found at {SHARED_DATA} (see DEVELOPERS.md: ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def model_cache_dir() -> Path:
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    return MODEL_CACHE


@pytest.fixture
def settings(tmp_path: Path, model_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings on a fresh data directory, sharing the converted-model cache."""
    monkeypatch.setenv("GLASSHOUSE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("GLASSHOUSE_MODEL_CACHE_DIR", str(model_cache_dir))  # convert models once per machine
    yield Settings()
