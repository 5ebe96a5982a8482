"""Optimizer objects (nnlab.optim.SGD, Adam, AdamW, RMSprop, Adagrad, Adamax) against torch.optim.

Trajectories: the same initial weights and the same sequence of gradients (set as ``p.grad`` on both sides,
drawn in advance), 20 steps, every iterate compared: ``max |nnlab - torch| / max |torch| <= 1e-12`` in float64
(1e-5 in float32). Also param groups, a grad that is None, ``zero_grad``, ``state_dict`` round trips (JSON and
npz) that continue bitwise, a learning-rate schedule stepping the optimizer against torch's, and bad arguments.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch==2.13.0 is needed for parity tests: pip install -e '.[test]'")
from torch.optim import lr_scheduler as S  # noqa: E402

from nnlab import optim as O  # noqa: E402
from nnlab import schedules as N  # noqa: E402
from nnlab.autograd import Tensor  # noqa: E402

STEPS = 20
SHAPES = [(3, 4), (5,), (2, 1, 3)]
TOL = {np.float64: 1e-12, np.float32: 1e-5}

# (ours, theirs) as (class name, keyword arguments); torch takes the same names.
CASES = {
    "sgd": ("SGD", {"lr": 0.05}),
    "sgd_wd": ("SGD", {"lr": 0.05, "weight_decay": 0.1}),
    "sgd_momentum": ("SGD", {"lr": 0.05, "momentum": 0.9}),
    "sgd_momentum_wd": ("SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.1}),
    "sgd_nesterov": ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    "sgd_nesterov_wd": ("SGD", {"lr": 0.05, "momentum": 0.7, "nesterov": True, "weight_decay": 0.2}),
    "adam": ("Adam", {}),
    "adam_opts": ("Adam", {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6}),
    "adam_wd": ("Adam", {"lr": 0.02, "weight_decay": 0.1}),
    "adamw": ("AdamW", {}),
    "adamw_opts": ("AdamW", {"lr": 0.03, "betas": (0.85, 0.995), "eps": 1e-7, "weight_decay": 0.5}),
    "rmsprop": ("RMSprop", {}),
    "rmsprop_opts": ("RMSprop", {"lr": 0.005, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1}),
    "adagrad": ("Adagrad", {}),
    "adagrad_opts": ("Adagrad", {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1,
                                 "initial_accumulator_value": 0.3, "eps": 1e-8}),
    "adamax": ("Adamax", {}),
    "adamax_opts": ("Adamax", {"lr": 0.01, "betas": (0.7, 0.9), "eps": 1e-6, "weight_decay": 0.1}),
}


def _problem(dtype, steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    w0 = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(dtype) for s in SHAPES] for _ in range(steps)]
    return w0, grads


def _pair(w0):
    ours = [Tensor(w.copy(), requires_grad=True) for w in w0]
    theirs = [torch.tensor(w.copy(), requires_grad=True) for w in w0]
    return ours, theirs


def _set_grads(ours, theirs, grads):
    for p, q, g in zip(ours, theirs, grads):
        p.grad = None if g is None else g.copy()
        q.grad = None if g is None else torch.tensor(g.copy())


def _assert_close(what, ours, theirs, dtype):
    for i, (p, q) in enumerate(zip(ours, theirs)):
        b = q.detach().numpy()
        assert p.data.dtype == b.dtype, f"{what} param {i}: dtype {p.data.dtype} vs torch {b.dtype}"
        err = float(np.max(np.abs(p.data.astype(np.float64) - b))) / max(float(np.max(np.abs(b))), 1e-300)
        assert err <= TOL[dtype], f"{what} param {i}: max |nnlab - torch| / max |torch| = {err:.3e}"


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", list(CASES))
def test_trajectory_matches_torch_optim(case, dtype):
    name, kwargs = CASES[case]
    w0, grads = _problem(dtype)
    ours, theirs = _pair(w0)
    opt, topt = getattr(O, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    for k, g in enumerate(grads):
        _set_grads(ours, theirs, g)
        opt.step()
        topt.step()
        _assert_close(f"{case} step {k + 1}", ours, theirs, dtype)


GROUP_CASES = {  # two groups with different lrs (and other per-group options) over the defaults
    "SGD": ({"lr": 0.1, "momentum": 0.9}, [{"lr": 0.01}, {"momentum": 0.5, "nesterov": True, "weight_decay": 0.1}]),
    "Adam": ({"lr": 0.01}, [{"lr": 0.05, "betas": (0.8, 0.9)}, {"weight_decay": 0.2}]),
    "AdamW": ({"lr": 0.01}, [{"lr": 0.03}, {"weight_decay": 0.0, "eps": 1e-4}]),
    "RMSprop": ({"lr": 0.01}, [{"lr": 0.002, "alpha": 0.9}, {"weight_decay": 0.1}]),
    # (a group's own initial_accumulator_value is not compared: torch reads only the constructor's)
    "Adagrad": ({"lr": 0.1, "initial_accumulator_value": 0.5}, [{"lr": 0.3, "lr_decay": 0.1}, {"eps": 1e-3}]),
    "Adamax": ({"lr": 0.02}, [{"lr": 0.005}, {"betas": (0.5, 0.5), "weight_decay": 0.3}]),
}


@pytest.mark.parametrize("name", list(GROUP_CASES))
def test_param_groups_with_their_own_options_match_torch(name):
    """Group 0 (params 0, 1) and group 1 (param 2): options a group does not set come from the defaults."""
    defaults, options = GROUP_CASES[name]
    w0, grads = _problem(np.float64, seed=1)
    ours, theirs = _pair(w0)
    opt = getattr(O, name)([{"params": ours[:2], **options[0]}, {"params": ours[2:], **options[1]}], **defaults)
    topt = getattr(torch.optim, name)([{"params": theirs[:2], **options[0]}, {"params": theirs[2:], **options[1]}],
                                      **defaults)
    for key, value in {**defaults, **options[1]}.items():
        assert opt.param_groups[1][key] == value
    assert opt.param_groups[0]["lr"] == options[0].get("lr", defaults.get("lr"))
    for k, g in enumerate(grads):
        _set_grads(ours, theirs, g)
        opt.step()
        topt.step()
        _assert_close(f"{name} groups step {k + 1}", ours, theirs, np.float64)


@pytest.mark.parametrize("name", ["SGD", "Adam", "Adagrad"])
def test_param_whose_grad_is_none_is_skipped_as_torch(name):
    """Param 1 has no gradient on odd steps: it does not move and its state (Adam's t) does not advance."""
    kwargs = {"lr": 0.05, "momentum": 0.9} if name == "SGD" else {"lr": 0.05}
    w0, grads = _problem(np.float64, seed=2)
    ours, theirs = _pair(w0)
    opt, topt = getattr(O, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    for k, g in enumerate(grads):
        g = [g[0], None if k % 2 else g[1], g[2]]
        before = ours[1].data
        _set_grads(ours, theirs, g)
        opt.step()
        topt.step()
        if g[1] is None:
            assert ours[1].data is before
        _assert_close(f"{name} sparse grads step {k + 1}", ours, theirs, np.float64)
    if name == "Adam":
        assert opt.state[ours[0]]["t"] == STEPS and opt.state[ours[1]]["t"] == STEPS // 2


def test_adagrad_initial_accumulator_value_is_per_group():
    """Torch's Adagrad fills every group's sum with the constructor's value; here a group's own value counts."""
    p, q = Tensor(np.zeros(2), requires_grad=True), Tensor(np.zeros(2), requires_grad=True)
    opt = O.Adagrad([{"params": [p]}, {"params": [q], "initial_accumulator_value": 3.0}], lr=1.0,
                    initial_accumulator_value=1.0)
    p.grad = q.grad = np.ones(2)
    opt.step()
    np.testing.assert_array_equal(opt.state[p]["cache"], [2.0, 2.0])
    np.testing.assert_array_equal(opt.state[q]["cache"], [4.0, 4.0])
    np.testing.assert_allclose(q.data, -1.0 / (2.0 + 1e-10), rtol=1e-15)


def test_param_never_given_a_grad_gets_no_state():
    p, q = Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
    opt = O.Adam([p, q], lr=0.1)
    p.grad = np.ones(3)
    opt.step()
    assert q not in opt.state and np.array_equal(q.data, np.ones(2))
    assert list(opt.state_dict()["state"]) == [0]


def test_zero_grad_sets_none_by_default_and_zeros_in_place_when_asked():
    p, q = Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(2), requires_grad=True)
    opt = O.SGD([p, q], lr=0.1)
    p.grad = g = np.full(3, 2.0)
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and np.array_equal(g, np.zeros(3)) and q.grad is None
    opt.zero_grad()
    assert p.grad is None and q.grad is None


def test_step_writes_param_data_outside_the_graph_and_returns_the_closure_loss():
    p = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    opt = O.SGD([p], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.item()) == 5.0
    np.testing.assert_array_equal(p.data, [0.0, 0.0])  # w - 0.5 * 2w
    assert p.is_leaf and p.grad_fn is None


def test_named_parameters_and_module_parameter_tensors_are_accepted():
    nn = pytest.importorskip("nnlab.nn")
    if not hasattr(nn.Module, "parameter_tensors"):
        pytest.skip("nnlab.nn.Module.parameter_tensors is not there yet")
    layer = nn.Linear(3, 2)
    w_before = layer.weight.copy()
    opt = O.SGD(layer.named_parameter_tensors(), lr=0.5)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    weight, bias = opt.param_groups[0]["params"]
    weight.grad = np.ones_like(w_before)
    opt.step()
    np.testing.assert_array_equal(layer.weight, w_before - np.float32(0.5))  # the module's array is replaced
    assert layer.weight.dtype == np.float32 and bias.grad is None


# ---------------------------------------------------------------------------------------------------------------
# state_dict
# ---------------------------------------------------------------------------------------------------------------
def _via_json(sd):
    return json.loads(json.dumps(sd, default=lambda a: a.tolist()))


def _via_npz(sd):
    """Arrays into an npz, everything else into JSON (no pickle): the layout a checkpoint would use."""
    arrays = {f"{i}/{k}": v for i, s in sd["state"].items() for k, v in s.items() if hasattr(v, "shape")}
    scalars = {str(i): {k: v for k, v in s.items() if not hasattr(v, "shape")} for i, s in sd["state"].items()}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    text = json.dumps({"param_groups": sd["param_groups"], "scalars": scalars})
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        loaded = json.loads(text)
        state = {i: dict(s) for i, s in loaded["scalars"].items()}
        for key in z.files:
            i, k = key.split("/")
            state[i][k] = z[key]
    return {"state": state, "param_groups": loaded["param_groups"]}


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("via", [_via_json, _via_npz], ids=["json", "npz"])
@pytest.mark.parametrize("case", ["sgd_momentum_wd", "sgd_nesterov", "adam_wd", "adamw", "rmsprop_opts",
                                  "adagrad_opts", "adamax_opts"])
def test_state_dict_round_trip_continues_the_trajectory_bitwise(case, via, dtype):
    name, kwargs = CASES[case]
    w0, grads = _problem(dtype, seed=3)
    params = [Tensor(w.copy(), requires_grad=True) for w in w0]
    opt = getattr(O, name)([{"params": params[:1]}, {"params": params[1:], "lr": 0.5 * kwargs.get("lr", 1e-3)}],
                           **kwargs)
    for g in grads[:10]:
        for p, gg in zip(params, g):
            p.grad = gg.copy()
        opt.step()
        opt.param_groups[0]["lr"] *= 0.9  # a changing lr: SGD's velocity is rescaled, its unit must survive
    sd = opt.state_dict()
    saved = via(sd)
    clones = [Tensor(p.data.copy(), requires_grad=True) for p in params]
    restored = getattr(O, name)([{"params": clones[:1]}, {"params": clones[1:]}], lr=123.0)
    restored.load_state_dict(saved)
    assert restored.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    for g in grads[10:]:
        for p, c, gg in zip(params, clones, g):
            p.grad, c.grad = gg.copy(), gg.copy()
        opt.step()
        restored.step()
        opt.param_groups[0]["lr"] *= 0.9
        restored.param_groups[0]["lr"] *= 0.9
        for p, c in zip(params, clones):
            assert c.data.dtype == dtype
            assert np.array_equal(p.data, c.data), f"{case}: restored trajectory differs"
    # state_dict() returned copies: the steps taken since did not change it
    for i, s in via(opt.state_dict())["state"].items():
        assert any(not np.array_equal(np.asarray(v), np.asarray(saved["state"][i][k])) for k, v in s.items())


def test_load_state_dict_rejects_mismatches_by_name():
    p = Tensor(np.zeros((2, 3)), requires_grad=True)
    opt = O.Adam([p])
    p.grad = np.ones((2, 3))
    opt.step()
    sd = opt.state_dict()
    other = O.Adam([Tensor(np.zeros(6), requires_grad=True)])
    with pytest.raises(ValueError, match=r"Adam.load_state_dict: state\[0\]\['m'\] has shape \(2, 3\) but the "
                                         r"parameter has shape \(6,\)"):
        other.load_state_dict(sd)
    two = O.Adam([{"params": [Tensor(np.zeros((2, 3)), requires_grad=True)]},
                  {"params": [Tensor(np.zeros(1), requires_grad=True)]}])
    with pytest.raises(ValueError, match="Adam.load_state_dict: the state dict has 1 parameter groups, this "
                                         "optimizer has 2"):
        two.load_state_dict(sd)
    bad = _via_json(sd)
    bad["state"]["0"]["velocity"] = bad["state"]["0"].pop("v")
    with pytest.raises(ValueError, match=r"unknown state key 'velocity'.*Adam keeps m, v, t"):
        O.Adam([Tensor(np.zeros((2, 3)), requires_grad=True)]).load_state_dict(bad)
    bad = _via_json(sd)
    bad["param_groups"][0]["betas"] = [0.9, 1.0]
    with pytest.raises(ValueError, match=r"Adam: betas\[1\] must be a finite number in \[0, 1\), got 1.0"):
        O.Adam([Tensor(np.zeros((2, 3)), requires_grad=True)]).load_state_dict(bad)
    with pytest.raises(TypeError, match="expected a dict with 'state' and 'param_groups'"):
        opt.load_state_dict({"m": 1})


# ---------------------------------------------------------------------------------------------------------------
# schedules stepping an optimizer object
# ---------------------------------------------------------------------------------------------------------------
SCHED_CASES = {
    # SGD momentum through a cosine that reaches lr 0 at T_max and rises again: the velocity rescaling and the
    # lr-0 step (momentum accumulates, w stays) keep torch's trajectory.
    "sgd_cosine": ("SGD", {"lr": 0.1, "momentum": 0.9}, lambda o: N.CosineAnnealingLR(o, T_max=8),
                   lambda o: S.CosineAnnealingLR(o, T_max=8)),
    "nesterov_step_groups": ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True},
                             lambda o: N.StepLR(step_size=3, gamma=0.5).attach(o),
                             lambda o: S.StepLR(o, step_size=3, gamma=0.5)),
    "adam_onecycle": ("Adam", {"lr": 0.1}, lambda o: N.OneCycleLR(o, max_lr=0.3, total_steps=STEPS + 1),
                      lambda o: S.OneCycleLR(o, max_lr=0.3, total_steps=STEPS + 1)),
    "sgd_warmup_cosine": ("SGD", {"lr": 0.2, "momentum": 0.5},
                          lambda o: N.LinearWarmup(4, after=N.CosineAnnealingLR(T_max=16), start_factor=0.25).attach(o),
                          lambda o: S.SequentialLR(o, [S.LinearLR(o, 0.25, 1.0, 4), S.CosineAnnealingLR(o, T_max=16)],
                                                   milestones=[4])),
}


@pytest.mark.parametrize("case", list(SCHED_CASES))
def test_schedule_steps_an_optimizer_as_torch_lr_scheduler(case):
    """Per-group lrs (group 1 starts at a tenth), the scheduler stepped after every optimizer step."""
    name, kwargs, ours_sched, torch_sched = SCHED_CASES[case]
    w0, grads = _problem(np.float64, seed=4)
    ours, theirs = _pair(w0)
    small = {"lr": kwargs["lr"] / 10}
    opt = getattr(O, name)([{"params": ours[:2]}, {"params": ours[2:], **small}], **kwargs)
    topt = getattr(torch.optim, name)([{"params": theirs[:2]}, {"params": theirs[2:], **small}], **kwargs)
    sched, tsched = ours_sched(opt), torch_sched(topt)
    assert isinstance(sched, N.OptimizerScheduler)
    for k, g in enumerate(grads):
        for group, tgroup in zip(opt.param_groups, topt.param_groups):
            assert group["lr"] == pytest.approx(tgroup["lr"], rel=1e-12, abs=1e-15), f"{case} lr at step {k}"
            for key in ("momentum", "betas"):
                if key in group:
                    assert np.allclose(group[key], tgroup[key], rtol=1e-12, atol=0), f"{case} {key} at step {k}"
        _set_grads(ours, theirs, g)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        _assert_close(f"{case} step {k + 1}", ours, theirs, np.float64)
    assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12, abs=1e-15)


def test_attached_schedule_resumes_from_its_state_dict():
    p = Tensor(np.zeros(2), requires_grad=True)
    opt = O.SGD([p], lr=1.0)
    sched = N.StepLR(opt, step_size=2, gamma=0.5)
    assert opt.param_groups[0]["initial_lr"] == 1.0
    for _ in range(5):
        sched.step()
    assert opt.param_groups[0]["lr"] == 0.25 and sched.state_dict() == {"last_epoch": 5}
    fresh = O.SGD([p], lr=1.0)
    again = N.StepLR(step_size=2, gamma=0.5).attach(fresh)
    again.load_state_dict(sched.state_dict())
    assert fresh.param_groups[0]["lr"] == 0.25 and again.last_epoch == 5


def test_attach_refuses_what_is_not_an_optimizer_and_uncyclable_momentum():
    with pytest.raises(TypeError, match="StepLR: optimizer must be an optimizer object"):
        N.StepLR(step_size=2).attach({"lr": 0.1})
    opt = O.RMSprop([Tensor(np.zeros(2), requires_grad=True)])
    with pytest.raises(ValueError, match="OneCycleLR: cycles momentum but param_groups\\[0\\] has neither"):
        N.OneCycleLR(opt, max_lr=0.1, total_steps=10)
    N.OneCycleLR(opt, max_lr=0.1, total_steps=10, cycle_momentum=False)


# ---------------------------------------------------------------------------------------------------------------
# bad arguments
# ---------------------------------------------------------------------------------------------------------------
def _p():
    return Tensor(np.zeros(3), requires_grad=True)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax"])
def test_negative_lr_and_wrong_params_are_named(name):
    cls = getattr(O, name)
    with pytest.raises(ValueError, match=rf"{name}: lr must be a finite number in \[0, inf\), got -0.1"):
        cls([_p()], lr=-0.1)
    with pytest.raises(ValueError, match=rf"{name}: weight_decay must be a finite number"):
        cls([_p()], weight_decay=-1.0)
    with pytest.raises(TypeError, match=rf"{name}: lr must be a number, got str"):
        cls([_p()], lr="1e-3")
    msg = (rf"{name}: params must be Tensors \(nnlab.nn.Parameter\) with .grad; got ndarray at params\[0\] "
           r"— pass model.parameter_tensors\(\)")
    with pytest.raises(TypeError, match=msg):
        cls([np.zeros(3)])
    with pytest.raises(TypeError, match=rf"{name}: params must be an iterable of Tensors .*got dict"):
        cls({"W1": np.zeros(3)})
    with pytest.raises(TypeError, match=rf"{name}: params must be an iterable of Tensors .*got ndarray"):
        cls(np.zeros(3))
    with pytest.raises(ValueError, match=rf"{name}: got an empty parameter list"):
        cls([])


@pytest.mark.parametrize("name", ["Adam", "AdamW", "Adamax"])
@pytest.mark.parametrize(("betas", "error", "match"), [
    ((1.0, 0.999), ValueError, r"betas\[0\] must be a finite number in \[0, 1\), got 1.0"),
    ((0.9, -0.1), ValueError, r"betas\[1\] must be a finite number in \[0, 1\), got -0.1"),
    ((0.9,), TypeError, r"betas must be a pair \(beta1, beta2\), got \(0.9,\)"),
])
def test_betas_out_of_range_are_named(name, betas, error, match):
    with pytest.raises(error, match=f"{name}: {match}"):
        getattr(O, name)([_p()], betas=betas)


def test_other_bad_options_are_named():
    with pytest.raises(ValueError, match="SGD: nesterov=True requires momentum > 0"):
        O.SGD([_p()], lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match="positional"):
        O.SGD([_p()], 0.1, 0.9, 0.0)  # torch's positional dampening does not bind to weight_decay
    with pytest.raises(ValueError, match=r"RMSprop: alpha must be a finite number in \[0, 1\)"):
        O.RMSprop([_p()], alpha=1.0)
    with pytest.raises(ValueError, match="Adagrad: initial_accumulator_value must be"):
        O.Adagrad([_p()], initial_accumulator_value=-1.0)
    with pytest.raises(ValueError, match="Adam: param group key 'learning_rate' is nnlab's rule name; the "
                                         "optimizer's option is 'lr'"):
        O.Adam([{"params": [_p()], "learning_rate": 0.1}])
    p = _p()
    with pytest.raises(ValueError, match=r"SGD: params\[0\] of group 1 is already in another parameter group"):
        O.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match=r"SGD: params\[0\] is not a leaf Tensor"):
        O.SGD([p * 2.0], lr=0.1)
    with pytest.raises(TypeError, match=r"SGD: params\[0\] has dtype int64; only floating-point"):
        O.SGD([Tensor(np.zeros(3, dtype=np.int64))], lr=0.1)


def test_bad_grad_and_bad_group_edit_are_named_at_step():
    p = _p()
    opt = O.SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(4)
    with pytest.raises(ValueError, match=r"SGD.step: params\[0\] of group 0 \(shape \(3,\)\): .*shape"):
        opt.step()
    p.grad = np.ones(3)
    opt.param_groups[0]["momentum"] = -0.5
    with pytest.raises(ValueError, match="SGD: momentum must be a finite number"):
        opt.step()
    assert np.array_equal(p.data, np.zeros(3))


def test_repr_and_state_dict_are_plain():
    p = _p()
    opt = O.Adam([p], lr=0.01)
    p.grad = np.ones(3)
    opt.step()
    assert repr(opt).startswith("Adam (\nParameter Group 0\n    betas: (0.9, 0.999)\n    eps: 1e-08")
    sd = opt.state_dict()
    assert sd["param_groups"] == [{"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0,
                                   "params": [0]}]
    assert set(sd["state"][0]) == {"m", "v", "t"} and sd["state"][0]["t"] == 1
    assert type(sd["state"][0]["m"]) is np.ndarray
    m_then = sd["state"][0]["m"].copy()
    opt.step()  # the rule updates m in place: the state dict taken before holds copies
    np.testing.assert_array_equal(sd["state"][0]["m"], m_then)
    assert not np.array_equal(opt.state[p]["m"], m_then)
