"""``ParameterView``: a live, mutable ``dict``-like view of a module's parameters under their dotted names.

It gives an :class:`nnlab.nn.Module` the CS231n ``model.params`` contract (used by
:class:`nnlab.models.Classifier` and the character models): the Solver reads and replaces arrays through it.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from ..autograd import Tensor
from ..validation import check_array
from .module import Module

__all__ = ["ParameterView", "ParamsAttribute"]


class ParameterView(MutableMapping):
    """A live ``dict``-like view of a module's parameters under their dotted names.

    Reading returns the module's array (no copy); ``view[k] = w`` replaces parameter ``k`` in its module (the
    shape must match). Keys cannot be added or deleted.
    """

    def __init__(self, module: Module, name: str = "params") -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ParameterView: module must be a Module, got {type(module).__name__}")
        self._module = module
        self._name = name  # how errors name the view, e.g. "Classifier.params"

    def _keys(self) -> list[str]:
        return [name for name, _ in self._module.named_parameters()]

    def __getitem__(self, key: str) -> Any:
        try:
            owner, leaf = self._module._owner_of(key)
            value = owner._parameters[leaf]
        except KeyError:
            raise KeyError(key) from None
        if value is None:
            raise KeyError(key)
        return value.data if isinstance(value, Tensor) else value

    def __setitem__(self, key: str, value: Any) -> None:
        current = self[key]
        check_array(self._name, key, value)
        if tuple(value.shape) != tuple(current.shape):
            raise ValueError(f"{self._name}: {key} must have shape {tuple(current.shape)}, "
                             f"got {tuple(value.shape)}")
        owner, leaf = self._module._owner_of(key)
        setattr(owner, leaf, value)

    def __delitem__(self, key: str) -> None:
        raise TypeError(f"{self._name}: parameters cannot be deleted")

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    def __repr__(self) -> str:
        return "ParameterView({" + ", ".join(f"{k!r}: {tuple(v.shape)}" for k, v in self.items()) + "})"


class ParamsAttribute:
    """Class attribute giving a module the ``model.params`` contract through its :class:`ParameterView` (kept in
    the instance's ``_params``): reading returns the view, ``model.params = {...}`` writes every given entry
    (the Solver restoring its best parameters). Use as ``params = ParamsAttribute()`` in the class body."""

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else obj._params

    def __set__(self, obj: Any, values: Any) -> None:
        for k, v in values.items():
            obj._params[k] = v
