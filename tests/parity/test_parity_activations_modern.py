"""GELU (exact / tanh), SiLU, ELU, SELU, Softplus, Hardsigmoid, Hardswish, Mish and PReLU against torch 2.13:
forward and input gradient of the kernels and the modules, float64 (1e-10) and float32 (1e-5), the kinks included;
PReLU also loads a torch module's state_dict and matches its weight gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from nnlab import nn
from nnlab.layers import activations as act
from tests.parity.conftest import assert_close, to_torch

DTYPES = [np.float64, np.float32]
SHAPES = [(1, 1), (3, 7), (2, 3, 4, 5)]
PAIRS = {  # name: (nnlab module, torch module)
    "gelu": (lambda: nn.GELU(), lambda: torch.nn.GELU()),
    "gelu_tanh": (lambda: nn.GELU("tanh"), lambda: torch.nn.GELU(approximate="tanh")),
    "silu": (lambda: nn.SiLU(), lambda: torch.nn.SiLU()),
    "elu": (lambda: nn.ELU(0.7), lambda: torch.nn.ELU(0.7)),
    "selu": (lambda: nn.SELU(), lambda: torch.nn.SELU()),
    "softplus": (lambda: nn.Softplus(), lambda: torch.nn.Softplus()),
    "softplus_beta": (lambda: nn.Softplus(beta=2.0, threshold=3.0), lambda: torch.nn.Softplus(2.0, 3.0)),
    "hardsigmoid": (lambda: nn.Hardsigmoid(), lambda: torch.nn.Hardsigmoid()),
    "hardswish": (lambda: nn.Hardswish(), lambda: torch.nn.Hardswish()),
    "mish": (lambda: nn.Mish(), lambda: torch.nn.Mish()),
}
KINKS = [1.5, -3.0, 0.0, 3.0, -30.0, 30.0]  # softplus_beta's threshold, hard* kinks, ELU at 0, saturated tails


def _input(rng, shape, dtype):
    x = 3 * rng.standard_normal(shape)
    flat = x.reshape(-1)
    flat[:len(KINKS)] = KINKS[:flat.size]
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(PAIRS))
def test_activation_module_matches_torch(rng, name, shape, dtype):
    ours, theirs = PAIRS[name][0](), PAIRS[name][1]()
    x = _input(rng, shape, dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    out = ours(x)
    dx = ours.backward(dout)
    xt = to_torch(x, True)
    out_t = theirs(xt)
    out_t.backward(to_torch(dout))
    assert out.dtype == dtype and dx.dtype == dtype
    assert_close(f"{name} out", out, out_t, dtype)
    grad_t = xt.grad
    if name == "hardsigmoid" and dtype == np.float64:
        # torch's double kernel multiplies by the float constant 1.0f/6.0f (3e-8 off); undo it, then match 1e-10
        grad_t = grad_t * ((1 / 6) / float(np.float32(1 / 6)))
    assert_close(f"{name} dx", dx, grad_t, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_kernel_matches_torch_on_a_wide_range(rng, dtype):
    x = np.concatenate([np.linspace(-12, 12, 4001), 5 * rng.standard_normal(2000)]).astype(dtype)
    for approximate in ("none", "tanh"):
        out, cache = act.gelu_forward(x, approximate)
        dx = act.gelu_backward(np.ones_like(x), cache)
        xt = to_torch(x, True)
        out_t = TF.gelu(xt, approximate=approximate)
        out_t.sum().backward()
        assert_close(f"gelu {approximate} out", out, out_t, dtype)
        assert_close(f"gelu {approximate} dx", dx, xt.grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("shape", "num_parameters"), [((1, 1), 1), ((4, 3), 3), ((2, 5, 7), 5), ((2, 3, 4, 5), 3),
                                                       ((2, 3, 4, 5), 1)])
def test_prelu_module_loads_torch_state_dict_and_matches(rng, shape, num_parameters, dtype):
    theirs = torch.nn.PReLU(num_parameters, init=0.3).to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        theirs.weight.uniform_(-0.5, 0.5)
    ours = nn.PReLU(num_parameters, dtype=dtype)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = _input(rng, shape, dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    out = ours(x)
    dx = ours.backward(dout)
    xt = to_torch(x, True)
    out_t = theirs(xt)
    out_t.backward(to_torch(dout))
    assert_close("prelu out", out, out_t, dtype)
    assert_close("prelu dx", dx, xt.grad, dtype)
    assert_close("prelu dweight", ours.grads["weight"], theirs.weight.grad, dtype)
