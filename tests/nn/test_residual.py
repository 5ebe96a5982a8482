"""nnlab.nn.Residual and nnlab.nn.Add: float64 numerical gradient checks of the input and every parameter (identity
and projection shortcuts, stride 2, batch 1, odd sizes, nested containers), the sum rule of the fan-out, parity
with torch twins (float64 1e-10, float32 1e-5), names in the state dict, and bad input naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

import nnlab.nn as nn
from nnlab.gradcheck import eval_numerical_gradient_array, rel_error

torch = pytest.importorskip("torch")
from tests.parity.conftest import assert_close, to_torch  # noqa: E402
from tests.parity.torch_twins import torch_twin  # noqa: E402


def _numerical(f, x, df):
    """Centered differences at h = 1e-4 and 2e-4 combined by Richardson extrapolation (O(h^4) error): a single
    difference at h = 1e-5 leaves ~1e-7 relative error on conv weights that feed a batch norm."""
    return (4 * eval_numerical_gradient_array(f, x, df, h=1e-4) - eval_numerical_gradient_array(f, x, df, h=2e-4)) / 3


def _gradcheck(module: nn.Module, x: np.ndarray, rng) -> None:
    """Every analytic gradient of ``sum(module(x) * dout)`` against centered differences (float64)."""
    out = module(x)
    dout = rng.standard_normal(out.shape)
    dx = module.backward(dout)
    grads = dict(module.grads)
    assert sorted(grads) == sorted(n for n, _ in module.named_parameters())

    def f(_):
        return module(x)

    assert rel_error(_numerical(f, x, dout), dx) < 1e-7
    for name, p in module.named_parameters():
        assert rel_error(_numerical(f, p, dout), grads[name]) < 1e-7, name


def _conv_bn_tanh(c_in, c_out, stride=1, seed=0):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False, seed=seed, dtype=np.float64),
                         nn.BatchNorm2d(c_out, dtype=np.float64), nn.Tanh())


def _cases():
    return {
        "identity": lambda: nn.Residual(nn.Sequential(_conv_bn_tanh(3, 3, seed=1), _conv_bn_tanh(3, 3, seed=2))),
        "projection stride 2": lambda: nn.Residual(
            nn.Sequential(_conv_bn_tanh(3, 5, 2, seed=3), _conv_bn_tanh(5, 5, seed=4)),
            nn.Sequential(nn.Conv2d(3, 5, 1, stride=2, bias=False, seed=5, dtype=np.float64),
                          nn.BatchNorm2d(5, dtype=np.float64))),
        "nested": lambda: nn.Sequential(
            nn.Residual(nn.Residual(_conv_bn_tanh(3, 3, seed=6)), _conv_bn_tanh(3, 3, seed=7)), nn.Tanh()),
        "add 3 branches": lambda: nn.Add(_conv_bn_tanh(3, 4, seed=8), nn.Conv2d(3, 4, 1, seed=9, dtype=np.float64),
                                         nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, seed=10, dtype=np.float64),
                                                       nn.Tanh())),
    }


@pytest.mark.parametrize("case", list(_cases()))
@pytest.mark.parametrize("shape", [(1, 3, 5, 5), (2, 3, 7, 6)])
def test_residual_containers_float64_gradient_check(case, shape, rng):
    _gradcheck(_cases()[case](), rng.standard_normal(shape), rng)


def test_residual_is_main_plus_identity_and_backward_sums_the_paths(rng):
    main = nn.Linear(4, 4, seed=0, dtype=np.float64)
    res = nn.Residual(main)
    x = rng.standard_normal((3, 4))
    np.testing.assert_allclose(res(x), main(x) + x, rtol=1e-15)
    dout = rng.standard_normal((3, 4))
    res(x)
    dx = res.backward(dout)
    np.testing.assert_allclose(dx, dout @ main.weight + dout, rtol=1e-14)
    assert list(res.state_dict()) == ["main.weight", "main.bias"]


def test_add_sums_branches_and_names_them(rng):
    a, b = nn.Linear(3, 2, seed=0, dtype=np.float64), nn.Linear(3, 2, seed=1, dtype=np.float64)
    add = nn.Add({"left": a, "right": b})
    x = rng.standard_normal((4, 3))
    np.testing.assert_allclose(add(x), a(x) + b(x), rtol=1e-15)
    assert list(add.state_dict()) == ["left.weight", "left.bias", "right.weight", "right.bias"]
    assert list(nn.Add(a, nn.Identity()).state_dict()) == ["0.weight", "0.bias"]


def test_residual_with_a_branch_without_input_gradient(rng):
    conv = nn.Conv2d(2, 2, 3, padding=1, seed=0, dtype=np.float64)
    conv.input_grad = False  # returns None from backward: the identity path alone carries dx
    res = nn.Residual(conv)
    x = rng.standard_normal((1, 2, 4, 4))
    dout = rng.standard_normal(res(x).shape)
    np.testing.assert_array_equal(res.backward(dout), dout)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", list(_cases()))
def test_residual_containers_match_torch_twins(case, dtype, rng):
    ours = _cases()[case]().to(dtype)
    theirs = torch_twin(ours)
    x = rng.standard_normal((3, 3, 7, 6)).astype(dtype)
    out = ours(x)
    xt = to_torch(x, True)
    out_t = theirs(xt)
    assert_close("out", out, out_t, dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = ours.backward(dout)
    out_t.backward(to_torch(dout))
    assert_close("dx", dx, xt.grad, dtype)
    torch_params = dict(theirs.named_parameters())
    assert sorted(ours.grads) == sorted(torch_params)
    for name, p in torch_params.items():
        assert_close(f"d{name}", ours.grads[name], p.grad, dtype)


def test_residual_and_add_bad_input_name_the_argument(rng):
    with pytest.raises(TypeError, match="Residual: main must be a Module, got int"):
        nn.Residual(3)
    with pytest.raises(TypeError, match=r"Residual: shortcut must be a Module or None \(identity\), got str"):
        nn.Residual(nn.Identity(), "x")
    with pytest.raises(ValueError, match="Add: needs at least one branch"):
        nn.Add()
    with pytest.raises(TypeError, match="Add: branch '1' must be a Module"):
        nn.Add(nn.Identity(), 2)
    res = nn.Residual(nn.Conv2d(3, 4, 3, padding=1, dtype=np.float64))
    with pytest.raises(ValueError, match=r"Residual.forward: .* main -> \(2, 4, 5, 5\), shortcut -> \(2, 3, 5, 5\)"):
        res(rng.standard_normal((2, 3, 5, 5)))
    add = nn.Add(nn.Identity(), nn.Linear(3, 2, dtype=np.float64))
    with pytest.raises(ValueError, match=r"Add.forward: .* 0 -> \(2, 3\), 1 -> \(2, 2\)"):
        add(rng.standard_normal((2, 3)))
