"""Layer modules: outputs and gradients equal the kernels' (no re-derivation), float64 gradient checks,
train/eval behaviour, shapes and bad-input errors."""

from __future__ import annotations

import numpy as np
import pytest

import nnlab.layers as F
import nnlab.nn as nn
from nnlab.gradcheck import eval_numerical_gradient_array, rel_error


def _rand(rng, *shape):
    return rng.standard_normal(shape)


# ---- the modules call the kernels: identical outputs and gradients ---------------------------------------
def test_linear_equals_affine_kernel_with_transposed_weight(rng):
    layer = nn.Linear(6, 4, seed=0).to(np.float64)
    x, dout = _rand(rng, 3, 6), _rand(rng, 3, 4)
    out, cache = F.affine_forward(x, layer.weight.T, layer.bias)
    np.testing.assert_array_equal(layer(x), out)
    dx, dw, db = F.affine_backward(dout, cache)
    np.testing.assert_array_equal(layer.backward(dout), dx)
    np.testing.assert_array_equal(layer.grads["weight"], dw.T)
    np.testing.assert_array_equal(layer.grads["bias"], db)


def test_conv2d_equals_fast_conv_kernel(rng):
    layer = nn.Conv2d(3, 4, 3, stride=2, padding=1, seed=0).to(np.float64)
    x = _rand(rng, 2, 3, 7, 7)
    out, cache = F.conv_forward_fast(x, layer.weight, layer.bias, {"stride": 2, "pad": 1})
    np.testing.assert_array_equal(layer(x), out)
    dout = _rand(rng, *out.shape)
    dx, dw, db = F.conv_backward_fast(dout, cache)
    np.testing.assert_array_equal(layer.backward(dout), dx)
    np.testing.assert_array_equal(layer.grads["weight"], dw)
    np.testing.assert_array_equal(layer.grads["bias"], db)


def test_batchnorm2d_equals_spatial_batchnorm_kernel_and_writes_running_stats(rng):
    layer = nn.BatchNorm2d(3).to(np.float64)
    layer.weight[...] = [1.0, 2.0, 3.0]
    x = 2 * _rand(rng, 4, 3, 5, 5) + 1
    bn_param = {"mode": "train", "eps": 1e-5, "momentum": 0.9, "running_mean": np.zeros(3), "running_var": np.ones(3)}
    out, cache = F.spatial_batchnorm_forward(x, layer.weight, layer.bias, bn_param)
    np.testing.assert_array_equal(layer(x), out)
    np.testing.assert_array_equal(layer.running_mean, bn_param["running_mean"])
    np.testing.assert_array_equal(layer.running_var, bn_param["running_var"])
    # torch's momentum 0.1: running = 0.9 * running + 0.1 * batch (biased variance, see BatchNorm docs)
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=(0, 2, 3)), rtol=1e-12)
    dout = _rand(rng, *x.shape)
    dx, dgamma, dbeta = F.spatial_batchnorm_backward(dout, cache)
    np.testing.assert_array_equal(layer.backward(dout), dx)
    np.testing.assert_array_equal(layer.grads["weight"], dgamma)
    np.testing.assert_array_equal(layer.grads["bias"], dbeta)


def test_groupnorm_equals_spatial_groupnorm_kernel(rng):
    layer = nn.GroupNorm(2, 4).to(np.float64)
    layer.weight[...] = [0.5, 1.0, 1.5, 2.0]
    x = _rand(rng, 2, 4, 3, 5)
    out, cache = F.spatial_groupnorm_forward(x, layer.weight.reshape(1, 4, 1, 1), layer.bias.reshape(1, 4, 1, 1), 2,
                                             {"eps": 1e-5})
    np.testing.assert_allclose(layer(x), out, rtol=0, atol=1e-15)
    dout = _rand(rng, *x.shape)
    dx, dgamma, _ = F.spatial_groupnorm_backward(dout, cache)
    np.testing.assert_allclose(layer.backward(dout), dx, rtol=0, atol=1e-14)
    np.testing.assert_allclose(layer.grads["weight"], dgamma.reshape(4), rtol=1e-14)


@pytest.mark.parametrize("module, kernel", [
    (nn.ReLU(), "relu"), (nn.Sigmoid(), "sigmoid"), (nn.Tanh(), "tanh"), (nn.Softsign(), "softsign"),
])
def test_activation_modules_equal_their_kernels(rng, module, kernel):
    x, dout = _rand(rng, 3, 4), _rand(rng, 3, 4)
    out, cache = getattr(F, f"{kernel}_forward")(x)
    np.testing.assert_array_equal(module(x), out)
    np.testing.assert_array_equal(module.backward(dout), getattr(F, f"{kernel}_backward")(dout, cache))


def test_pool_modules_equal_their_kernels(rng):
    x = _rand(rng, 2, 3, 6, 6)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x), F.max_pool_forward_fast(x, pool_param)[0])
    np.testing.assert_array_equal(nn.AvgPool2d(2)(x), F.avg_pool_forward(x, pool_param)[0])
    np.testing.assert_array_equal(nn.AdaptiveAvgPool2d((4, 3))(x), F.adaptive_avg_pool_forward(x, (4, 3))[0])


# ---- float64 numerical gradient checks of every module -----------------------------------------------------
def _check_module_gradients(module: nn.Module, x: np.ndarray, rng, tol: float = 1e-7) -> None:
    out = module(x)
    dout = rng.standard_normal(out.shape)
    dx = module.backward(dout)
    grads = module.grads
    dx_num = eval_numerical_gradient_array(lambda v: module(v), x, dout)
    assert rel_error(dx, dx_num) < tol, f"dx: {rel_error(dx, dx_num):.2e}"
    for name, p in module.named_parameters():
        num = eval_numerical_gradient_array(lambda _: module(x), p, dout)
        assert rel_error(grads[name], num) < tol, f"{name}: {rel_error(grads[name], num):.2e}"


@pytest.mark.parametrize("make, shape", [
    (lambda: nn.Linear(5, 3, seed=0), (4, 5)),
    (lambda: nn.Linear(5, 3, seed=0), (2, 3, 5)),
    (lambda: nn.Linear(5, 3, bias=False, seed=0), (4, 5)),
    (lambda: nn.Conv2d(2, 3, (3, 2), stride=2, padding=1, seed=0), (2, 2, 5, 6)),
    (lambda: nn.Conv2d(2, 3, 3, bias=False, seed=0), (1, 2, 4, 4)),
    (lambda: nn.BatchNorm1d(4), (6, 4)),
    (lambda: nn.BatchNorm2d(3), (3, 3, 2, 3)),
    (lambda: nn.LayerNorm(5), (3, 5)),
    (lambda: nn.LayerNorm((2, 3)), (2, 4, 2, 3)),
    (lambda: nn.GroupNorm(2, 4), (2, 4, 3, 3)),
    (lambda: nn.GroupNorm(3, 3), (2, 3)),
    (lambda: nn.MaxPool2d(2), (2, 2, 4, 5)),
    (lambda: nn.MaxPool2d(3, stride=2), (1, 2, 7, 7)),
    (lambda: nn.AvgPool2d(2), (2, 2, 4, 4)),
    (lambda: nn.AdaptiveAvgPool2d(3), (2, 2, 5, 7)),
    (lambda: nn.LeakyReLU(0.1), (3, 4)),
    (lambda: nn.Sigmoid(), (3, 4)),
    (lambda: nn.Tanh(), (3, 4)),
    (lambda: nn.Softsign(), (3, 4)),
    (lambda: nn.Flatten(), (2, 3, 2, 2)),
], ids=lambda v: "" if callable(v) else str(v))
def test_module_gradients_match_numerical_float64(rng, make, shape):
    module = make().to(np.float64)
    for p in module.parameters():  # move away from the ones/zeros init
        p[...] = rng.standard_normal(p.shape)
    _check_module_gradients(module, rng.standard_normal(shape), rng)


# ---- modes -------------------------------------------------------------------------------------------------
def test_dropout_eval_is_identity_and_train_scales_kept_units(rng):
    layer = nn.Dropout(0.25, seed=0)
    x = rng.standard_normal((200, 50))
    layer.eval()
    assert layer(x) is x
    layer.train()
    out = layer(x)
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / 0.75, rtol=1e-15)
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), kept / 0.75)
    assert not np.array_equal(layer(x) != 0, kept)  # the stream advances: a new mask per call


def test_batchnorm_eval_uses_running_statistics(rng):
    layer = nn.BatchNorm1d(3).to(np.float64)
    layer.running_mean = np.array([1.0, -2.0, 0.5])
    layer.running_var = np.array([4.0, 0.25, 1.0])
    layer.weight[...] = [2.0, 1.0, 0.5]
    layer.bias[...] = [0.0, 1.0, -1.0]
    x = rng.standard_normal((5, 3))
    layer.eval()
    expected = layer.weight * (x - layer.running_mean) / np.sqrt(layer.running_var + 1e-5) + layer.bias
    np.testing.assert_allclose(layer(x), expected, rtol=1e-13)
    np.testing.assert_array_equal(layer.running_mean, [1.0, -2.0, 0.5])  # eval never updates them
    layer.train()
    out = layer(x)
    np.testing.assert_allclose(out.mean(axis=0), layer.bias, atol=1e-12)
    assert not np.array_equal(layer.running_mean, [1.0, -2.0, 0.5])


def test_batchnorm_without_running_stats_always_uses_the_batch(rng):
    layer = nn.BatchNorm1d(2, affine=False, track_running_stats=False).to(np.float64)
    x = rng.standard_normal((8, 2)) * 3 + 2
    layer.eval()
    out = layer(x)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-12)
    assert layer.state_dict() == {}


# ---- shapes, dtypes and bad input ----------------------------------------------------------------------------
def test_conv_and_pool_output_sizes_floor_like_torch():
    x = np.zeros((1, 2, 9, 8), np.float32)
    assert nn.Conv2d(2, 3, 3, stride=2, padding=0, seed=0)(x).shape == (1, 3, 4, 3)
    assert nn.MaxPool2d(2)(x).shape == (1, 2, 4, 4)
    assert nn.MaxPool2d(3, stride=2)(x).shape == (1, 2, 4, 3)


def test_float32_stays_float32():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, seed=0), nn.GroupNorm(1, 2), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(8, 3, seed=0), nn.LayerNorm(3))
    x = np.ones((2, 1, 4, 4), np.float32)
    out = net(x)
    assert out.dtype == np.float32
    assert net.backward(np.ones_like(out)).dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.grads.values())


def test_init_is_torch_like_uniform_and_seeded():
    layer = nn.Linear(400, 300, seed=3)
    bound = 1 / np.sqrt(400)
    assert np.abs(layer.weight).max() <= bound and np.abs(layer.bias).max() <= bound
    assert abs(layer.weight.std() - bound / np.sqrt(3)) < 0.01 * bound
    np.testing.assert_array_equal(layer.weight, nn.Linear(400, 300, seed=3).weight)
    conv = nn.Conv2d(4, 8, 5, seed=1)
    assert np.abs(conv.weight).max() <= 1 / np.sqrt(100)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="Linear.forward: x has 4 features on its last axis .* in_features=5"):
        nn.Linear(5, 2)(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="Conv2d.forward: x must be 4-D"):
        nn.Conv2d(1, 2, 3)(np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="channels"):
        nn.Conv2d(3, 2, 3)(np.zeros((1, 4, 5, 5), np.float32))
    with pytest.raises(ValueError, match="BatchNorm2d.forward: x has 2 channels .* num_features=3"):
        nn.BatchNorm2d(3)(np.zeros((2, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match="stride must be an integer >= 1"):
        nn.Conv2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match="padding must be the same along height and width"):
        nn.Conv2d(1, 1, 3, padding=(1, 2))
    with pytest.raises(ValueError, match="num_channels \\(5\\) must be divisible by num_groups \\(2\\)"):
        nn.GroupNorm(2, 5)
    with pytest.raises(ValueError, match="Dropout: p must be in"):
        nn.Dropout(1.0)
    with pytest.raises(ValueError, match="LayerNorm.forward: x has shape \\(2, 4\\)"):
        nn.LayerNorm(3)(np.zeros((2, 4), np.float32))
    with pytest.raises(TypeError, match="dtype must be a floating-point type"):
        nn.Linear(2, 2, dtype=np.int64)


def test_repr_reads_like_torch():
    assert repr(nn.Conv2d(1, 8, 3, padding=1)) == "Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))"
    assert repr(nn.Conv2d(2, 4, (3, 5), stride=2, bias=False)) == (
        "Conv2d(2, 4, kernel_size=(3, 5), stride=(2, 2), padding=(0, 0), bias=False)")
    assert repr(nn.MaxPool2d(2, 2)) == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    assert repr(nn.AdaptiveAvgPool2d((7, 7))) == "AdaptiveAvgPool2d(output_size=(7, 7))"
    assert repr(nn.LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(nn.LayerNorm(4)) == "LayerNorm((4,), eps=1e-05, elementwise_affine=True)"
    assert repr(nn.GroupNorm(2, 4)) == "GroupNorm(2, 4, eps=1e-05, affine=True)"
    assert repr(nn.BatchNorm2d(3)) == "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    assert repr(nn.Flatten()) == "Flatten(start_dim=1, end_dim=-1)"
