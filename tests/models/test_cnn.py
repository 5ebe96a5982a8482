"""ThreeLayerConvNet (CS231n contract) and the seed-003 MRI network built with nnlab.nn."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient, rel_error
from nnlab.layers import conv_relu_pool_forward
from nnlab.models.classifier import Classifier
from nnlab.models.cnn import ThreeLayerConvNet, mri_cnn


def test_three_layer_convnet_params_shapes_init_and_dtype():
    model = ThreeLayerConvNet(seed=0)
    shapes = {k: v.shape for k, v in model.params.items()}
    assert shapes == {"W1": (32, 3, 7, 7), "b1": (32,), "W2": (32 * 16 * 16, 100), "b2": (100,),
                      "W3": (100, 10), "b3": (10,)}
    assert all(v.dtype == np.float32 for v in model.params.values())
    assert all(not np.any(model.params[b]) for b in ("b1", "b2", "b3"))
    assert abs(model.params["W2"].std() - 1e-3) < 1e-5
    assert model.conv_param == {"stride": 1, "pad": 3}
    assert ThreeLayerConvNet(filter_size=3, input_dim=(1, 9, 9), seed=0).params["W2"].shape == (32 * 4 * 4, 100)


def test_three_layer_convnet_draws_w1_w2_w3_from_the_global_rng_in_order():
    np.random.seed(5)
    model = ThreeLayerConvNet(input_dim=(2, 6, 6), num_filters=3, filter_size=3, hidden_dim=4, num_classes=5,
                              weight_scale=0.1, dtype=np.float64)
    np.random.seed(5)
    np.testing.assert_array_equal(model.params["W1"], 0.1 * np.random.randn(3, 2, 3, 3))
    np.testing.assert_array_equal(model.params["W2"], 0.1 * np.random.randn(27, 4))
    np.testing.assert_array_equal(model.params["W3"], 0.1 * np.random.randn(4, 5))


def test_three_layer_convnet_scores_compose_the_kernels(rng):
    model = ThreeLayerConvNet(input_dim=(2, 6, 6), num_filters=3, filter_size=3, hidden_dim=4, num_classes=5,
                              weight_scale=0.5, dtype=np.float64, seed=1)
    p = model.params
    X = rng.standard_normal((3, 2, 6, 6))
    h1, _ = conv_relu_pool_forward(X, p["W1"], p["b1"], {"stride": 1, "pad": 1},
                                   {"pool_height": 2, "pool_width": 2, "stride": 2})
    h2 = np.maximum(h1.reshape(3, -1) @ p["W2"] + p["b2"], 0)
    np.testing.assert_allclose(model.loss(X), h2 @ p["W3"] + p["b3"], rtol=1e-13)


@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_three_layer_convnet_gradient_check_float64(rng, reg):
    # weight_scale 1 and random biases keep ReLU inputs away from the kinks that h=1e-6 would cross.
    model = ThreeLayerConvNet(input_dim=(2, 6, 6), num_filters=3, filter_size=3, hidden_dim=5, num_classes=4,
                              weight_scale=0.5, reg=reg, dtype=np.float64, seed=3)
    for b in ("b1", "b2", "b3"):
        model.params[b] = rng.standard_normal(model.params[b].shape)
    X, y = rng.standard_normal((2, 2, 6, 6)), np.array([0, 3])
    _, grads = model.loss(X, y)
    for name in model.params:
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=1e-6)
        assert rel_error(num, grads[name]) < 1e-6, f"{name}: {rel_error(num, grads[name]):.2e}"


def test_three_layer_convnet_float32_stays_float32(rng):
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=6, seed=0)
    loss, grads = model.loss(rng.standard_normal((2, 3, 8, 8)).astype(np.float32), np.array([1, 2]))
    assert np.asarray(loss).dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())


def test_three_layer_convnet_rejects_bad_input():
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=2, filter_size=3, hidden_dim=4, seed=0)
    with pytest.raises(ValueError, match=r"X has images of shape \(3, 9, 9\) but the model expects input_dim"):
        model.loss(np.zeros((1, 3, 9, 9), np.float32))
    with pytest.raises(ValueError, match="X must be 4-D"):
        model.loss(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(ValueError, match="y must be in"):
        model.loss(np.zeros((1, 3, 8, 8), np.float32), np.array([10]))
    with pytest.raises(ValueError, match="filter_size 8 is too large"):
        ThreeLayerConvNet(input_dim=(1, 2, 2), filter_size=8)


def test_mri_cnn_forward_shape_and_names():
    net = mri_cnn(seed=0)
    out = net(np.random.default_rng(0).random((2, 1, 84, 84), dtype=np.float32))
    assert out.shape == (2, 4) and out.dtype == np.float32
    assert net.feature_extractor[7].negative_slope == 0.01
    assert net.classifier[0].weight.shape == (256, 3136)
    sizes = {k: v.shape for k, v in net.state_dict().items()}
    assert sizes["feature_extractor.0.weight"] == (8, 1, 3, 3)
    assert sizes["feature_extractor.8.weight"] == (64, 32, 3, 3)
    assert sizes["classifier.6.weight"] == (4, 128)
    assert sum(int(np.prod(s)) for s in sizes.values()) == 80 + 2336 + 9248 + 18496 + 803072 + 32896 + 516


def test_mri_cnn_eval_is_deterministic_and_train_applies_dropout():
    net = mri_cnn(seed=0)
    x = np.random.default_rng(1).random((2, 1, 28, 28), dtype=np.float32)
    net.eval()
    np.testing.assert_array_equal(net(x), net(x))
    net.train()
    assert not np.array_equal(net(x), net(x))


def test_scaled_down_mri_cnn_gradient_check_float64(rng):
    # Same architecture, narrower: dropout p=0 so every pass sees the same network (masks are random).
    net = mri_cnn(num_classes=3, dropout=0.0, seed=0, widths=(2, 3, 3, 4), hidden=(6, 5), pooled_size=2)
    model = Classifier(net.to(np.float64), reg=0.1)
    X, y = rng.random((2, 1, 8, 8)), np.array([2, 0])
    _, grads = model.loss(X, y)
    assert len(grads) == 14
    for name in model.params:
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=1e-5)
        # relative to the tensor's largest gradient (tiny entries sit at the finite-difference noise floor)
        err = np.abs(num - grads[name]).max() / (np.abs(num) + np.abs(grads[name])).max()
        assert err < 1e-7, f"{name}: relative error {err:.2e} (elementwise rel_error {rel_error(num, grads[name]):.1e})"
