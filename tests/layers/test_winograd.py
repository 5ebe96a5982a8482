"""Winograd 3x3 convolution: the transform identity, gradients (float64), agreement with the naive kernel, float32
accuracy bounds, the algorithm choice of conv_forward_fast / nn.Conv2d, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import nnlab.layers.winograd as winograd
from nnlab import nn
from nnlab.layers.conv import (
    CONV_ALGOS,
    choose_conv_algo,
    conv_backward_fast,
    conv_backward_naive,
    conv_forward_fast,
    conv_forward_naive,
)
from nnlab.layers.winograd import conv_backward_winograd, conv_forward_winograd, winograd_matrices
from tests.layers.conv_checks import assert_gradients_match_numerical

WINOGRAD_ALGOS = ["winograd2", "winograd4"]
# (N, C, H, W, F, pad): odd sizes, H' and W' not multiples of the tile, pads 0..3, batch 1, a 1x1 input.
CASES = [
    (2, 3, 5, 7, 4, 1),
    (1, 5, 9, 6, 3, 0),
    (2, 4, 6, 6, 2, 2),
    (3, 2, 3, 4, 5, 0),
    (1, 1, 1, 1, 1, 1),
    (2, 3, 8, 8, 4, 3),
    (1, 2, 11, 5, 3, 1),
]
# float32 error bounds relative to max |out| of a float64 direct convolution (measured ~3e-7, ~1e-5 at C = 128)
F32_BOUND = {"im2col": 2e-6, "mec": 2e-6, "winograd2": 2e-6, "winograd4": 4e-5}


def _case(rng, N, C, H, W, F, dtype=np.float64):
    return (rng.standard_normal((N, C, H, W)).astype(dtype), rng.standard_normal((F, C, 3, 3)).astype(dtype),
            rng.standard_normal(F).astype(dtype))


def _rel(ours, ref) -> float:
    return float(np.abs(np.asarray(ours, np.float64) - ref).max() / max(np.abs(ref).max(), 1e-300))


@pytest.mark.parametrize("m", [2, 4])
def test_winograd_matrices_satisfy_the_1d_identity(rng, m):
    """A^T [(G g) (.) (B^T d)] is the valid correlation of an (m + 2)-tap signal d with a 3-tap filter g."""
    BT, G, AT = winograd_matrices(m)
    assert BT.shape == (m + 2, m + 2) and G.shape == (m + 2, 3) and AT.shape == (m, m + 2)
    for _ in range(5):
        d, g = rng.standard_normal(m + 2), rng.standard_normal(3)
        expected = np.array([d[i:i + 3] @ g for i in range(m)])
        np.testing.assert_allclose(AT @ ((G @ g) * (BT @ d)), expected, rtol=0, atol=1e-13)


def test_winograd_matrices_reject_other_tiles():
    with pytest.raises(ValueError, match=r"winograd_matrices: m must be one of \(2, 4\), got 3"):
        winograd_matrices(3)


@pytest.mark.parametrize("several_chunks", [False, True])
@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "N{}C{}H{}W{}F{}P{}".format(*c))
def test_winograd_equals_naive_float64(rng, monkeypatch, case, m, several_chunks):
    if several_chunks:  # one tile row per chunk: the row carry between chunks of the dx pass is exercised
        monkeypatch.setattr(winograd, "_CHUNK_BYTES", 1)
    N, C, H, W, F, P = case
    x, w, b = _case(rng, N, C, H, W, F)
    out, cache = conv_forward_winograd(x, w, b, {"stride": 1, "pad": P}, m=m)
    ref, cache_n = conv_forward_naive(x, w, b, {"stride": 1, "pad": P})
    assert out.shape == ref.shape and out.dtype == np.float64
    assert _rel(out, ref) < 1e-13
    dout = rng.standard_normal(out.shape)
    for name, ours, theirs in zip(("dx", "dw", "db"), conv_backward_winograd(dout, cache),
                                  conv_backward_naive(dout, cache_n)):
        assert ours.shape == theirs.shape
        assert _rel(ours, theirs) < 1e-13, name


@pytest.mark.parametrize("algo", WINOGRAD_ALGOS)
@pytest.mark.parametrize("case", [(2, 3, 5, 5, 2, 1), (1, 2, 6, 7, 3, 0), (2, 2, 4, 5, 2, 2)])
def test_winograd_gradients_match_numerical(rng, algo, case):
    N, C, H, W, F, P = case
    assert_gradients_match_numerical(rng, *_case(rng, N, C, H, W, F), {"stride": 1, "pad": P, "algo": algo})


@pytest.mark.parametrize("algo", ["im2col", "mec", *WINOGRAD_ALGOS])
@pytest.mark.parametrize(("C", "F", "x_scale", "w_scale"), [
    (64, 64, 1.0, 1.0),     # unit scale
    (64, 64, 1.0, 0.04),    # He-like weights (std sqrt(2 / (9 C))), unit activations
    (128, 128, 30.0, 0.03),  # large activations, small weights
])
def test_float32_error_against_float64_direct(rng, algo, C, F, x_scale, w_scale):
    """float32 forward and gradients within F32_BOUND[algo] of a float64 direct convolution (relative to the
    largest entry): the bounds the module docstring states."""
    x, w, b = _case(rng, 4, C, 10, 9, F)
    x, w = x * x_scale, w * w_scale
    conv_param = {"stride": 1, "pad": 1}
    ref, ref_cache = conv_forward_fast(x, w, b, {**conv_param, "algo": "im2col"})
    dout = rng.standard_normal(ref.shape)
    ref_grads = conv_backward_fast(dout, ref_cache)
    f32 = [a.astype(np.float32) for a in (x, w, b)]
    out, cache = conv_forward_fast(*f32, {**conv_param, "algo": algo})
    grads = conv_backward_fast(dout.astype(np.float32), cache)
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    for name, ours, theirs in zip(("out", "dx", "dw", "db"), (out, *grads), (ref, *ref_grads)):
        assert _rel(ours, theirs) < F32_BOUND[algo], f"{name}: {_rel(ours, theirs):.2e}"


@pytest.mark.parametrize("algo", ["im2col", "mec", *WINOGRAD_ALGOS])
def test_need_dx_false_gives_same_dw_db_and_no_dx(rng, monkeypatch, algo):
    monkeypatch.setattr(winograd, "_CHUNK_BYTES", 1)
    x, w, b = _case(rng, 2, 3, 7, 6, 4)
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1, "algo": algo})
    dout = rng.standard_normal(out.shape)
    _, dw, db = conv_backward_fast(dout, cache)
    dx_skipped, dw_skipped, db_skipped = conv_backward_fast(dout, cache, need_dx=False)
    assert dx_skipped is None
    np.testing.assert_array_equal(dw_skipped, dw)
    np.testing.assert_array_equal(db_skipped, db)


@pytest.mark.parametrize(("x_shape", "w_shape", "stride", "pad", "dtype", "expected"), [
    ((64, 3, 32, 32), (32, 3, 7, 7), 1, 3, np.float32, "mec"),         # 7x7 first layer
    ((64, 3, 32, 32), (32, 3, 7, 7), 1, 3, np.float64, "mec"),
    ((8, 3, 112, 112), (64, 3, 7, 7), 2, 3, np.float32, "mec"),        # ResNet stem: 7x7 stride 2
    ((64, 3, 32, 32), (32, 3, 5, 5), 1, 2, np.float32, "mec"),
    ((64, 1, 28, 28), (32, 1, 5, 5), 1, 2, np.float32, "im2col"),      # inner dimension 25 < 64
    ((64, 3, 32, 32), (32, 3, 5, 5), 2, 2, np.float32, "im2col"),      # 5x5 stride 2: saving 2.5x < 3.5x
    ((64, 16, 32, 32), (32, 16, 3, 3), 2, 1, np.float32, "im2col"),    # 3x3 stride 2
    ((64, 64, 16, 16), (64, 64, 1, 1), 1, 0, np.float32, "im2col"),    # 1x1
    ((64, 3, 32, 32), (32, 3, 3, 3), 1, 1, np.float32, "im2col"),      # 3 input channels
    ((32, 8, 84, 84), (32, 8, 3, 3), 1, 1, np.float32, "im2col"),      # MRI second layer: H'W' > 64^2
    ((128, 16, 32, 32), (16, 16, 3, 3), 1, 1, np.float32, "mec"),      # ResNet-20 first stage: 16 <= C < 24
    ((128, 16, 32, 32), (16, 16, 3, 3), 1, 1, np.float64, "mec"),
    ((48, 16, 24, 24), (32, 16, 3, 3), 1, 1, np.float32, "mec"),       # H' = 24
    ((48, 16, 22, 22), (32, 16, 3, 3), 1, 0, np.float32, "winograd4"),  # H' = 20 < 24
    ((192, 16, 16, 16), (32, 16, 3, 3), 1, 1, np.float32, "winograd4"),
    ((32, 24, 32, 32), (48, 24, 3, 3), 1, 1, np.float32, "winograd4"),  # from C = 24 on: Winograd
    ((128, 16, 16, 16), (16, 16, 3, 3), 1, 1, np.float32, "mec"),      # F <= C, 16 <= C < 24: from 16x16
    ((256, 16, 8, 8), (16, 16, 3, 3), 1, 1, np.float32, "winograd4"),
    ((64, 24, 32, 32), (24, 24, 3, 3), 1, 1, np.float32, "mec"),       # F <= C, 24 <= C < 32: from 24x24
    ((64, 31, 24, 24), (16, 31, 3, 3), 1, 1, np.float32, "mec"),
    ((128, 24, 16, 16), (24, 24, 3, 3), 1, 1, np.float32, "winograd4"),
    ((64, 32, 32, 32), (32, 32, 3, 3), 1, 1, np.float32, "winograd4"),  # C = 32: Winograd
    ((64, 24, 32, 32), (8, 24, 3, 3), 1, 1, np.float32, "im2col"),     # 8 output channels
    ((128, 12, 16, 16), (24, 12, 3, 3), 1, 1, np.float32, "mec"),      # 8 <= C < 16, H'W' <= 64^2
    ((64, 8, 64, 64), (8, 8, 3, 3), 1, 1, np.float32, "mec"),
    ((64, 7, 32, 32), (16, 7, 3, 3), 1, 1, np.float32, "im2col"),      # C < 8
    ((64, 64, 16, 16), (64, 64, 3, 3), 2, 1, np.float32, "im2col"),    # stride 2
    ((64, 64, 16, 16), (8, 64, 3, 3), 1, 1, np.float32, "im2col"),     # 8 output channels
    ((64, 64, 16, 16), (64, 64, 3, 3), 1, 1, np.float32, "winograd4"),
    ((64, 32, 16, 16), (64, 32, 3, 3), 1, 1, np.float32, "winograd4"),
    ((32, 128, 8, 8), (128, 128, 3, 3), 1, 1, np.float32, "winograd4"),
    ((32, 128, 8, 8), (128, 128, 3, 3), 1, 1, np.float64, "winograd4"),
    ((32, 32, 42, 42), (64, 32, 3, 3), 1, 1, np.float32, "winograd4"),  # MRI fourth layer
    ((32, 64, 6, 6), (64, 64, 3, 3), 1, 1, np.float32, "winograd2"),   # 6x6: F(4x4)'s ragged tiles waste its saving
    ((32, 64, 11, 11), (64, 64, 3, 3), 1, 0, np.float32, "winograd2"),  # H' = 9
])
def test_choose_conv_algo_rule(x_shape, w_shape, stride, pad, dtype, expected):
    assert choose_conv_algo(x_shape, w_shape, stride, pad, dtype) == expected


def test_cache_records_the_algorithm_that_ran(rng):
    x, w, b = _case(rng, 2, 16, 6, 6, 16, dtype=np.float32)
    _, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    assert cache[0] == choose_conv_algo(x.shape, w.shape, 1, 1, x.dtype) == "winograd2"  # 6x6 output
    _, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 2})
    assert cache[0] == choose_conv_algo(x.shape, w.shape, 1, 2, x.dtype) == "winograd4"  # 8x8 output
    _, cache = conv_forward_fast(x, w, b, {"stride": 2, "pad": 1})
    assert cache[0] == "im2col"
    for algo in CONV_ALGOS[1:]:
        assert conv_forward_fast(x, w, b, {"stride": 1, "pad": 0, "algo": algo})[1][0] == algo


@pytest.mark.parametrize("algo", ["fft", "Winograd2", None, 2])
def test_bad_algo_is_a_clear_value_error(rng, algo):
    x, w, b = _case(rng, 1, 2, 5, 5, 2)
    with pytest.raises(ValueError, match=r"conv_forward_fast: conv_param\['algo'\] must be one of 'auto', 'im2col', "
                                         r"'mec', 'winograd2', 'winograd4', got"):
        conv_forward_fast(x, w, b, {"stride": 1, "pad": 1, "algo": algo})


@pytest.mark.parametrize(("K", "S", "message"), [(5, 1, "got a 5x5 kernel with stride 1"),
                                                 (3, 2, "got a 3x3 kernel with stride 2")])
def test_winograd_forced_on_an_unsupported_shape_is_a_value_error(rng, K, S, message):
    x = rng.standard_normal((1, 2, 7, 7))
    w, b = rng.standard_normal((2, 2, K, K)), np.zeros(2)
    with pytest.raises(ValueError, match=r"conv_forward_fast: conv_param\['algo'\] = 'winograd4' needs a 3x3 "
                                         r"kernel and stride 1, " + message):
        conv_forward_fast(x, w, b, {"stride": S, "pad": 1, "algo": "winograd4"})


def test_winograd_kernel_rejects_bad_input(rng):
    x, w, b = _case(rng, 1, 2, 5, 5, 2)
    with pytest.raises(ValueError, match="conv_forward_winograd: Winograd needs stride 1, got 2"):
        conv_forward_winograd(x, w, b, {"stride": 2, "pad": 1})
    with pytest.raises(ValueError, match="conv_forward_winograd: m must be one of"):
        conv_forward_winograd(x, w, b, {"stride": 1, "pad": 1}, m=6)
    with pytest.raises(ValueError, match="conv_forward_winograd: x has 2 channels but w expects 3"):
        conv_forward_winograd(x, rng.standard_normal((2, 3, 3, 3)), b, {"pad": 1})
    with pytest.raises(ValueError, match="needs a 3x3 kernel, got 5x5"):
        conv_forward_winograd(x, rng.standard_normal((2, 2, 5, 5)), b, {"pad": 2})
    out, cache = conv_forward_winograd(x, w, b, {"pad": 1})
    with pytest.raises(ValueError, match=r"conv_backward_winograd: dout must have shape \(1, 2, 5, 5\)"):
        conv_backward_winograd(out[:, :, :4], cache)


def test_backward_rejects_a_cache_that_is_not_from_conv_forward_fast(rng):
    x, w, b = _case(rng, 1, 2, 5, 5, 2)
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1})
    with pytest.raises(TypeError, match=r"conv_backward_fast: cache must be the \(algo, inner_cache\) pair"):
        conv_backward_fast(out, cache[1])


@pytest.mark.parametrize("algo", ["auto", "im2col", "mec", *WINOGRAD_ALGOS])
def test_conv2d_module_runs_the_chosen_algorithm(rng, algo):
    layer = nn.Conv2d(16, 16, 3, padding=1, seed=0, dtype=np.float64, algo=algo)
    x = rng.standard_normal((2, 16, 6, 5))
    out = layer(x)
    auto = choose_conv_algo(x.shape, layer.weight.shape, 1, 1, x.dtype)
    assert layer.last_algo == (auto if algo == "auto" else algo)
    ref, cache = conv_forward_naive(x, layer.weight, layer.bias, {"stride": 1, "pad": 1})
    assert _rel(out, ref) < 1e-12
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    dx_n, dw_n, _ = conv_backward_naive(dout, cache)
    assert _rel(dx, dx_n) < 1e-12 and _rel(layer.grads["weight"], dw_n) < 1e-12


def test_conv2d_module_rejects_bad_algo():
    with pytest.raises(ValueError, match="Conv2d: algo must be one of 'auto', 'im2col', 'mec', 'winograd2', "
                                         "'winograd4'"):
        nn.Conv2d(3, 4, 3, algo="direct")
    with pytest.raises(ValueError, match="Conv2d: algo='winograd2' needs kernel_size 3 and stride 1"):
        nn.Conv2d(3, 4, 5, algo="winograd2")
