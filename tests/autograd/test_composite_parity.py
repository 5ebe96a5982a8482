"""Composite programs on the tape against torch 2.13 autograd (issue 20, acceptance bullet 1).

Each program is written once (``fn(ns, *inputs)``, see :mod:`tests.autograd.torch_programs`) and run on nnlab
Tensors and on torch tensors in float64 and float32; the outputs and every input's gradient must agree to
1e-10 (float64) and 1e-5 (float32) relative. The programs cover broadcasting in every position, repeated
integer indices and boolean masks, a tensor used three times, shared weights, residual blocks, attention, an
LSTM cell, cross-entropy with label smoothing, normalization, ``where``, ``cat``/``stack``, reshape/permute
chains, ``maximum``/``minimum`` with ties and ``pow`` with a tensor exponent. The comparisons with
``nnlab.functional`` run once that module exists (``pytest.importorskip`` inside those tests only).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch

import nnlab.autograd as ag
from tests.autograd.torch_programs import NnlabOps, compare_with_torch
from tests.parity.conftest import assert_close, to_torch

DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])


@dataclass(frozen=True)
class Program:
    name: str
    fn: Callable
    inputs: tuple  # (shape, kind) per input; kind: "n" normal, "p" positive, "q" quarters in [-1, 1], "tie0"


def make_inputs(specs: tuple, rng: np.random.Generator) -> list[np.ndarray]:
    """Draw the inputs: "n" standard normal, "p" uniform in [0.5, 2], "q" multiples of 0.25 in [-1, 1] (exact
    zeros and clip bounds), "tie0" a copy of input 0 with every other entry moved (ties with input 0)."""
    arrays: list[np.ndarray] = []
    for shape, kind in specs:
        if kind == "n":
            a = rng.standard_normal(shape)
        elif kind == "p":
            a = rng.uniform(0.5, 2.0, shape)
        elif kind == "q":
            a = rng.integers(-4, 5, shape) / 4.0
        elif kind == "tie0":
            a = arrays[0].copy()
            a.reshape(-1)[::2] += rng.standard_normal(a.reshape(-1)[::2].shape)
        else:
            raise ValueError(kind)
        arrays.append(np.asarray(a, dtype=np.float64))
    return arrays


# ---- building blocks written from Tensor operations (the same code runs on torch) ---------------------------------
def softmax(ns, s, dim=-1):
    e = (s - ns.rowmax(s, dim)).exp()
    return e / e.sum(dim=dim, keepdim=True)


def attention(ns, q, k, v, mask=None):
    """softmax(q k^T / sqrt(d) [masked]) v over the last two axes."""
    s = q @ k.transpose(-2, -1) * (1.0 / q.shape[-1] ** 0.5)
    if mask is not None:
        s = ns.where(ns.const(mask), s, -1e9)
    return softmax(ns, s) @ v


def lstm_cell_steps(ns, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
    """LSTM over x (N, T, D) from Tensor ops in torch's layout (w_ih (4H, D), w_hh (4H, H), gates i, f, g, o);
    returns (every h (N, T, H), c_T (N, H))."""
    hdim = h0.shape[1]
    h, c, hs = h0, c0, []
    for t in range(x.shape[1]):
        a = x[:, t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        i, f = a[:, :hdim].sigmoid(), a[:, hdim:2 * hdim].sigmoid()
        g, o = a[:, 2 * hdim:3 * hdim].tanh(), a[:, 3 * hdim:].sigmoid()
        c = f * c + i * g
        h = o * c.tanh()
        hs.append(h)
    return ns.stack(hs, 1), c


def cross_entropy_smoothed(ns, z, y, eps):
    """Mean over rows of (1 - eps) * (-log p_y) + eps * mean_c(-log p_c), log-softmax from exp/sum/log."""
    zs = z - ns.rowmax(z, 1)
    logp = zs - zs.exp().sum(dim=1, keepdim=True).log()
    nll = -logp[ns.idx(np.arange(z.shape[0])), ns.idx(y)]
    return ((1 - eps) * nll + eps * -logp.mean(dim=1)).mean()


def batch_norm_train(ns, x, gamma, beta, axes, eps=1e-5):
    mu = x.mean(dim=axes, keepdim=True)
    var = ((x - mu) ** 2).mean(dim=axes, keepdim=True)
    return (x - mu) / (var + eps).sqrt() * gamma + beta


LABELS = np.array([2, 0, 4, 4, 1, 3, 0])
MASK_4x5 = np.array([[1, 0, 1, 1, 0], [0, 0, 1, 0, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]], dtype=bool)
CAUSAL_5 = np.tril(np.ones((5, 5), dtype=bool))


def _residual(ns, x, w1, b1, w2, b2):
    return x + (x @ w1 + b1).relu() @ w2 + b2


def _gru_steps(ns, x, h0, wx, wh, b):
    hdim, h = h0.shape[1], h0
    for t in range(x.shape[0]):
        a, r_h = x[t] @ wx + b, h @ wh
        z = (a[:, :hdim] + r_h[:, :hdim]).sigmoid()
        r = (a[:, hdim:2 * hdim] + r_h[:, hdim:2 * hdim]).sigmoid()
        n = (a[:, 2 * hdim:] + r * r_h[:, 2 * hdim:]).tanh()
        h = (1 - z) * n + z * h
    return h


def _multihead(ns, x, wq, wk, wv, wo):
    n, t, d = x.shape
    heads = 2

    def split(m):
        return m.reshape(n, t, heads, d // heads).permute(0, 2, 1, 3)

    o = attention(ns, split(x @ wq), split(x @ wk), split(x @ wv), CAUSAL_5)
    return o.permute(0, 2, 1, 3).reshape(n, t, d) @ wo


PROGRAMS = [
    # broadcasting in every position
    Program("nchw_plus_c11", lambda ns, x, b: (x + b) * x, (((2, 3, 4, 5), "n"), ((3, 1, 1), "n"))),
    Program("c11_plus_nchw", lambda ns, x, b: (b - x).tanh() * b, (((2, 3, 4, 5), "n"), ((3, 1, 1), "n"))),
    Program("nd_times_d", lambda ns, x, w: (x * w).sum(dim=1), (((6, 4), "n"), ((4,), "n"))),
    Program("d_times_nd_div", lambda ns, x, w: w * x / (w * w + 1.0), (((6, 4), "n"), ((4,), "n"))),
    Program("outer_n1_1d", lambda ns, a, b: (a * b).exp() - a / (1.0 + b * b), (((5, 1), "n"), ((1, 3), "n"))),
    Program("mid_axes_1c11_n1h1", lambda ns, a, b: (a + b).sigmoid() * a,
            (((1, 3, 1, 1), "n"), ((2, 1, 4, 1), "n"))),
    Program("zero_dim_tensor", lambda ns, s, x: s * x + s / (x * x + 1.0), (((), "n"), ((3, 4), "n"))),
    Program("python_scalars_both_sides", lambda ns, x: 2.0 - x * 3.0 + 1.0 / (x * x + 2.0) - (x - 1.5) / 4.0
            + 2.0 ** x + x ** 2, (((3, 4), "n"),)),
    Program("arrays_constant_both_sides", lambda ns, x: ns.const(np.arange(4.0)) * x - x / ns.const(
        np.arange(1.0, 5.0)) + ns.const(np.ones((3, 1))) @ x[:1], (((3, 4), "n"),)),
    Program("where_broadcast", lambda ns, x, a, b: ns.where(x > 0, x * a, b - x), (((4, 5), "n"), ((5,), "n"),
                                                                               ((4, 1), "n"))),
    Program("where_leaky_scalar", lambda ns, x: ns.where(x > 0, x, 0.1 * x).sum(dim=0), (((4, 5), "n"),)),
    # indexing
    Program("repeated_integer_rows", lambda ns, x: x[ns.idx([0, 2, 2, 1, 0, 2])] * 2.0, (((3, 4), "n"),)),
    Program("repeated_integer_pairs", lambda ns, x: x[ns.idx([0, 1, 1, 0, 1]), ns.idx([3, 3, 3, 0, 2])],
            (((2, 4), "n"),)),
    Program("repeated_columns_and_slices", lambda ns, x: x[:, ns.idx([1, 1, 3])][1:, ::2] * x[1:, :2],
            (((3, 4), "n"),)),
    Program("boolean_mask", lambda ns, x, w: (x[ns.idx(MASK_4x5)] * w[ns.idx(MASK_4x5)]).exp(),
            (((4, 5), "n"), ((4, 5), "n"))),
    Program("boolean_mask_from_comparison", lambda ns, x: x[x > 0].sum() * x, (((4, 5), "n"),)),
    # several uses, shared weights, residual blocks
    Program("used_three_times", lambda ns, x: x * x.exp() + x.tanh(), (((3, 4), "n"),)),
    Program("shared_weights_two_layers", lambda ns, x, w: ((x @ w).tanh() @ w).tanh(), (((5, 4), "n"),
                                                                                       ((4, 4), "n"))),
    Program("residual_blocks_shared", lambda ns, x, w1, b1, w2, b2: _residual(ns, _residual(
        ns, x, w1, b1, w2, b2), w1, b1, w2, b2), (((6, 4), "n"), ((4, 8), "n"), ((8,), "n"), ((8, 4), "n"),
                                                  ((4,), "n"))),
    # attention, recurrent cells, losses, normalization
    Program("attention_from_ops", lambda ns, q, k, v: attention(ns, q, k, v),
            (((2, 5, 4), "n"), ((2, 6, 4), "n"), ((2, 6, 3), "n"))),
    Program("multihead_causal_attention", _multihead, (((2, 5, 4), "n"), ((4, 4), "n"), ((4, 4), "n"),
                                                      ((4, 4), "n"), ((4, 4), "n"))),
    Program("lstm_cell_from_ops", lstm_cell_steps, (((3, 4, 5), "n"), ((3, 2), "n"), ((3, 2), "n"),
                                                    ((8, 5), "n"), ((8, 2), "n"), ((8,), "n"), ((8,), "n"))),
    Program("gru_cell_from_ops", _gru_steps, (((4, 3, 5), "n"), ((3, 2), "n"), ((5, 6), "n"), ((2, 6), "n"),
                                              ((6,), "n"))),
    Program("cross_entropy_label_smoothing", lambda ns, z: cross_entropy_smoothed(ns, z, LABELS, 0.1),
            (((7, 5), "n"),)),
    Program("mlp_softmax_loss", lambda ns, x, w1, w2: cross_entropy_smoothed(
        ns, (x @ w1).sigmoid() @ w2, LABELS, 0.0), (((7, 3), "n"), ((3, 6), "n"), ((6, 5), "n"))),
    Program("batch_norm_nchw_from_ops", lambda ns, x, g, b: batch_norm_train(ns, x, g, b, (0, 2, 3)),
            (((3, 2, 4, 4), "n"), ((2, 1, 1), "n"), ((2, 1, 1), "n"))),
    Program("layer_norm_from_ops", lambda ns, x, g, b: batch_norm_train(ns, x, g, b, -1),
            (((5, 6), "n"), ((6,), "n"), ((6,), "n"))),
    Program("mse_and_l1_losses", lambda ns, p, t: ((p - t) ** 2).mean() + (p - t).abs().mean(dim=0),
            (((6, 3), "n"), ((6, 3), "n"))),
    # joins and shape chains
    Program("cat_three_dims", lambda ns, a, b, c: ns.cat([a, b * 2.0, a], dim=1).tanh() * ns.cat(
        [c, c], dim=0).sum(dim=1, keepdim=True), (((2, 3), "n"), ((2, 4), "n"), ((1, 10), "n"))),
    Program("stack_new_axis", lambda ns, a, b: ns.stack([a, b, a * b], dim=1).exp().mean(dim=(0, 2)),
            (((3, 4), "n"), ((3, 4), "n"))),
    Program("reshape_permute_chain", lambda ns, x, w: (x.reshape(2, 3, 4).permute(2, 0, 1).reshape(4, 6)
                                                       @ w).transpose(0, 1).reshape(-1),
            (((6, 4), "n"), ((6, 5), "n"))),
    Program("flatten_squeeze_unsqueeze_T", lambda ns, x: (x.unsqueeze(0).flatten(1).squeeze(0).reshape(4, 3).T
                                                          * x.sum(dim=1)).exp(), (((3, 1, 4), "n"),)),
    Program("batched_matmul_broadcasts", lambda ns, a, b, v: ((a @ b) @ v + v @ (a @ b).transpose(-2, -1))
            .sum(dim=0) * (v @ b).sum(),
            (((2, 3, 4), "n"), ((4, 4), "n"), ((4,), "n"))),
    Program("matmul_batch_dims_broadcast", lambda ns, a, b: a @ b, (((1, 3, 2, 4), "n"), ((2, 1, 4, 3), "n"))),
    # elementwise functions at their kinks
    Program("maximum_minimum_ties", lambda ns, a, b: ns.maximum(a, b) * 2.0 + ns.minimum(b, a) * 3.0,
            (((4, 5), "n"), ((4, 5), "tie0"))),
    Program("maximum_broadcast_and_self", lambda ns, a, b: ns.maximum(a, b) + ns.minimum(a, a * 1.0),
            (((4, 5), "n"), ((5,), "n"))),
    Program("relu_abs_clip_at_kinks", lambda ns, x: x.relu() + x.abs() * 2.0 + x.clip(-0.5, 0.5) * 3.0,
            (((6, 7), "q"),)),
    Program("pow_tensor_exponent", lambda ns, a, p: a ** p + p ** 2.0 * a ** -1.5, (((3, 4), "p"),
                                                                                    ((4,), "n"))),
    Program("log_sqrt_exp_chain", lambda ns, x: (x.sqrt() + x.log() * x).exp() / x, (((3, 4), "p"),)),
    Program("sum_mean_axes_keepdim", lambda ns, x: x.sum(dim=(0, 2), keepdim=True) * x.mean(dim=1, keepdim=True)
            - x.mean() + x.sum(dim=-1, keepdim=True).mean(dim=0), (((2, 3, 4), "n"),)),
]


@DTYPES
@pytest.mark.parametrize("program", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_composite_program_gradients_match_torch(program, dtype, rng):
    compare_with_torch(program.name, program.fn, make_inputs(program.inputs, rng), dtype, rng)


def test_there_are_at_least_30_composite_programs():
    assert len(PROGRAMS) >= 30 and len({p.name for p in PROGRAMS}) == len(PROGRAMS)


# ---- the programs against torch's own building blocks ----------------------------------------------------------
@DTYPES
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_cross_entropy_from_ops_equals_torch_cross_entropy(eps, dtype, rng):
    z = rng.standard_normal((7, 5)).astype(dtype)
    zt = ag.tensor(z.copy(), requires_grad=True)
    loss = cross_entropy_smoothed(NnlabOps(dtype), zt, LABELS, eps)
    loss.backward()
    ref = to_torch(z, requires_grad=True)
    ref_loss = torch.nn.functional.cross_entropy(ref, torch.from_numpy(LABELS), label_smoothing=eps)
    ref_loss.backward()
    assert_close("loss", np.asarray(loss.data), ref_loss, dtype)
    assert_close("dz", zt.grad, ref.grad, dtype)


@DTYPES
def test_attention_from_ops_equals_torch_sdpa_causal(dtype, rng):
    q, k, v = (rng.standard_normal((2, 5, 4)).astype(dtype) for _ in range(3))
    ours = [ag.tensor(a.copy(), requires_grad=True) for a in (q, k, v)]
    out = attention(NnlabOps(dtype), *ours, mask=CAUSAL_5)
    g = rng.standard_normal(out.shape).astype(dtype)
    out.backward(g)
    ref = [to_torch(a, requires_grad=True) for a in (q, k, v)]
    ref_out = torch.nn.functional.scaled_dot_product_attention(*ref, is_causal=True)
    ref_out.backward(torch.from_numpy(g))
    assert_close("out", out.data, ref_out, dtype)
    for name, a, b in zip("qkv", ours, ref):
        assert_close(f"d{name}", a.grad, b.grad, dtype)


# ---- nnlab.functional (runs once the module exists) --------------------------------------------------------------
def _leaves(arrays: list[np.ndarray]) -> list:
    return [ag.tensor(a.copy(), requires_grad=True) for a in arrays]


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_functional_sdpa_equals_attention_from_ops(causal, rng):
    F = pytest.importorskip("nnlab.functional")
    arrays = [rng.standard_normal((2, 2, 5, 4)) for _ in range(3)]
    g = rng.standard_normal((2, 2, 5, 4))
    ops_in, f_in = _leaves(arrays), _leaves(arrays)
    attention(NnlabOps(np.float64), *ops_in, mask=CAUSAL_5 if causal else None).backward(g)
    out = F.scaled_dot_product_attention(*f_in, is_causal=causal)
    out.backward(g)
    ref = [to_torch(a, requires_grad=True) for a in arrays]
    ref_out = torch.nn.functional.scaled_dot_product_attention(*ref, is_causal=causal)
    ref_out.backward(torch.from_numpy(g))
    assert_close("F.sdpa out", out.data, ref_out, np.float64)
    for name, a, b, r in zip("qkv", ops_in, f_in, ref):
        assert_close(f"d{name} F vs ops", b.grad, a.grad, np.float64)
        assert_close(f"d{name} F vs torch", b.grad, r.grad, np.float64)


def test_functional_sdpa_with_boolean_attn_mask_matches_torch(rng):
    F = pytest.importorskip("nnlab.functional")
    arrays = [rng.standard_normal((2, 4, 3)) for _ in range(3)]
    mask = np.array([[1, 0, 1, 1], [1, 1, 0, 0], [0, 1, 1, 1], [1, 1, 1, 0]], dtype=bool)
    ours = _leaves(arrays)
    out = F.scaled_dot_product_attention(*ours, attn_mask=mask)
    out.sum().backward()
    ref = [to_torch(a, requires_grad=True) for a in arrays]
    ref_out = torch.nn.functional.scaled_dot_product_attention(*ref, attn_mask=torch.from_numpy(mask))
    ref_out.sum().backward()
    assert_close("out", out.data, ref_out, np.float64)
    for name, a, r in zip("qkv", ours, ref):
        assert_close(f"d{name}", a.grad, r.grad, np.float64)


def test_functional_lstm_equals_lstm_cell_from_ops(rng):
    """``F.lstm`` (one node over the whole sequence, torch's layout) vs the same recurrence written step by step
    from Tensor operations (itself checked against torch above): the output, both final states, and the
    gradients of input, h0, c0 and the four parameters from all three."""
    F = pytest.importorskip("nnlab.functional")
    n, t, d, h = 3, 4, 5, 2
    shapes = ((n, t, d), (n, h), (n, h), (4 * h, d), (4 * h, h), (4 * h,), (4 * h,))
    arrays = [rng.standard_normal(s) for s in shapes]
    g_out, g_h, g_c = rng.standard_normal((n, t, h)), rng.standard_normal((1, n, h)), rng.standard_normal((1, n, h))
    ops_in, f_in = _leaves(arrays), _leaves(arrays)
    hs, c_t = lstm_cell_steps(NnlabOps(np.float64), *ops_in)
    ((hs * g_out).sum() + (hs[:, -1] * g_h[0]).sum() + (c_t * g_c[0]).sum()).backward()
    x, h0, c0, w_ih, w_hh, b_ih, b_hh = f_in
    out, (h_n, c_n) = F.lstm(x, (h0.unsqueeze(0), c0.unsqueeze(0)), w_ih, w_hh, b_ih, b_hh)
    assert tuple(out.shape) == (n, t, h) and tuple(h_n.shape) == tuple(c_n.shape) == (1, n, h)
    assert_close("F.lstm output", out.data, hs.data, np.float64)
    assert_close("F.lstm c_n", c_n.data[0], c_t.data, np.float64)
    assert_close("F.lstm h_n", h_n.data[0], hs.data[:, -1], np.float64)
    ((out * g_out).sum() + (h_n * g_h).sum() + (c_n * g_c).sum()).backward()
    names = ("input", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh")
    for name, a, b_ in zip(names, ops_in, f_in):
        assert_close(f"d{name} F.lstm vs ops", b_.grad, a.grad, np.float64)


@pytest.mark.parametrize("eps", [0.0, 0.2])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_functional_cross_entropy_label_smoothing_matches_torch_and_ops(eps, reduction, rng):
    F = pytest.importorskip("nnlab.functional")
    z = rng.standard_normal((7, 5))
    ours = ag.tensor(z.copy(), requires_grad=True)
    loss = F.cross_entropy(ours, LABELS, reduction=reduction, label_smoothing=eps)
    loss.backward()
    ref = to_torch(z, requires_grad=True)
    ref_loss = torch.nn.functional.cross_entropy(ref, torch.from_numpy(LABELS), reduction=reduction,
                                                 label_smoothing=eps)
    ref_loss.backward()
    assert_close("loss", np.asarray(loss.data), ref_loss, np.float64)
    assert_close("dz", ours.grad, ref.grad, np.float64)
    if reduction == "mean":
        ops = ag.tensor(z.copy(), requires_grad=True)
        cross_entropy_smoothed(NnlabOps(np.float64), ops, LABELS, eps).backward()
        assert_close("dz F vs ops", ours.grad, ops.grad, np.float64)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 2, 3)], ids=["NC", "NCHW"])
def test_functional_batch_norm_both_modes_matches_torch(training, shape, rng):
    F = pytest.importorskip("nnlab.functional")
    c = shape[1]
    x, w, b = rng.standard_normal(shape), rng.standard_normal(c), rng.standard_normal(c)
    mean0, var0 = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    g = rng.standard_normal(shape)
    ours = _leaves([x, w, b])
    rm, rv = mean0.copy(), var0.copy()
    out = F.batch_norm(ours[0], rm, rv, ours[1], ours[2], training=training, momentum=0.3, eps=1e-5)
    out.backward(g)
    ref = [to_torch(a, requires_grad=True) for a in (x, w, b)]
    trm, trv = torch.tensor(mean0.copy()), torch.tensor(var0.copy())
    ref_out = torch.nn.functional.batch_norm(ref[0], trm, trv, ref[1], ref[2], training=training, momentum=0.3,
                                             eps=1e-5)
    ref_out.backward(torch.from_numpy(g))
    assert_close("out", out.data, ref_out, np.float64)
    for name, a, r in zip(("x", "weight", "bias"), ours, ref):
        assert_close(f"d{name}", a.grad, r.grad, np.float64)
    assert_close("running_mean", rm, trm, np.float64)
    assert_close("running_var", rv, trv, np.float64)
    if training:
        ops = _leaves([x, w, b])
        axes = (0,) if len(shape) == 2 else (0, 2, 3)
        bshape = (c,) if len(shape) == 2 else (c, 1, 1)
        batch_norm_train(NnlabOps(np.float64), ops[0], ops[1].reshape(bshape), ops[2].reshape(bshape),
                         axes).backward(g)
        for name, a, o in zip(("x", "weight", "bias"), ours, ops):
            assert_close(f"d{name} F vs ops", a.grad, o.grad, np.float64)


def residual_convnet(F, x, w1, g1, b1, w2, g2, b2, wfc, bfc, stats, y, training):
    """A residual conv block twice with shared weights (conv-bn-relu-conv-bn + skip, max-pool between), global
    average pooling, a linear head and label-smoothed cross-entropy: the same code for ``nnlab.functional``
    and ``torch.nn.functional``; ``stats`` holds one (running_mean, running_var) pair per batch norm."""
    def block(h, k):
        a = F.relu(F.batch_norm(F.conv2d(h, w1, padding=1), *stats[2 * k], g1, b1, training=training))
        a = F.batch_norm(F.conv2d(a, w2, padding=1), *stats[2 * k + 1], g2, b2, training=training)
        return F.relu(a + h)

    h = F.max_pool2d(block(x, 0), 2)
    p = F.adaptive_avg_pool2d(block(h, 1), 1).flatten(1)
    return F.cross_entropy(F.linear(p, wfc, bfc), y, label_smoothing=0.1)


@DTYPES
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_functional_residual_convnet_matches_torch(training, dtype, rng):
    F = pytest.importorskip("nnlab.functional")
    n, c, hw, classes = 4, 3, 6, 5
    arrays = [rng.standard_normal(s).astype(dtype) for s in (
        (n, c, hw, hw), (c, c, 3, 3), (c,), (c,), (c, c, 3, 3), (c,), (c,), (classes, c), (classes,))]
    stats0 = [(rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype)) for _ in range(4)]
    y = LABELS[:n]
    ours = _leaves(arrays)
    stats = [(m.copy(), v.copy()) for m, v in stats0]
    loss = residual_convnet(F, *ours, stats, y, training)
    loss.backward()
    ref = [to_torch(a, requires_grad=True) for a in arrays]
    ref_stats = [(torch.tensor(m.copy()), torch.tensor(v.copy())) for m, v in stats0]
    ref_loss = residual_convnet(torch.nn.functional, *ref, ref_stats, torch.from_numpy(y), training)
    ref_loss.backward()
    assert loss.dtype == dtype
    assert_close("loss", np.asarray(loss.data), ref_loss, dtype)
    names = ("x", "w1", "gamma1", "beta1", "w2", "gamma2", "beta2", "W_fc", "b_fc")
    for name, a, r in zip(names, ours, ref):
        assert a.grad.dtype == dtype
        assert_close(f"d{name}", a.grad, r.grad, dtype)
    for k, ((m, v), (tm, tv)) in enumerate(zip(stats, ref_stats)):
        assert_close(f"running_mean {k}", m, tm, dtype)
        assert_close(f"running_var {k}", v, tv, dtype)
