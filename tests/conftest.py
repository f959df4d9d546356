"""Shared fixtures: the real dataset folder beside the checkout, and an isolated cache per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get("GUIDEDCOT_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $GUIDEDCOT_DATA): the real dataset files, never copied into the repo."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"dataset folder {SHARED_DATA} not found: tests read the real data from ../shared/data")
    return SHARED_DATA


@pytest.fixture
def isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh GUIDEDCOT_CACHE for tests that must not touch (or reuse) the user's cache."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("GUIDEDCOT_CACHE", str(cache))
    return cache
