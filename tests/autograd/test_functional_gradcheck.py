"""``nnlab.autograd.gradcheck`` (float64 central differences, entry by entry) passes for every
``nnlab.functional`` case and every Tensor method with a gradient, and rejects a wrong custom backward."""

from __future__ import annotations

import numpy as np
import pytest

import nnlab.autograd as ag
import nnlab.functional as NF
from nnlab.autograd import Function, GradcheckError, gradcheck, tensor

from .functional_cases import CASE_IDS, CASES


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_gradcheck_every_functional_case(case):
    diff, const = case.make(np.random.default_rng(0))
    xs = tuple(tensor(a, requires_grad=True) for a in diff)

    def fn(*ts):
        c = {k: v.copy() for k, v in const.items()}  # running statistics: a fresh copy per evaluation
        return case.call(NF, c, *ts)

    assert gradcheck(fn, xs, eps=1e-6, atol=1e-7, rtol=1e-5)


def _pos(*shape):
    return lambda r: r.random(shape) + 0.5


def _n(*shape):
    return lambda r: r.standard_normal(shape)


# (id, makers of the inputs, function of the Tensors)
METHODS = [
    ("add_broadcast", [_n(2, 3), _n(3)], lambda a, b: a + b),
    ("radd_scalar", [_n(2, 3)], lambda a: 2.5 + a),
    ("sub_broadcast", [_n(2, 1, 3), _n(4, 1)], lambda a, b: a - b),
    ("rsub_array", [_n(2, 3)], lambda a: np.ones((2, 3)) - a),
    ("mul_broadcast", [_n(2, 3), _n(2, 1)], lambda a, b: a * b),
    ("div", [_n(2, 3), _pos(3)], lambda a, b: a / b),
    ("rdiv", [_pos(2, 3)], lambda a: 2.0 / a),
    ("pow_tensor_exponent", [_pos(2, 3), _n(2, 3)], lambda a, b: a ** b),
    ("pow_scalar", [_n(2, 3)], lambda a: a ** 3),
    ("rpow", [_n(2, 3)], lambda a: 1.7 ** a),
    ("matmul_2d", [_n(3, 4), _n(4, 2)], lambda a, b: a @ b),
    ("matmul_batched_broadcast", [_n(2, 3, 4), _n(4, 2)], lambda a, b: a @ b),
    ("matmul_vector", [_n(4), _n(4, 3)], lambda a, b: a @ b),
    ("neg", [_n(2, 3)], lambda a: -a),
    ("getitem_slice", [_n(4, 5)], lambda a: a[1:3, ::2]),
    ("getitem_repeated_ints", [_n(4, 3)], lambda a: a[np.array([0, 2, 2, 0, 2])]),
    ("getitem_bool_mask", [_n(3, 4)], lambda a: a[a.data > 0]),
    ("sum_all", [_n(2, 3)], lambda a: a.sum()),
    ("sum_dim_keepdim", [_n(2, 3, 4)], lambda a: a.sum(dim=(0, 2), keepdim=True)),
    ("mean_axis", [_n(2, 3, 4)], lambda a: a.mean(axis=1)),
    ("reshape", [_n(2, 6)], lambda a: a.reshape(3, 4) * np.arange(12.0).reshape(3, 4)),
    ("permute", [_n(2, 3, 4)], lambda a: a.permute(2, 0, 1) * np.arange(24.0).reshape(4, 2, 3)),
    ("transpose", [_n(2, 3, 4)], lambda a: a.transpose(0, 2) * np.arange(24.0).reshape(4, 3, 2)),
    ("T", [_n(2, 3)], lambda a: a.T * np.arange(6.0).reshape(3, 2)),
    ("flatten", [_n(2, 3, 2)], lambda a: a.flatten(1) * np.arange(12.0).reshape(2, 6)),
    ("squeeze", [_n(2, 1, 3)], lambda a: a.squeeze(1) * np.arange(6.0).reshape(2, 3)),
    ("unsqueeze", [_n(2, 3)], lambda a: a.unsqueeze(0) * np.arange(6.0).reshape(1, 2, 3)),
    ("exp", [_n(2, 3)], lambda a: a.exp()),
    ("log", [_pos(2, 3)], lambda a: a.log()),
    ("sqrt", [_pos(2, 3)], lambda a: a.sqrt()),
    ("abs", [_n(2, 3)], lambda a: a.abs()),
    ("tanh", [_n(2, 3)], lambda a: a.tanh()),
    ("sigmoid", [_n(2, 3)], lambda a: a.sigmoid()),
    ("relu", [_n(2, 3)], lambda a: a.relu()),
    ("clip", [_n(3, 4)], lambda a: a.clip(-0.5, 0.4)),
    ("cat", [_n(2, 3), _n(1, 3)], lambda a, b: ag.cat([a, b, a], dim=0)),
    ("stack", [_n(2, 3), _n(2, 3)], lambda a, b: ag.stack([a, b], dim=1)),
    ("where", [_n(2, 3), _n(3)], lambda a, b: ag.where(np.array([[1, 0, 1], [0, 0, 1]], bool), a, b)),
    ("maximum", [_n(2, 3), _n(2, 3)], lambda a, b: ag.maximum(a, b)),
    ("minimum", [_n(2, 3), _n(3)], lambda a, b: ag.minimum(a, b)),
]


@pytest.mark.parametrize("makers,fn", [m[1:] for m in METHODS], ids=[m[0] for m in METHODS])
def test_gradcheck_every_tensor_method(makers, fn):
    rng = np.random.default_rng(1)
    xs = tuple(tensor(m(rng), requires_grad=True) for m in makers)
    assert gradcheck(fn, xs, eps=1e-6, atol=1e-7, rtol=1e-5)


class _Cube(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x ** 2 * g


class _WrongCube(_Cube):
    @staticmethod
    def backward(ctx, g):  # off by a factor x / 3 ... wrong on purpose
        (x,) = ctx.saved_tensors
        return x ** 3 * g


def test_gradcheck_accepts_a_right_custom_function():
    x = tensor(np.random.default_rng(2).standard_normal((2, 3)), requires_grad=True)
    assert gradcheck(_Cube.apply, (x,))


def test_gradcheck_rejects_a_wrong_custom_backward_naming_the_worst_entry():
    x = tensor(np.random.default_rng(2).standard_normal((2, 3)), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"output 0 with respect to input 0: worst entry"):
        gradcheck(_WrongCube.apply, (x,))
    assert gradcheck(_WrongCube.apply, (x,), raise_exception=False) is False


def test_gradcheck_rejects_a_functional_op_whose_backward_is_wrong(monkeypatch):
    """The same check catches a wrong kernel behind a functional op (here softsign's backward doubled)."""
    from nnlab.functional import activation

    kernel = activation.act.softsign_backward
    monkeypatch.setitem(activation._BWD, kernel, lambda g, c, n: (2 * kernel(g, c),))
    x = tensor(np.random.default_rng(3).standard_normal((2, 2)), requires_grad=True)
    with pytest.raises(GradcheckError):
        gradcheck(NF.softsign, (x,))
