"""Residual convnets: BasicBlock loaded from a torch (torchvision-style) BasicBlock's state_dict, resnet_cifar and
resnet_fast against torch twins with the same weights (forward, input gradient and every parameter gradient in
train mode, forward in eval mode; float64 1e-10, float32 1e-5), float64 numerical gradient checks of a block,
the ResNet-20 layout (0.27 M parameters, 19 3x3 convolutions + fc), the Classifier contract, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import nnlab.nn as nn
from nnlab.gradcheck import eval_numerical_gradient_array, rel_error
from nnlab.models import BasicBlock, Classifier, resnet_cifar, resnet_fast

torch = pytest.importorskip("torch")
from tests.parity.conftest import assert_close, to_torch  # noqa: E402
from tests.parity.torch_twins import TorchBasicBlock, from_torch_state_dict, torch_twin  # noqa: E402

DTYPES = [np.float64, np.float32]
_TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def _randomize_bn(module: nn.Module, rng) -> None:
    """Non-trivial batch-norm affine parameters and running statistics (fresh ones are 1, 0, 0, 1)."""
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            c, dt = m.num_features, m.weight.dtype
            m.weight = (1 + 0.3 * rng.standard_normal(c)).astype(dt)
            m.bias = (0.2 * rng.standard_normal(c)).astype(dt)
            m.running_mean = (0.1 * rng.standard_normal(c)).astype(dt)
            m.running_var = (1 + 0.5 * rng.random(c)).astype(dt)


def _compare_train_step(ours: nn.Module, theirs, x: np.ndarray, dtype, rng) -> None:
    """Train mode: forward, input gradient and every parameter gradient; then eval mode: forward."""
    ours.train()
    theirs.train()
    out = ours(x)
    xt = to_torch(x, True)
    out_t = theirs(xt)
    assert_close("out (train)", out, out_t, dtype)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dx = ours.backward(dout)
    out_t.backward(to_torch(dout))
    assert_close("dx", dx, xt.grad, dtype)
    torch_params = dict(theirs.named_parameters())
    assert sorted(ours.grads) == sorted(torch_params)
    for name, p in torch_params.items():
        assert_close(f"d{name}", ours.grads[name], p.grad, dtype)
    # eval mode with identical running statistics (reload them: the two libraries' running_var updates differ
    # by n/(n-1) by design, see nnlab.nn.BatchNorm2d)
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()}, strict=False)
    ours.eval()
    theirs.eval()
    with torch.no_grad():
        assert_close("out (eval)", ours(x), theirs(to_torch(x)), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("in_planes,planes,stride", [(4, 4, 1), (3, 6, 2), (4, 6, 1)])
def test_basic_block_loads_a_torch_basic_block_state_dict_and_matches_it(in_planes, planes, stride, dtype, rng):
    torch.manual_seed(0)
    theirs = TorchBasicBlock(in_planes, planes, stride).to(_TORCH_DTYPE[dtype])
    with torch.no_grad():  # non-trivial batch-norm parameters and statistics
        for m in theirs.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    ours = BasicBlock(in_planes, planes, stride, seed=1, dtype=dtype)
    sd = from_torch_state_dict(theirs.state_dict())
    assert ours.state_dict_keys() == list(sd)
    ours.load_state_dict(sd)
    x = rng.standard_normal((2, in_planes, 7, 6)).astype(dtype)
    _compare_train_step(ours, theirs, x, dtype, rng)


@pytest.mark.parametrize("stride,planes", [(1, 3), (2, 4)])
def test_basic_block_float64_gradient_check(stride, planes, rng):
    block = BasicBlock(3, planes, stride, activation="silu", seed=0, dtype=np.float64)  # smooth: no ReLU kinks
    _randomize_bn(block, rng)
    x = rng.standard_normal((1, 3, 5, 5))
    out = block(x)
    dout = rng.standard_normal(out.shape)
    dx = block.backward(dout)
    grads = dict(block.grads)

    def numerical(a):  # Richardson-extrapolated centered differences (see tests/nn/test_residual.py)
        return (4 * eval_numerical_gradient_array(lambda _: block(x), a, dout, h=1e-4)
                - eval_numerical_gradient_array(lambda _: block(x), a, dout, h=2e-4)) / 3

    assert rel_error(numerical(x), dx) < 1e-7
    for name, p in block.named_parameters():
        assert rel_error(numerical(p), grads[name]) < 1e-7, name


def test_resnet20_layout_and_parameter_count():
    net = resnet_cifar(depth=20, seed=0)
    assert sum(p.size for p in net.parameters()) == 272_474  # 0.27 M (1x1 projection shortcuts)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert sum(c.kernel_size == (3, 3) for c in convs) == 19 and sum(c.kernel_size == (1, 1) for c in convs) == 2
    assert [len(net[f"layer{k}"]) for k in (1, 2, 3)] == [3, 3, 3]
    assert [net[f"layer{k}"][0].planes for k in (1, 2, 3)] == [16, 32, 64]
    assert list(net.state_dict())[:5] == ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean",
                                          "bn1.running_var"]
    assert "layer2.0.downsample.0.weight" in net.state_dict() and "layer1.0.downsample.0.weight" not in net.state_dict()
    assert net.fc.weight.shape == (10, 64)
    out = net(np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32))
    assert out.shape == (2, 10) and out.dtype == np.float32
    assert sum(p.size for p in resnet_cifar(depth=8, width=8).parameters()) < 30_000


@pytest.mark.parametrize("dtype", DTYPES)
def test_resnet_cifar_matches_its_torch_twin(dtype, rng):
    net = resnet_cifar(depth=8, width=4, num_classes=5, seed=0, dtype=dtype)
    _randomize_bn(net, rng)
    theirs = torch_twin(net)
    x = rng.standard_normal((3, 3, 12, 12)).astype(dtype)
    _compare_train_step(net, theirs, x, dtype, rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("head_pool,activation", [("max", "relu"), ("avg", "gelu")])
def test_resnet_fast_matches_its_torch_twin(head_pool, activation, dtype, rng):
    net = resnet_fast(widths=(4, 6, 8), residual=(True, False, True), head_pool=head_pool, activation=activation,
                      image_size=16, seed=0, dtype=dtype)
    _randomize_bn(net, rng)
    theirs = torch_twin(net)
    x = rng.standard_normal((3, 3, 16, 16)).astype(dtype)
    _compare_train_step(net, theirs, x, dtype, rng)


def test_resnet_fast_layout():
    net = resnet_fast(seed=0)
    names = [n for n, _ in net.named_children()]
    assert names == ["stem", "layer1", "layer2", "layer3", "pool", "flatten", "fc", "scale"]
    assert net.stem.conv.out_channels == 32 and net.fc.weight.shape == (10, 256) and net.fc.bias is None
    assert all(isinstance(net[f"layer{k}"].res, nn.Residual) for k in (1, 2, 3))
    assert "res" not in dict(resnet_fast(residual=(True, False, True))["layer2"].named_children())
    assert resnet_fast(widths=(8, 16), head_pool="max", image_size=32).pool.kernel_size == 8


def test_resnet_through_classifier_gives_the_solver_contract(rng):
    net = resnet_cifar(depth=8, width=4, seed=0, dtype=np.float64)
    model = Classifier(net, reg=1e-3)
    assert net.conv1.input_grad is False  # the data needs no gradient
    X = rng.standard_normal((4, 3, 8, 8))
    y = np.array([0, 3, 9, 1])
    loss, grads = model.loss(X, y)
    assert np.isfinite(loss) and sorted(grads) == sorted(model.params)
    assert "layer1.0.conv1.weight" in model.regularized_names()
    assert model.loss(X).shape == (4, 10)


def test_resnet_builders_bad_input_name_the_argument():
    with pytest.raises(ValueError, match=r"resnet_cifar: depth must be 6n \+ 2 with n >= 1 \(8, 14, 20, 32, ...\), "
                                         "got 21"):
        resnet_cifar(depth=21)
    with pytest.raises(ValueError, match="resnet_cifar: width must be a positive integer, got 0"):
        resnet_cifar(width=0)
    with pytest.raises(ValueError, match="resnet_cifar: activation must be one of"):
        resnet_cifar(activation="tanh")
    with pytest.raises(ValueError, match=r"resnet_fast: residual must be a bool or one bool per stage \(3\)"):
        resnet_fast(residual=(True, False))
    with pytest.raises(ValueError, match="resnet_fast: head_pool must be 'max' or 'avg'"):
        resnet_fast(head_pool="sum")
    with pytest.raises(ValueError, match="resnet_fast: image_size 20 must be divisible by 2\\*\\*len\\(widths\\) = 8"):
        resnet_fast(image_size=20)
    with pytest.raises(ValueError, match="resnet_fast: widths must be a non-empty tuple"):
        resnet_fast(widths=())
    with pytest.raises(ValueError, match="BasicBlock: stride must be a positive integer, got 0"):
        BasicBlock(3, 3, stride=0)
    with pytest.raises(ValueError, match=r"Conv2d.forward: x must be 4-D \(N, C, H, W\)"):
        resnet_cifar(depth=8)(np.zeros((3, 32, 32), np.float32))
