"""Shared fixtures for the footfall test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
ZONES_DIR = ROOT / "zones"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="module")
def zones_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the real zone files of the small test towns (``test_hourly.TOWNS``)."""
    import shutil

    from test_hourly import TOWNS

    out = tmp_path_factory.mktemp("zones")
    for insee in TOWNS:
        shutil.copy(next(ZONES_DIR.glob(f"{insee}-*.geojson")), out)
    return out


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory):
    """Keep the suite's caches (zone indexes) in a temporary folder, never in ~/.cache.

    Set in the environment, so that the CLI and notebook subprocesses use it too.
    """
    import os

    before = os.environ.get("FOOTFALL_CACHE_DIR")
    os.environ["FOOTFALL_CACHE_DIR"] = str(tmp_path_factory.mktemp("footfall-cache"))
    yield
    if before is None:
        del os.environ["FOOTFALL_CACHE_DIR"]
    else:
        os.environ["FOOTFALL_CACHE_DIR"] = before
