"""First-order update rules, gradient clipping and small optimization drivers.

Every update rule has the CS231n signature ``rule(w, dw, config=None) -> (next_w, config)``:

- ``w``: parameter array, any shape; ``dw``: its gradient, same shape.
- ``config``: dict of hyperparameters **and** optimizer state. Missing keys are filled with ``setdefault``; the
  new state is stored back, so the caller keeps one dict per parameter and passes it again at the next step.
  State arrays are plain arrays of ``w``'s shape and dtype, so a config serializes as it is.
- ``next_w``: a new array of ``w``'s dtype; ``w`` itself is never modified.

Every rule declares the config keys it accepts (:data:`RULE_KEYS`; the function attributes ``hyperparameters`` and
``state_keys``); :func:`check_optim_config` rejects unknown keys (with a "did you mean") and non-numeric values
before training starts.

Hyperparameters are read as Python numbers, so a float32 ``w`` stays float32 (NumPy 2 would promote it when
multiplied by a ``np.float64`` scalar). Rules run on NumPy or CuPy arrays alike (``backend.xp_of``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ..backend import parallel_for, split, xp_of
from ..validation import check_array, check_count, check_number, check_same_shape

__all__ = [
    "sgd",
    "sgd_momentum",
    "sgd_nesterov_momentum",
    "rmsprop",
    "adam",
    "adamax",
    "adagrad",
    "adamw",
    "UPDATE_RULES",
    "RULE_KEYS",
    "check_optim_config",
    "get_update_rule",
    "clip_grad_norm",
    "minimize",
    "gradient_descent",
]

UpdateRule = Callable[[Any, Any, "dict | None"], "tuple[Any, dict]"]


# ---------------------------------------------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------------------------------------------
def _start(fn: str, w: Any, dw: Any, config: dict | None, learning_rate: float) -> dict:
    """Validate ``w``/``dw``, create ``config`` if needed and fill ``learning_rate``."""
    check_array(fn, "w", w, float_only=True)
    check_array(fn, "dw", dw)
    check_same_shape(fn, "dw", dw, "w", w)
    if config is None:
        config = {}
    elif not isinstance(config, dict):
        raise TypeError(f"{fn}: config must be a dict or None, got {type(config).__name__}")
    config.setdefault("learning_rate", learning_rate)
    check_number(fn, "learning_rate", config["learning_rate"])
    return config


def _state(fn: str, config: dict, key: str, w: Any) -> Any:
    """``config[key]``, created as zeros like ``w`` when missing; its shape must match ``w``."""
    xp = xp_of(w)
    s = config.setdefault(key, xp.zeros_like(w))
    if tuple(getattr(s, "shape", ())) != tuple(w.shape):
        got = tuple(s.shape) if hasattr(s, "shape") else type(s).__name__
        raise ValueError(f"{fn}: config[{key!r}] has shape {got} but w has shape {tuple(w.shape)}")
    return s


def _owned_state(fn: str, config: dict, key: str, w: Any) -> Any:
    """Like :func:`_state`, but the returned array is ``w``'s dtype and safe to update in place: it is stored
    back into ``config[key]`` (a cast copy when the given state had another dtype)."""
    s = _state(fn, config, key, w)
    if s.dtype != w.dtype or not getattr(s, "flags", None) or not s.flags.writeable:
        s = s.astype(w.dtype, copy=True)
        config[key] = s
    return s


def _like(a: Any, w: Any) -> Any:
    """``a`` in ``w``'s dtype (no copy when it already is)."""
    return a.astype(w.dtype, copy=False)


# Bytes of ``w`` per chunk of a large parameter's update (the rules below are elementwise, memory-bound passes).
# Measured, float32, whole-array passes -> 1 MiB chunks: CPU time at 1 thread Adam w(4096,1024) 12.5-13.6 ->
# 9.0 ms and SGD momentum 5.1 -> 3.7 ms (the temporaries stay in the cache), w(3136,256) (the MRI network's FC1,
# 3.2 MB) 1.19 -> 1.26 ms (noise level); at 2 threads (bench_threads.py --kernels optim, load 0.7) Adam
# w(4096,1024) with its state copies 9.6 -> 7.7 ms. A parameter below two chunks is updated in one piece.
_UPDATE_CHUNK_BYTES = 1 << 20


def _chunkable(*arrays: Any) -> bool:
    """Whether an update of these arrays goes in chunks: NumPy arrays of one shape and dtype, of at least two
    chunks (:data:`_UPDATE_CHUNK_BYTES`)."""
    first = arrays[0]
    return (all(isinstance(a, np.ndarray) and a.dtype == first.dtype and a.shape == first.shape for a in arrays)
            and first.ndim >= 1 and first.nbytes >= 2 * _UPDATE_CHUNK_BYTES)


def _in_chunks(fn: Callable[..., None], *arrays: Any) -> None:
    """``fn(*arrays)`` for an elementwise update (writing into some of the arrays), on chunks of the arrays on
    nnlab's threads; one call on the whole arrays unless :func:`_chunkable`.

    Chunks of the flattened arrays when all are C-contiguous, else of their first axis (a layer's gradient
    ``X^T dY`` comes transposed). The chunks are a function of the shape only (never of the thread count) and
    every output element comes from the same input elements by the same operations, so the result is bitwise
    that of one call on the whole arrays, at any thread count.
    """
    if not _chunkable(*arrays):
        fn(*arrays)
        return
    if all(a.flags.c_contiguous for a in arrays):
        arrays = tuple(a.reshape(-1) for a in arrays)
    first = arrays[0]

    def chunk(bounds: tuple[int, int]) -> None:
        a, b = bounds
        fn(*(f[a:b] for f in arrays))

    parallel_for(chunk, split(first.shape[0], first[:1].nbytes, _UPDATE_CHUNK_BYTES))


# ---------------------------------------------------------------------------------------------------------------
# update rules
# ---------------------------------------------------------------------------------------------------------------
def sgd(w: Any, dw: Any, config: dict | None = None) -> tuple[Any, dict]:
    """Vanilla stochastic gradient descent: ``next_w = w - learning_rate * dw``.

    config: ``learning_rate`` (1e-2).
    """
    config = _start("sgd", w, dw, config, 1e-2)
    lr = float(config["learning_rate"])
    return _like(w - lr * dw, w), config


def sgd_momentum(w: Any, dw: Any, config: dict | None = None) -> tuple[Any, dict]:
    """SGD with (heavy-ball) momentum, CS231n form.

    ``v = momentum * v - learning_rate * dw``;  ``next_w = w + v``.
    torch.optim.SGD keeps ``b = momentum * b + dw`` and steps ``w -= lr * b``; with a constant learning rate
    ``v = -lr * b``, so both give the same trajectory.

    config: ``learning_rate`` (1e-2), ``momentum`` (0.9), state ``velocity`` (zeros like w).
    """
    fn = "sgd_momentum"
    config = _start(fn, w, dw, config, 1e-2)
    config.setdefault("momentum", 0.9)
    lr = float(config["learning_rate"])
    mu = check_number(fn, "momentum", config["momentum"])
    v_old = _state(fn, config, "velocity", w)
    if not _chunkable(w, dw, v_old):
        v = _like(mu * v_old - lr * dw, w)
        config["velocity"] = v
        return _like(w + v, w), config
    v, out = np.empty_like(w), np.empty_like(w)

    def update(out, v, w, dw, v_old) -> None:  # the same operations as above, a chunk at a time
        np.multiply(mu, v_old, out=v)
        v -= lr * dw
        np.add(w, v, out=out)

    _in_chunks(update, out, v, w, dw, v_old)
    config["velocity"] = v
    return out, config


def sgd_nesterov_momentum(w: Any, dw: Any, config: dict | None = None) -> tuple[Any, dict]:
    """SGD with Nesterov momentum, in the "look-ahead folded into w" form of seed 002.

    ``v_new = momentum * v - learning_rate * dw``;  ``next_w = w + v_new + momentum * (v_new - v)``.
    Equal to torch.optim.SGD(nesterov=True) with a constant learning rate (see :func:`sgd_momentum`).

    config: ``learning_rate`` (1e-2), ``momentum`` (0.9), state ``velocity`` (zeros like w).
    """
    fn = "sgd_nesterov_momentum"
    config = _start(fn, w, dw, config, 1e-2)
    config.setdefault("momentum", 0.9)
    lr = float(config["learning_rate"])
    mu = check_number(fn, "momentum", config["momentum"])
    v_old = _state(fn, config, "velocity", w)
    v_new = _like(mu * v_old - lr * dw, w)
    config["velocity"] = v_new
    return _like(w + v_new + mu * (v_new - v_old), w), config


def rmsprop(w: Any, dw: Any, config: dict | None = None) -> tuple[Any, dict]:
    """RMSProp: a decaying average of squared gradients scales each coordinate's step.

    ``cache = decay_rate * cache + (1 - decay_rate) * dw**2``;  ``next_w = w - lr * dw / (sqrt(cache) + eps)``.
    Same as torch.optim.RMSprop with ``alpha = decay_rate``.

    config: ``learning_rate`` (1e-2), ``decay_rate`` (0.99), ``epsilon`` (1e-8), state ``cache`` (zeros).
    """
    fn = "rmsprop"
    config = _start(fn, w, dw, config, 1e-2)
    config.setdefault("decay_rate", 0.99)
    config.setdefault("epsilon", 1e-8)
    lr = float(config["learning_rate"])
    rho = check_number(fn, "decay_rate", config["decay_rate"], 0.0, 1.0, high_open=True)
    eps = check_number(fn, "epsilon", config["epsilon"])
    xp = xp_of(w)
    cache = _like(rho * _state(fn, config, "cache", w) + (1.0 - rho) * (dw * dw), w)
    config["cache"] = cache
    return _like(w - lr * dw / (xp.sqrt(cache) + eps), w), config


def _adam_betas(fn: str, config: dict) -> tuple[float, float]:
    config.setdefault("beta1", 0.9)
    config.setdefault("beta2", 0.999)
    b1 = check_number(fn, "beta1", config["beta1"], 0.0, 1.0, high_open=True)
    b2 = check_number(fn, "beta2", config["beta2"], 0.0, 1.0, high_open=True)
    return b1, b2


def _next_step(fn: str, config: dict) -> int:
    """Increment and store the step counter ``t`` (it is incremented *before* it is used).

    An integral float (e.g. ``5.0`` after a JSON round trip) is accepted and stored back as an int.
    """
    t = config.setdefault("t", 0)
    if isinstance(t, (float, np.floating)) and float(t).is_integer():
        t = int(t)
    t = check_count(fn, "config['t']", t, allow_zero=True) + 1
    config["t"] = t
    return t


def adam(w: Any, dw: Any, config: dict | None = None) -> tuple[Any, dict]:
    """Adam with bias correction; ``t`` is incremented first, epsilon sits outside the square root.

    ``t += 1;  m = b1*m + (1-b1)*dw;  v = b2*v + (1-b2)*dw**2``
    ``next_w = w - lr * (m / (1-b1**t)) / (sqrt(v / (1-b2**t)) + eps)``  (= torch.optim.Adam).

    config: ``learning_rate`` (1e-3), ``beta1`` (0.9), ``beta2`` (0.999), ``epsilon`` (1e-8),
    state ``m`` and ``v`` (zeros like w; updated in place) and ``t`` (0: number of steps taken).
    """
    config = _start("adam", w, dw, config, 1e-3)
    return _adam_update("adam", w, dw, config, None), config


def _adam_update(fn: str, w: Any, dw: Any, config: dict, decay: float | None) -> Any:
    """``next_w = w - lr * m_hat / (sqrt(v_hat) + eps)`` (``w * decay`` in place of ``w`` when given: AdamW);
    updates ``m``, ``v``, ``t`` in config. Large parameters go a chunk at a time (:func:`_in_chunks`)."""
    config.setdefault("epsilon", 1e-8)
    b1, b2 = _adam_betas(fn, config)
    lr = float(config["learning_rate"])
    eps = check_number(fn, "epsilon", config["epsilon"])
    m = _owned_state(fn, config, "m", w)
    v = _owned_state(fn, config, "v", w)
    t = _next_step(fn, config)
    xp = xp_of(w)
    root, scale = math.sqrt(1.0 - b2**t), lr / (1.0 - b1**t)

    def update(out, w, dw, m, v) -> None:
        # The moments are updated in place in config (fewer temporaries: this rule runs once per parameter).
        m *= b1
        m += (1.0 - b1) * dw
        v *= b2
        v += (1.0 - b2) * (dw * dw)
        # lr * m_hat / (sqrt(v_hat) + eps), arranged as torch.optim.Adam computes it.
        denom = xp.sqrt(v)
        denom /= root
        denom += eps
        step = m / denom
        step *= scale
        xp.subtract(w if decay is None else w * decay, step, out=out)  # step has w's dtype (m and v do)

    out = xp.empty_like(w)
    _in_chunks(update, out, w, dw, m, v)
    return out


def adamw(w: Any, dw: Any, config: dict | None = None) -> tuple[Any, dict]:
    """AdamW: Adam with decoupled weight decay (Loshchilov & Hutter), exactly as torch.optim.AdamW.

    ``w <- w * (1 - lr * weight_decay)``, then the Adam step of :func:`adam` with the same ``dw``
    (the decay is not part of the gradient, so the moments never see it).

    config: ``learning_rate`` (1e-3), ``weight_decay`` (1e-2, torch's default), ``beta1`` (0.9), ``beta2``
    (0.999), ``epsilon`` (1e-8), state ``m``, ``v`` and ``t`` as :func:`adam`. The decay applies to every
    parameter the rule is given (the Solver gives it all of them, biases included, as torch's default group).
    """
    fn = "adamw"
    config = _start(fn, w, dw, config, 1e-3)
    config.setdefault("weight_decay", 1e-2)
    wd = check_number(fn, "weight_decay", config["weight_decay"])
    return _adam_update(fn, w, dw, config, 1.0 - float(config["learning_rate"]) * wd), config


def adamax(w: Any, dw: Any, config: dict | None = None) -> tuple[Any, dict]:
    """Adamax: Adam with the infinity norm in place of the second moment (as torch.optim.Adamax).

    ``t += 1;  m = b1*m + (1-b1)*dw;  u = max(b2*u, |dw| + eps)``;  ``next_w = w - lr / (1-b1**t) * m / u``.

    config: ``learning_rate`` (2e-3), ``beta1`` (0.9), ``beta2`` (0.999), ``epsilon`` (1e-8),
    state ``m``, ``u`` (zeros like w) and ``t`` (0).
    """
    fn = "adamax"
    config = _start(fn, w, dw, config, 2e-3)
    config.setdefault("epsilon", 1e-8)
    b1, b2 = _adam_betas(fn, config)
    lr = float(config["learning_rate"])
    eps = check_number(fn, "epsilon", config["epsilon"])
    xp = xp_of(w)
    m = _like(b1 * _state(fn, config, "m", w) + (1.0 - b1) * dw, w)
    u = _like(xp.maximum(b2 * _state(fn, config, "u", w), xp.abs(dw) + eps), w)
    t = _next_step(fn, config)
    config["m"], config["u"] = m, u
    return _like(w - (lr / (1.0 - b1**t)) * m / u, w), config


def adagrad(w: Any, dw: Any, config: dict | None = None) -> tuple[Any, dict]:
    """AdaGrad: steps shrink with the running sum of squared gradients (never forgotten, unlike RMSProp).

    ``cache += dw**2``;  ``next_w = w - lr * dw / (sqrt(cache) + eps)``  (= torch.optim.Adagrad with
    ``lr_decay=0``, ``initial_accumulator_value=0``).

    config: ``learning_rate`` (1e-2), ``epsilon`` (1e-10, as torch), state ``cache`` (zeros like w).
    """
    fn = "adagrad"
    config = _start(fn, w, dw, config, 1e-2)
    config.setdefault("epsilon", 1e-10)
    lr = float(config["learning_rate"])
    eps = check_number(fn, "epsilon", config["epsilon"])
    xp = xp_of(w)
    cache = _like(_state(fn, config, "cache", w) + dw * dw, w)
    config["cache"] = cache
    return _like(w - lr * dw / (xp.sqrt(cache) + eps), w), config


UPDATE_RULES: dict[str, UpdateRule] = {
    "sgd": sgd,
    "sgd_momentum": sgd_momentum,
    "sgd_nesterov_momentum": sgd_nesterov_momentum,
    "rmsprop": rmsprop,
    "adam": adam,
    "adamax": adamax,
    "adagrad": adagrad,
    "adamw": adamw,
}

# The config keys each rule reads: hyperparameters first, then its state (arrays of w's shape, and Adam's t).
_HYPER = {
    "sgd": ("learning_rate",),
    "sgd_momentum": ("learning_rate", "momentum"),
    "sgd_nesterov_momentum": ("learning_rate", "momentum"),
    "rmsprop": ("learning_rate", "decay_rate", "epsilon"),
    "adam": ("learning_rate", "beta1", "beta2", "epsilon"),
    "adamax": ("learning_rate", "beta1", "beta2", "epsilon"),
    "adagrad": ("learning_rate", "epsilon"),
    "adamw": ("learning_rate", "weight_decay", "beta1", "beta2", "epsilon"),
}
_STATE = {
    "sgd": (),
    "sgd_momentum": ("velocity",),
    "sgd_nesterov_momentum": ("velocity",),
    "rmsprop": ("cache",),
    "adam": ("m", "v", "t"),
    "adamax": ("m", "u", "t"),
    "adagrad": ("cache",),
    "adamw": ("m", "v", "t"),
}
for _name, _rule in UPDATE_RULES.items():
    _rule.hyperparameters = _HYPER[_name]  # type: ignore[attr-defined]
    _rule.state_keys = _STATE[_name]  # type: ignore[attr-defined]

#: rule name -> every config key it accepts (``learning_rate`` for all).
RULE_KEYS: dict[str, tuple[str, ...]] = {name: _HYPER[name] + _STATE[name] for name in UPDATE_RULES}


def get_update_rule(rule: str | UpdateRule) -> UpdateRule:
    """The update rule named ``rule`` (a key of :data:`UPDATE_RULES`); a callable is returned unchanged."""
    if callable(rule):
        return rule
    if not isinstance(rule, str):
        raise TypeError(f"get_update_rule: rule must be an update rule's name (str) or a callable "
                        f"rule(w, dw, config), got {type(rule).__name__}")
    if rule in UPDATE_RULES:
        return UPDATE_RULES[rule]
    known = ", ".join(UPDATE_RULES)
    close = difflib.get_close_matches(str(rule), list(UPDATE_RULES), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f'Invalid update_rule "{rule}"{hint}; known rules: {known}')


# torch.optim's names for nnlab's keys, so a torch habit gets a useful "did you mean".
_TORCH_NAMES = {"lr": "learning_rate", "eps": "epsilon", "alpha": "decay_rate", "betas": "beta1",
                "wd": "weight_decay"}


def check_optim_config(rule: str | UpdateRule, config: Mapping[str, Any], fn: str = "Solver") -> dict:
    """Check an ``optim_config`` for ``rule`` before any step and return the rule's resolved hyperparameters.

    - every key must be one the rule declares (``rule.hyperparameters + rule.state_keys``, :data:`RULE_KEYS`):
      an unknown key is a ``ValueError`` naming the accepted keys and the closest one ("did you mean");
      a callable without that declaration is not checked for keys;
    - hyperparameters must be real numbers: a string such as ``"1e-3"`` or a bool is a ``TypeError`` naming
      the key;
    - the values are then checked by one dry step of the rule on a 1-element array, so a bad range
      (``learning_rate=-1``, ``beta1=1``) is the rule's own ``ValueError`` raised now, not at the first step.

    Returns a dict of the rule's hyperparameters with defaults filled (e.g. ``{"learning_rate": 1e-3, ...}``);
    for an undeclared callable, the given scalar entries.
    """
    if not (isinstance(rule, str) or callable(rule)):
        raise TypeError(f"{fn}: update_rule must be an update rule's name (str) or a callable rule(w, dw, config), "
                        f"got {type(rule).__name__}")
    update = get_update_rule(rule)
    name = rule if isinstance(rule, str) else getattr(update, "__name__", type(update).__name__)
    if not isinstance(config, Mapping):
        raise TypeError(f"{fn}: optim_config must be a dict, got {type(config).__name__}")
    hyper = getattr(update, "hyperparameters", None)
    state = getattr(update, "state_keys", ())
    if hyper is not None:
        accepted = tuple(hyper) + tuple(state)
        for key in config:
            if key not in accepted:
                alias = _TORCH_NAMES.get(str(key))
                close = [alias] if alias in accepted else difflib.get_close_matches(str(key), accepted, n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"{fn}: optim_config has the unknown key {key!r} for update rule {name!r}{hint} "
                                 f"(it accepts {', '.join(accepted)})")
    scalars = {}
    for key, value in config.items():
        if hyper is not None and key not in hyper:
            continue  # optimizer state (arrays, t): checked by the rule at its first step
        if hasattr(value, "shape") and getattr(value, "ndim", 0) > 0:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{fn}: optim_config[{key!r}] must be a number, got {type(value).__name__} {value!r}")
        scalars[key] = float(value)
    if hyper is None:
        return scalars
    try:
        _, resolved = update(np.zeros(1), np.zeros(1), dict(scalars))
    except (TypeError, ValueError) as err:
        raise type(err)(f"{fn}: optim_config: {err}") from None
    return {k: resolved[k] for k in hyper if k in resolved}


# ---------------------------------------------------------------------------------------------------------------
# gradient clipping
# ---------------------------------------------------------------------------------------------------------------
def clip_grad_norm(grads: Mapping[str, Any] | Iterable[Any] | Any, max_norm: float) -> float:
    """Scale gradients **in place** so that their global L2 norm is at most ``max_norm``.

    ``total = sqrt(sum_k ||g_k||^2)``;  every ``g_k *= min(1, max_norm / (total + 1e-6))``
    (as ``torch.nn.utils.clip_grad_norm_``, including its 1e-6).

    Inputs:
    - grads: dict name -> gradient array (e.g. the ``grads`` of ``model.loss``), a list of arrays, or one array.
      Arrays must have a floating dtype; they are modified in place.
    - max_norm: the largest allowed global norm, >= 0.

    Returns the global norm **before** clipping, as a Python float.
    """
    fn = "clip_grad_norm"
    max_norm = check_number(fn, "max_norm", max_norm)
    if isinstance(grads, Mapping):
        items = list(grads.items())
    elif hasattr(grads, "shape"):
        items = [("grads", grads)]
    else:
        items = [(f"grads[{i}]", g) for i, g in enumerate(grads)]
    for name, g in items:
        check_array(fn, name, g, float_only=True)
    total = math.sqrt(sum(float(xp_of(g).vdot(g.ravel(), g.ravel())) for _, g in items))
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for _, g in items:
            g *= coef
    return total


# ---------------------------------------------------------------------------------------------------------------
# drivers
# ---------------------------------------------------------------------------------------------------------------
def minimize(f: Callable[[Any], float] | None, grad: Callable[[Any], Any], x0: Any,
             rule: str | UpdateRule = "adam", num_iterations: int = 1000, **config: Any) -> Any:
    """Run an update rule for ``num_iterations`` steps from ``x0`` and return the final point.

    ``x_{k+1}, config = rule(x_k, grad(x_k), config)``. With ``rule='adam'`` and the defaults this is seed 000's
    ``adam_optimizer``: for ``f = x0^2 + x1^2`` from ``[1, 1]``, 10 steps give ``[0.99000325 0.99000325]``.

    Inputs:
    - f: the objective; not needed by first-order rules (kept for the familiar ``(f, grad, x0)`` signature, may
      be None).
    - grad: maps ``x`` (shaped like ``x0``) to the gradient of ``f`` at ``x`` (same shape).
    - x0: starting point, any shape; not modified (integer input is promoted to float64).
    - rule: name in :data:`UPDATE_RULES` or an update rule.
    - num_iterations: number of steps, >= 0.
    - **config: the rule's hyperparameters, e.g. ``learning_rate=0.001, beta1=0.9``.

    Returns ``x``, shaped like ``x0``.
    """
    fn = "minimize"
    update = get_update_rule(rule)
    if not callable(grad):
        raise TypeError(f"{fn}: grad must be callable, got {type(grad).__name__}")
    if f is not None and not callable(f):
        raise TypeError(f"{fn}: f must be callable or None, got {type(f).__name__}")
    num_iterations = check_count(fn, "num_iterations", num_iterations, allow_zero=True)
    x = xp_of(x0).asarray(x0)
    x = x.copy() if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)
    state = dict(config)
    for _ in range(num_iterations):
        x, state = update(x, grad(x), state)
    return x


GD_METHODS = ("batch", "stochastic", "mini_batch")


def _mse_step(X: np.ndarray, y: np.ndarray, w: np.ndarray, lr: float, scale: float) -> np.ndarray:
    """``w - lr * scale * X^T (X w - y)``: one MSE gradient step (``scale`` is 2/batch for a mean)."""
    return w - (lr * scale) * (X.T @ (X @ w - y))


def gradient_descent(X: Any, y: Any, weights: Any, learning_rate: float, n_iterations: int,
                     batch_size: int | None = None, method: str = "batch") -> np.ndarray:
    """Linear least squares by batch, stochastic or mini-batch gradient descent on the MSE (seed 000).

    Loss ``L(w) = mean_i (x_i . w - y_i)^2``; each of the ``n_iterations`` passes does, **without shuffling**:

    - ``'batch'``: one step ``w -= lr * (2/n) X^T (X w - y)``.
    - ``'stochastic'``: for i = 0..n-1 in order, ``w -= lr * 2 x_i (x_i . w - y_i)`` (not averaged).
    - ``'mini_batch'``: for contiguous slices ``B`` of ``batch_size`` rows, ``w -= lr * (2/|B|) X_B^T (X_B w - y_B)``.
      A last, shorter slice is averaged over its own size ``|B|`` (the mean gradient of the rows it holds), not
      over ``batch_size``; when ``batch_size`` divides n (seed 000: n=4, batch_size=2) the two agree.

    Inputs:
    - X: (n, d) features; y: (n,) targets; weights: (d,) starting weights (not modified).
    - learning_rate: step size >= 0; n_iterations: number of passes >= 0.
    - batch_size: rows per mini-batch (required for ``'mini_batch'``; checked but unused otherwise).
    - method: ``'batch'``, ``'stochastic'`` or ``'mini_batch'``.

    Returns the final weights (d,), in the floating dtype of the inputs (float64 for integer inputs).
    Seed 000 (X = [[1,1],[2,1],[3,1],[4,1]], y = [2,3,4,5], lr 0.01, 1000 iterations, zeros): batch
    ``[1.01003164 0.97050576]``, stochastic ``[1.00000058 0.99999813]``, mini_batch (2) ``[1.0003804 0.99883421]``.
    """
    fn = "gradient_descent"
    X, y, weights = np.asarray(X), np.asarray(y), np.asarray(weights)
    check_array(fn, "X", X, ndim=2, shape_hint="(n, d)", numeric=True)
    check_array(fn, "y", y, ndim=1, shape_hint="(n,)", numeric=True)
    check_array(fn, "weights", weights, ndim=1, shape_hint="(d,)")
    n, d = X.shape
    if y.shape[0] != n:
        raise ValueError(f"{fn}: y must have shape ({n},) to match X {tuple(X.shape)}, got {tuple(y.shape)}")
    if weights.shape[0] != d:
        raise ValueError(f"{fn}: weights must have shape ({d},) to match X {tuple(X.shape)}, "
                         f"got {tuple(weights.shape)}")
    if method not in GD_METHODS:
        raise ValueError(f"{fn}: method must be one of {', '.join(GD_METHODS)}, got {method!r}")
    if batch_size is not None:
        batch_size = check_count(fn, "batch_size", batch_size)
    elif method == "mini_batch":
        raise ValueError(f"{fn}: batch_size is required for method 'mini_batch'")
    lr = check_number(fn, "learning_rate", learning_rate)
    n_iterations = check_count(fn, "n_iterations", n_iterations, allow_zero=True)

    dtype = np.result_type(X, y, weights)
    dtype = dtype if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)
    X, y, w = X.astype(dtype, copy=False), y.astype(dtype, copy=False), weights.astype(dtype, copy=True)
    for _ in range(n_iterations):
        if method == "batch":
            w = _mse_step(X, y, w, lr, 2.0 / n)
        elif method == "stochastic":  # sequential by definition: each sample sees the previous update
            for i in range(n):
                w = _mse_step(X[i:i + 1], y[i:i + 1], w, lr, 2.0)
        else:
            for start in range(0, n, batch_size):
                Xb, yb = X[start:start + batch_size], y[start:start + batch_size]
                w = _mse_step(Xb, yb, w, lr, 2.0 / len(yb))
    return w
