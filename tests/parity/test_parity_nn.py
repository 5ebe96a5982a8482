"""nnlab.nn modules against their torch.nn twins loaded with the SAME state_dict: forward output, input
gradient and every parameter gradient, in float64 (1e-10) and float32 (1e-5)."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch

import nnlab.nn as nn
from nnlab.models.cnn import mri_cnn
from tests.parity.conftest import assert_close, to_torch

DTYPES = [np.float64, np.float32]
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def load_into_torch(ours: nn.Module, theirs: torch.nn.Module) -> None:
    """Copy our state_dict into the torch twin: the names must map 1:1 (torch-only counters excepted)."""
    result = theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()}, strict=False)
    assert all(k.endswith("num_batches_tracked") for k in result.missing_keys), result.missing_keys
    assert result.unexpected_keys == []


def compare(name: str, ours: nn.Module, theirs: torch.nn.Module, x: np.ndarray, dtype, train: bool = True) -> None:
    ours.to(dtype).train(train)
    theirs.to(TORCH_DTYPE[dtype]).train(train)
    load_into_torch(ours, theirs)
    x = x.astype(dtype)
    out = ours(x)
    xt = to_torch(x, requires_grad=True)
    out_t = theirs(xt)
    assert_close(f"{name} out", out, out_t, dtype)
    dout = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    dx = ours.backward(dout)
    out_t.backward(to_torch(dout))
    assert_close(f"{name} dx", dx, xt.grad, dtype)
    grads = ours.grads
    torch_params = dict(theirs.named_parameters())
    assert sorted(grads) == sorted(torch_params)
    for pname, p in torch_params.items():
        assert_close(f"{name} d{pname}", grads[pname], p.grad, dtype)


CASES = [
    ("Linear", lambda: nn.Linear(7, 4, seed=0), lambda: torch.nn.Linear(7, 4), (5, 7)),
    ("Linear3d", lambda: nn.Linear(7, 4, seed=0), lambda: torch.nn.Linear(7, 4), (2, 3, 7)),
    ("LinearNoBias", lambda: nn.Linear(7, 4, bias=False, seed=0), lambda: torch.nn.Linear(7, 4, bias=False), (5, 7)),
    ("Conv2d", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1, seed=0),
     lambda: torch.nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 9, 8)),
    ("Conv2d7x7", lambda: nn.Conv2d(3, 5, 7, padding=3, seed=0), lambda: torch.nn.Conv2d(3, 5, 7, padding=3),
     (2, 3, 11, 11)),
    ("BatchNorm1d", lambda: nn.BatchNorm1d(6), lambda: torch.nn.BatchNorm1d(6), (8, 6)),
    ("BatchNorm2d", lambda: nn.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3), (4, 3, 5, 5)),
    ("LayerNorm", lambda: nn.LayerNorm(6), lambda: torch.nn.LayerNorm(6), (4, 6)),
    ("LayerNorm2axes", lambda: nn.LayerNorm((3, 4)), lambda: torch.nn.LayerNorm((3, 4)), (2, 5, 3, 4)),
    ("GroupNorm", lambda: nn.GroupNorm(2, 6), lambda: torch.nn.GroupNorm(2, 6), (3, 6, 4, 5)),
    ("MaxPool2d", lambda: nn.MaxPool2d(2), lambda: torch.nn.MaxPool2d(2), (2, 3, 8, 9)),
    ("MaxPool2dOverlap", lambda: nn.MaxPool2d(3, stride=2), lambda: torch.nn.MaxPool2d(3, stride=2), (2, 2, 9, 9)),
    ("AvgPool2d", lambda: nn.AvgPool2d(2), lambda: torch.nn.AvgPool2d(2), (2, 3, 8, 7)),
    ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d((3, 4)), lambda: torch.nn.AdaptiveAvgPool2d((3, 4)),
     (2, 3, 7, 10)),
    ("ReLU", lambda: nn.ReLU(), lambda: torch.nn.ReLU(), (4, 5)),
    ("LeakyReLU", lambda: nn.LeakyReLU(0.1), lambda: torch.nn.LeakyReLU(0.1), (4, 5)),
    ("Sigmoid", lambda: nn.Sigmoid(), lambda: torch.nn.Sigmoid(), (4, 5)),
    ("Tanh", lambda: nn.Tanh(), lambda: torch.nn.Tanh(), (4, 5)),
    ("Softsign", lambda: nn.Softsign(), lambda: torch.nn.Softsign(), (4, 5)),
    ("Flatten", lambda: nn.Flatten(), lambda: torch.nn.Flatten(), (2, 3, 2, 2)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, make_ours, make_theirs, shape", CASES, ids=[c[0] for c in CASES])
def test_module_matches_torch_forward_and_all_gradients(name, make_ours, make_theirs, shape, dtype):
    ours = make_ours()
    rng = np.random.default_rng(0)
    for p in ours.parameters():  # non-trivial weights for the norm layers too
        p[...] = rng.standard_normal(p.shape)
    compare(name, ours, make_theirs(), 3 * rng.standard_normal(shape) + 0.5, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name, make_ours, make_theirs, shape", [
    ("BatchNorm1d", lambda: nn.BatchNorm1d(4), lambda: torch.nn.BatchNorm1d(4), (6, 4)),
    ("BatchNorm2d", lambda: nn.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3), (2, 3, 4, 4)),
    ("Dropout", lambda: nn.Dropout(0.4, seed=0), lambda: torch.nn.Dropout(0.4), (5, 6)),
], ids=["BatchNorm1d", "BatchNorm2d", "Dropout"])
def test_eval_mode_matches_torch_after_loading_running_statistics(name, make_ours, make_theirs, shape, dtype):
    ours = make_ours()
    rng = np.random.default_rng(2)
    for key in ("running_mean", "running_var"):
        if key in ours.state_dict():
            setattr(ours, key, (rng.random(ours.num_features) + 0.5).astype(np.float32))
    compare(name, ours, make_theirs(), rng.standard_normal(shape), dtype, train=False)


def test_batchnorm_running_stats_vs_torch_mean_equal_variance_biased_by_design():
    """Running mean matches torch; running var uses the biased batch variance (DESIGN.md), torch the unbiased."""
    x = np.random.default_rng(3).standard_normal((10, 3, 2, 2)) * 2 + 1
    ours, theirs = nn.BatchNorm2d(3).to(np.float64), torch.nn.BatchNorm2d(3).double()
    for _ in range(3):
        ours(x)
        theirs(to_torch(x))
    assert_close("running_mean", ours.running_mean, theirs.running_mean, np.float64)
    n = 10 * 2 * 2
    batch_var = x.var(axis=(0, 2, 3))
    # After k updates from 1: ones * 0.9^k + (1 - 0.9^k) * var; torch has var * n / (n - 1).
    decay = 0.9 ** 3
    np.testing.assert_allclose(ours.running_var, decay + (1 - decay) * batch_var, rtol=1e-12)
    np.testing.assert_allclose(theirs.running_var.numpy(), decay + (1 - decay) * batch_var * n / (n - 1), rtol=1e-12)


def torch_mri_twin() -> torch.nn.Sequential:
    """The spec's CNN (seed 003 §5.3) written in torch, with the flatten as its own child like ours."""
    act = lambda: torch.nn.LeakyReLU(0.01)  # noqa: E731
    features = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), act(), torch.nn.Conv2d(8, 32, 3, padding=1), act(),
        torch.nn.MaxPool2d(2, 2), torch.nn.Dropout(0.2), torch.nn.Conv2d(32, 32, 3, padding=1), act(),
        torch.nn.Conv2d(32, 64, 3, padding=1), act(), torch.nn.MaxPool2d(2, 2), torch.nn.Dropout(0.2))
    classifier = torch.nn.Sequential(
        torch.nn.Linear(3136, 256), act(), torch.nn.Dropout(0.2), torch.nn.Linear(256, 128), act(),
        torch.nn.Dropout(0.2), torch.nn.Linear(128, 4))
    return torch.nn.Sequential(OrderedDict([("feature_extractor", features),
                                            ("avg_pooling", torch.nn.AdaptiveAvgPool2d((7, 7))),
                                            ("flatten", torch.nn.Flatten()), ("classifier", classifier)]))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_mri_cnn_matches_torch_twin_in_eval_mode(dtype):
    x = np.random.default_rng(4).random((2, 1, 84, 84))
    compare("mri_cnn", mri_cnn(seed=0), torch_mri_twin(), x, dtype, train=False)


def test_mri_cnn_state_dict_keys_equal_the_reference_cnn():
    assert list(mri_cnn(seed=0).state_dict()) == list(torch_mri_twin().state_dict())
