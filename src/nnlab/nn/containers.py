"""Containers: ``Sequential`` (a chain of modules), ``Add`` (the sum of parallel branches) and ``Residual``
(``main(x) + shortcut(x)``), so non-sequential graphs are written without hand-wiring a backward.

Each container's ``backward(dout)`` calls its children's ``backward`` (each child stores its own parameter
gradients) and returns ``dx``: in reverse order along a chain, and summed over branches that read the same input
(the chain rule for a fan-out: ``dL/dx = sum_k dL/dx through branch k``)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from .module import Module

__all__ = ["Sequential", "Add", "Residual"]


class Sequential(Module):
    """Modules applied in order (torch.nn.Sequential).

    ``Sequential(m0, m1, ...)`` names the children ``"0"``, ``"1"``, ...; ``Sequential(OrderedDict(...))`` (or a
    plain dict) uses the given names, e.g. ``feature_extractor``/``classifier``. Supports ``len``, iteration,
    indexing by position (a slice gives a new ``Sequential`` sharing the modules) and by name, and ``append``.

    ``forward(x)`` = ``m_k(...m_1(m_0(x)))``; ``backward(dout)`` calls each child's ``backward`` in reverse
    order and returns ``dx``; each child stores its own parameter gradients.
    """

    def __init__(self, *modules: Module | dict[str, Module]) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], dict):
            items = list(modules[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(modules)]
        for name, module in items:
            self._add(str(name), module)

    def _add(self, name: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"Sequential: element {name!r} must be a Module, got {type(module).__name__}")
        if "." in name or not name:
            raise ValueError(f"Sequential: child name must be non-empty and contain no '.', got {name!r}")
        setattr(self, name, module)

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end (named by its position) and return ``self``."""
        self._add(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int | slice | str) -> Any:
        if isinstance(index, str):
            return self._modules[index]
        items = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(items[index]))
        n = len(items)
        if not -n <= index < n:
            raise IndexError(f"Sequential: index {index} is out of range for {n} modules")
        return items[index % n][1]

    def forward(self, x: Any) -> Any:
        for module in self._modules.values():
            x = module(x)
        return x

    def backward(self, dout: Any) -> Any:
        for module in reversed(list(self._modules.values())):
            dout = module.backward(dout)
        return dout


def _sum_input_grads(fn: str, grads: list[Any]) -> Any:
    """The sum of the branches' input gradients; a branch that returns None (no input gradient) adds nothing."""
    present = [g for g in grads if g is not None]
    if len({tuple(g.shape) for g in present}) > 1:
        raise ValueError(f"{fn}: branch input gradients have shapes {[tuple(g.shape) for g in present]}")
    return _sum(present) if present else None


def _sum(arrays: list[Any]) -> Any:
    """``a0 + a1 + ...`` into one new array (never written into an input: a branch may return a view of dout)."""
    if len(arrays) == 1:
        return arrays[0]
    total = arrays[0] + arrays[1]
    for a in arrays[2:]:
        total += a
    return total


def _check_same_outputs(fn: str, names: list[str], outputs: list[Any]) -> None:
    shapes = [tuple(o.shape) for o in outputs]
    if len(set(shapes)) > 1:
        listed = ", ".join(f"{n} -> {s}" for n, s in zip(names, shapes))
        raise ValueError(f"{fn}: the branches' outputs must have one shape to be added, got {listed}")


class Add(Module):
    """The sum of parallel branches applied to the same input: ``out = sum_k branch_k(x)``.

    ``Add(b0, b1, ...)`` names the branches ``"0"``, ``"1"``, ...; ``Add({"name": module, ...})`` uses the given
    names. Every branch must map x to outputs of one shape (``nn.Identity()`` is the identity branch).
    ``backward(dout)`` passes ``dout`` to every branch (the gradient of a sum) and returns the sum of their input
    gradients, ``dx = sum_k dbranch_k/dx^T dout``.
    """

    def __init__(self, *branches: Module | dict[str, Module]) -> None:
        super().__init__()
        if len(branches) == 1 and isinstance(branches[0], dict):
            items = list(branches[0].items())
        else:
            items = [(str(i), m) for i, m in enumerate(branches)]
        if not items:
            raise ValueError("Add: needs at least one branch")
        for name, module in items:
            if not isinstance(module, Module):
                raise TypeError(f"Add: branch {name!r} must be a Module, got {type(module).__name__}")
            if "." in str(name) or not str(name):
                raise ValueError(f"Add: branch name must be non-empty and contain no '.', got {name!r}")
            setattr(self, str(name), module)

    def forward(self, x: Any) -> Any:
        names = list(self._modules)
        outputs = [self._modules[n](x) for n in names]
        _check_same_outputs("Add.forward", names, outputs)
        return _sum(outputs)

    def backward(self, dout: Any) -> Any:
        return _sum_input_grads("Add.backward", [m.backward(dout) for m in self._modules.values()])


class Residual(Module):
    """A residual connection: ``out = main(x) + shortcut(x)``, the shortcut being the identity when None.

    Children: ``main`` and, when given, ``shortcut`` (e.g. a 1x1 ``Conv2d`` + ``BatchNorm2d`` when the main path
    changes the stride or the channels). ``backward(dout)`` runs both paths' backward on ``dout`` and returns
    ``dx = dmain/dx^T dout + dshortcut/dx^T dout`` (``+ dout`` for the identity). An activation after the add
    (as in ResNet's blocks) goes after it in a ``Sequential``: ``Sequential(Residual(main, shortcut), ReLU())``.
    """

    def __init__(self, main: Module, shortcut: Module | None = None) -> None:
        super().__init__()
        if not isinstance(main, Module):
            raise TypeError(f"Residual: main must be a Module, got {type(main).__name__}")
        if shortcut is not None and not isinstance(shortcut, Module):
            raise TypeError(f"Residual: shortcut must be a Module or None (identity), got {type(shortcut).__name__}")
        self.main = main
        if shortcut is not None:
            self.shortcut = shortcut

    def forward(self, x: Any) -> Any:
        y = self.main(x)
        s = self._modules["shortcut"](x) if "shortcut" in self._modules else x
        _check_same_outputs("Residual.forward", ["main", "shortcut"], [y, s])
        return y + s

    def backward(self, dout: Any) -> Any:
        dx = self.main.backward(dout)
        ds = self._modules["shortcut"].backward(dout) if "shortcut" in self._modules else dout
        return _sum_input_grads("Residual.backward", [dx, ds])
