"""Shared test fixtures: float64 by default, a seeded RNG per test, and paths to ../shared."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NNLAB_SHARED", REPO_ROOT.parent / "shared"))
DATA_DIR = Path(os.environ.get("NNLAB_DATA", SHARED / "data"))


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded Generator for each test (independent of np.random's global state)."""
    return np.random.default_rng(20261121)


@pytest.fixture
def data_dir() -> Path:
    """Root of the shared real datasets; tests using it must be marked ``@pytest.mark.data``."""
    if not DATA_DIR.exists():
        pytest.fail(f"real datasets not found at {DATA_DIR} (set NNLAB_DATA or place ../shared beside the checkout)")
    return DATA_DIR
