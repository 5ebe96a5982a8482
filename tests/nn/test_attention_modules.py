"""MultiheadAttention, TransformerEncoderLayer, PositionalEmbedding, the causal mask helper and the modern
activation modules: float64 numerical gradients of inputs and every parameter (odd sizes, batch 1, masks on and
off, pre- and post-norm), torch's parameter names, modes, and bad input. (Parity: tests/parity/.)"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from nnlab.nn import (
    ELU,
    GELU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Mish,
    MultiheadAttention,
    PositionalEmbedding,
    PReLU,
    SiLU,
    Softplus,
    TransformerEncoderLayer,
    generate_square_subsequent_mask,
)

# Numerical references are taken in extended precision (np.longdouble, 80-bit on x86) through the same module:
# attention gradients have entries near 0 by construction, where a float64 finite difference's own rounding
# (~1e-10 here) would dominate the elementwise rel_error. The analytic gradients under test are float64.
_WIDE = np.longdouble if np.finfo(np.longdouble).eps < 1e-18 else np.float64
_H = 1e-6 if _WIDE is not np.float64 else 1e-5
# The key projection's bias only shifts every score of a query by the same amount, which softmax ignores: its
# gradient is exactly 0, and the elementwise rel_error of two zeros-up-to-rounding means nothing.
_STRUCTURAL_ZEROS = {"in_proj_bias": slice(1, 2)}


def _check_module(module, run, inputs: dict, dout: np.ndarray, backward) -> None:
    """``run(module, **inputs) -> out``; ``backward(module, dout) -> dict name -> input gradient``."""
    run(module, **inputs)
    dinputs = backward(module, dout)
    grads = dict(module.grads)
    assert sorted(grads) == sorted(n for n, _ in module.named_parameters())
    module.to(_WIDE)
    wide = {k: v.astype(_WIDE) for k, v in inputs.items()}
    dout_w = dout.astype(_WIDE)

    def f(_):  # the output array, so that the differences stay in extended precision
        return run(module, **wide)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # gradcheck's "use float64" hint: wider on purpose
        targets = [(f"input {k}", wide[k], dinputs[k]) for k in dinputs]
        targets += [(n, p, grads[n]) for n, p in module.named_parameters()]
        for name, arr, grad in targets:
            num = eval_numerical_gradient_array(f, arr, dout_w, h=_H).astype(np.float64)
            assert grad.dtype == np.float64 and grad.shape == arr.shape, name
            leaf = name.rsplit(".", 1)[-1]
            if leaf in _STRUCTURAL_ZEROS:
                E = grad.shape[0] // 3
                zero = slice(_STRUCTURAL_ZEROS[leaf].start * E, _STRUCTURAL_ZEROS[leaf].stop * E)
                assert np.abs(grad[zero]).max() < 1e-12 and np.abs(num[zero]).max() < 1e-9, name
                keep = np.ones(grad.shape, dtype=bool)
                keep[zero] = False
                grad, num = grad[keep], num[keep]
            assert rel_error(grad, num) < 1e-7, name
    module.to(np.float64)


def _mha_run(module, query, key=None, value=None, **kwargs):
    key = query if key is None else key
    value = key if value is None else value
    return module(query, key, value, **kwargs)[0]


MHA_CASES = [  # (N, L, S, E, heads)
    (1, 1, 1, 2, 1),
    (1, 3, 5, 6, 2),
    (3, 4, 4, 6, 3),
    (2, 5, 3, 4, 1),
]


@pytest.mark.parametrize("masks", ["none", "attn_bool", "attn_float_per_head", "padding", "both", "causal"])
@pytest.mark.parametrize("case", MHA_CASES)
def test_multihead_attention_gradients_match_numerical(rng, case, masks):
    N, L, S, E, h = case
    mha = MultiheadAttention(E, h, seed=1, dtype=np.float64)
    mha.in_proj_bias = 0.1 * rng.standard_normal(3 * E)
    mha.out_proj.bias = 0.1 * rng.standard_normal(E)
    q, k, v = rng.standard_normal((N, L, E)), rng.standard_normal((N, S, E)), rng.standard_normal((N, S, E))
    blocked = rng.random((L, S)) < 0.3
    blocked[:, 0] = False
    padding = np.zeros((N, S), dtype=bool)
    padding[:, S - 1] = S > 1
    kwargs = {"none": {}, "attn_bool": {"attn_mask": blocked},
              "attn_float_per_head": {"attn_mask": rng.standard_normal((N * h, L, S))},
              "padding": {"key_padding_mask": padding},
              "both": {"attn_mask": blocked, "key_padding_mask": padding}, "causal": {"is_causal": True}}[masks]

    def run(m, query, key, value):
        return _mha_run(m, query, key, value, **kwargs)

    def backward(m, dout):
        dq, dk, dv = m.backward(dout)
        return {"query": dq, "key": dk, "value": dv}

    _check_module(mha, run, {"query": q, "key": k, "value": v}, rng.standard_normal((N, L, E)), backward)


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_self_attention_gradient_is_the_sum_and_layouts_agree(rng, batch_first):
    mha = MultiheadAttention(6, 2, batch_first=batch_first, bias=False, seed=2, dtype=np.float64)
    x = rng.standard_normal((3, 4, 6))
    dout = rng.standard_normal((3, 4, 6))
    out, weights = mha(x, x, x)
    assert weights.shape == ((3, 4, 4) if batch_first else (4, 3, 3))
    dq, dk, dv = mha.backward(dout)
    f = lambda _: float((mha(x, x, x, need_weights=False)[0] * dout).sum())  # noqa: E731
    assert rel_error(dq + dk + dv, eval_numerical_gradient(f, x, verbose=False)) < 1e-7
    mha(x, x, x)
    dx_fused = mha.backward(dout, sum_inputs=True)  # one GEMM for the three projections
    np.testing.assert_allclose(dx_fused, dq + dk + dv, rtol=1e-12, atol=1e-15)
    out_copy, _ = mha(x, x.copy(), x.copy())  # the unfused path gives the same numbers
    np.testing.assert_allclose(out_copy, out, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(mha.backward(dout, sum_inputs=True), dx_fused, rtol=1e-12, atol=1e-15)
    # batch_first=False reads (L, N, E): the same module on the transposed input gives the transposed output
    other = MultiheadAttention(6, 2, batch_first=not batch_first, bias=False, seed=2, dtype=np.float64)
    xt = x.swapaxes(0, 1)
    np.testing.assert_allclose(other(xt, xt, xt)[0], out.swapaxes(0, 1), rtol=1e-13, atol=1e-15)


def test_multihead_attention_weights_unbatched_and_dropout(rng):
    mha = MultiheadAttention(4, 2, dropout=0.5, seed=3, dtype=np.float64)
    x = rng.standard_normal((2, 5, 4))
    mha.eval()
    out, avg = mha(x, x, x)
    _, per_head = mha(x, x, x, average_attn_weights=False)
    assert per_head.shape == (2, 2, 5, 5) and avg.shape == (2, 5, 5)
    np.testing.assert_allclose(per_head.mean(axis=1), avg, rtol=1e-15)
    np.testing.assert_allclose(avg.sum(-1), 1.0, rtol=1e-14)
    assert mha(x, x, x, need_weights=False)[1] is None
    out0, w0 = mha(x[0], x[0], x[0])  # unbatched (L, E)
    np.testing.assert_allclose(out0, out[0], rtol=1e-13)
    assert w0.shape == (5, 5) and mha.backward(np.ones((5, 4)))[0].shape == (5, 4)
    mha.train()
    out_train, w_train = mha(x, x, x)
    assert not np.allclose(out_train, out) and np.any(w_train == 0)


def test_multihead_attention_has_torchs_names_and_init(rng):
    mha = MultiheadAttention(8, 2, seed=0)
    assert list(mha.state_dict()) == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"]
    assert mha.in_proj_weight.shape == (24, 8) and mha.in_proj_weight.dtype == np.float32
    assert np.abs(mha.in_proj_weight).max() <= np.sqrt(6 / 32) and not mha.in_proj_bias.any()
    assert not mha.out_proj.bias.any()
    assert list(MultiheadAttention(8, 2, bias=False).state_dict()) == ["in_proj_weight", "out_proj.weight"]


def test_multihead_attention_bad_input_is_named(rng):
    with pytest.raises(ValueError, match=r"MultiheadAttention: embed_dim \(10\) must be divisible by num_heads \(3\)"):
        MultiheadAttention(10, 3)
    mha = MultiheadAttention(4, 2, dtype=np.float64)
    x = rng.standard_normal((2, 3, 4))
    with pytest.raises(ValueError, match="query has 5 features on its last axis .* but embed_dim=4"):
        mha(rng.standard_normal((2, 3, 5)), x, x)
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(L, S\) = \(3, 3\) or \(N\*num_heads, L, S\)"):
        mha(x, x, x, attn_mask=np.zeros((3, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"key_padding_mask must have shape \(N, S\) = \(2, 3\), got \(3, 2\)"):
        mha(x, x, x, key_padding_mask=np.zeros((3, 2), dtype=bool))
    with pytest.raises(ValueError, match="key and value must have the same shape"):
        mha(x, x, x[:, :2])
    with pytest.raises(ValueError, match="query must be 2-D or 3-D"):
        mha(x[None], x, x)
    with pytest.raises(RuntimeError, match="call forward first"):
        MultiheadAttention(4, 2).backward(x)


@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize(("N", "T", "mask"), [(1, 1, "none"), (1, 4, "causal"), (2, 3, "padding"), (3, 5, "src")])
def test_transformer_encoder_layer_gradients_match_numerical(rng, N, T, mask, norm_first, activation):
    layer = TransformerEncoderLayer(6, 3, dim_feedforward=7, dropout=0.0, activation=activation,
                                    norm_first=norm_first, seed=4, dtype=np.float64)
    for _, p in layer.named_parameters():  # move norms and biases off their init so every gradient is exercised
        p += 0.1 * rng.standard_normal(p.shape)
    padding = np.zeros((N, T), dtype=bool)
    padding[:, -1] = T > 1
    kwargs = {"none": {}, "causal": {"is_causal": True}, "padding": {"src_key_padding_mask": padding},
              "src": {"src_mask": generate_square_subsequent_mask(T, np.float64) + 0.3 * rng.standard_normal((T, T))}}
    _check_module(layer, lambda m, src: m(src, **kwargs[mask]), {"src": rng.standard_normal((N, T, 6))},
                  rng.standard_normal((N, T, 6)), lambda m, dout: {"src": m.backward(dout)})


def test_transformer_encoder_layer_names_layouts_and_errors(rng):
    layer = TransformerEncoderLayer(8, 2, dim_feedforward=16, seed=0)
    assert list(layer.state_dict()) == [
        "self_attn.in_proj_weight", "self_attn.in_proj_bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
        "linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias",
        "norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias"]
    x = rng.standard_normal((2, 5, 8)).astype(np.float32)
    layer.eval()
    other = TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=False, seed=0).eval()
    np.testing.assert_allclose(other(x.swapaxes(0, 1)).swapaxes(0, 1), layer(x), rtol=1e-6, atol=1e-6)
    assert other.backward(np.ones((5, 2, 8), np.float32)).shape == (5, 2, 8)
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer: d_model \(8\) must be divisible by nhead \(3\)"):
        TransformerEncoderLayer(8, 3)
    with pytest.raises(ValueError, match="activation must be 'relu' or 'gelu', got 'tanh'"):
        TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(ValueError, match=r"attn_mask must have shape \(L, S\) = \(5, 5\)"):
        layer(x, src_mask=np.zeros((4, 4), dtype=bool))


def test_causal_mask_helper_and_positional_embedding(rng):
    m = generate_square_subsequent_mask(3)
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m, [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])
    pos = PositionalEmbedding(6, 4, seed=0, dtype=np.float64)
    x = rng.standard_normal((2, 5, 4))
    np.testing.assert_array_equal(pos(x), x + pos.weight[:5])
    dout = rng.standard_normal((2, 5, 4))
    np.testing.assert_array_equal(pos.backward(dout), dout)
    np.testing.assert_allclose(pos.grads["weight"][:5], dout.sum(0), rtol=1e-15)
    assert not pos.grads["weight"][5:].any()
    with pytest.raises(ValueError, match="x has 7 positions but the table holds max_len=6"):
        pos(rng.standard_normal((1, 7, 4)))
    with pytest.raises(ValueError, match="x has 3 features .* but embedding_dim=4"):
        pos(rng.standard_normal((1, 2, 3)))


ACTIVATION_MODULES = [GELU(), GELU("tanh"), SiLU(), ELU(0.5), SELU(), Softplus(2.0, 4.0), Hardsigmoid(), Hardswish(),
                      Mish()]


@pytest.mark.parametrize("module", ACTIVATION_MODULES, ids=repr)
def test_activation_modules_wrap_their_kernels(rng, module):
    x = rng.standard_normal((2, 3, 5))
    x = np.where(np.abs(np.abs(x) - 3) < 1e-2, x + 0.05, x)
    dout = rng.standard_normal(x.shape)
    module(x)
    dx = module.backward(dout)
    num = eval_numerical_gradient(lambda _: float((module(x) * dout).sum()), x, verbose=False)
    assert rel_error(dx, num) < 1e-7
    assert module.state_dict() == {}


def test_prelu_module_gradients_and_names(rng):
    prelu = PReLU(3, init=0.2, dtype=np.float64)
    assert list(prelu.state_dict()) == ["weight"] and np.all(prelu.weight == 0.2)
    x = rng.standard_normal((4, 3, 2))
    x = np.where(np.abs(x) < 1e-2, 0.05, x)
    dout = rng.standard_normal(x.shape)
    _check_module(prelu, lambda m, x: m(x), {"x": x}, dout, lambda m, d: {"x": m.backward(d)})
    with pytest.raises(ValueError, match="GELU: approximate must be 'none' or 'tanh'"):
        GELU("erf")
    with pytest.raises(ValueError, match="PReLU: num_parameters must be an integer >= 1"):
        PReLU(0)


@pytest.mark.parametrize("which", ["mha_masked", "post_norm_causal", "pre_norm_padding"])
def test_float64_numerical_gradients_agree_relative_to_the_largest_entry(rng, which):
    """The same checks with plain float64 finite differences, measured against each gradient's largest entry
    (as tests/models/test_char_rnn.py does), so near-zero entries meet the float64 rounding floor honestly."""
    N, T, E = 2, 5, 6
    padding = np.zeros((N, T), dtype=bool)
    padding[1, -2:] = True
    if which == "mha_masked":
        module = MultiheadAttention(E, 3, seed=5, dtype=np.float64)
        blocked = rng.random((T, T)) < 0.3
        blocked[:, 0] = False

        def run(x):
            return module(x, x, x, key_padding_mask=padding, attn_mask=blocked)[0]

        def backward(d):
            return module.backward(d, sum_inputs=True)
    else:
        module = TransformerEncoderLayer(E, 2, 9, dropout=0.0, activation="gelu",
                                         norm_first=which == "pre_norm_padding", seed=5, dtype=np.float64)
        kwargs = {"is_causal": True} if which == "post_norm_causal" else {"src_key_padding_mask": padding}

        def run(x):
            return module(x, **kwargs)

        def backward(d):
            return module.backward(d)
    for _, p in module.named_parameters():
        p += 0.1 * rng.standard_normal(p.shape)
    x = rng.standard_normal((N, T, E))
    dout = rng.standard_normal((N, T, E))
    run(x)
    dx = backward(dout)
    grads = dict(module.grads)
    checks = [("x", x, dx)] + [(n, p, grads[n]) for n, p in module.named_parameters()]
    for name, arr, grad in checks:
        num = eval_numerical_gradient_array(lambda _: run(x), arr, dout)
        assert np.abs(num - grad).max() / np.abs(grad).max() < 1e-7, name
