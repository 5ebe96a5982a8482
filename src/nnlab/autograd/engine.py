"""The tape: grad mode, graph nodes, and the backward pass (topological order, no recursion).

A :class:`Node` is one recorded operation: the cache its forward kernel returned, the backward kernel that
consumes it, and one edge per input (the node that produced the input and which of its outputs, or the leaf
Tensor itself; ``None`` for constants and inputs that need no gradient). :func:`run_backward` visits the nodes
reachable from the roots in reverse topological order, calls each backward once with the sum of its outputs'
gradients, sums each input gradient back to the input's shape (:func:`sum_to`, the one place where
broadcasting is undone), accumulates into the leaves' ``.grad``, and frees each node's cache as it goes unless
``retain_graph=True``.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..backend import xp_of
from ..validation import check_array

__all__ = ["Node", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "sum_to", "run_backward",
           "cache_nbytes"]


class _Mode(threading.local):
    enabled = True  # every thread starts with grad mode on; set_grad_enabled sets the thread's own value


_MODE = _Mode()


def is_grad_enabled() -> bool:
    """True unless inside :class:`no_grad` (grad mode is per thread, as torch's)."""
    # A plain attribute read (0.06 us): getattr(local, name, default) on a thread that never set the name
    # raised and caught AttributeError inside, 0.58 us on every recorded operation.
    return _MODE.enabled


def set_grad_enabled(mode: bool) -> None:
    """Turn recording on (``True``) or off for this thread."""
    if not isinstance(mode, (bool, np.bool_)):
        raise TypeError(f"set_grad_enabled: mode must be a bool, got {type(mode).__name__}")
    _MODE.enabled = bool(mode)


class _GradMode:
    _mode = True

    def __enter__(self) -> None:
        self._prev = is_grad_enabled()
        _MODE.enabled = self._mode

    def __exit__(self, *exc: Any) -> None:
        _MODE.enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        mode = self._mode

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = is_grad_enabled()
            _MODE.enabled = mode
            try:
                return fn(*args, **kwargs)
            finally:
                _MODE.enabled = prev

        wrapper.__name__ = getattr(fn, "__name__", "wrapper")
        wrapper.__doc__ = fn.__doc__
        return wrapper


class no_grad(_GradMode):
    """Context manager (and decorator): operations inside record nothing and keep no cache.

    >>> with nnlab.no_grad():
    ...     scores = model(X)          # no graph, no saved activations
    """

    _mode = False


class enable_grad(_GradMode):
    """Context manager (and decorator) that turns recording back on inside :class:`no_grad`."""

    _mode = True


class Node:
    """One recorded operation of the tape.

    Attributes: ``name`` (the operation, e.g. ``"mul"`` or ``"conv2d"``), ``kernel`` (the backward kernel, a
    function; :attr:`kernel_name` its qualified name, for :func:`nnlab.autograd.summary`), ``backward``
    (``backward(dout, cache, needs) -> input gradients``), ``cache`` (what the backward needs; ``None`` once
    released), ``edges`` (per input: ``(Node, output_index)``, ``(leaf_tensor, -1)`` or ``None`` for a
    constant or an input that needs no gradient), ``out_shapes``, ``out_dtypes`` and ``seq`` (creation order:
    a node's inputs always come from nodes of lower ``seq``, which the backward's ordering relies on).
    """

    __slots__ = ("name", "kernel", "backward", "cache", "edges", "out_shapes", "out_dtypes", "released", "seq",
                 "__weakref__")

    def __init__(self, name: str, kernel: Callable, backward: Callable, cache: Any, edges: tuple,
                 out_shapes: tuple, out_dtypes: tuple) -> None:
        self.name = name
        self.kernel = kernel
        self.backward = backward
        self.cache = cache
        self.edges = edges
        self.out_shapes = out_shapes
        self.out_dtypes = out_dtypes
        self.released = False
        self.seq = next(_SEQ)

    @property
    def n_outputs(self) -> int:
        return len(self.out_shapes)

    @property
    def needs(self) -> tuple[bool, ...]:
        """Which inputs want a gradient."""
        return tuple(e is not None for e in self.edges)

    @property
    def kernel_name(self) -> str:
        """The backward kernel's qualified name, e.g. ``layers.conv.conv_backward_fast``."""
        module = (getattr(self.kernel, "__module__", "") or "").replace("nnlab.layers.", "layers.")
        return f"{module}.{getattr(self.kernel, '__qualname__', repr(self.kernel))}"

    def parents(self) -> list[Node]:
        """The nodes that produced this node's inputs."""
        return [e[0] for e in self.edges if e is not None and e[1] >= 0]

    def __repr__(self) -> str:
        return f"<{self.name} backward: {self.kernel_name}>"


_SEQ = itertools.count()


def sum_to(grad: Any, shape: tuple) -> Any:
    """Sum ``grad`` (shaped as a broadcast result) down to ``shape``: the leading axes broadcasting added and
    every axis where ``shape`` has 1 are summed. The one place where broadcasting is undone."""
    check_array("sum_to", "grad", grad)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"sum_to: shape must be a tuple of ints, got {type(shape).__name__}")
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead < 0:  # a gradient smaller than its input (a constant broadcast up): spread it
        return xp_of(grad).broadcast_to(grad, shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, n in enumerate(shape) if n == 1 and grad.shape[i + lead] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def cache_nbytes(cache: Any, seen: set | None = None) -> int:
    """Bytes of the distinct arrays held in ``cache`` (tuples, lists and dicts are walked; a view counts its
    own size): what a node keeps alive for its backward."""
    seen = set() if seen is None else seen
    stack = [cache]
    total = 0
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, (int, float, bool, str, slice)):
            continue
        if hasattr(item, "nbytes") and hasattr(item, "shape"):
            if id(item) not in seen:
                seen.add(id(item))
                total += int(item.nbytes)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (tuple, list)):
            stack.extend(item)
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            stack.extend(vars(item).values())
        elif hasattr(item, "_fields"):
            stack.extend(item)
    return total


def topological_order(roots: Sequence[Node]) -> list[Node]:
    """Every node reachable from ``roots``, each after all the nodes that consume its outputs (an explicit
    stack: a chain of any length works)."""
    order: list[Node] = []
    visited: set[int] = set()
    stack: list[tuple[Node, bool]] = [(r, False) for r in roots]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for edge in node.edges:
            if edge is not None and edge[1] >= 0 and id(edge[0]) not in visited:
                stack.append((edge[0], False))
    order.reverse()
    return order


def _released_error(node: Node) -> RuntimeError:
    return RuntimeError(
        f"backward: trying to backward through the graph a second time: the saved values of '{node.name}' were "
        "freed after the first backward. Pass retain_graph=True to the first backward (or to nnlab.autograd.grad) "
        "to keep them.")


def run_backward(roots: Sequence[Any], root_grads: Sequence[Any], retain_graph: bool = False,
                 capture: Sequence[Any] | None = None) -> list[Any] | None:
    """Backpropagate ``root_grads`` from the Tensors ``roots``.

    Nodes are visited newest first (a max-heap on ``seq``): every consumer of a node was created after it, so
    a node runs once, after all the gradients of its outputs have been summed. No recursion, and only the
    nodes the roots reach are visited. With ``capture=None`` the leaves' ``.grad`` accumulate (``backward``).
    With ``capture`` (a list of Tensors) nothing is accumulated and the gradients of those Tensors are
    returned in order, ``None`` for one the roots do not depend on (``nnlab.autograd.grad``).
    """
    grads: dict[Node, list] = {}
    heap: list[tuple[int, Node]] = []
    leaf_out: dict[int, Any] = {}
    shared = {id(g) for g in root_grads}  # arrays a leaf's .grad must not alias
    for t, g in zip(roots, root_grads):
        node = t._node
        if node is None:  # backward of a leaf: its own gradient
            _deliver_leaf(t, g, leaf_out, capture, shared)
            continue
        slot = grads.get(node)
        if slot is None:
            slot = grads[node] = [None] * len(node.out_shapes)
            heapq.heappush(heap, (-node.seq, node))
        slot[t._index] = g if slot[t._index] is None else slot[t._index] + g
    want: dict[tuple[int, int], int] = {}
    if capture is not None:
        for i, t in enumerate(capture):
            if t._node is not None:
                want[(id(t._node), t._index)] = i
    captured: list[Any] = [None] * (len(capture) if capture is not None else 0)
    heappush, heappop = heapq.heappush, heapq.heappop
    while heap:
        node = heappop(heap)[1]
        slot = grads.pop(node)
        if want:
            for k, g in enumerate(slot):
                pos = want.get((id(node), k))
                if pos is not None:
                    captured[pos] = g
        if node.released:
            raise _released_error(node)
        edges = node.edges
        if node.out_dtypes is None:  # a single output (record passes out_dtypes only for a tuple of outputs)
            dout = slot[0]
        else:
            dout = tuple(g if g is not None else np.zeros(s, dtype=d)
                         for g, s, d in zip(slot, node.out_shapes, node.out_dtypes))
        in_grads = node.backward(dout, node.cache, tuple(e is not None for e in edges))
        if not retain_graph:
            node.cache = None
            node.released = True
        if len(in_grads) > 1:  # one array handed to several inputs (add's backward): no leaf may keep it
            ids = [id(g) for g in in_grads if g is not None]
            if len(set(ids)) != len(ids):
                shared.update(ids)
        for edge, g in zip(edges, in_grads):
            if edge is None or g is None:
                continue
            target, index = edge
            if index < 0:
                shape = target.data.shape
                if g.shape != shape:
                    g = sum_to(g, shape)
                _deliver_leaf(target, g, leaf_out, capture, shared)
                continue
            shape = target.out_shapes[index]
            if g.shape != shape:
                g = sum_to(g, shape)
            tslot = grads.get(target)
            if tslot is None:
                tslot = grads[target] = [None] * len(target.out_shapes)
                heappush(heap, (-target.seq, target))
            prev = tslot[index]
            tslot[index] = g if prev is None else prev + g
    if capture is None:
        return None
    for i, t in enumerate(capture):
        if t._node is None:
            captured[i] = leaf_out.get(id(t))
    return captured


def _deliver_leaf(leaf: Any, g: Any, leaf_out: dict, capture: Sequence[Any] | None,
                  shared: set[int] | None = None) -> None:
    dtype = leaf.data.dtype
    if g.dtype != dtype:
        g = g.astype(dtype)
    if capture is not None:
        prev = leaf_out.get(id(leaf))
        leaf_out[id(leaf)] = g if prev is None else prev + g
        return
    if leaf.grad is not None:
        leaf.grad = leaf.grad + g
        return
    # Keep the array itself when this backward made it and gives it to no one else; copy a view, a read-only
    # broadcast, the caller's own gradient, or an array already given to another leaf (add's backward passes
    # one array on twice), so that changing one .grad in place never changes another.
    if shared is None or g.base is not None or not g.flags.writeable or id(g) in shared:
        g = g.copy()
    elif shared is not None:
        shared.add(id(g))
    leaf.grad = g
