"""ONNX import: nnlab -> ONNX -> nnlab round trips copy every parameter bit for bit; graphs exported by
``torch.onnx.export`` (MLP, convnet, LSTM, GRU, RNN, GELU/LayerNorm) import and match torch within 1e-5;
unsupported operators give one line naming the operator and its node."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import nnlab.onnx as nxo
from nnlab import nn
from nnlab.models import CharRNN, Classifier, FullyConnectedNet, ThreeLayerConvNet, mri_cnn

try:
    import onnx
except ImportError:  # the round trips and error tests skip one by one, each saying why
    onnx = None
try:
    import torch
except ImportError:  # only the torch -> ONNX -> nnlab tests need it
    torch = None

# Per-test skips (not a whole-file skip): every test here builds or reads ONNX graphs; the torch ones also need torch.
pytestmark = pytest.mark.skipif(onnx is None, reason="onnx is not installed (pip install 'nnlab[onnx]')")
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed (it exports the reference graphs)")
helper = onnx.helper if onnx is not None else None


def _arrays(module):
    """Every parameter and buffer in registration order (dropout and reshapes have none)."""
    return [v for _, v in module.state_dict().items()]


def _assert_bitwise(got, expected):
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert g.dtype == e.dtype and g.shape == e.shape
        assert g.tobytes() == e.tobytes()


def _round_trip(model, example):
    return nxo.load(nxo.export(model, example, None))


# ---- nnlab -> ONNX -> nnlab ---------------------------------------------------------------------------------
def test_round_trip_mri_cnn_is_bitwise(tmp_path):
    rng = np.random.default_rng(0)
    net = mri_cnn(seed=0, widths=(4, 8, 8, 8), hidden=(32, 16), pooled_size=7)
    path = tmp_path / "mri.onnx"
    nxo.export(Classifier(net), rng.standard_normal((2, 1, 56, 56)).astype(np.float32), path)
    back = nxo.load(path)
    assert isinstance(back, nn.Sequential)
    assert [type(m).__name__ for m in back] == [
        "Conv2d", "LeakyReLU", "Conv2d", "LeakyReLU", "MaxPool2d", "Conv2d", "LeakyReLU", "Conv2d", "LeakyReLU",
        "MaxPool2d", "AvgPool2d", "Flatten", "Linear", "LeakyReLU", "Linear", "LeakyReLU", "Linear"]
    _assert_bitwise(_arrays(back), _arrays(net))
    x = rng.standard_normal((5, 1, 56, 56)).astype(np.float32)
    np.testing.assert_allclose(back(x), net.eval()(x), rtol=0, atol=1e-6)  # another pooling kernel: ulps


def test_round_trip_batchnorm_sequential_keeps_running_stats_and_trains():
    rng = np.random.default_rng(1)
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, seed=0), nn.BatchNorm2d(4, momentum=0.2), nn.ReLU(),
                        nn.Flatten(), nn.Linear(64, 8, seed=1), nn.BatchNorm1d(8), nn.Tanh(), nn.LayerNorm(8),
                        nn.Linear(8, 3, seed=2))
    for _ in range(2):
        net(rng.standard_normal((6, 2, 4, 4)).astype(np.float32) + 1)
    back = _round_trip(net, np.zeros((1, 2, 4, 4), np.float32))
    _assert_bitwise(_arrays(back), _arrays(net))
    assert back[1].momentum == 0.2 and back[1].eps == net[1].eps == 1e-5
    x = rng.standard_normal((7, 2, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(back(x), net.eval()(x), rtol=0, atol=1e-6)
    # an imported chain is an ordinary Sequential: it trains through Classifier
    clf = Classifier(back)
    loss, grads = clf.loss(x, np.arange(7) % 3)
    assert set(grads) == set(dict(back.named_parameters())) and np.isfinite(loss)


def test_round_trip_fully_connected_net_parameters_are_bitwise():
    rng = np.random.default_rng(2)
    np.random.seed(0)
    model = FullyConnectedNet([10, 8], input_dim=12, num_classes=4, normalization="batchnorm", dropout=0.5,
                              weight_scale=0.3, seed=0)
    X = rng.standard_normal((16, 12)).astype(np.float32)
    model.loss(X, np.arange(16) % 4)
    back = _round_trip(model, X[:2])
    linears = [m for m in back if isinstance(m, nn.Linear)]
    bns = [m for m in back if isinstance(m, nn.BatchNorm1d)]
    for i, lin in enumerate(linears, start=1):
        assert lin.weight.tobytes() == np.ascontiguousarray(model.params[f"W{i}"].T).tobytes()
        assert lin.bias.tobytes() == model.params[f"b{i}"].tobytes()
    for i, bn in enumerate(bns, start=1):
        assert bn.weight.tobytes() == model.params[f"gamma{i}"].tobytes()
        assert bn.running_var.tobytes() == model.bn_params[i - 1]["running_var"].tobytes()
    np.testing.assert_allclose(back(X), model.loss(X), atol=1e-6)


def test_round_trip_three_layer_convnet():
    rng = np.random.default_rng(3)
    model = ThreeLayerConvNet(input_dim=(3, 8, 8), num_filters=4, filter_size=3, hidden_dim=10, num_classes=5,
                              weight_scale=0.2, seed=0)
    back = _round_trip(model, np.zeros((1, 3, 8, 8), np.float32))
    assert back[0].weight.tobytes() == model.params["W1"].tobytes()
    x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(back(x), model.loss(x), atol=1e-6)


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_round_trip_char_rnn(cell):
    rng = np.random.default_rng(4)
    model = CharRNN(vocab_size=17, embedding_dim=6, hidden_size=9, cell=cell, seed=0)
    back = _round_trip(model, rng.integers(0, 17, (2, 4)))
    assert isinstance(back, nxo.GraphModule)
    _assert_bitwise(_arrays(back), _arrays(model))  # embedding, torch-layout recurrent weights, fc
    ids = rng.integers(0, 17, (5, 12))
    np.testing.assert_array_equal(back(ids), model.loss(ids))


def test_round_trip_gru_two_layers():
    rng = np.random.default_rng(5)
    gru = nn.GRU(4, 6, num_layers=2, seed=0)
    back = _round_trip(gru, np.zeros((1, 3, 4), np.float32))
    got = sorted(v.tobytes() for v in _arrays(back))
    assert got == sorted(v.tobytes() for v in _arrays(gru))
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(back(x), gru(x)[0], atol=1e-6)


# ---- torch -> ONNX -> nnlab ---------------------------------------------------------------------------------
def _torch_onnx(module, x, opset=17):
    module.eval()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), buf, dynamo=False, opset_version=opset, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "N"}})
    return buf.getvalue()


def _check_torch(module, x, opset=17, batch=None):
    imported = nxo.load(_torch_onnx(module, x, opset))
    batch = x if batch is None else batch
    with torch.no_grad():
        expected = module(batch).numpy()
    got = imported(batch.numpy())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    return imported


@needs_torch
def test_torch_mlp():
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.BatchNorm1d(32), torch.nn.ReLU(),
                              torch.nn.Dropout(0.3), torch.nn.Linear(32, 16), torch.nn.LeakyReLU(0.2),
                              torch.nn.Linear(16, 8), torch.nn.Sigmoid(), torch.nn.Linear(8, 4))
    mlp[1].running_mean.normal_()
    mlp[1].running_var.uniform_(0.5, 2.0)
    imported = _check_torch(mlp, torch.randn(3, 10), batch=torch.randn(9, 10))
    assert isinstance(imported, nn.Sequential)
    state = {k: v.numpy() for k, v in mlp.state_dict().items() if "num_batches" not in k}
    lin = imported[0]
    assert lin.weight.tobytes() == state["0.weight"].tobytes()


@needs_torch
def test_torch_convnet():
    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 8, 3, stride=2, padding=1), torch.nn.Tanh(), torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(8, 6, 1), torch.nn.Sigmoid(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Linear(6, 5))
    net[1].running_mean.normal_()
    net[1].running_var.uniform_(0.5, 2.0)
    imported = _check_torch(net, torch.randn(2, 3, 16, 16), batch=torch.randn(6, 3, 16, 16))
    assert isinstance(imported, nn.Sequential)
    assert any(isinstance(m, nn.AdaptiveAvgPool2d) for m in imported)


def _torch_recurrent(kind, num_layers=1):
    """torch's LSTM/GRU/RNN (batch first) followed by a Linear on the last step (defined here: needs torch)."""

    class TorchRecurrent(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(torch.nn, kind)(5, 12, num_layers=num_layers, batch_first=True)
            self.fc = torch.nn.Linear(12, 4)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.fc(out[:, -1])

    return TorchRecurrent()


@needs_torch
@pytest.mark.parametrize("kind,num_layers", [("LSTM", 1), ("GRU", 1), ("RNN", 1), ("LSTM", 2)])
def test_torch_recurrent(kind, num_layers):
    torch.manual_seed(2)
    model = _torch_recurrent(kind, num_layers)
    imported = _check_torch(model, torch.randn(3, 7, 5), batch=torch.randn(8, 7, 5))
    assert isinstance(imported, nxo.GraphModule)
    state = model.state_dict()
    cell = getattr(imported, next(n for n, m in imported.named_children() if isinstance(m, (nn.LSTM, nn.GRU, nn.RNN))))
    # ONNX's gate blocks map back to torch's layout exactly
    assert cell.weight_ih_l0.tobytes() == state["rnn.weight_ih_l0"].numpy().tobytes()
    assert cell.bias_hh_l0.tobytes() == state["rnn.bias_hh_l0"].numpy().tobytes()


@needs_torch
def test_torch_gelu_layernorm_opset20():
    torch.manual_seed(3)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.GELU(), torch.nn.LayerNorm(16),
                              torch.nn.Linear(16, 16), torch.nn.GELU(approximate="tanh"), torch.nn.Linear(16, 3))
    imported = _check_torch(net, torch.randn(4, 6), opset=20)
    assert [type(m).__name__ for m in imported].count("GELU") == 2


@needs_torch
def test_torch_decomposed_softsign_and_gelu_import_as_a_graph():
    """torch writes Softsign as x / (1 + |x|) and, below opset 20, GELU with Erf: a GraphModule of NumPy ops."""
    torch.manual_seed(4)
    net = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.Softsign(), torch.nn.Linear(16, 16),
                              torch.nn.GELU(), torch.nn.Linear(16, 3))
    imported = _check_torch(net, 3 * torch.randn(4, 6), batch=3 * torch.randn(10, 6))
    assert isinstance(imported, nxo.GraphModule)
    assert [type(m).__name__ for m in imported.children()] == ["Linear"] * 3


# ---- errors -------------------------------------------------------------------------------------------------
def _graph(nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _vi(name, shape):
    return helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shape)


def test_unsupported_operator_is_named_with_its_node():
    model = _graph([helper.make_node("Relu", ["x"], ["h"], name="act"),
                    helper.make_node("Hardmax", ["h"], ["y"], name="my_hardmax")],
                   [_vi("x", ["N", 4])], [_vi("y", ["N", 4])])
    with pytest.raises(nxo.UnsupportedOperatorError) as info:
        nxo.load(model)
    message = str(info.value)
    assert "\n" not in message
    assert "unsupported ONNX operator 'Hardmax' (node 'my_hardmax')" in message


def test_unsupported_attributes_are_named():
    w = onnx.numpy_helper.from_array(np.zeros((4, 1, 3, 3), np.float32), "w")
    model = _graph([helper.make_node("Conv", ["x", "w"], ["y"], name="grouped", group=2)],
                   [_vi("x", ["N", 2, 8, 8])], [_vi("y", ["N", 4, 6, 6])], [w])
    with pytest.raises(nxo.UnsupportedOperatorError, match=r"'Conv' \(node 'grouped'\): group=2"):
        nxo.load(model)
    model = _graph([helper.make_node("LSTM", ["x", "w", "r"], ["y"], name="bi", hidden_size=2,
                                     direction="bidirectional")],
                   [_vi("x", [3, "N", 2])], [_vi("y", [3, 2, "N", 2])],
                   [onnx.numpy_helper.from_array(np.zeros((2, 8, 2), np.float32), "w"),
                    onnx.numpy_helper.from_array(np.zeros((2, 8, 2), np.float32), "r")])
    with pytest.raises(nxo.UnsupportedOperatorError, match=r"'LSTM' \(node 'bi'\): direction"):
        nxo.load(model)


def test_register_importer_adds_an_operator():
    import sys

    model = _graph([helper.make_node("Sign", ["x"], ["y"], name="sign")], [_vi("x", ["N", 3])],
                   [_vi("y", ["N", 3])])
    with pytest.raises(nxo.UnsupportedOperatorError, match="'Sign'"):
        nxo.load(model)
    nxo.register_importer("Sign")(lambda node, ctx: np.sign)
    try:
        x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
        np.testing.assert_array_equal(nxo.load(model)(x), np.sign(x))
    finally:
        sys.modules["nnlab.onnx.load"]._IMPORTERS.pop("Sign")


def test_round_trip_resnet_and_char_transformer():
    from nnlab.models import CharTransformer, resnet

    rng = np.random.default_rng(6)
    net = resnet.resnet_cifar(depth=8, width=4, seed=0)
    back = _round_trip(net, np.zeros((1, 3, 32, 32), np.float32))
    assert isinstance(back, nxo.GraphModule)  # the residual adds make it a graph, not a chain
    assert sorted(v.tobytes() for v in _arrays(back)) == sorted(v.tobytes() for v in _arrays(net))
    x = rng.standard_normal((3, 3, 32, 32)).astype(np.float32)
    np.testing.assert_allclose(back(x), net.eval()(x), atol=1e-6)

    model = CharTransformer(13, d_model=8, nhead=2, num_layers=1, dim_feedforward=16, max_len=10, seed=0)
    back = _round_trip(model, rng.integers(0, 13, (1, 3)))
    ids = rng.integers(0, 13, (4, 10))
    np.testing.assert_allclose(back(ids), model.loss(ids), atol=1e-6)
