"""``nnlab.Tensor``: an array of :mod:`nnlab.backend` that records the operations applied to it.

Every operation is one node of the tape whose forward and backward are a kernel pair of :mod:`nnlab.layers`
(the tensor algebra in :mod:`nnlab.layers.tensor_ops`, activations in :mod:`nnlab.layers.activations`, ...).
Arrays and Python numbers mix freely with Tensors: they are constants. NumPy's broadcasting and dtype rules
apply (float32 stays float32). Tensors have no in-place operators; ``.grad`` is a plain array.

>>> x = nnlab.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad                                   # 2 x
array([[2., 4.],
       [6., 8.]])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..backend import xp_of
from ..layers import activations as act
from ..layers import tensor_ops as ops
from ..validation import check_array, check_numeric
from .engine import Node, is_grad_enabled, run_backward

__all__ = ["Tensor", "tensor", "record", "as_data", "cat", "stack", "where", "maximum", "minimum"]


def _is_array(x: Any) -> bool:
    return hasattr(x, "shape") and hasattr(x, "dtype") and not isinstance(x, Tensor)


def as_data(x: Any) -> Any:
    """The array behind a Tensor; arrays and numbers are returned unchanged."""
    return x.data if isinstance(x, Tensor) else x


def record(name: str, backward_kernel: Callable, out: Any, cache: Any, backward: Callable,
           inputs: Sequence[Any]) -> Any:
    """Wrap ``out`` (an array, or a tuple of arrays for a node with several outputs) in Tensor(s) and, when
    grad mode is on and an input requires grad, record one node.

    Parameters
    ----------
    name : the operation's name (``"conv2d"``), shown by ``summary`` and in ``grad_fn``.
    backward_kernel : the kernel the backward calls (its name is shown by ``summary``).
    out, cache : what the forward kernel returned.
    backward : ``backward(dout, cache, needs) -> tuple`` with one gradient (or ``None``) per input; ``dout`` is
        an array, or a tuple of arrays (zeros for unused outputs) when the node has several outputs.
    inputs : per input, the Tensor (or anything else: a constant).

    Returns
    -------
    A Tensor (a tuple of Tensors when ``out`` is a tuple) that requires grad when a node was recorded.
    """
    if not isinstance(name, str):
        raise TypeError(f"record: name must be the operation's name (a str), got {type(name).__name__}")
    if is_grad_enabled():
        edges = [((t._node, t._index) if t._node is not None else (t, -1))
                 if isinstance(t, Tensor) and t.requires_grad else None for t in inputs]
        if edges.count(None) != len(edges):
            if type(out) is tuple:
                node = Node(name, backward_kernel, backward, cache, tuple(edges), tuple(o.shape for o in out),
                            tuple(o.dtype for o in out))
                return tuple(_wrap(o, True, node, i) for i, o in enumerate(out))
            node = Node(name, backward_kernel, backward, cache, tuple(edges), (out.shape,), None)
            return _wrap(out, True, node, 0)
    if type(out) is tuple:
        return tuple(_wrap(o, False, None, 0) for o in out)
    return _wrap(out, False, None, 0)


def _wrap(data: Any, requires_grad: bool, node: Node | None, index: int) -> Tensor:
    t = object.__new__(Tensor)
    t.data = data
    t.grad = None
    t.requires_grad = requires_grad
    t._node = node
    t._index = index
    return t


_SCALARS = (int, float)


def _const(x: Any, like: Any) -> Any:
    """A non-Tensor operand as something NumPy combines with ``like`` under its own promotion rules."""
    if type(x) in _SCALARS or isinstance(x, (bool, np.number, np.ndarray)):
        return x
    if _is_array(x):
        return x
    if isinstance(x, (list, tuple)):
        return xp_of(like).asarray(x)
    raise TypeError(f"Tensor: unsupported operand of type {type(x).__name__} (expected a Tensor, an array or a number)")


def _unary_bwd(kernel: Callable) -> Callable:
    return lambda g, c, n: (kernel(g, c),)


def _binary(name: str, fwd: Callable, bwd: Callable, a: Any, b: Any) -> Tensor:
    ad = a.data if isinstance(a, Tensor) else _const(a, b.data)
    bd = b.data if isinstance(b, Tensor) else b if type(b) in _SCALARS else _const(b, ad)
    out, cache = fwd(ad, bd)
    return record(name, bwd, out, cache, bwd, (a, b))


def _unary(name: str, fwd: Callable, bwd: Callable, a: Tensor, *args: Any) -> Tensor:
    out, cache = fwd(a.data, *args)
    return record(name, bwd, out, cache, _UNARY[bwd], (a,))


_UNARY: dict[Callable, Callable] = {}
for _k in (ops.exp_backward, ops.log_backward, ops.sqrt_backward, ops.abs_backward, ops.clip_backward,
           ops.neg_backward, ops.sum_backward, ops.mean_backward, ops.reshape_backward, ops.permute_backward,
           ops.getitem_backward, act.tanh_backward, act.sigmoid_backward, act.relu_backward):
    _UNARY[_k] = _unary_bwd(_k)


def _axis_arg(fn: str, dim: Any, axis: Any) -> Any:
    if dim is not None and axis is not None:
        raise TypeError(f"Tensor.{fn}: pass dim or axis, not both")
    return dim if dim is not None else axis


def _index_data(index: Any) -> Any:
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray(index)
    return index


class Tensor:
    """An array with a gradient: ``data`` (the array), ``grad`` (an array once a backward reached it),
    ``requires_grad``, ``is_leaf``, ``grad_fn`` (the node that made it, ``None`` for a leaf).

    Create one with :func:`nnlab.tensor`; parameters are :class:`nnlab.nn.Parameter`.
    """

    __slots__ = ("data", "grad", "requires_grad", "_node", "_index", "__weakref__")
    __array_priority__ = 1000  # ndarray <op> Tensor defers to the Tensor's reflected operator

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        xp = xp_of(data) if _is_array(data) else np
        arr = xp.asarray(data, dtype=dtype)
        check_array("Tensor", "data", arr, numeric=True)
        self.data = arr
        self.grad = None
        self.requires_grad = False
        self._node = None
        self._index = 0
        if requires_grad:
            self.requires_grad_(True)

    # ---- attributes ---------------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> Any:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for a Tensor no recorded operation produced (user-created, or made without grad)."""
        return self._node is None

    @property
    def grad_fn(self) -> Node | None:
        """The node that produced this Tensor (``None`` for a leaf)."""
        return self._node

    @property
    def T(self) -> Tensor:
        """The transpose (all axes reversed)."""
        return self.permute(*reversed(range(self.ndim)))

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` on a leaf (in place, returned). Only floating-point Tensors can require grad."""
        if requires_grad and not np.issubdtype(self.data.dtype, np.floating):
            raise RuntimeError(f"Tensor.requires_grad_: only floating-point tensors can require gradients, "
                               f"got dtype {self.data.dtype}")
        if not requires_grad and self._node is not None:
            raise RuntimeError("Tensor.requires_grad_: a non-leaf tensor cannot stop requiring grad; use .detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """A new leaf sharing this Tensor's data, outside the graph."""
        return _wrap(self.data, False, None, 0)

    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (shared, not copied, on the CPU)."""
        data = self.data
        return data if isinstance(data, np.ndarray) else data.get()

    def item(self) -> Any:
        """The single value of a one-element Tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"Tensor.item: only one-element tensors can be converted to a number, "
                             f"got shape {tuple(self.shape)}")
        return self.data.item()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.numpy()
        return a.astype(dtype) if dtype is not None else a

    def __len__(self) -> int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        return bool(self.item())

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype not in (np.float64, np.int64, np.bool_):
            extra += f", dtype={self.data.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{self._node.name}>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ---- backward -----------------------------------------------------------------------------------------
    def backward(self, gradient: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` (shaped like self) is required unless self has one element. The graph's saved values are
        freed unless ``retain_graph``. Double backward is not supported (``create_graph=True`` raises).
        """
        if create_graph:
            raise NotImplementedError("Tensor.backward: create_graph=True (double backward) is not supported: "
                                      "every backward is a hand-written first-order kernel")
        if not self.requires_grad:
            raise RuntimeError("Tensor.backward: this tensor does not require grad and has no grad_fn "
                               "(was it computed under no_grad(), or from tensors without requires_grad=True?)")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(f"Tensor.backward: grad can be implicitly created only for one-element "
                                   f"outputs; this tensor has shape {tuple(self.shape)}: pass gradient=")
            g = xp_of(self.data).ones_like(self.data)
        else:
            g = as_data(gradient)
            g = xp_of(self.data).asarray(g, dtype=self.data.dtype)
            if g.shape != self.data.shape:
                raise RuntimeError(f"Tensor.backward: gradient has shape {tuple(g.shape)} but the tensor has "
                                   f"shape {tuple(self.shape)}")
        run_backward([self], [g], retain_graph=retain_graph)

    # ---- arithmetic ---------------------------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return _binary("add", ops.add_forward, ops.add_backward, self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _binary("add", ops.add_forward, ops.add_backward, other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _binary("sub", ops.sub_forward, ops.sub_backward, self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _binary("sub", ops.sub_forward, ops.sub_backward, other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _binary("mul", ops.mul_forward, ops.mul_backward, self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _binary("mul", ops.mul_forward, ops.mul_backward, other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _binary("div", ops.div_forward, ops.div_backward, self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _binary("div", ops.div_forward, ops.div_backward, other, self)

    def __pow__(self, other: Any) -> Tensor:
        return _binary("pow", ops.pow_forward, ops.pow_backward, self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return _binary("pow", ops.pow_forward, ops.pow_backward, other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _binary("matmul", ops.matmul_forward, ops.matmul_backward, self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _binary("matmul", ops.matmul_forward, ops.matmul_backward, other, self)

    def __neg__(self) -> Tensor:
        return _unary("neg", ops.neg_forward, ops.neg_backward, self)

    def __pos__(self) -> Tensor:
        return self

    # comparisons: no gradient, a bool Tensor
    def __lt__(self, other: Any) -> Tensor:
        return _wrap(self.data < as_data(other), False, None, 0)

    def __le__(self, other: Any) -> Tensor:
        return _wrap(self.data <= as_data(other), False, None, 0)

    def __gt__(self, other: Any) -> Tensor:
        return _wrap(self.data > as_data(other), False, None, 0)

    def __ge__(self, other: Any) -> Tensor:
        return _wrap(self.data >= as_data(other), False, None, 0)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _wrap(self.data == as_data(other), False, None, 0)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _wrap(self.data != as_data(other), False, None, 0)

    def __getitem__(self, index: Any) -> Tensor:
        return _unary("getitem", ops.getitem_forward, ops.getitem_backward, self, _index_data(index))

    # ---- elementwise functions ----------------------------------------------------------------------------
    def exp(self) -> Tensor:
        """``exp(x)``."""
        return _unary("exp", ops.exp_forward, ops.exp_backward, self)

    def log(self) -> Tensor:
        """Natural logarithm."""
        return _unary("log", ops.log_forward, ops.log_backward, self)

    def sqrt(self) -> Tensor:
        """Square root."""
        return _unary("sqrt", ops.sqrt_forward, ops.sqrt_backward, self)

    def abs(self) -> Tensor:
        """Absolute value (gradient 0 at 0)."""
        return _unary("abs", ops.abs_forward, ops.abs_backward, self)

    def tanh(self) -> Tensor:
        """Hyperbolic tangent (kernel :func:`nnlab.layers.tanh_forward`)."""
        return _unary("tanh", act.tanh_forward, act.tanh_backward, self)

    def sigmoid(self) -> Tensor:
        """Logistic sigmoid (kernel :func:`nnlab.layers.sigmoid_forward`)."""
        return _unary("sigmoid", act.sigmoid_forward, act.sigmoid_backward, self)

    def relu(self) -> Tensor:
        """``max(x, 0)`` (kernel :func:`nnlab.layers.relu_forward`)."""
        return _unary("relu", act.relu_forward, act.relu_backward, self)

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        """Clamp to ``[min, max]``; the gradient passes where the bounds are not active."""
        return _unary("clip", ops.clip_forward, ops.clip_backward, self, min, max)

    clamp = clip

    # ---- reductions ---------------------------------------------------------------------------------------
    def sum(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: bool | None = None) -> Tensor:
        """Sum over ``dim`` (torch) or ``axis`` (NumPy): an int, a tuple, or all axes."""
        keep = keepdim if keepdims is None else keepdims
        return _unary("sum", ops.sum_forward, ops.sum_backward, self, _axis_arg("sum", dim, axis), keep)

    def mean(self, dim: Any = None, keepdim: bool = False, *, axis: Any = None, keepdims: bool | None = None) -> Tensor:
        """Mean over ``dim``/``axis`` (all axes by default)."""
        keep = keepdim if keepdims is None else keepdims
        return _unary("mean", ops.mean_forward, ops.mean_backward, self, _axis_arg("mean", dim, axis), keep)

    # ---- shapes -------------------------------------------------------------------------------------------
    def reshape(self, *shape: Any) -> Tensor:
        """A Tensor of the same data in ``shape`` (one entry may be -1)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _unary("reshape", ops.reshape_forward, ops.reshape_backward, self, shape)

    view = reshape

    def permute(self, *dims: Any) -> Tensor:
        """Reorder the axes (``dims`` a permutation of ``range(ndim)``)."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return _unary("permute", ops.permute_forward, ops.permute_backward, self, dims)

    def transpose(self, dim0: int = -2, dim1: int = -1) -> Tensor:
        """Swap two axes (torch's ``transpose(dim0, dim1)``)."""
        if self.ndim < 2:
            return self.permute(*range(self.ndim))
        dims = list(range(self.ndim))
        try:
            dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
        except IndexError:
            raise ValueError(f"Tensor.transpose: dims ({dim0}, {dim1}) out of range for shape "
                             f"{tuple(self.shape)}") from None
        return self.permute(*dims)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge axes ``start_dim..end_dim`` into one."""
        nd = max(self.ndim, 1)
        s, e = start_dim % nd, end_dim % nd
        shape = self.shape[:s] + (-1,) + self.shape[e + 1:] if self.ndim else (1,)
        return self.reshape(shape)

    def squeeze(self, dim: int | None = None) -> Tensor:
        """Drop axes of length 1 (only ``dim`` if given and of length 1)."""
        if dim is None:
            shape = tuple(n for n in self.shape if n != 1)
        else:
            d = dim % max(self.ndim, 1)
            shape = self.shape if self.shape[d] != 1 else self.shape[:d] + self.shape[d + 1:]
        return self.reshape(shape)

    def unbind(self, dim: int = 0) -> tuple:
        """The slices along ``dim`` as a tuple of Tensors (one node; the backward stacks their gradients,
        with zeros for unused slices) -- e.g. ``q, k, v = qkv.unbind(0)``."""
        out, cache = ops.unbind_forward(self.data, dim)
        return record("unbind", ops.unbind_backward, out, cache, _unbind_bwd, (self,))

    def chunk(self, chunks: int, dim: int = 0) -> tuple:
        """``chunks`` equal pieces along ``dim`` (its length must divide evenly), as torch's ``chunk`` of an
        evenly divisible axis: a reshape and :meth:`unbind`."""
        n = self.shape[dim]
        if not isinstance(chunks, int) or chunks < 1 or n % chunks:
            raise ValueError(f"Tensor.chunk: chunks must be a positive integer dividing dim {dim} of length {n}, "
                             f"got {chunks!r}")
        d = dim % self.ndim
        return self.reshape(self.shape[:d] + (chunks, n // chunks) + self.shape[d + 1:]).unbind(d)

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert an axis of length 1 at ``dim``."""
        d = dim % (self.ndim + 1)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])


def _unbind_bwd(g: tuple, c: int, n: tuple) -> tuple:
    return (ops.unbind_backward(g, c),)


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """A new leaf Tensor from an array, a (nested) list or a number (NumPy's dtype rules; ``dtype`` to force).

    Raises ``RuntimeError`` when ``requires_grad`` is asked of an integer or boolean tensor.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


# ---- functions of several tensors -------------------------------------------------------------------------
def _many(fn: str, tensors: Sequence[Any]) -> list:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"nnlab.{fn}: expected a list or tuple of tensors, got {type(tensors).__name__}")
    return [as_data(t) if isinstance(t, Tensor) else np.asarray(t) for t in tensors]


def cat(tensors: Sequence[Any], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Concatenate along an existing axis (torch's ``cat``; ``axis`` as NumPy)."""
    arrays = _many("cat", tensors)
    ax = dim if axis is None else axis
    try:
        out, cache = ops.cat_forward(arrays, ax)
    except ValueError as e:
        raise ValueError(f"nnlab.cat: cannot concatenate shapes {[tuple(a.shape) for a in arrays]} along "
                         f"dim {ax}: {e}") from None
    return record("cat", ops.cat_backward, out, cache, lambda g, c, n: ops.cat_backward(g, c), tensors)


def stack(tensors: Sequence[Any], dim: int = 0, *, axis: int | None = None) -> Tensor:
    """Join along a new axis (torch's ``stack``)."""
    arrays = _many("stack", tensors)
    out, cache = ops.stack_forward(arrays, dim if axis is None else axis)
    return record("stack", ops.stack_backward, out, cache, lambda g, c, n: ops.stack_backward(g, c), tensors)


def where(condition: Any, input: Any, other: Any) -> Tensor:  # noqa: A002
    """``input`` where ``condition`` else ``other`` (broadcasting; ``condition`` is never differentiated)."""
    check_numeric("where", "condition", condition)
    cond = as_data(condition)
    a = as_data(input)
    b = as_data(other)
    out, cache = ops.where_forward(cond, a, b)
    return record("where", ops.where_backward, out, cache, ops.where_backward, (None, input, other))


def maximum(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise maximum (ties share the gradient, as torch)."""
    check_numeric("maximum", "input", input)
    return _binary("maximum", ops.maximum_forward, ops.maximum_backward, _tensorize(input, other), other)


def minimum(input: Any, other: Any) -> Tensor:  # noqa: A002
    """Elementwise minimum (ties share the gradient, as torch)."""
    check_numeric("minimum", "input", input)
    return _binary("minimum", ops.minimum_forward, ops.minimum_backward, _tensorize(input, other), other)


def _tensorize(a: Any, b: Any) -> Any:
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return a
    return Tensor(a)
