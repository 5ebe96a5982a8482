"""``Function``: a user's operation with a hand-written backward, in one class (torch's contract).

>>> class Cube(nnlab.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):              # arrays in, array out
...         ctx.save_for_backward(x)
...         return x ** 3
...     @staticmethod
...     def backward(ctx, g):             # one gradient per forward input (None for a constant)
...         (x,) = ctx.saved_tensors
...         return 3 * x ** 2 * g
>>> y = Cube.apply(t)

``forward`` receives the arrays behind its Tensor arguments (other arguments as given) and returns an array or
a tuple of arrays; ``backward`` receives one upstream gradient per output and returns one gradient per forward
argument. Both work on arrays, as a torch Function marked ``once_differentiable``.
"""

from __future__ import annotations

from typing import Any

from .engine import no_grad, sum_to
from .tensor import Tensor, record

__all__ = ["Function", "FunctionCtx"]


class FunctionCtx:
    """What ``forward`` hands to ``backward``: ``save_for_backward(*arrays)``, ``saved_tensors``,
    ``needs_input_grad`` (one bool per forward argument), and any attribute you set."""

    def __init__(self, needs_input_grad: tuple[bool, ...]) -> None:
        if not isinstance(needs_input_grad, tuple):
            raise TypeError(f"FunctionCtx: needs_input_grad must be a tuple of bools (one per forward argument), "
                            f"got {type(needs_input_grad).__name__}")
        self.needs_input_grad = needs_input_grad
        self._saved: tuple = ()

    def save_for_backward(self, *values: Any) -> None:
        """Keep ``values`` (arrays) for the backward; freed with the graph."""
        self._saved = tuple(v.data if isinstance(v, Tensor) else v for v in values)

    @property
    def saved_tensors(self) -> tuple:
        """What :meth:`save_for_backward` kept."""
        if self._saved is None:
            raise RuntimeError("Function: saved_tensors were freed after the first backward; pass "
                               "retain_graph=True to keep them")
        return self._saved


class Function:
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)``; call ``.apply``."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Any:
        raise NotImplementedError("Function.forward must be overridden")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError("Function.backward must be overridden")

    @classmethod
    def apply(cls, *args: Any) -> Any:
        """Run ``forward`` on the arrays behind ``args`` and record one node whose backward is ``backward``."""
        name = cls.__name__
        needs = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        ctx = FunctionCtx(needs)
        with no_grad():
            out = cls.forward(ctx, *(a.data if isinstance(a, Tensor) else a for a in args))
        outs = out if isinstance(out, tuple) else (out,)
        for i, o in enumerate(outs):
            if not (hasattr(o, "shape") and hasattr(o, "dtype")) or isinstance(o, Tensor):
                raise TypeError(f"{name}.forward must return an array or a tuple of arrays, got "
                                f"{type(o).__name__} for output {i}")
        shapes = [a.data.shape if isinstance(a, Tensor) else None for a in args]

        def backward(dout: Any, cache: Any, node_needs: tuple) -> tuple:
            douts = dout if isinstance(out, tuple) else (dout,)
            grads = cls.backward(cache, *douts)  # the ctx, from the node: freed with it
            if not isinstance(grads, tuple):
                grads = (grads,)
            if len(grads) != len(args):
                raise RuntimeError(f"{name}.backward returned {len(grads)} gradient(s) but forward took "
                                   f"{len(args)} input(s): return one per input (None for a constant)")
            checked = []
            for i, (g, shape, need) in enumerate(zip(grads, shapes, node_needs)):
                if g is None or not need:
                    checked.append(None)
                    continue
                g = getattr(g, "data", g) if isinstance(g, Tensor) else g
                if tuple(g.shape) != tuple(shape):
                    try:
                        g = sum_to(g, shape)
                    except ValueError:
                        raise RuntimeError(f"{name}.backward returned a gradient of shape {tuple(g.shape)} for "
                                           f"input {i}, which has shape {tuple(shape)}") from None
                checked.append(g)
            return tuple(checked)

        return record(name, cls.backward, out, ctx, backward, args)
