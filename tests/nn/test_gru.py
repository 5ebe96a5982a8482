"""nnlab.nn.GRU: torch's parameter names and shapes, float64 numerical gradient checks of the input, the initial
state and every parameter (1 and 2 layers, with and without bias, batch 1), float32 kept, save/load, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient_array, rel_error
from nnlab.nn import GRU


def _objective(module, x, h0, dout, dh_n):
    """``sum(out * dout) + sum(h_n * dh_n)`` and, after backward, dx."""
    out, h_n = module(x, h0)
    dx = module.backward(dout, dh_n)
    return float((out * dout).sum() + (h_n * dh_n).sum()), dx


@pytest.mark.parametrize("num_layers,bias", [(1, True), (2, True), (2, False)])
@pytest.mark.parametrize("shape", [(1, 1, 2, 3), (2, 4, 3, 5)])
def test_gru_module_float64_gradient_check(num_layers, bias, shape, rng):
    N, T, D, H = shape
    module = GRU(D, H, num_layers=num_layers, bias=bias, seed=0, dtype=np.float64)
    x = rng.standard_normal((N, T, D))
    h0 = rng.standard_normal((num_layers, N, H))
    dout = rng.standard_normal((N, T, H))
    dh_n = rng.standard_normal((num_layers, N, H))
    _, dx = _objective(module, x, h0, dout, dh_n)
    grads, (dh0,) = dict(module.grads), module.state_grads

    def f(_):
        return np.array([_objective(module, x, h0, dout, dh_n)[0]])

    one = np.ones(1)
    assert rel_error(eval_numerical_gradient_array(f, x, one), dx) < 1e-7
    assert rel_error(eval_numerical_gradient_array(f, h0, one), dh0) < 1e-7
    names = [n for n, _ in module.named_parameters()]
    assert sorted(grads) == sorted(names)
    for name, p in module.named_parameters():
        assert rel_error(eval_numerical_gradient_array(f, p, one), grads[name]) < 1e-7, name


def test_gru_module_names_shapes_init_and_float32(rng):
    gru = GRU(6, 4, num_layers=2, seed=0)
    assert [n for n, _ in gru.named_parameters()] == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
        "weight_ih_l1", "weight_hh_l1", "bias_ih_l1", "bias_hh_l1"]
    assert gru.weight_ih_l0.shape == (12, 6) and gru.weight_ih_l1.shape == (12, 4)
    assert gru.weight_hh_l1.shape == (12, 4) and gru.bias_hh_l1.shape == (12,)
    assert max(np.abs(p).max() for p in gru.parameters()) <= 0.5  # U(-1/sqrt(H), 1/sqrt(H)) as torch
    assert [n for n, _ in GRU(3, 2, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    out, h_n = gru(rng.standard_normal((3, 5, 6)).astype(np.float32))
    assert out.shape == (3, 5, 4) and h_n.shape == (2, 3, 4)
    assert out.dtype == h_n.dtype == np.float32
    np.testing.assert_array_equal(h_n[-1], out[:, -1])
    dx = gru.backward(np.ones((3, 5, 4), np.float32))
    assert dx.dtype == np.float32 and gru.grads["bias_hh_l1"].dtype == np.float32
    assert gru.state_grads[0].shape == (2, 3, 4)
    assert repr(gru) == "GRU(6, 4, num_layers=2, batch_first=True)"


def test_gru_module_one_layer_accepts_an_n_by_h_state(rng):
    gru = GRU(3, 4, seed=1, dtype=np.float64)
    x, h0 = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4))
    out_a, h_a = gru(x, h0)
    out_b, h_b = gru(x, h0[None])
    np.testing.assert_array_equal(out_a, out_b)
    np.testing.assert_array_equal(h_a, h_b)


def test_gru_module_save_and_load_round_trip(tmp_path, rng):
    a = GRU(3, 4, num_layers=2, seed=1, dtype=np.float64)
    b = GRU(3, 4, num_layers=2, seed=2, dtype=np.float64)
    b.load(a.save(tmp_path / "gru.npz"))
    x = rng.standard_normal((2, 5, 3))
    np.testing.assert_array_equal(a(x)[0], b(x)[0])


def test_gru_module_bad_input_names_the_argument(rng):
    gru = GRU(3, 4, num_layers=2, dtype=np.float64)
    with pytest.raises(ValueError, match="GRU.forward: x has 5 features"):
        gru(rng.standard_normal((2, 4, 5)))
    with pytest.raises(ValueError, match=r"GRU.forward: x must be 3-D \(N, T, input_size\)"):
        gru(rng.standard_normal((2, 3)))
    with pytest.raises(ValueError, match=r"GRU.forward: h0 must have shape \(num_layers, N, H\) = \(2, 2, 4\)"):
        gru(rng.standard_normal((2, 4, 3)), rng.standard_normal((1, 2, 4)))
    with pytest.raises(ValueError, match="GRU: num_layers must be an integer >= 1, got 0"):
        GRU(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="GRU: only batch_first=True is supported"):
        GRU(3, 4, batch_first=False)
    with pytest.raises(RuntimeError, match="GRU.backward: call forward first"):
        GRU(3, 4).backward(np.ones((1, 1, 4)))
    gru(rng.standard_normal((2, 4, 3)))
    with pytest.raises(ValueError, match=r"GRU.backward: dout must have shape \(2, 4, 4\)"):
        gru.backward(np.ones((2, 4, 3)))
    with pytest.raises(ValueError, match=r"GRU.backward: dh_n must have shape \(num_layers, N, H\)"):
        gru.backward(np.ones((2, 4, 4)), np.ones((1, 2, 4)))
