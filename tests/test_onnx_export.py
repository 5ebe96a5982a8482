"""ONNX export: every model nnlab trains, with random weights and non-trivial batch-norm statistics, exported
in eval mode; onnx.checker passes and onnxruntime reproduces nnlab's scores within 1e-4 (float32) with the same
argmax, on a batch of another size than the example's (the batch axis is dynamic)."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import nnlab.onnx as nxo  # noqa: E402
from nnlab import nn  # noqa: E402
from nnlab.models import (  # noqa: E402
    CharRNN,
    Classifier,
    FullyConnectedNet,
    LinearSVM,
    Softmax,
    ThreeLayerConvNet,
    TwoLayerNet,
    mri_cnn,
)

TOL = 1e-4


def run_ort(proto, x):
    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def check_export(model, example, batch, reference, tmp_path=None, **kwargs):
    """Export with ``example``, run onnxruntime on ``batch``; compare with ``reference`` (nnlab's scores)."""
    path = None if tmp_path is None else tmp_path / "model.onnx"
    proto = nxo.export(model, example, path, **kwargs)
    if path is not None:
        proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == kwargs.get("opset", 17)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"
    assert proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param == "N"
    ops = [n.op_type for n in proto.graph.node]
    assert "Dropout" not in ops
    got = run_ort(proto, batch)
    assert got.shape == reference.shape
    assert got.dtype == np.dtype(kwargs.get("dtype", np.float32))
    err = float(np.abs(got - reference).max())
    assert err <= TOL, f"onnxruntime differs from nnlab by {err:.3g}"
    np.testing.assert_array_equal(got.argmax(1), reference.argmax(1))
    return proto, ops


def _images(rng, n, shape):
    return rng.standard_normal((n, *shape)).astype(np.float32)


def _warm_batchnorm(model, X, y, steps=3):
    """A few training-mode passes so the running statistics are far from zeros/ones."""
    for _ in range(steps):
        model.loss(X * 2.0 + 0.5, y)


@pytest.mark.parametrize("normalization,activation", [
    (None, "relu"), ("batchnorm", "relu"), ("layernorm", "relu"), (None, "leaky_relu"), ("batchnorm", "tanh"),
    ("layernorm", "sigmoid"), (None, "softsign"),
])
def test_fully_connected_net(normalization, activation, tmp_path):
    rng = np.random.default_rng(0)
    np.random.seed(1)
    model = FullyConnectedNet([24, 16, 12], input_dim=3 * 4 * 4, num_classes=7, dropout=0.25,
                              normalization=normalization, activation=activation, weight_scale=0.3, seed=0)
    X = _images(rng, 32, (3, 4, 4))
    _warm_batchnorm(model, X, rng.integers(0, 7, 32))
    if normalization == "batchnorm":
        assert np.abs(model.bn_params[0]["running_mean"]).max() > 0.1
    batch = _images(rng, 13, (3, 4, 4))
    proto, ops = check_export(model, X[:4], batch, model.loss(batch), tmp_path)
    assert ops.count("Gemm") == 4
    assert ("BatchNormalization" in ops) == (normalization == "batchnorm")
    assert ("LayerNormalization" in ops) == (normalization == "layernorm")
    if normalization == "batchnorm":
        inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
        np.testing.assert_array_equal(inits["running_mean1"], model.bn_params[0]["running_mean"])
        np.testing.assert_array_equal(inits["gamma2"], model.params["gamma2"])


def test_two_layer_net_float32_and_float64():
    rng = np.random.default_rng(1)
    np.random.seed(2)
    model = TwoLayerNet(input_dim=20, hidden_dim=30, num_classes=6, weight_scale=0.2)  # float64 parameters
    batch = rng.standard_normal((9, 20))
    check_export(model, batch[:2].astype(np.float32), batch.astype(np.float32), model.loss(batch))
    check_export(model, batch[:2], batch, model.loss(batch), dtype=np.float64)


@pytest.mark.parametrize("cls", [Softmax, LinearSVM])
def test_linear_classifiers(cls):
    rng = np.random.default_rng(2)
    model = cls(input_dim=3 * 8 * 8, num_classes=10, weight_scale=0.05, seed=0)
    batch = rng.standard_normal((11, 3 * 8 * 8)).astype(np.float32)
    _, ops = check_export(model, batch[:3], batch, model.loss(batch))
    assert ops == ["Gemm"]


def test_three_layer_convnet(tmp_path):
    rng = np.random.default_rng(3)
    model = ThreeLayerConvNet(input_dim=(3, 11, 11), num_filters=6, filter_size=5, hidden_dim=20, num_classes=5,
                              weight_scale=0.1, seed=0)
    batch = _images(rng, 7, (3, 11, 11))
    _, ops = check_export(model, batch[:2], batch, model.loss(batch), tmp_path)
    assert ops == ["Conv", "Relu", "MaxPool", "Flatten", "Gemm", "Relu", "Gemm"]


def _trained_mri_classifier(rng, size=84, **kwargs):
    net = mri_cnn(seed=0, **kwargs)
    for mod in net.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            mod.running_mean = rng.standard_normal(mod.num_features).astype(np.float32)
    return Classifier(net)


def test_mri_cnn_full_size():
    rng = np.random.default_rng(4)
    clf = _trained_mri_classifier(rng)
    batch = _images(rng, 5, (1, 84, 84))
    _, ops = check_export(clf, batch[:2], batch, clf.loss(batch))
    assert ops.count("Conv") == 4 and ops.count("LeakyRelu") == 6 and ops.count("AveragePool") == 1


def test_sequential_with_batchnorm_pools_and_activations(tmp_path):
    rng = np.random.default_rng(5)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, seed=0), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, seed=1), nn.BatchNorm2d(8), nn.Tanh(), nn.AvgPool2d(2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.5), nn.Linear(8, 16, seed=2), nn.BatchNorm1d(16),
        nn.Sigmoid(), nn.LayerNorm(16), nn.Softsign(), nn.Identity(), nn.Linear(16, 4, seed=3),
    )
    net.train()
    for _ in range(3):
        net(_images(rng, 16, (3, 16, 16)) * 3 + 1)
    assert net[1].training and np.abs(net[1].running_mean).max() > 0.1
    batch = _images(rng, 6, (3, 16, 16))
    net.eval()
    reference = net(batch)
    net.train()
    _, ops = check_export(net, batch[:2], batch, reference, tmp_path)
    assert net[1].training, "export restores the training flags"
    assert "GlobalAveragePool" in ops and ops.count("BatchNormalization") == 3


@pytest.mark.parametrize("cell", ["rnn", "lstm"])
@pytest.mark.parametrize("seq_loss", [False, True])
def test_char_rnn(cell, seq_loss, tmp_path):
    rng = np.random.default_rng(6)
    model = CharRNN(vocab_size=23, embedding_dim=10, hidden_size=12, cell=cell, seq_loss=seq_loss, seed=0)
    example = rng.integers(0, 23, (2, 5))
    batch = rng.integers(0, 23, (9, 11))  # another batch size and another sequence length
    proto, ops = check_export(model, example, batch, model.loss(batch), tmp_path)
    assert ops == ["Gather", "Transpose", cell.upper(), "Squeeze", "Gemm"]
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.INT64
    assert proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param == "T"


@pytest.mark.parametrize("num_layers", [1, 2])
def test_gru_sequence_model(num_layers):
    rng = np.random.default_rng(7)
    gru = nn.GRU(6, 9, num_layers=num_layers, seed=0)
    batch = rng.standard_normal((5, 7, 6)).astype(np.float32)
    reference = gru(batch)[0]
    proto = nxo.export(gru, batch[:2], None, dynamic_axes={0: "N", 1: "T"})
    got = run_ort(proto, batch)
    np.testing.assert_allclose(got, reference, atol=TOL)
    assert [n.op_type for n in proto.graph.node].count("GRU") == num_layers


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_and_silu(opset, approximate):
    rng = np.random.default_rng(8)
    net = nn.Sequential(nn.Linear(5, 16, seed=0), nn.GELU(approximate), nn.Linear(16, 16, seed=1),
                        nn.SiLU(), nn.Linear(16, 3, seed=2))
    batch = rng.standard_normal((10, 5)).astype(np.float32) * 3
    _, ops = check_export(net, batch[:2], batch, net(batch), opset=opset)
    assert ("Gelu" in ops) == (opset >= 20)


def test_export_without_path_writes_nothing_and_file_round_trips(tmp_path):
    net = nn.Sequential(nn.Linear(4, 3, seed=0))
    proto = nxo.export(net, np.zeros((1, 4), np.float32), None)
    assert list(tmp_path.iterdir()) == []
    nxo.export(net, np.zeros((1, 4), np.float32), tmp_path / "sub" / "m.onnx")
    assert onnx.load(str(tmp_path / "sub" / "m.onnx")).graph == proto.graph
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["nnlab_model"] == "Sequential" and props["opset"] == "17"


def test_unknown_module_names_its_class_and_place():
    class Mystery(nn.Module):
        def forward(self, x):
            return x

    net = nn.Sequential(nn.Linear(4, 4, seed=0), Mystery())
    with pytest.raises(nxo.ExportError, match=r"no ONNX converter for Mystery \(at '1'\).*register_converter"):
        nxo.export(net, np.zeros((2, 4), np.float32), None)


def test_register_converter_adds_a_module():
    class Double(nn.Module):
        def forward(self, x):
            return 2 * x

    @nxo.register_converter(Double)
    def _double(g, m, x, scope):
        two = g.const(f"{scope}.two", np.float32(2))
        return nxo.Traced(g.node("Mul", [x.name, two], scope=scope), 2 * x.value)

    net = nn.Sequential(nn.Linear(4, 3, seed=0), Double())
    batch = np.random.default_rng(9).standard_normal((5, 4)).astype(np.float32)
    check_export(net, batch[:1], batch, net(batch))


def test_bad_arguments():
    net = nn.Sequential(nn.Linear(4, 3, seed=0))
    with pytest.raises(ValueError, match="opset must be >= 17"):
        nxo.export(net, np.zeros((1, 4), np.float32), None, opset=13)
    with pytest.raises(TypeError, match="dtype must be a floating-point type"):
        nxo.export(net, np.zeros((1, 4), np.float32), None, dtype=np.int32)
    with pytest.raises(ValueError, match=r"example_input must be a batch"):
        nxo.export(net, np.zeros((0, 4), np.float32), None)
    bn = nn.Sequential(nn.BatchNorm1d(4, track_running_stats=False))
    with pytest.raises(nxo.ExportError, match="track_running_stats=False"):
        nxo.export(bn, np.zeros((2, 4), np.float32), None)


def test_missing_onnx_gives_the_install_hint(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] in ("onnx", "onnxruntime"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    for call in (nxo.require_onnx, nxo.require_onnxruntime,
                 lambda: nxo.export(nn.Linear(2, 2), np.zeros((1, 2), np.float32), None),
                 lambda: nxo.load("missing.onnx")):
        with pytest.raises(nxo.OnnxUnavailableError, match=r'pip install "nnlab\[onnx\]"'):
            call()


# ---- residual and attention blocks --------------------------------------------------------------------------
def _randomize_batchnorm(net, rng):
    for mod in net.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            mod.running_mean = rng.standard_normal(mod.num_features).astype(np.float32)
            mod.running_var = rng.uniform(0.5, 2.0, mod.num_features).astype(np.float32)


@pytest.mark.parametrize("builder", ["resnet_cifar", "resnet_fast"])
def test_resnets(builder):
    from nnlab.models import resnet

    rng = np.random.default_rng(10)
    if builder == "resnet_cifar":
        net = resnet.resnet_cifar(depth=8, width=4, seed=0)
    else:
        net = resnet.resnet_fast(widths=(8, 16, 16), residual=(True, False, True), seed=0)
    _randomize_batchnorm(net, rng)
    clf = Classifier(net)
    batch = _images(rng, 5, (3, 32, 32))
    proto, ops = check_export(clf, batch[:1], batch, clf.loss(batch))
    assert "Add" in ops
    names = {t.name for t in proto.graph.initializer}
    if builder == "resnet_cifar":
        assert {"layer2.0.conv1.weight", "layer2.0.downsample.0.weight", "layer2.0.bn2.running_var"} <= names


def test_residual_and_add_containers():
    rng = np.random.default_rng(11)
    net = nn.Sequential(nn.Linear(6, 8, seed=0),
                        nn.Residual(nn.Sequential(nn.Linear(8, 8, seed=1), nn.ReLU())),
                        nn.Residual(nn.Linear(8, 4, seed=2), nn.Linear(8, 4, seed=3)),
                        nn.Add(nn.Identity(), nn.Tanh(), nn.Linear(4, 4, seed=4)))
    batch = rng.standard_normal((7, 6)).astype(np.float32)
    _, ops = check_export(net, batch[:2], batch, net(batch))
    assert ops.count("Add") == 4


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("tie_weights", [False, True])
def test_char_transformer(norm_first, tie_weights):
    from nnlab.models import CharTransformer

    rng = np.random.default_rng(12)
    model = CharTransformer(19, d_model=16, nhead=4, num_layers=2, dim_feedforward=32, max_len=12, dropout=0.1,
                            tie_weights=tie_weights, norm_first=norm_first, seed=0)
    example = rng.integers(0, 19, (2, 4))
    batch = rng.integers(0, 19, (6, 11))  # other N and T (<= max_len): both axes are dynamic
    proto, ops = check_export(model, example, batch, model.loss(batch))
    assert ops.count("Softmax") == 2 and ops.count("LayerNormalization") == 5
    assert model.training, "export leaves the model's mode as it was"


def test_transformer_encoder_layer_in_a_sequential():
    rng = np.random.default_rng(13)
    net = nn.Sequential(nn.TransformerEncoderLayer(8, 2, 16, activation="gelu", seed=0), nn.Flatten(),
                        nn.Linear(40, 3, seed=1))
    batch = rng.standard_normal((4, 5, 8)).astype(np.float32)
    check_export(net, batch[:1], batch, net.eval()(batch))


@pytest.mark.parametrize("opset", [17, 18])
def test_modern_activations_export_and_import(opset):
    rng = np.random.default_rng(14)
    prelu = nn.PReLU(8)
    prelu.weight = rng.uniform(0.05, 0.5, 8).astype(np.float32)
    net = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1, seed=0), prelu, nn.ELU(0.7), nn.Conv2d(8, 8, 1, seed=1),
                        nn.SELU(), nn.Hardswish(), nn.Mish(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                        nn.Linear(8, 8, seed=2), nn.Softplus(), nn.Linear(8, 8, seed=3), nn.Hardsigmoid(),
                        nn.Linear(8, 8, seed=4), nn.Softplus(beta=2.0), nn.PReLU(), nn.Linear(8, 3, seed=5))
    batch = 2 * rng.standard_normal((6, 2, 5, 5)).astype(np.float32)
    proto, ops = check_export(net, batch[:1], batch, net(batch), opset=opset)
    assert ("Mish" in ops) == (opset >= 18)
    back = nxo.load(proto)
    np.testing.assert_allclose(back(batch), net(batch), atol=1e-6)
    kinds = {type(m).__name__ for m in back.modules()}
    assert {"PReLU", "ELU", "SELU", "Hardswish", "Softplus", "Hardsigmoid"} <= kinds
    assert ("Mish" in kinds) == (opset >= 18)  # below 18 it is x * tanh(softplus(x)), imported as ops


def test_verify_on_a_data_set(tmp_path):
    from nnlab.data import load_digits

    data = load_digits(seed=0)
    np.random.seed(3)
    model = FullyConnectedNet([32, 16], input_dim=64, num_classes=10, normalization="batchnorm", dropout=0.2,
                              weight_scale=0.1, seed=0)
    model.loss(data["X_train"][:200], data["y_train"][:200])
    path = tmp_path / "digits.onnx"
    nxo.export(model, data["X_test"][:1], path)
    check = nxo.verify(model, path, data["X_test"], batch_size=100)
    assert check.ok and check.samples == data["X_test"].shape[0] and check.opset == 17
    assert check.max_abs_error <= TOL and check.argmax_agreement == 1.0
    assert "OK" in check.summary()
    np.testing.assert_allclose(nxo.run_onnx(path, data["X_test"][:7]), model.loss(data["X_test"][:7]), atol=TOL)
    ids_model = CharRNN(vocab_size=9, embedding_dim=4, hidden_size=5, cell="lstm", seed=0)
    ids = np.random.default_rng(0).integers(0, 9, (30, 6))
    assert nxo.verify(ids_model, nxo.export(ids_model, ids[:1], None), ids, batch_size=7).ok
    net = nn.Sequential(nn.Linear(4, 3, seed=0), nn.Dropout(0.5)).train()
    x = np.ones((5, 4), np.float32)
    assert nxo.verify(net, nxo.export(net, x, None), x).ok and net[1].training


@pytest.mark.parametrize("size,out", [((10, 10), 7), ((9, 13), (4, 5)), ((7, 7), 7), ((12, 8), (3, 2))])
def test_adaptive_avg_pool_uneven_bins(size, out):
    """MRI runs on small images pool 10x10 to 7x7: torch's uneven bins as two MatMuls; onnxruntime and the
    re-import agree with nnlab's kernel."""
    rng = np.random.default_rng(15)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, seed=0), nn.AdaptiveAvgPool2d(out), nn.Flatten(),
                        nn.Linear(3 * int(np.prod(nn.AdaptiveAvgPool2d(out)._size)), 4, seed=1))
    batch = rng.standard_normal((5, 2, *size)).astype(np.float32)
    proto, _ = check_export(net, batch[:1], batch, net(batch))
    np.testing.assert_allclose(nxo.load(proto)(batch), net(batch), atol=1e-6)


@pytest.mark.parametrize("old_class", [False, True])
def test_flip_tta_classifier_exports_the_flip_averaged_scores(old_class):
    """The exporter reads the model's ``tta`` option (Classifier(tta='flip')); the recipe's old
    FlipTTAClassifier name builds the same model."""
    from nnlab.models import resnet
    from nnlab.recipes.resnet import FlipTTAClassifier

    rng = np.random.default_rng(16)
    net = resnet.resnet_fast(widths=(8, 16), residual=(True, False), image_size=16, seed=0)
    _randomize_batchnorm(net, rng)
    clf = FlipTTAClassifier(net, tta=True) if old_class else Classifier(net, tta="flip")
    batch = _images(rng, 6, (3, 16, 16))
    reference = clf.loss(batch)
    assert np.abs(reference - Classifier(net).loss(batch)).max() > 1e-3  # the flip matters
    proto, ops = check_export(clf, batch[:1], batch, reference)
    assert ops[:2] == ["Slice", "Concat"]
    np.testing.assert_allclose(nxo.load(proto)(batch), reference, atol=1e-6)
