"""``Module``: the base class of the object API (torch.nn-like) over the functional kernels.

A module owns named arrays and submodules, registered by attribute assignment as in PyTorch:

- an array assigned to a public attribute (``self.weight = ...``) becomes a **parameter**;
- :meth:`Module.register_buffer` declares a **buffer** (state that is saved but not trained, e.g. batch norm's
  ``running_mean``); later assignments to that name update the buffer;
- a ``Module`` assigned to an attribute becomes a **submodule** (its names are prefixed: ``features.0.weight``).

Attributes whose names start with ``_`` are never registered (a module keeps its cache there).

Two ways to write a module, and both train:

- **hand-written**: ``forward(x)`` on arrays calls kernels and keeps their caches; ``backward(dout)`` calls the
  matching ``*_backward`` kernels (every built-in module);
- **forward only**: ``forward`` in Tensor operations and ``nnlab.functional`` on :class:`Parameter` attributes;
  the tape (:mod:`nnlab.autograd`) differentiates it.

Every module works on arrays (the explicit ``forward``/``backward`` contract the Solver and ``Classifier`` use)
and on Tensors (one node on the tape per call of a built-in module; see :mod:`nnlab.nn.tape`). Inside a forward
written on Tensors, a built-in submodule's parameter is reached as a Tensor with :meth:`Module.param`
(``self.embed.param("weight")``); ``self.embed.weight`` is its array, which the tape treats as a constant.

``forward(x)`` computes the output and keeps in the module whatever the backward needs (the kernel's cache);
``backward(dout)`` returns ``dx`` and stores the parameter gradients, read back through :attr:`Module.grads`
under the same dotted names as :meth:`Module.named_parameters`. Backward **overwrites** the gradients of the
previous call (it does not accumulate as torch does); a backward undoes the most recent forward of that module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..autograd import Tensor
from ..backend import xp_of
from .parameter import BoundParameter, Parameter
from .tape import backward_arrays, forward_arrays, is_forward_only, tape_call

__all__ = ["Module", "IncompatibleKeys", "is_array"]


def _array(value: Any) -> Any:
    """The array of a registry entry (a Parameter's data, or the array itself)."""
    return value.data if isinstance(value, Tensor) else value


def is_array(value: Any) -> bool:
    """True for NumPy and CuPy arrays (the values a module registers as parameters or buffers)."""
    return isinstance(value, np.ndarray) or (type(value).__module__.startswith("cupy") and hasattr(value, "shape"))


class IncompatibleKeys(NamedTuple):
    """Keys reported by :meth:`Module.load_state_dict` (as torch's ``_IncompatibleKeys``)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _indent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    return "\n".join([lines[0]] + [" " * spaces + line for line in lines[1:]])


class Module:
    """Base class: parameters, buffers and submodules by attribute assignment; train/eval; state dicts.

    Subclasses implement ``forward(x) -> out`` and ``backward(dout) -> dx`` (storing parameter gradients with
    :meth:`_set_grad`) and may override :meth:`extra_repr` for the text inside ``Name(...)``.
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_grads", {})
        object.__setattr__(self, "_param_views", {})
        object.__setattr__(self, "training", True)

    # ---- registration -------------------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call Module.__init__() before assigning attributes")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Module):
            params.pop(name, None)
            buffers.pop(name, None)
            self.__dict__.pop(name, None)
            modules[name] = value
        elif isinstance(value, Parameter) and not isinstance(value, BoundParameter):
            buffers.pop(name, None)
            modules.pop(name, None)
            self.__dict__.pop(name, None)
            params[name] = value
            self._param_views.pop(name, None)
            self._grads.pop(name, None)
        elif name in buffers:
            buffers[name] = value
        elif name in params:
            if isinstance(value, BoundParameter):
                value = value.data
            current = params[name]
            if isinstance(current, Parameter) and is_array(value):
                current.data = value  # a Solver step or load_state_dict: the Parameter keeps its identity
                self._grads.pop(name, None)
            elif value is None or is_array(value):
                params[name] = value
                if value is None:
                    self._param_views.pop(name, None)
                self._grads.pop(name, None)
            else:
                raise TypeError(f"{type(self).__name__}: parameter {name!r} must be an array or None, "
                                f"got {type(value).__name__}")
        elif name in modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: submodule {name!r} must be a Module or None, "
                                f"got {type(value).__name__}")
            modules[name] = None
        elif is_array(value) and not name.startswith("_"):
            self.__dict__.pop(name, None)
            params[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:
        # Only called when normal lookup fails: parameters, buffers and submodules live in the registries.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            if registry in d and name in d[registry]:
                return d[registry][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameters, self._buffers, self._modules):
            if name in registry:
                del registry[name]
                self._grads.pop(name, None)
                return
        object.__delattr__(self, name)

    def register_parameter(self, name: str, value: Any) -> None:
        """Register ``value`` (an array, a :class:`Parameter`, or None for an absent optional parameter) as
        parameter ``name``."""
        if value is not None and not is_array(value) and not isinstance(value, Parameter):
            raise TypeError(f"register_parameter: {name!r} must be an array or None, got {type(value).__name__}")
        self._buffers.pop(name, None)
        self._parameters[name] = value

    def register_buffer(self, name: str, value: Any) -> None:
        """Register ``value`` (an array or None) as buffer ``name``: saved in the state dict, never trained."""
        if value is not None and not is_array(value):
            raise TypeError(f"register_buffer: {name!r} must be an array or None, got {type(value).__name__}")
        self._parameters.pop(name, None)
        self._buffers[name] = value

    def _set_grad(self, name: str, grad: Any) -> None:
        """Store the gradient of parameter ``name`` (called by ``backward``)."""
        self._grads[name] = grad

    # ---- traversal ----------------------------------------------------------------------------------------
    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The direct submodules with their attribute names."""
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self) -> Iterator[Module]:
        """The direct submodules."""
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (name ``prefix``) and every descendant with its dotted name, depth first."""
        yield prefix, self
        for name, module in self.named_children():
            yield from module.named_modules(f"{prefix}.{name}" if prefix else name)

    def modules(self) -> Iterator[Module]:
        """This module and every descendant."""
        for _, module in self.named_modules():
            yield module

    def named_parameters(self) -> Iterator[tuple[str, Any]]:
        """``(dotted name, array)`` for every parameter, in registration order (as torch); a
        :class:`Parameter` shared by several modules is listed once. See :meth:`named_parameter_tensors` for
        the parameters as Tensors (what optimizer objects take)."""
        for name, value in self._named_entries():
            yield name, _array(value)

    def _named_entries(self) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        for prefix, module in self.named_modules():
            for name, value in module._parameters.items():
                if value is None:
                    continue
                if isinstance(value, Parameter):
                    if id(value) in seen:
                        continue
                    seen.add(id(value))
                yield (f"{prefix}.{name}" if prefix else name), value

    def param(self, name: str) -> Parameter:
        """Parameter ``name`` (dotted for a submodule's) as a Tensor that the tape differentiates: the
        :class:`Parameter` itself, or a live view of an array parameter (``.data`` is the module's array)."""
        module, leaf = self._owner_of(name)
        value = module._parameters.get(leaf)
        if value is None:
            raise KeyError(f"{type(self).__name__}.param: no parameter {name!r}; parameters: "
                           f"{[n for n, _ in self.named_parameters()]}")
        if isinstance(value, Parameter):
            return value
        view = module._param_views.get(leaf)
        if view is None:
            view = module._param_views[leaf] = BoundParameter(module, leaf)
        return view

    def named_parameter_tensors(self) -> Iterator[tuple[str, Parameter]]:
        """``(dotted name, Parameter)`` for every parameter (array parameters as live views): the tape
        accumulates into their ``.grad`` and optimizer objects update them, as torch's ``named_parameters``."""
        for name, _ in self._named_entries():
            yield name, self.param(name)

    def parameter_tensors(self) -> list[Parameter]:
        """Every parameter as a Tensor: ``nnlab.optim.SGD(model.parameter_tensors(), lr=0.1)``."""
        return [p for _, p in self.named_parameter_tensors()]

    def parameters(self) -> Iterator[Any]:
        """Every parameter array."""
        for _, value in self.named_parameters():
            yield value

    def named_buffers(self) -> Iterator[tuple[str, Any]]:
        """``(dotted name, array)`` for every buffer."""
        for prefix, module in self.named_modules():
            for name, value in module._buffers.items():
                if value is not None:
                    yield (f"{prefix}.{name}" if prefix else name), value

    def buffers(self) -> Iterator[Any]:
        """Every buffer array."""
        for _, value in self.named_buffers():
            yield value

    def _owner_of(self, dotted: str) -> tuple[Module, str]:
        """The module that owns the parameter/buffer ``dotted`` and its local name."""
        *path, leaf = dotted.split(".")
        module: Module = self
        for part in path:
            child = module._modules.get(part)
            if child is None:
                raise KeyError(dotted)
            module = child
        return module, leaf

    @property
    def grads(self) -> dict[str, Any]:
        """Gradients of the last backward, keyed like :meth:`named_parameters` (only those computed)."""
        out = {}
        for prefix, module in self.named_modules():
            for name, grad in module._grads.items():
                if module._parameters.get(name) is not None:
                    out[f"{prefix}.{name}" if prefix else name] = grad
        return out

    def zero_grad(self) -> None:
        """Set every parameter's gradient to zeros of its shape and dtype (``.grads``), and the tape's
        gradients (``.grad`` of :meth:`parameter_tensors`) to None, as torch's ``set_to_none``."""
        for module in self.modules():
            for name, value in module._parameters.items():
                if value is not None:
                    arr = _array(value)
                    module._grads[name] = xp_of(arr).zeros_like(arr)
                    if isinstance(value, Parameter):
                        value.grad = None
            for view in module._param_views.values():
                view.grad = None

    # ---- modes --------------------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``True``) or evaluation mode (``False``) on this module and every descendant."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Evaluation mode: dropout is the identity and batch norm uses its running statistics."""
        return self.train(False)

    # ---- computation --------------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation. Override it: on arrays with kernels (and write :meth:`backward` too), or on
        Tensors only (the tape gives the backward)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward")

    def backward(self, dout: Any) -> Any:
        """``dx`` from ``dout`` for the last call on arrays; parameter gradients go to :attr:`grads`.

        A module that defines only ``forward`` gets this from the tape (its forward on arrays was recorded).
        """
        if is_forward_only(self) and type(self).forward is not Module.forward:
            return backward_arrays(self, dout)
        raise NotImplementedError(f"{type(self).__name__} does not implement backward")

    backward._base_backward = True  # type: ignore[attr-defined]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """``forward``, on arrays or on Tensors (see the module docstring)."""
        tensors = any(isinstance(a, Tensor) for a in args)
        if is_forward_only(self):
            if tensors or type(self).forward is Module.forward:
                return self.forward(*args, **kwargs)
            return forward_arrays(self, args, kwargs)
        if tensors:
            return tape_call(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # ---- state --------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Copies of every parameter and buffer, keyed by dotted name (each module: parameters, then buffers,
        then its children, as torch's ``state_dict``), so the keys map 1:1 onto the torch twin's."""
        out: dict[str, Any] = {}
        for prefix, module in self.named_modules():
            for registry in (module._parameters, module._buffers):
                for name, value in registry.items():
                    if value is not None:
                        out[f"{prefix}.{name}" if prefix else name] = _array(value).copy()
        return out

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` into this module's parameters and buffers (cast to their dtypes).

        Raises ``ValueError`` on a shape mismatch, and with ``strict`` on missing or unexpected keys (naming
        them). Returns ``IncompatibleKeys(missing_keys, unexpected_keys)``. Accepts NumPy arrays or anything
        ``np.asarray`` converts (e.g. CPU torch tensors).
        """
        fn = f"{type(self).__name__}.load_state_dict"
        if not hasattr(state_dict, "keys"):
            raise TypeError(f"{fn}: state_dict must be a mapping of name -> array, got {type(state_dict).__name__}")
        own = self.state_dict_keys()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise ValueError(f"{fn}: missing keys {missing}, unexpected keys {unexpected}")
        mismatched = []
        for key in own:
            if key in state_dict:
                module, leaf = self._owner_of(key)
                current = _array(getattr(module, leaf))
                value = _as_array_like(state_dict[key], current)
                if tuple(value.shape) != tuple(current.shape):
                    mismatched.append(f"{key}: checkpoint {tuple(value.shape)} vs model {tuple(current.shape)}")
        if mismatched:
            raise ValueError(f"{fn}: shape mismatch for " + "; ".join(mismatched))
        for key in own:
            if key in state_dict:
                module, leaf = self._owner_of(key)
                setattr(module, leaf, _as_array_like(state_dict[key], _array(getattr(module, leaf))).copy())
        return IncompatibleKeys(missing, unexpected)

    def state_dict_keys(self) -> list[str]:
        """The keys :meth:`state_dict` would return, without copying anything."""
        keys = []
        for prefix, module in self.named_modules():
            for registry in (module._parameters, module._buffers):
                keys += [f"{prefix}.{n}" if prefix else n for n, v in registry.items() if v is not None]
        return keys

    def save(self, path: str | Path) -> Path:
        """Write :meth:`state_dict` to ``path`` (``.npz`` without pickle, or ``.safetensors``) atomically."""
        from ..backend import to_numpy
        from ..io import save_arrays

        arrays = {k: to_numpy(v) for k, v in self.state_dict().items()}
        return save_arrays(path, arrays, metadata={"module": type(self).__name__})

    def load(self, path: str | Path, strict: bool = True) -> IncompatibleKeys:
        """Load weights written by :meth:`save` (or any ``.npz``/``.safetensors`` with matching names)."""
        from ..io import load_arrays

        arrays, _ = load_arrays(path)
        return self.load_state_dict(arrays, strict=strict)

    def to(self, dtype: Any) -> Module:
        """Cast every floating-point parameter, gradient and buffer to ``dtype`` (in this module, returned)."""
        dtype = np.dtype(dtype)
        if not np.issubdtype(dtype, np.floating):
            raise TypeError(f"{type(self).__name__}.to: dtype must be a floating-point type, got {dtype}")
        for module in self.modules():
            for registry in (module._parameters, module._buffers, module._grads):
                for name, value in registry.items():
                    if isinstance(value, Parameter):
                        value.data = value.data.astype(dtype, copy=False)
                        value.grad = None
                    elif value is not None and np.issubdtype(value.dtype, np.floating):
                        registry[name] = value.astype(dtype, copy=False)
        return self

    def astype(self, dtype: Any) -> Module:
        """Alias of :meth:`to`."""
        return self.to(dtype)

    # ---- repr ---------------------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """Text shown inside ``Name(...)``: the constructor arguments, as torch prints them."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): {_indent(repr(m), 2)}" for name, m in self._modules.items()]
        text = type(self).__name__ + "("
        if len(lines) == 1 and not child_lines:
            text += lines[0]
        elif lines or child_lines:
            text += "\n  " + "\n  ".join(lines + child_lines) + "\n"
        return text + ")"


def _as_array_like(value: Any, like: Any) -> Any:
    """``value`` as an array in ``like``'s namespace and dtype (torch tensors are detached first)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    xp = xp_of(like)
    return xp.asarray(value, dtype=like.dtype)
