"""Parity tests compare against PyTorch 2.13 on the CPU, in float64 and float32."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch==2.13.0 is needed for parity tests: pip install -e '.[test]'")

torch.set_num_threads(max(1, torch.get_num_threads()))


def to_torch(a: np.ndarray, requires_grad: bool = False):
    """A torch tensor sharing nothing with ``a`` (same dtype), optionally requiring grad."""
    t = torch.tensor(np.array(a, copy=True))
    t.requires_grad_(requires_grad)
    return t


def assert_close(name: str, ours: np.ndarray, theirs, dtype) -> None:
    """Readable 'mine vs theirs' comparison: relative error 1e-10 (float64) or 1e-5 (float32)."""
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = np.asarray(ours)
    assert ours.shape == theirs.shape, f"{name}: shape {ours.shape} (nnlab) vs {theirs.shape} (torch)"
    tol = 1e-10 if np.dtype(dtype) == np.float64 else 1e-5
    scale = max(np.max(np.abs(theirs)), 1e-30) if theirs.size else 1.0
    err = float(np.max(np.abs(ours.astype(np.float64) - theirs.astype(np.float64)))) / scale if ours.size else 0.0
    assert err < tol, f"{name}: max |nnlab - torch| / max|torch| = {err:.3e} >= {tol:.0e}"
