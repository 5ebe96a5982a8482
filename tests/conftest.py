"""Shared test fixtures: float64 by default, a seeded RNG per test, paths to ../shared, a temporary data cache.

Tests marked ``@pytest.mark.data`` read the real datasets (``$NNLAB_DATA``, else ``../shared/data``). Where that
folder does not exist they are skipped with one reason; when the environment variable ``CI`` is set they fail
instead, so that CI cannot pass without running them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NNLAB_SHARED", REPO_ROOT.parent / "shared"))
DATA_DIR = Path(os.environ.get("NNLAB_DATA") or SHARED / "data")
_MISSING = pytest.StashKey[str]()


def _missing_data_reason() -> str | None:
    """Why the real datasets cannot be read, or None when they can."""
    if DATA_DIR.is_dir():
        return None
    origin = "$NNLAB_DATA" if os.environ.get("NNLAB_DATA") else "the default ../shared/data"
    return (f"real datasets not found at {DATA_DIR} ({origin}); set NNLAB_DATA to the folder holding mnist/, "
            "cifar10/, ... to run the tests marked data")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Record, once, that the data tests cannot run; ``pytest_runtest_setup`` then skips (or, under CI, fails)
    each of them before its fixtures read anything."""
    reason = _missing_data_reason()
    if reason is not None and any(item.get_closest_marker("data") for item in items):
        config.stash[_MISSING] = reason


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> str | None:
    reason = config.stash.get(_MISSING, None)
    if reason is None:
        return None
    n = sum(1 for item in items if item.get_closest_marker("data"))
    action = "FAIL (CI is set)" if os.environ.get("CI") else "be skipped"
    return f"{n} data tests will {action}: {reason}"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    reason = item.config.stash.get(_MISSING, None)
    if reason is None or item.get_closest_marker("data") is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so data tests must run)", pytrace=False)
    pytest.skip(reason)  # raised here, so -rs folds every data test into one line


@pytest.fixture(scope="session", autouse=True)
def _temporary_data_cache(tmp_path_factory: pytest.TempPathFactory):
    """Decoded-array caches go to a per-session temporary folder unless the user set ``NNLAB_CACHE``."""
    if os.environ.get("NNLAB_CACHE"):
        yield Path(os.environ["NNLAB_CACHE"])
        return
    folder = tmp_path_factory.mktemp("nnlab-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNLAB_CACHE", str(folder))
        yield folder


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded Generator for each test (independent of np.random's global state)."""
    return np.random.default_rng(20261121)


@pytest.fixture
def data_dir() -> Path:
    """Root of the shared real datasets; tests using it must be marked ``@pytest.mark.data``."""
    reason = _missing_data_reason()
    if reason is not None:
        pytest.fail(f"{reason} (this test uses data_dir but is not marked @pytest.mark.data)", pytrace=False)
    return DATA_DIR
