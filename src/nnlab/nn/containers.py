"""``Sequential``: a chain of modules; forward runs them in order, backward in reverse."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from .module import Module

__all__ = ["Sequential"]


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
