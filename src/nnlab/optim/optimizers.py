"""Optimizer objects with torch.optim's names, arguments and semantics, each a thin object over an update rule.

``opt = nnlab.optim.Adam(model.parameter_tensors(), lr=1e-3)`` then, every step,
``opt.zero_grad(); loss.backward(); opt.step()``. Parameters are :class:`nnlab.autograd.Tensor` leaves
(:class:`nnlab.nn.Parameter`); ``step()`` hands each ``(p.data, p.grad)`` to the update rule of
:mod:`nnlab.optim.rules` and writes the result back with ``p.data = next_w``, outside the graph. No update is
computed here a second time: what an object adds is torch's bookkeeping around the rule.

- **Param groups** as torch's: ``params`` is an iterable of Tensors, of ``(name, Tensor)`` pairs, or of dicts
  ``{'params': [...], 'lr': ...}`` whose missing options come from the constructor's arguments.
  ``param_groups[i]`` holds ``'params'`` and every hyperparameter (torch's names: ``lr``, ``betas``, ``eps``, ...).
- **Coupled weight decay** (SGD, Adam, RMSprop, Adagrad, Adamax): ``dw + weight_decay * w`` is what the rule
  is given, as torch adds it to the gradient. AdamW's decay is the ``adamw`` rule's own (decoupled).
- **State**: ``opt.state[p]`` is the rule's state for ``p`` (``velocity``, ``m``/``v``/``t``, ``cache``, ...),
  created at ``p``'s first step. A parameter whose ``grad`` is None is skipped and gets no state.
- ``state_dict()`` is plain: ``{'state': {index: {key: array or number}}, 'param_groups': [{..., 'params':
  [indices]}]}`` (copies; JSON- and npz-friendly, no pickle); ``load_state_dict`` checks and copies it back.

Where the rules and torch differ, the objects follow torch:

- SGD momentum: the rules keep CS231n's ``v = mu*v - lr*dw; w += v``, torch keeps ``b = mu*b + dw;
  w -= lr*b``, so ``v = -lr*b`` only while ``lr`` is constant. When a group's ``lr`` changes (a schedule), the
  stored velocity is rescaled by ``lr_new / lr_old`` first ("momentum correction"), which keeps ``v = -lr*b``
  and torch's trajectory; a step at ``lr = 0`` runs the rule at the previous ``lr`` to accumulate the velocity
  and leaves ``w`` unchanged, as torch's ``w -= 0 * b``.
- Adagrad's ``lr_decay`` is the learning rate the rule is given, ``lr / (1 + (step - 1) * lr_decay)``, and
  ``initial_accumulator_value`` its starting ``cache``.

Not supported (no rule support; the argument does not exist rather than being ignored): SGD ``dampening``
(SGD's options after ``momentum`` are keyword-only, so a torch-positional ``dampening`` fails loudly instead of
binding to ``weight_decay``), RMSprop ``momentum``/``centered``, Adam/AdamW ``amsgrad``, and torch's
``maximize``/``foreach``/``fused``/``capturable``/``differentiable`` switches.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ..autograd import Tensor
from ..backend import xp_of
from ..validation import check_number
from .rules import (
    adagrad,
    adam,
    adamax,
    adamw,
    rmsprop,
    sgd,
    sgd_momentum,
    sgd_nesterov_momentum,
)

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax"]

# nnlab's rule keys -> torch's option names, for a "did you mean" when a param group uses the former.
_RULE_NAMES = {"learning_rate": "lr", "epsilon": "eps", "beta1": "betas", "beta2": "betas", "decay_rate": "alpha"}


def _call_rule(rule: Callable, w: Any, dw: Any, state: dict, hyper: Mapping[str, Any]) -> Any:
    """``rule(w, dw, config)`` with ``config`` = the rule's hyperparameters taken from ``hyper`` (its
    ``hyperparameters`` keys) + ``state``; the rule's new state (its ``state_keys``) is stored back into
    ``state``. Returns ``next_w``."""
    config = {k: hyper[k] for k in rule.hyperparameters}  # type: ignore[attr-defined]
    config.update((k, state[k]) for k in rule.state_keys if k in state)  # type: ignore[attr-defined]
    next_w, config = rule(w, dw, config)
    for key in rule.state_keys:  # type: ignore[attr-defined]
        if key in config:
            state[key] = config[key]
    return next_w


def _scalar(value: Any) -> Any:
    """A NumPy scalar as the Python number it holds (for JSON); anything else unchanged."""
    return value.item() if isinstance(value, np.generic) else value


class Optimizer:
    """Base class: param groups, per-parameter state, ``step``, ``zero_grad`` and ``state_dict``.

    A subclass declares ``defaults`` (its hyperparameters, torch's names), ``_array_state`` and
    ``_scalar_state`` (the keys of its per-parameter state), and implements ``_hyper(group)`` (the checked
    hyperparameters of a group) and ``_update(hyper, w, dw, state) -> next_w`` (one call of its rule).

    Attributes
    ----------
    param_groups : list of dicts, each ``{'params': [Tensor, ...], <hyperparameter>: value, ...}``.
    state : dict Tensor -> dict, the rule state of every parameter that has taken a step.
    defaults : dict, the constructor's hyperparameters (the options a new group does not set).
    """

    _array_state: tuple[str, ...] = ()
    _scalar_state: tuple[str, ...] = ()

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        name = type(self).__name__
        if isinstance(params, (Tensor, Mapping)) or hasattr(params, "shape") or isinstance(params, (str, bytes)):
            raise TypeError(f"{name}: params must be an iterable of Tensors (nnlab.nn.Parameter) or of param-group "
                            f"dicts; got {type(params).__name__} — pass model.parameter_tensors()")
        if not isinstance(params, Iterable):
            raise TypeError(f"{name}: params must be an iterable of Tensors or of param-group dicts, "
                            f"got {type(params).__name__}")
        items = list(params)
        if not items:
            raise ValueError(f"{name}: got an empty parameter list")
        if all(isinstance(item, Mapping) for item in items):
            groups = [dict(item) for item in items]
        elif any(isinstance(item, Mapping) for item in items):
            raise TypeError(f"{name}: params mixes param-group dicts with Tensors; pass one kind")
        else:
            groups = [{"params": items}]
        for group in groups:
            self.add_param_group(group)

    # ---- groups ---------------------------------------------------------------------------------------------
    def add_param_group(self, param_group: Mapping[str, Any]) -> None:
        """Add a group ``{'params': Tensors or (name, Tensor) pairs, <option>: value, ...}``; options it does not
        set are the constructor's. A parameter may belong to one group only."""
        name = type(self).__name__
        if not isinstance(param_group, Mapping):
            raise TypeError(f"{name}.add_param_group: param_group must be a dict, got {type(param_group).__name__}")
        group = dict(param_group)
        if "params" not in group:
            raise ValueError(f"{name}.add_param_group: param_group has no 'params' key")
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (Mapping, str, bytes)) or hasattr(params, "shape") or not isinstance(params, Iterable):
            raise TypeError(f"{name}: params must be Tensors (nnlab.nn.Parameter) with .grad; got "
                            f"{type(params).__name__} — pass model.parameter_tensors()")
        params = list(params)
        if params and all(isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) for p in params):
            group["param_names"] = [n for n, _ in params]
            params = [p for _, p in params]
        index = len(self.param_groups)
        for i, p in enumerate(params):
            where = f"params[{i}]" + (f" of group {index}" if index else "")
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: params must be Tensors (nnlab.nn.Parameter) with .grad; got "
                                f"{type(p).__name__} at {where} — pass model.parameter_tensors()")
            if not np.issubdtype(p.data.dtype, np.floating):
                raise TypeError(f"{name}: {where} has dtype {p.data.dtype}; only floating-point Tensors can be "
                                "optimized")
            if not p.is_leaf:
                raise ValueError(f"{name}: {where} is not a leaf Tensor (an operation computed it); "
                                 "optimize the leaves (parameters)")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        mine: set[int] = set()
        for i, p in enumerate(params):
            if id(p) in seen:
                raise ValueError(f"{name}: params[{i}] of group {index} is already in another parameter group")
            if id(p) in mine:
                raise ValueError(f"{name}: params[{i}] of group {index} appears twice in its group")
            mine.add(id(p))
        group["params"] = params
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self._check_keys(group)
        self._hyper(group)
        self.param_groups.append(group)

    def _check_keys(self, group: Mapping[str, Any]) -> None:
        for key in group:
            hint = _RULE_NAMES.get(key)
            if hint is not None and key not in self.defaults:
                raise ValueError(f"{type(self).__name__}: param group key {key!r} is nnlab's rule name; "
                                 f"the optimizer's option is {hint!r}")

    def _hyper(self, group: Mapping[str, Any]) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _update(self, hyper: dict[str, Any], w: Any, dw: Any, state: dict) -> Any:  # pragma: no cover
        raise NotImplementedError

    # ---- the step -------------------------------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget every parameter's gradient: ``p.grad = None`` (torch's default), or zeros in place with
        ``set_to_none=False``."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif getattr(getattr(p.grad, "flags", None), "writeable", False):
                    p.grad.fill(0)
                else:
                    p.grad = xp_of(p.grad).zeros_like(p.grad)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient: ``p.data = rule(p.data, p.grad, state)``.

        ``closure`` (optional, as torch's): a function that recomputes the loss (zero_grad, forward, backward)
        and returns it; it is called first and its value returned. Returns None without a closure.
        """
        loss = closure() if closure is not None else None
        name = type(self).__name__
        for gi, group in enumerate(self.param_groups):
            hyper = self._hyper(group)
            for i, p in enumerate(group["params"]):
                dw = p.grad
                if dw is None:
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = {}
                w = p.data
                try:
                    next_w = self._update(hyper, w, dw, state)
                except (TypeError, ValueError) as err:
                    raise type(err)(f"{name}.step: params[{i}] of group {gi} (shape {tuple(w.shape)}): {err}") from None
                if next_w is not w:
                    p.data = next_w
        return loss

    # ---- state_dict -----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{'state': {i: {key: array copy or number}}, 'param_groups': [{option: value, 'params': [i, ...]}]}``
        with parameters numbered in group order from 0, as torch's. Plain arrays and numbers only."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: _scalar(v) for k, v in group.items() if k != "params"}
            ids = []
            for p in group["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state = {}
        for group in self.param_groups:
            for p in group["params"]:
                s = self.state.get(p)
                if s:
                    state[index[id(p)]] = {k: (v.copy() if hasattr(v, "shape") else _scalar(v)) for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (or its JSON / npz round trip: string indices, lists for
        arrays and betas are accepted). Arrays are copied in each parameter's dtype; shapes, group count and
        group sizes must match this optimizer's. Group options are taken from ``state_dict``."""
        name = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping) or "state" not in state_dict or "param_groups" not in state_dict:
            raise TypeError(f"{name}: expected a dict with 'state' and 'param_groups' (from state_dict()), "
                            f"got {type(state_dict).__name__}")
        saved_groups = list(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}: the state dict has {len(saved_groups)} parameter groups, this optimizer "
                             f"has {len(self.param_groups)}")
        by_index: dict[int, Tensor] = {}
        groups = []
        for gi, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            ids = list(saved.get("params", ()))
            if len(ids) != len(group["params"]):
                raise ValueError(f"{name}: group {gi} has {len(ids)} parameters in the state dict but "
                                 f"{len(group['params'])} here")
            for i, p in zip(ids, group["params"]):
                by_index[int(i)] = p
            new = {k: (tuple(v) if k == "betas" else v) for k, v in saved.items() if k != "params"}
            new["params"] = group["params"]
            self._check_keys(new)
            self._hyper(new)
            groups.append(new)
        state: dict[Tensor, dict[str, Any]] = {}
        for key, saved in dict(state_dict["state"]).items():
            p = by_index.get(int(key))
            if p is None:
                raise ValueError(f"{name}: state for parameter {key} which is in no parameter group")
            state[p] = self._load_param_state(name, int(key), p, saved)
        self.param_groups = groups
        self.state = state

    def _load_param_state(self, name: str, index: int, p: Tensor, saved: Mapping[str, Any]) -> dict[str, Any]:
        xp = xp_of(p.data)
        out: dict[str, Any] = {}
        for key, value in saved.items():
            if key in self._array_state:
                arr = xp.array(value, dtype=p.data.dtype)
                if tuple(arr.shape) != tuple(p.data.shape):
                    raise ValueError(f"{name}: state[{index}][{key!r}] has shape {tuple(arr.shape)} but the "
                                     f"parameter has shape {tuple(p.data.shape)}")
                out[key] = arr
            elif key in self._scalar_state:
                out[key] = check_number(name, f"state[{index}][{key!r}]", value)
                if key in ("t", "step"):
                    if not out[key].is_integer():
                        raise ValueError(f"{name}: state[{index}][{key!r}] must be a whole number, got {value!r}")
                    out[key] = int(out[key])
            else:
                known = self._array_state + self._scalar_state
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(f"{name}: unknown state key {key!r} for parameter {index}{hint}; "
                                 f"{type(self).__name__} keeps {', '.join(known) or 'no state'}")
        return out

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k not in ("params", "param_names")]
        return "\n".join(lines + [")"])


# ---------------------------------------------------------------------------------------------------------------
# argument checks shared by the optimizers (torch's ranges; the message names the optimizer and the option)
# ---------------------------------------------------------------------------------------------------------------
def _betas(fn: str, betas: Any) -> tuple[float, float]:
    if isinstance(betas, (str, bytes)) or not hasattr(betas, "__len__") or len(betas) != 2:
        raise TypeError(f"{fn}: betas must be a pair (beta1, beta2), got {betas!r}")
    return (check_number(fn, "betas[0]", betas[0], 0.0, 1.0, high_open=True),
            check_number(fn, "betas[1]", betas[1], 0.0, 1.0, high_open=True))


def _decay(w: Any, dw: Any, weight_decay: float) -> Any:
    """The gradient the rule is given with coupled (L2) weight decay: ``dw + weight_decay * w`` (torch's)."""
    return dw + weight_decay * w if weight_decay else dw


# ---------------------------------------------------------------------------------------------------------------
# the optimizers
# ---------------------------------------------------------------------------------------------------------------
class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum: torch.optim.SGD.

    Rules: ``sgd`` (``momentum == 0``), ``sgd_momentum``, ``sgd_nesterov_momentum``. With ``g = dw + wd * w``:
    torch's ``b = momentum * b + g;  w -= lr * b`` (Nesterov: ``w -= lr * (g + momentum * b)``).
    State per parameter (momentum only): ``velocity`` (``= -velocity_lr * b``) and ``velocity_lr``.

    Parameters
    ----------
    params : iterable of Tensors, of ``(name, Tensor)`` pairs, or of param-group dicts.
    lr : learning rate >= 0 (torch's default 1e-3).
    momentum : >= 0. weight_decay : L2 coefficient >= 0 (added to the gradient).
    nesterov : Nesterov momentum (needs ``momentum > 0``). No ``dampening``: the rules have none.
    """

    _array_state = ("velocity",)
    _scalar_state = ("velocity_lr",)

    def __init__(self, params: Any, lr: float = 1e-3, momentum: float = 0.0, *, weight_decay: float = 0.0,
                 nesterov: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                                  "nesterov": nesterov})

    def _hyper(self, group: Mapping[str, Any]) -> dict[str, Any]:
        fn = "SGD"
        if not isinstance(group["nesterov"], (bool, np.bool_)):
            raise TypeError(f"{fn}: nesterov must be True or False, got {group['nesterov']!r}")
        hyper = {"lr": check_number(fn, "lr", group["lr"]),
                 "momentum": check_number(fn, "momentum", group["momentum"]),
                 "weight_decay": check_number(fn, "weight_decay", group["weight_decay"]),
                 "nesterov": bool(group["nesterov"])}
        if hyper["nesterov"] and hyper["momentum"] == 0:
            raise ValueError(f"{fn}: nesterov=True requires momentum > 0")
        return hyper

    def _update(self, hyper: dict[str, Any], w: Any, dw: Any, state: dict) -> Any:
        lr, mu = hyper["lr"], hyper["momentum"]
        dw = _decay(w, dw, hyper["weight_decay"])
        if mu == 0:
            return _call_rule(sgd, w, dw, {}, {"learning_rate": lr})
        # The rule's velocity is -unit * (torch's buffer b): rescale it when lr changes; at lr 0 keep the old unit.
        unit = state.get("velocity_lr")
        step_lr = lr if lr != 0 else (unit if unit is not None else 1.0)
        if unit is not None and unit != step_lr and "velocity" in state:
            state["velocity"] = state["velocity"] * (step_lr / unit)
        rule = sgd_nesterov_momentum if hyper["nesterov"] else sgd_momentum
        next_w = _call_rule(rule, w, dw, state, {"learning_rate": step_lr, "momentum": mu})
        state["velocity_lr"] = step_lr
        return next_w if lr != 0 else w


class _AdamFamily(Optimizer):
    """Shared checks of Adam, AdamW and Adamax: ``lr``, ``betas``, ``eps``, ``weight_decay``."""

    def _hyper(self, group: Mapping[str, Any]) -> dict[str, Any]:
        fn = type(self).__name__
        b1, b2 = _betas(fn, group["betas"])
        return {"learning_rate": check_number(fn, "lr", group["lr"]), "beta1": b1, "beta2": b2,
                "epsilon": check_number(fn, "eps", group["eps"]),
                "weight_decay": check_number(fn, "weight_decay", group["weight_decay"])}


class Adam(_AdamFamily):
    """Adam with L2 weight decay added to the gradient: torch.optim.Adam (``amsgrad=False``).

    Rule ``adam`` on ``g = dw + weight_decay * w``: ``t += 1; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g**2;
    w -= lr * (m / (1-b1**t)) / (sqrt(v / (1-b2**t)) + eps)``. State per parameter: ``m``, ``v``, ``t``.

    Parameters
    ----------
    params : iterable of Tensors, of ``(name, Tensor)`` pairs, or of param-group dicts.
    lr : >= 0 (1e-3). betas : (beta1, beta2), each in [0, 1). eps : >= 0 (1e-8). weight_decay : >= 0 (0).
    """

    _array_state = ("m", "v")
    _scalar_state = ("t",)

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    def _update(self, hyper: dict[str, Any], w: Any, dw: Any, state: dict) -> Any:
        return _call_rule(adam, w, _decay(w, dw, hyper["weight_decay"]), state, hyper)


class AdamW(_AdamFamily):
    """Adam with decoupled weight decay: torch.optim.AdamW (``amsgrad=False``), rule ``adamw``:
    ``w *= 1 - lr * weight_decay``, then the Adam step on ``dw``. State per parameter: ``m``, ``v``, ``t``.

    Parameters
    ----------
    params : iterable of Tensors, of ``(name, Tensor)`` pairs, or of param-group dicts.
    lr : >= 0 (1e-3). betas : each in [0, 1). eps : >= 0 (1e-8). weight_decay : >= 0 (1e-2, torch's default).
    """

    _array_state = ("m", "v")
    _scalar_state = ("t",)

    def __init__(self, params: Any, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    def _update(self, hyper: dict[str, Any], w: Any, dw: Any, state: dict) -> Any:
        return _call_rule(adamw, w, dw, state, hyper)


class Adamax(_AdamFamily):
    """Adamax (Adam with the infinity norm): torch.optim.Adamax, rule ``adamax`` on ``dw + weight_decay * w``:
    ``t += 1; m = b1 m + (1-b1) g; u = max(b2 u, |g| + eps); w -= lr / (1-b1**t) * m / u``.
    State per parameter: ``m``, ``u``, ``t``.

    Parameters
    ----------
    params : iterable of Tensors, of ``(name, Tensor)`` pairs, or of param-group dicts.
    lr : >= 0 (2e-3). betas : each in [0, 1). eps : >= 0 (1e-8). weight_decay : >= 0 (0).
    """

    _array_state = ("m", "u")
    _scalar_state = ("t",)

    def __init__(self, params: Any, lr: float = 2e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay})

    def _update(self, hyper: dict[str, Any], w: Any, dw: Any, state: dict) -> Any:
        return _call_rule(adamax, w, _decay(w, dw, hyper["weight_decay"]), state, hyper)


class RMSprop(Optimizer):
    """RMSprop: torch.optim.RMSprop (``momentum=0``, ``centered=False``), rule ``rmsprop`` on
    ``g = dw + weight_decay * w``: ``cache = alpha cache + (1-alpha) g**2;  w -= lr * g / (sqrt(cache) + eps)``.
    State per parameter: ``cache``.

    Parameters
    ----------
    params : iterable of Tensors, of ``(name, Tensor)`` pairs, or of param-group dicts.
    lr : >= 0 (1e-2). alpha : smoothing constant in [0, 1) (0.99). eps : >= 0 (1e-8). weight_decay : >= 0 (0).
    No ``momentum`` or ``centered``: the rule has neither.
    """

    _array_state = ("cache",)

    def __init__(self, params: Any, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay})

    def _hyper(self, group: Mapping[str, Any]) -> dict[str, Any]:
        fn = "RMSprop"
        return {"learning_rate": check_number(fn, "lr", group["lr"]),
                "decay_rate": check_number(fn, "alpha", group["alpha"], 0.0, 1.0, high_open=True),
                "epsilon": check_number(fn, "eps", group["eps"]),
                "weight_decay": check_number(fn, "weight_decay", group["weight_decay"])}

    def _update(self, hyper: dict[str, Any], w: Any, dw: Any, state: dict) -> Any:
        return _call_rule(rmsprop, w, _decay(w, dw, hyper["weight_decay"]), state, hyper)


class Adagrad(Optimizer):
    """AdaGrad: torch.optim.Adagrad, rule ``adagrad`` on ``g = dw + weight_decay * w`` with the learning rate
    ``lr / (1 + (step - 1) * lr_decay)``: ``cache += g**2;  w -= lr_t * g / (sqrt(cache) + eps)``, ``cache``
    starting at ``initial_accumulator_value`` (the group's: torch fills every group's with the constructor's,
    so the two differ only for a group that sets its own). State per parameter: ``cache`` and ``step``.

    Parameters
    ----------
    params : iterable of Tensors, of ``(name, Tensor)`` pairs, or of param-group dicts.
    lr : >= 0 (1e-2). lr_decay : >= 0 (0). weight_decay : >= 0 (0). initial_accumulator_value : >= 0 (0).
    eps : >= 0 (1e-10).
    """

    _array_state = ("cache",)
    _scalar_state = ("step",)

    def __init__(self, params: Any, lr: float = 1e-2, lr_decay: float = 0.0, weight_decay: float = 0.0,
                 initial_accumulator_value: float = 0.0, eps: float = 1e-10) -> None:
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value, "eps": eps})

    def _hyper(self, group: Mapping[str, Any]) -> dict[str, Any]:
        fn = "Adagrad"
        return {"lr": check_number(fn, "lr", group["lr"]),
                "lr_decay": check_number(fn, "lr_decay", group["lr_decay"]),
                "weight_decay": check_number(fn, "weight_decay", group["weight_decay"]),
                "initial": check_number(fn, "initial_accumulator_value", group["initial_accumulator_value"]),
                "epsilon": check_number(fn, "eps", group["eps"])}

    def _update(self, hyper: dict[str, Any], w: Any, dw: Any, state: dict) -> Any:
        if "cache" not in state:
            state["cache"] = xp_of(w).full_like(w, hyper["initial"])
        step = state.get("step", 0) + 1
        lr = hyper["lr"] / (1.0 + (step - 1) * hyper["lr_decay"])
        next_w = _call_rule(adagrad, w, _decay(w, dw, hyper["weight_decay"]), state,
                            {"learning_rate": lr, "epsilon": hyper["epsilon"]})
        state["step"] = step
        return next_w
