"""Run one program, written once, on nnlab Tensors and on torch tensors, and compare every gradient.

A *program* is ``fn(ns, *inputs) -> Tensor or tuple of Tensors`` where ``ns`` is :class:`NnlabOps` or
:class:`TorchOps`: the few spellings that differ between the libraries (``cat``, ``stack``, ``where``,
``maximum``, ``minimum``, constants, index arrays, a stop-gradient row maximum for stable softmax) go through
``ns``; everything else is the Tensor method and operator API the two share. :func:`compare_with_torch`
reduces every output with fixed random weights to one scalar, backpropagates it in both libraries and asserts
the outputs and the gradient of every input equal torch's (max-scaled relative error 1e-10 in float64, 1e-5 in
float32, :func:`tests.parity.conftest.assert_close`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

import nnlab.autograd as ag
from tests.parity.conftest import assert_close


class NnlabOps:
    """``ns`` for nnlab: constants stay arrays (cast to the program's float dtype)."""

    name = "nnlab"

    def __init__(self, dtype: Any) -> None:
        self.dtype = np.dtype(dtype)

    def const(self, a: Any) -> Any:
        a = np.asarray(a)
        return a.astype(self.dtype) if a.dtype.kind == "f" else a

    def idx(self, a: Any) -> Any:
        return np.asarray(a)

    def rowmax(self, t: Any, dim: int) -> Any:
        """The maximum over ``dim`` (kept) as a constant: the shift of a stable softmax."""
        return t.data.max(axis=dim, keepdims=True)

    def leaf(self, a: np.ndarray) -> Any:
        return ag.tensor(a.copy(), requires_grad=True)

    def cat(self, ts: list, dim: int = 0) -> Any:
        return ag.cat(ts, dim=dim)

    def stack(self, ts: list, dim: int = 0) -> Any:
        return ag.stack(ts, dim=dim)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return ag.where(cond, a, b)

    def maximum(self, a: Any, b: Any) -> Any:
        return ag.maximum(a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        return ag.minimum(a, b)

    @staticmethod
    def value(t: Any) -> np.ndarray:
        return np.asarray(t.data)

    @staticmethod
    def grad(t: Any) -> np.ndarray | None:
        return t.grad


class TorchOps(NnlabOps):
    """``ns`` for torch 2.13: the reference."""

    name = "torch"

    def const(self, a: Any) -> Any:
        return torch.from_numpy(np.ascontiguousarray(super().const(a)))

    def idx(self, a: Any) -> Any:
        return torch.from_numpy(np.asarray(a))

    def rowmax(self, t: Any, dim: int) -> Any:
        return t.detach().amax(dim=dim, keepdim=True)

    def leaf(self, a: np.ndarray) -> Any:
        return torch.tensor(a.copy(), requires_grad=True)

    def cat(self, ts: list, dim: int = 0) -> Any:
        return torch.cat(ts, dim=dim)

    def stack(self, ts: list, dim: int = 0) -> Any:
        return torch.stack(ts, dim=dim)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        return torch.where(cond, a, b)

    def maximum(self, a: Any, b: Any) -> Any:
        return torch.maximum(a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        return torch.minimum(a, b)

    @staticmethod
    def value(t: Any) -> np.ndarray:
        return t.detach().numpy()

    @staticmethod
    def grad(t: Any) -> np.ndarray | None:
        return None if t.grad is None else t.grad.numpy()


def run_program(ns: NnlabOps, fn: Callable, arrays: list[np.ndarray], weights: list[np.ndarray] | None,
                rng: np.random.Generator) -> tuple[list, list, list, float]:
    """Forward ``fn`` on leaves made from ``arrays``, reduce with ``weights`` (drawn from ``rng`` when None),
    backward. Returns (output arrays, input gradients, weights, loss)."""
    leaves = [ns.leaf(a) for a in arrays]
    out = fn(ns, *leaves)
    outs = list(out) if isinstance(out, tuple) else [out]
    if weights is None:
        weights = [rng.standard_normal(tuple(o.shape)) for o in outs]
    loss = None
    for o, w in zip(outs, weights):
        term = (o * ns.const(w)).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    return [ns.value(o) for o in outs], [ns.grad(t) for t in leaves], weights, float(ns.value(loss))


def compare_with_torch(name: str, fn: Callable, arrays: list[np.ndarray], dtype: Any,
                       rng: np.random.Generator) -> None:
    """Assert ``fn``'s outputs and every input's gradient equal torch's (float64 1e-10, float32 1e-5 relative);
    nnlab's outputs and gradients keep ``dtype``."""
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    outs, grads, weights, loss = run_program(NnlabOps(dtype), fn, arrays, None, rng)
    t_outs, t_grads, _, t_loss = run_program(TorchOps(dtype), fn, arrays, weights, rng)
    assert len(outs) == len(t_outs), f"{name}: {len(outs)} outputs (nnlab) vs {len(t_outs)} (torch)"
    for k, (o, t) in enumerate(zip(outs, t_outs)):
        assert o.dtype == np.dtype(dtype), f"{name}: output {k} has dtype {o.dtype}, expected {np.dtype(dtype)}"
        assert_close(f"{name} output {k}", o, t, dtype)
    assert_close(f"{name} loss", np.array(loss), np.array(t_loss), dtype)
    for k, (g, t) in enumerate(zip(grads, t_grads)):
        if t is None:
            assert g is None, f"{name}: input {k} got a gradient but torch's is None"
            continue
        assert g is not None, f"{name}: input {k} has no gradient (torch has one)"
        assert g.dtype == np.dtype(dtype), f"{name}: grad of input {k} has dtype {g.dtype}"
        assert_close(f"{name} d input {k}", g, t, dtype)
