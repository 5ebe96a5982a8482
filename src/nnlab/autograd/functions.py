"""``grad``, ``gradcheck`` and ``summary``: gradients on demand, their numerical verification, and the tape
shown as a table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import xp_of
from .engine import Node, cache_nbytes, run_backward, topological_order
from .tensor import Tensor, as_data

__all__ = ["grad", "gradcheck", "GradcheckError", "summary"]


def _as_list(x: Any) -> list:
    return list(x) if isinstance(x, (list, tuple)) else [x]


def grad(outputs: Any, inputs: Any, grad_outputs: Any = None, retain_graph: bool = False,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """The gradients of ``outputs`` with respect to ``inputs`` (Tensors), returned as a tuple of arrays.

    Nothing is accumulated into ``.grad``. ``grad_outputs`` (one per output, shaped like it) may be omitted
    for one-element outputs. An input the outputs do not depend on raises unless ``allow_unused`` (then its
    gradient is ``None``). ``create_graph=True`` (double backward) raises ``NotImplementedError``.
    """
    if create_graph:
        raise NotImplementedError("nnlab.autograd.grad: create_graph=True (double backward) is not supported")
    outs = _as_list(outputs)
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"nnlab.autograd.grad: outputs[{i}] must be a Tensor, got {type(o).__name__}")
    ins = _as_list(inputs)
    for i, t in enumerate(ins):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"nnlab.autograd.grad: input {i} must be a Tensor that requires grad")
    gouts = [None] * len(outs) if grad_outputs is None else _as_list(grad_outputs)
    if len(gouts) != len(outs):
        raise ValueError(f"nnlab.autograd.grad: {len(outs)} outputs but {len(gouts)} grad_outputs")
    root_grads = []
    for i, (o, g) in enumerate(zip(outs, gouts)):
        if not isinstance(o, Tensor) or not o.requires_grad:
            raise RuntimeError(f"nnlab.autograd.grad: output {i} does not require grad")
        if g is None:
            if o.data.size != 1:
                raise RuntimeError(f"nnlab.autograd.grad: output {i} has shape {tuple(o.shape)}: pass grad_outputs")
            g = xp_of(o.data).ones_like(o.data)
        g = xp_of(o.data).asarray(as_data(g), dtype=o.data.dtype)
        if g.shape != o.data.shape:
            raise RuntimeError(f"nnlab.autograd.grad: grad_outputs[{i}] has shape {tuple(g.shape)}, output "
                               f"{i} has shape {tuple(o.shape)}")
        root_grads.append(g)
    result = run_backward(outs, root_grads, retain_graph=retain_graph, capture=ins)
    for i, g in enumerate(result):
        if g is None and not allow_unused:
            raise RuntimeError(f"nnlab.autograd.grad: input {i} is not used by the outputs "
                               "(pass allow_unused=True to get None)")
    return tuple(result)


class GradcheckError(RuntimeError):
    """Raised by :func:`gradcheck` when an analytical Jacobian entry differs from the numerical one."""


def gradcheck(fn: Callable, inputs: Any, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True) -> bool:
    """Compare the tape's Jacobian of ``fn(*inputs)`` with central differences, entry by entry.

    ``inputs``: a Tensor or a tuple (Tensors that require grad are checked; use float64). Every output
    (a Tensor or a tuple of Tensors) and every input is compared: ``|analytical - numerical| <= atol +
    rtol * |numerical|``. Returns True, or raises :class:`GradcheckError` naming the worst entry (returns
    False with ``raise_exception=False``).
    """
    if not callable(fn):
        raise TypeError(f"gradcheck: fn must be callable (Tensors -> Tensor), got {type(fn).__name__}")
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    checked = [(i, t) for i, t in enumerate(args) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input is a Tensor with requires_grad=True")
    for i, t in checked:
        if t.data.dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} has dtype {t.data.dtype}; gradcheck needs float64 inputs")

    def evaluate() -> list:
        out = fn(*args)
        return [o for o in _as_list(out) if isinstance(o, Tensor)]

    outputs = evaluate()
    worst: tuple | None = None
    for oi, out in enumerate(outputs):
        n_out = out.data.size
        # analytical: one row per output entry
        analytic = {i: np.zeros((n_out, t.data.size)) for i, t in checked}
        if out.requires_grad:  # not `out in list`: Tensor == is elementwise
            for j in range(n_out):
                seed = np.zeros(out.data.shape, dtype=out.data.dtype)
                seed.flat[j] = 1.0
                gs = grad(out, [t for _, t in checked], seed, retain_graph=True, allow_unused=True)
                for (i, _), g in zip(checked, gs):
                    if g is not None:
                        analytic[i][j] = np.asarray(g, dtype=np.float64).ravel()
        # numerical: one column per input entry
        for i, t in checked:
            flat = t.data.reshape(-1)
            numeric = np.zeros((n_out, t.data.size))
            for k in range(t.data.size):
                old = flat[k]
                flat[k] = old + eps
                plus = np.array(evaluate()[oi].data, dtype=np.float64).ravel()
                flat[k] = old - eps
                minus = np.array(evaluate()[oi].data, dtype=np.float64).ravel()
                flat[k] = old
                numeric[:, k] = (plus - minus) / (2 * eps)
            err = np.abs(analytic[i] - numeric) - (atol + rtol * np.abs(numeric))
            if err.size and err.max() > 0:
                j, k = np.unravel_index(int(np.argmax(err)), err.shape)
                if worst is None or err[j, k] > worst[0]:
                    worst = (err[j, k], oi, i, j, k, numeric[j, k], analytic[i][j, k])
    if worst is not None:
        _, oi, i, j, k, num, ana = worst
        msg = (f"gradcheck: Jacobian mismatch for output {oi} with respect to input {i}: worst entry "
               f"(output element {j}, input element {k}): numerical {num:.10g}, analytical {ana:.10g} "
               f"(atol={atol}, rtol={rtol})")
        if raise_exception:
            raise GradcheckError(msg)
        return False
    return True


def summary(t: Tensor, print_fn: Callable[[str], Any] | None = print) -> str:
    """A table of the tape behind ``t``: one row per node in the order the backward visits them, with the
    operation, the kernel its backward calls, the output shape, and the bytes its cache keeps alive for the
    backward; the last line is the total. Printed (``print_fn``) and returned."""
    if not isinstance(t, Tensor):
        raise TypeError(f"summary: t must be a Tensor, got {type(t).__name__}")
    nodes: list[Node] = topological_order([t._node]) if t._node is not None else []
    rows = [("#", "operation", "backward kernel", "output shape", "saved bytes")]
    seen: set = set()
    total = 0
    for k, node in enumerate(nodes):
        nbytes = cache_nbytes(node.cache, seen)
        total += nbytes
        shape = ", ".join(str(s) for s in node.out_shapes) if len(node.out_shapes) > 1 else str(node.out_shapes[0])
        status = " (freed)" if node.released else ""
        rows.append((str(k), node.name, node.kernel_name, shape, f"{nbytes:,}{status}"))
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    lines = ["  ".join(r[c].ljust(widths[c]) if c < 4 else r[c].rjust(widths[c]) for c in range(5)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.append(f"{len(nodes)} nodes, {total:,} bytes saved for backward ({total / 2**20:.2f} MiB)")
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text
