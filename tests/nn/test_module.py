"""Module base and Sequential: registration, names, state dicts, save/load, modes, dtype, repr."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import nnlab.nn as nn


def small_net(seed: int = 0) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(6, 5, seed=seed), nn.BatchNorm1d(5), nn.ReLU(), nn.Dropout(0.3, seed=seed),
        nn.Linear(5, 3, seed=seed + 1),
    )


def test_named_parameters_follow_torch_names_and_order():
    net = small_net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]
    assert [n for n, _ in net.named_buffers()] == ["1.running_mean", "1.running_var"]
    assert net[0].weight.shape == (5, 6) and net[0].bias.shape == (5,)
    assert len(list(net.parameters())) == 6


def test_state_dict_has_params_then_buffers_per_module_and_is_a_copy():
    net = small_net()
    sd = net.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                        "4.weight", "4.bias"]
    sd["0.weight"][...] = 123.0
    assert not np.any(net[0].weight == 123.0)


def test_attribute_assignment_registers_arrays_modules_and_skips_private_names():
    class Custom(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = np.ones(3)
            self.inner = nn.Linear(3, 2, seed=0)
            self._scratch = np.zeros(4)
            self.label = "not an array"
            self.register_buffer("count", np.zeros(1))

    m = Custom()
    assert [n for n, _ in m.named_parameters()] == ["scale", "inner.weight", "inner.bias"]
    assert [n for n, _ in m.named_buffers()] == ["count"]
    m.count = np.ones(1)  # assignment to a buffer name updates the buffer
    assert m.state_dict()["count"][0] == 1.0
    assert "_scratch" not in m.state_dict() and m.label == "not an array"
    with pytest.raises(TypeError, match="parameter 'scale' must be an array"):
        m.scale = 3.0
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        m.missing


def test_load_state_dict_round_trip_is_exact_and_changes_outputs():
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    a, b = small_net(0).eval(), small_net(7).eval()
    assert not np.array_equal(a(x), b(x))
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    np.testing.assert_array_equal(a(x), b(x))


def test_load_state_dict_reports_missing_unexpected_and_shape_mismatch():
    net = small_net()
    sd = net.state_dict()
    del sd["4.bias"]
    sd["extra.weight"] = np.zeros(2)
    with pytest.raises(ValueError, match=r"missing keys \['4.bias'\], unexpected keys \['extra.weight'\]"):
        net.load_state_dict(sd)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["4.bias"] and result.unexpected_keys == ["extra.weight"]
    bad = net.state_dict()
    bad["0.weight"] = np.zeros((6, 5), np.float32)
    with pytest.raises(ValueError, match=r"shape mismatch for 0.weight: checkpoint \(6, 5\) vs model \(5, 6\)"):
        net.load_state_dict(bad)


def test_load_state_dict_casts_to_the_model_dtype():
    net = small_net()
    sd = {k: v.astype(np.float64) + 1.0 for k, v in net.state_dict().items()}
    net.load_state_dict(sd)
    assert net[0].weight.dtype == np.float32
    np.testing.assert_array_equal(net[0].weight, sd["0.weight"].astype(np.float32))


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_save_and_load_round_trip_exactly(tmp_path, suffix):
    net = small_net(0)
    x = np.random.default_rng(1).standard_normal((8, 6)).astype(np.float32)
    net.train()
    net(x)  # moves the running statistics away from their initial values
    path = tmp_path / f"weights{suffix}"
    net.save(path)
    fresh = small_net(5)
    fresh.load(path)
    for (k, v), (k2, v2) in zip(net.state_dict().items(), fresh.state_dict().items()):
        assert k == k2 and v.dtype == v2.dtype
        np.testing.assert_array_equal(v, v2)
    net.eval(), fresh.eval()
    np.testing.assert_array_equal(net(x), fresh(x))


def test_train_and_eval_switch_every_descendant():
    net = nn.Sequential(OrderedDict([("body", small_net()), ("head", nn.Linear(3, 2, seed=0))]))
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_grads_use_parameter_names_and_zero_grad_fills_zeros():
    net = small_net()
    x = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    out = net(x)
    net.backward(np.ones_like(out))
    grads = net.grads
    assert list(grads) == [n for n, _ in net.named_parameters()]
    for name, p in net.named_parameters():
        assert grads[name].shape == p.shape and grads[name].dtype == p.dtype
    net.zero_grad()
    assert all(not np.any(g) for g in net.grads.values())


def test_to_casts_parameters_and_buffers():
    net = small_net().to(np.float64)
    assert all(v.dtype == np.float64 for v in net.state_dict().values())
    out = net(np.ones((2, 6)))
    assert out.dtype == np.float64
    with pytest.raises(TypeError, match="floating-point"):
        net.astype(np.int32)


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="Linear.backward: call forward first"):
        nn.Linear(2, 2).backward(np.ones((1, 2), np.float32))


def test_sequential_indexing_len_iteration_and_repr():
    net = small_net()
    assert len(net) == 5
    assert isinstance(net[0], nn.Linear) and net[-1] is net[4]
    assert [type(m).__name__ for m in net] == ["Linear", "BatchNorm1d", "ReLU", "Dropout", "Linear"]
    head = net[3:]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[1] is net[4]
    with pytest.raises(IndexError, match="index 5 is out of range for 5 modules"):
        net[5]
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=6, out_features=5, bias=True)\n"
        "  (1): BatchNorm1d(5, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
        "  (2): ReLU()\n"
        "  (3): Dropout(p=0.3, inplace=False)\n"
        "  (4): Linear(in_features=5, out_features=3, bias=True)\n"
        ")"
    )
    net.append(nn.Tanh())
    assert len(net) == 6 and repr(net[5]) == "Tanh()"
    with pytest.raises(TypeError, match="element '0' must be a Module"):
        nn.Sequential(np.zeros(2))


def test_sequential_with_named_children_uses_dotted_names():
    net = nn.Sequential(OrderedDict([("features", nn.Sequential(nn.Conv2d(1, 2, 3, seed=0))),
                                     ("head", nn.Linear(2, 1, seed=0))]))
    assert list(net.state_dict()) == ["features.0.weight", "features.0.bias", "head.weight", "head.bias"]
    assert net["head"] is net[1]
