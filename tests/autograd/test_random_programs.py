"""Hypothesis-generated random programs over random broadcastable shapes, against torch 2.13 (float64, 1e-10).

A program draws a base shape, one to three inputs whose shapes broadcast to it (leading axes dropped, any axis
set to 1), then a sequence of operations from a small vocabulary, each reading one or two earlier values:
add, sub, mul, a safe division, maximum (including a value with itself: ties), minimum, where, exp(tanh),
tanh, sigmoid, relu, square, neg, sum/mean over an axis (kept, or dropped when it is the leading one), a
reshape round trip and a permute round trip. Every value's shape still broadcasts to the base shape, so any two
can meet. The produced values are the outputs; :func:`tests.autograd.torch_programs.compare_with_torch`
checks them and every input's gradient.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.autograd.torch_programs import compare_with_torch

BINARY = ("add", "sub", "mul", "div", "maximum", "minimum", "where")
UNARY = ("exp_tanh", "tanh", "sigmoid", "relu", "square", "neg", "sum", "mean", "reshape", "permute")


def apply_op(ns, op: tuple, pool: list):
    """One operation of the vocabulary on values of ``pool`` (indices taken modulo its length)."""
    name, i, j, k = op
    a, b = pool[i % len(pool)], pool[j % len(pool)]
    if name == "add":
        return a + b
    if name == "sub":
        return b - a
    if name == "mul":
        return a * b
    if name == "div":
        return a / (b * b + 1.0)
    if name == "maximum":
        return ns.maximum(a, b)  # a and b may be one value: a tie everywhere
    if name == "minimum":
        return ns.minimum(a, b)
    if name == "where":
        return ns.where(b > 0, a, b * 0.5)
    if name == "exp_tanh":
        return a.tanh().exp()
    if name == "tanh":
        return a.tanh()
    if name == "sigmoid":
        return a.sigmoid()
    if name == "relu":
        return a.relu()
    if name == "square":
        return a * a
    if name == "neg":
        return -a
    if a.ndim == 0:
        return a * 2.0
    axis = k % a.ndim
    if name in ("sum", "mean"):
        keep = axis != 0 or k % 2 == 0  # dropping the leading axis keeps the shape broadcastable
        return getattr(a, name)(dim=axis, keepdim=keep)
    if name == "reshape":
        shape = tuple(a.shape)
        return (a.reshape(tuple(reversed(shape))).tanh() * 1.5).reshape(shape)
    perm = [int(d) for d in np.random.default_rng(k).permutation(a.ndim)]
    inverse = [int(d) for d in np.argsort(perm)]
    p = a.permute(*perm)
    return (p * p.sum(dim=a.ndim - 1, keepdim=True)).permute(*inverse)


@st.composite
def random_programs(draw):
    ndim = draw(st.integers(0, 3))
    base = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
    shapes = []
    for _ in range(draw(st.integers(1, 3))):
        lead = draw(st.integers(0, ndim))
        shapes.append(tuple(n if draw(st.booleans()) else 1 for n in base[lead:]))
    op = st.tuples(st.sampled_from(BINARY + UNARY), st.integers(0, 20), st.integers(0, 20), st.integers(0, 20))
    ops = draw(st.lists(op, min_size=1, max_size=8))
    seed = draw(st.integers(0, 2**32 - 1))
    return base, shapes, ops, seed


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_programs())
def test_random_program_gradients_match_torch(program):
    base, shapes, ops, seed = program
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]

    def fn(ns, *inputs):
        pool = list(inputs)
        for op in ops:
            out = apply_op(ns, op, pool)
            assert np.broadcast_shapes(tuple(out.shape), base) == base
            pool.append(out)
        return tuple(pool[len(inputs):])

    compare_with_torch(f"program {ops} on {shapes}", fn, arrays, np.float64, rng)
