"""``nnlab.functional`` against torch 2.13 autograd: every output and every input gradient, float64 to 1e-10
and float32 to 1e-5 (relative to the largest reference entry), for every case of ``functional_cases``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nnlab.functional as NF
from nnlab.autograd import grad, tensor

from .functional_cases import CASE_IDS, CASES, TORCH, flat

torch.set_num_threads(1)
TOL = {np.float64: 1e-10, np.float32: 1e-5}


def _rel(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    return float(np.max(np.abs(a - b), initial=0.0) / max(np.max(np.abs(b), initial=0.0), 1e-30))


def _cast(a, dtype):
    return a.astype(dtype) if np.issubdtype(a.dtype, np.floating) else a


def run_both(case, dtype, seed=0):
    """Outputs and input gradients of ``case`` from nnlab and from torch, on the same data and the same
    upstream gradients."""
    diff, const = case.make(np.random.default_rng(seed))
    diff = [_cast(a, dtype) for a in diff]
    const_n = {k: _cast(v, dtype).copy() for k, v in const.items()}
    const_t = {k: torch.tensor(_cast(v, dtype).copy()) for k, v in const.items()}
    xs_n = [tensor(a.copy(), requires_grad=True) for a in diff]
    xs_t = [torch.tensor(a.copy(), requires_grad=True) for a in diff]
    outs_n = flat(case.call(NF, const_n, *xs_n))
    outs_t = flat(case.call(case.torch_ns or TORCH, const_t, *xs_t))
    assert len(outs_n) == len(outs_t)
    rng = np.random.default_rng(seed + 1)
    gs = [rng.standard_normal(o.shape).astype(dtype) for o in outs_t]
    grads_n = grad(outs_n, xs_n, gs, allow_unused=True)
    grads_t = torch.autograd.grad(outs_t, xs_t, [torch.tensor(g) for g in gs], allow_unused=True)
    return outs_n, outs_t, grads_n, grads_t, const_n, const_t


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_outputs_and_gradients_match_torch(case, dtype):
    outs_n, outs_t, grads_n, grads_t, _, _ = run_both(case, dtype)
    tol = TOL[dtype]
    for i, (a, b) in enumerate(zip(outs_n, outs_t)):
        assert a.dtype == dtype, f"output {i} has dtype {a.dtype}"
        assert _rel(a.data, b.detach().numpy()) <= tol, f"output {i}"
    for i, (a, b) in enumerate(zip(grads_n, grads_t)):
        assert (a is None) == (b is None), f"gradient {i}: nnlab {a is None}, torch {b is None}"
        if b is not None:
            assert a.dtype == dtype, f"gradient {i} has dtype {a.dtype}"
            assert _rel(a, b.numpy()) <= tol, f"gradient of input {i}"


@pytest.mark.parametrize("case", [c for c in CASES if c.id.startswith("batch_norm_train") and "noaffine" not in c.id],
                         ids=lambda c: c.id)
def test_batch_norm_updates_running_statistics_in_place_as_torch(case):
    diff, const = case.make(np.random.default_rng(0))
    rm, rv = const["rm"].copy(), const["rv"].copy()
    ids = (id(rm), id(rv))
    case.call(NF, {"rm": rm, "rv": rv}, *[tensor(a) for a in diff])
    rm_t, rv_t = torch.tensor(const["rm"]), torch.tensor(const["rv"])
    case.call(TORCH, {"rm": rm_t, "rv": rv_t}, *[torch.tensor(a) for a in diff])
    assert (id(rm), id(rv)) == ids
    assert _rel(rm, rm_t.numpy()) <= 1e-12 and not np.allclose(rm, const["rm"])
    assert _rel(rv, rv_t.numpy()) <= 1e-12 and not np.allclose(rv, const["rv"])


def test_batch_norm_running_statistics_in_a_tensor_buffer():
    x = np.random.default_rng(1).standard_normal((4, 3))
    buf_m, buf_v = tensor(np.zeros(3)), tensor(np.ones(3))
    NF.batch_norm(tensor(x), buf_m, buf_v, training=True, momentum=0.5)
    np.testing.assert_allclose(buf_m.data, 0.5 * x.mean(0), rtol=1e-14)
    np.testing.assert_allclose(buf_v.data, 0.5 + 0.5 * x.var(0, ddof=1), rtol=1e-14)


def test_lstm_final_cell_state_gradient_alone():
    """Only c_n feeds the loss: the node's h output gets a zero gradient, c_n's flows through
    lstm_backward_with_state's dc_last."""
    case = next(c for c in CASES if c.id == "lstm")
    diff, _ = case.make(np.random.default_rng(3))
    xs_n = [tensor(a, requires_grad=True) for a in diff]
    xs_t = [torch.tensor(a, requires_grad=True) for a in diff]
    _, (_, c_n) = case.call(NF, {}, *xs_n)
    _, (_, c_t) = case.call(TORCH, {}, *xs_t)
    (c_n * c_n).sum().backward()
    (c_t * c_t).sum().backward()
    for a, b in zip(xs_n, xs_t):
        assert _rel(a.grad, b.grad.numpy()) <= 1e-10


# ---- random shapes (hypothesis): the shape-dependent ops against torch in float64 ---------------------------


def _grads_match(nn_fn, torch_fn, arrays, seed=0):
    xs_n = [tensor(a.copy(), requires_grad=True) for a in arrays]
    xs_t = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    out_n, out_t = nn_fn(*xs_n), torch_fn(*xs_t)
    assert _rel(out_n.data, out_t.detach().numpy()) <= 1e-10
    g = np.random.default_rng(seed).standard_normal(out_t.shape)
    grads_n = grad(out_n, xs_n, g)
    grads_t = torch.autograd.grad(out_t, xs_t, torch.tensor(g))
    for a, b in zip(grads_n, grads_t):
        # relative to the largest entry, floored at 1e-6: a gradient that cancels down from O(1) terms (layer
        # norm over two values: ~1e-7) is exact only to ~1e-16 absolute
        b = b.numpy()
        assert np.max(np.abs(a - b)) <= 1e-10 * max(np.max(np.abs(b)), 1e-6)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 4), f=st.integers(1, 4), h=st.integers(3, 9), w=st.integers(3, 9),
       k=st.integers(1, 3), stride=st.integers(1, 3), pad=st.integers(0, 2), bias=st.booleans())
def test_conv2d_random_shapes_match_torch(n, c, f, h, w, k, stride, pad, bias):
    rng = np.random.default_rng(n * 1000 + h * 10 + w)
    arrays = [rng.standard_normal((n, c, h, w)), rng.standard_normal((f, c, k, k))]
    if bias:
        arrays.append(rng.standard_normal(f))
    _grads_match(lambda *a: NF.conv2d(*a, stride=stride, padding=pad),
                 lambda *a: torch.nn.functional.conv2d(*a, stride=stride, padding=pad), arrays)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(2, 8), w=st.integers(2, 8), k=st.integers(1, 3),
       stride=st.integers(1, 3), kind=st.sampled_from(["max", "avg", "adaptive"]))
def test_pooling_random_shapes_match_torch(n, c, h, w, k, stride, kind):
    k = min(k, h, w)
    x = np.random.default_rng(h * 10 + w).standard_normal((n, c, h, w))
    if kind == "adaptive":
        size = (max(1, h - k), max(1, w - stride))
        _grads_match(lambda a: NF.adaptive_avg_pool2d(a, size),
                     lambda a: torch.nn.functional.adaptive_avg_pool2d(a, size), [x])
        return
    name = f"{kind}_pool2d"
    _grads_match(lambda a: getattr(NF, name)(a, k, stride), lambda a: getattr(torch.nn.functional, name)(a, k, stride),
                 [x])


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=2, max_size=4), groups_pick=st.integers(0, 3),
       training=st.booleans())
def test_normalizations_random_shapes_match_torch(shape, groups_pick, training):
    shape = tuple(shape)
    rng = np.random.default_rng(sum(shape))
    c = shape[1]
    x, w, b = rng.standard_normal(shape), rng.standard_normal(c), rng.standard_normal(c)
    if training and int(np.prod(shape)) // c > 1:
        _grads_match(lambda *a: NF.batch_norm(a[0], None, None, a[1], a[2], training=True),
                     lambda *a: torch.nn.functional.batch_norm(a[0], None, None, a[1], a[2], training=True),
                     [x, w, b])
    divisors = [g for g in range(1, c + 1) if c % g == 0]
    g = divisors[groups_pick % len(divisors)]
    if int(np.prod(shape)) // shape[0] // g > 1:  # torch needs more than one value per group
        _grads_match(lambda *a: NF.group_norm(a[0], g, a[1], a[2]),
                     lambda *a: torch.nn.functional.group_norm(a[0], g, a[1], a[2]), [x, w, b])
    last = shape[-1]
    if last == 1:  # normalizing one value: the input's gradient is exactly 0 here, torch's is rounding noise
        return
    lw, lb = rng.standard_normal(last), rng.standard_normal(last)
    _grads_match(lambda *a: NF.layer_norm(a[0], (last,), a[1], a[2]),
                 lambda *a: torch.nn.functional.layer_norm(a[0], (last,), a[1], a[2]), [x, lw, lb])


def test_dropout_draws_as_the_kernel_from_numpy_global_rng_or_a_seed():
    from nnlab.layers import dropout_forward

    x = np.random.default_rng(0).standard_normal((6, 7))
    np.random.seed(231)
    a = NF.dropout(tensor(x, requires_grad=True), 0.4).data
    np.random.seed(231)
    b = dropout_forward(x, {"mode": "train", "p": 0.4})[0]
    np.testing.assert_array_equal(a, b)
    c = NF.dropout(tensor(x), 0.4, seed=5).data
    np.testing.assert_array_equal(c, NF.dropout(x, 0.4, seed=5).data)
    np.testing.assert_array_equal(c, x * _mask_from(np.random.RandomState(5), x.shape, 0.4))
    g = NF.dropout(x, 0.4, seed=np.random.default_rng(1)).data
    np.testing.assert_array_equal(g, x * _mask_from(np.random.default_rng(1), x.shape, 0.4))
    assert not np.array_equal(a, c)


def _mask_from(rng, shape, p):
    u = rng.random(shape) if isinstance(rng, np.random.Generator) else rng.rand(*shape)
    return (u < 1 - p) / (1 - p)
