"""Checks shared by the tests of the convolution algorithms (im2col, MEC, Winograd)."""

from __future__ import annotations

import numpy as np

from nnlab.gradcheck import eval_numerical_gradient_array
from nnlab.layers.conv import conv_backward_fast, conv_forward_fast


def rel_error(ours, ref) -> float:
    """max |ours - ref| / max |ref| (float64)."""
    return float(np.abs(np.asarray(ours, np.float64) - ref).max() / max(np.abs(ref).max(), 1e-300))


def assert_gradients_match_numerical(rng, x, w, b, conv_param: dict, bound: float = 1e-8) -> None:
    """conv_forward_fast / conv_backward_fast with ``conv_param['algo']`` forced: the algorithm ran (the cache
    says so) and dx, dw, db match centred differences of the forward within ``bound`` (float64 inputs)."""
    out, cache = conv_forward_fast(x, w, b, conv_param)
    assert cache[0] == conv_param["algo"]
    dout = rng.standard_normal(out.shape)
    dx, dw, db = conv_backward_fast(dout, cache)
    fwd = conv_forward_fast
    for name, ours, numerical in (
        ("dx", dx, eval_numerical_gradient_array(lambda x_: fwd(x_, w, b, conv_param)[0], x, dout)),
        ("dw", dw, eval_numerical_gradient_array(lambda w_: fwd(x, w_, b, conv_param)[0], w, dout)),
        ("db", db, eval_numerical_gradient_array(lambda b_: fwd(x, w, b_, conv_param)[0], b, dout)),
    ):
        assert rel_error(ours, numerical) < bound, f"{name}: {rel_error(ours, numerical):.2e}"
