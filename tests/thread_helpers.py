"""Shared by the tests that compare results at 1 and 2 threads: a fixture that puts nnlab's thread count back
after each test, and the bit-for-bit comparison."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nnlab.threads import get_num_threads, set_num_threads


@pytest.fixture(autouse=True)
def restore_threads():
    """Autouse where imported: the thread count a test started with is set again after it."""
    before = get_num_threads()
    yield
    set_num_threads(before)


def assert_same_bits(a: Any, b: Any, name: str) -> None:
    """``a`` and ``b`` have the same dtype, shape and bytes (``name`` and the largest difference in the message)."""
    assert a.dtype == b.dtype and a.shape == b.shape, name
    assert a.tobytes() == b.tobytes(), (f"{name}: differs between 1 and 2 threads "
                                        f"(max diff {np.abs(np.asarray(a, float) - np.asarray(b, float)).max()})")
