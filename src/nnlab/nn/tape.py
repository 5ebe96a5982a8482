"""How a module meets the tape.

- A **built-in module** (hand-written ``forward``/``backward`` on arrays) called on Tensors records **one
  node**: its forward runs on the arrays, and the node's backward is the module's own ``backward`` (the kernels'
  backwards), on the caches this call left. The module's private state (its caches, and its submodules') is
  captured after the forward and swapped back in for the backward, so a module called twice in one forward
  (shared weights) gets the gradients of both calls, summed by the tape.
- A **forward-only module** (a subclass that defines only ``forward``, in Tensor operations) called on arrays —
  by ``Classifier``, the Solver, a ``Sequential`` — runs its forward on the tape and answers ``backward(dout)``
  from it, with the array contract of every other module (``dx`` returned, parameter gradients in ``.grads``).
"""

from __future__ import annotations

from typing import Any

from ..autograd import Tensor, is_grad_enabled, record
from ..autograd.engine import run_backward

__all__ = ["tape_call", "forward_arrays", "backward_arrays", "is_forward_only"]

# Private attributes that are a module's structure, not per-call state.
_STRUCTURE = frozenset({"_parameters", "_buffers", "_modules", "_grads", "_param_views", "_tape"})


def is_forward_only(module: Any) -> bool:
    """True when the module's class does not override ``Module.backward`` (marked ``_base_backward``)."""
    return getattr(type(module).backward, "_base_backward", False)


def _private_state(module: Any) -> list[tuple[Any, dict]]:
    return _private_state_of(list(module.modules()))


def _swap_in(state: list[tuple[Any, dict]]) -> list[tuple[Any, dict]]:
    current = _private_state_of([m for m, _ in state])
    for m, attrs in state:
        m.__dict__.update(attrs)
    return current


def _private_state_of(modules: list) -> list[tuple[Any, dict]]:
    return [(m, {k: v for k, v in m.__dict__.items() if k[0] == "_" and k not in _STRUCTURE}) for m in modules]


def _flatten(out: Any, leaves: list) -> Any:
    """Nested tuples of arrays -> a structure of leaf indices (``None`` kept)."""
    if isinstance(out, tuple):
        return tuple(_flatten(o, leaves) for o in out)
    if out is None:
        return None
    leaves.append(out)
    return len(leaves) - 1


def _unflatten(struct: Any, values: Any) -> Any:
    if isinstance(struct, tuple):
        return tuple(_unflatten(s, values) for s in struct)
    return None if struct is None else values[struct]


def tape_call(module: Any, args: tuple, kwargs: dict) -> Any:
    """Run a built-in module on Tensor arguments as one tape node (see the module docstring)."""
    arrays = [a.data if isinstance(a, Tensor) else a for a in args]
    kw = {k: (v.data if isinstance(v, Tensor) else v) for k, v in kwargs.items()}
    out = module.forward(*arrays, **kw)
    leaves: list = []
    struct = _flatten(out, leaves)
    names_params = list(module.named_parameter_tensors()) if is_grad_enabled() else []
    params = [p for _, p in names_params]
    tensor_args = [a for a in args if isinstance(a, Tensor)]
    state = _private_state(module) if is_grad_enabled() else None
    n_grad_outputs = getattr(module, "_tape_grad_outputs", None)
    names = [n for n, _ in names_params]

    def backward(dout: Any, cache: Any, needs: tuple) -> tuple:
        douts = dout if isinstance(dout, tuple) else (dout,)
        if n_grad_outputs is not None:
            douts = douts[:n_grad_outputs]
        previous = _swap_in(cache)
        try:
            dx = module.backward(*douts)
            grads = module.grads
        finally:
            _swap_in(previous)
        dxs = dx if isinstance(dx, tuple) else (dx,)
        in_grads = list(dxs[:len(tensor_args)]) + [None] * max(0, len(tensor_args) - len(dxs))
        return tuple(in_grads) + tuple(grads.get(n) for n in names)

    result = record(type(module).__name__, type(module).backward, tuple(leaves) if len(leaves) > 1 else leaves[0],
                    state, backward, tensor_args + params)
    values = result if isinstance(result, tuple) else (result,)
    return _unflatten(struct, values)


def forward_arrays(module: Any, args: tuple, kwargs: dict) -> Any:
    """A forward-only module called on arrays: its forward on the tape, the output's array returned and the
    graph kept for :func:`backward_arrays`."""
    inputs = [Tensor(a, requires_grad=_is_float(a)) if _is_arraylike(a) else a for a in args]
    out = module.forward(*inputs, **kwargs)
    if not isinstance(out, Tensor):
        raise TypeError(f"{type(module).__name__}.forward must return a Tensor, got {type(out).__name__}")
    if is_grad_enabled() and out.requires_grad:
        object.__setattr__(module, "_tape", (inputs, out))
    else:
        object.__setattr__(module, "_tape", None)
    return out.data


def backward_arrays(module: Any, dout: Any) -> Any:
    """``backward(dout)`` of a forward-only module: ``dx`` (a tuple for several array inputs) returned and the
    parameter gradients stored (they replace the previous call's, as every module's backward)."""
    name = type(module).__name__
    tape = module.__dict__.get("_tape")
    if tape is None:
        raise RuntimeError(f"{name}.backward: call the module on arrays in training mode first (no recorded "
                           "forward, or it ran under no_grad)")
    inputs, out = tape
    named = list(module.named_parameter_tensors())
    wrt = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad] + [p for _, p in named]
    dout = dout.data if isinstance(dout, Tensor) else dout
    if tuple(dout.shape) != tuple(out.shape):
        raise ValueError(f"{name}.backward: dout must have shape {tuple(out.shape)}, got {tuple(dout.shape)}")
    if dout.dtype != out.data.dtype:
        dout = dout.astype(out.data.dtype)
    grads = run_backward([out], [dout], retain_graph=False, capture=wrt)
    object.__setattr__(module, "_tape", None)
    n_in = len(wrt) - len(named)
    for (pname, p), g in zip(named, grads[n_in:]):
        owner, leaf = module._owner_of(pname)
        owner._grads[leaf] = g if g is not None else p.data * 0
    dxs = grads[:n_in]
    return dxs[0] if len(dxs) == 1 else tuple(dxs)


def _is_arraylike(a: Any) -> bool:
    return hasattr(a, "shape") and hasattr(a, "dtype") and not isinstance(a, Tensor)


def _is_float(a: Any) -> bool:
    return a.dtype.kind == "f"
