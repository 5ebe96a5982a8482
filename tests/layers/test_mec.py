"""MEC convolution (nnlab.layers.mec): agreement with the naive kernel in float64 on odd shapes, strides and pads
(one chunk and one output row per chunk), numerical gradients, float32 accuracy, the memory it keeps, and bad
input. Parity with torch on the whole kernel/stride/pad grid is in tests/parity/test_parity_conv.py."""

from __future__ import annotations

import numpy as np
import pytest

import nnlab.layers.mec as mec
from nnlab.layers.conv import conv_backward_fast, conv_backward_naive, conv_forward_fast, conv_forward_naive
from nnlab.layers.mec import conv_backward_mec, conv_forward_mec
from tests.layers.conv_checks import assert_gradients_match_numerical

# (N, C, H, W, F, K, stride, pad): non-square inputs, strides 1-3 that do and do not divide, pads larger than
# the kernel's reach, a kernel as large as the padded input, 1x1 kernels, batch 1.
CASES = [
    (2, 3, 9, 7, 4, 7, 1, 3),
    (1, 2, 11, 8, 3, 5, 2, 2),
    (3, 1, 6, 9, 2, 3, 3, 0),
    (2, 4, 5, 5, 5, 4, 1, 1),
    (1, 3, 7, 7, 2, 7, 1, 0),
    (2, 2, 4, 6, 3, 1, 1, 0),
    (2, 2, 4, 6, 3, 1, 2, 1),
    (1, 2, 3, 4, 2, 3, 1, 4),
]


def _inputs(rng, N, C, H, W, F, K, dtype=np.float64):
    return (rng.standard_normal((N, C, H, W)).astype(dtype), rng.standard_normal((F, C, K, K)).astype(dtype),
            rng.standard_normal(F).astype(dtype))


def _rel(ours, ref) -> float:
    return float(np.abs(np.asarray(ours, np.float64) - ref).max() / max(np.abs(ref).max(), 1e-300))


@pytest.mark.parametrize("row_chunks", [False, True])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "N{}C{}H{}W{}F{}K{}S{}P{}".format(*c))
def test_mec_equals_naive_float64(rng, monkeypatch, case, row_chunks):
    if row_chunks:  # one output row per chunk: the overlapping windows of dL are added across chunks
        monkeypatch.setattr(mec, "_ROWS_BYTES", 1)
    N, C, H, W, F, K, S, P = case
    x, w, b = _inputs(rng, N, C, H, W, F, K)
    conv_param = {"stride": S, "pad": P}
    out, cache = conv_forward_mec(x, w, b, conv_param)
    ref, cache_n = conv_forward_naive(x, w, b, conv_param)
    assert out.shape == ref.shape and out.dtype == np.float64
    assert _rel(out, ref) < 1e-13
    dout = rng.standard_normal(out.shape)
    for name, ours, theirs in zip(("dx", "dw", "db"), conv_backward_mec(dout, cache),
                                  conv_backward_naive(dout, cache_n)):
        assert ours.shape == theirs.shape and ours.dtype == np.float64
        assert _rel(ours, theirs) < 1e-13, name
    dx_skipped, dw, db = conv_backward_mec(dout, cache, need_dx=False)
    assert dx_skipped is None
    np.testing.assert_array_equal(dw, conv_backward_mec(dout, cache)[1])


@pytest.mark.parametrize("case", [(2, 4, 7, 5, 4, 3, 1, 0), (3, 5, 6, 8, 3, 3, 1, 1), (2, 3, 5, 6, 3, 3, 1, 2),
                                  (1, 4, 9, 7, 2, 5, 1, 2), (2, 4, 6, 6, 5, 3, 1, 1), (2, 4, 6, 6, 4, 3, 2, 1)],
                         ids=lambda c: "N{}C{}H{}W{}F{}K{}S{}P{}".format(*c))
def test_mec_dx_by_the_transposed_convolution_where_f_le_c(rng, case):
    """Stride 1, F <= C, P <= K - 1: dx is the forward MEC of dout with the flipped, transposed filters ("dx conv");
    otherwise (F > C, stride 2) the dL fold. Both equal the naive kernel in float64."""
    N, C, H, W, F, K, S, P = case
    x, w, b = _inputs(rng, N, C, H, W, F, K)
    out, cache = conv_forward_mec(x, w, b, {"stride": S, "pad": P})
    _, cache_n = conv_forward_naive(x, w, b, {"stride": S, "pad": P})
    dout = rng.standard_normal(out.shape)
    stages: dict = {}
    dx, dw, db = conv_backward_mec(dout, cache, profile=stages)
    assert ("dx conv" in stages) == (S == 1 and F <= C)
    assert ("fold" in stages) == (not (S == 1 and F <= C))
    for name, ours, theirs in zip(("dx", "dw", "db"), (dx, dw, db), conv_backward_naive(dout, cache_n)):
        assert ours.shape == theirs.shape and ours.dtype == np.float64
        assert _rel(ours, theirs) < 1e-13, name


@pytest.mark.parametrize("case", [(2, 2, 6, 5, 3, 5, 1, 2), (1, 3, 7, 6, 2, 4, 2, 1), (2, 1, 5, 5, 2, 7, 1, 3)])
def test_mec_gradients_match_numerical(rng, case):
    N, C, H, W, F, K, S, P = case
    assert_gradients_match_numerical(rng, *_inputs(rng, N, C, H, W, F, K), {"stride": S, "pad": P, "algo": "mec"})


@pytest.mark.parametrize(("x_scale", "w_scale"), [(1.0, 1.0), (1.0, 0.05), (30.0, 0.03)])
def test_mec_float32_error_against_float64(rng, x_scale, w_scale):
    """float32 MEC on the 7x7 first-layer shape within 2e-6 of float64 (relative to the largest entry), as im2col."""
    x, w, b = _inputs(rng, 4, 3, 16, 15, 8, 7)
    x, w = x * x_scale, w * w_scale
    conv_param = {"stride": 1, "pad": 3}
    ref, ref_cache = conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(ref.shape)
    ref_grads = conv_backward_naive(dout, ref_cache)
    out, cache = conv_forward_mec(*(a.astype(np.float32) for a in (x, w, b)), conv_param)
    grads = conv_backward_mec(dout.astype(np.float32), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    for name, ours, theirs in zip(("out", "dx", "dw", "db"), (out, *grads), (ref, *ref_grads)):
        assert _rel(ours, theirs) < 2e-6, f"{name}: {_rel(ours, theirs):.2e}"


def test_mec_keeps_kh_times_less_than_im2col(rng):
    """The cache holds the lowered input L, (H + 2P) * C * KW * N * W' values: for the 7x7 first layer of
    ThreeLayerConvNet 38/32 * 7 = 8.3x the input, against im2col's 49x (plus a ones row)."""
    x, w, b = _inputs(rng, 4, 3, 32, 32, 8, 7, dtype=np.float32)
    _, (algo, inner) = conv_forward_fast(x, w, b, {"stride": 1, "pad": 3, "algo": "mec"})
    _, (_, inner_im2col) = conv_forward_fast(x, w, b, {"stride": 1, "pad": 3, "algo": "im2col"})
    L, cols = inner[2], inner_im2col[2]
    assert algo == "mec" and L.shape == (38, 3, 7, 4, 32)
    assert cols.size == 4 * (3 * 49 + 1) * 32 * 32
    assert cols.size / L.size > 5.9


def test_mec_kernel_rejects_bad_input(rng):
    x, w, b = _inputs(rng, 1, 2, 5, 5, 2, 3)
    with pytest.raises(ValueError, match="conv_forward_mec: x has 2 channels but w expects 3"):
        conv_forward_mec(x, rng.standard_normal((2, 3, 3, 3)), b, {"pad": 1})
    with pytest.raises(ValueError, match="conv_forward_mec: stride must be an integer >= 1, got 0"):
        conv_forward_mec(x, w, b, {"stride": 0, "pad": 1})
    with pytest.raises(ValueError, match="conv_forward_mec: pad must be an integer >= 0, got -1"):
        conv_forward_mec(x, w, b, {"stride": 1, "pad": -1})
    with pytest.raises(ValueError, match="conv_forward_mec: kernel 8x8 is larger than the padded input 7x7"):
        conv_forward_mec(x, rng.standard_normal((2, 2, 8, 8)), b, {"pad": 1})
    out, cache = conv_forward_mec(x, w, b, {"pad": 1})
    with pytest.raises(ValueError, match=r"conv_backward_mec: dout must have shape \(1, 2, 5, 5\)"):
        conv_backward_mec(out[:, :, :4], cache)
    _, cache = conv_forward_fast(x, w, b, {"pad": 1, "algo": "mec"})
    with pytest.raises(ValueError, match=r"conv_backward_fast: dout must have shape \(1, 2, 5, 5\)"):
        conv_backward_fast(out[:, :, :4], cache)
