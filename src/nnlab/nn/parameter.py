"""``Parameter``: a Tensor that a module trains (``requires_grad=True``), and the tape's view of a module's
array parameters.

Assigning a ``Parameter`` to a module attribute registers it, as in torch; a module written with only
``forward`` uses it in Tensor operations and trains. The built-in modules keep their parameters as arrays (their
hand-written ``forward``/``backward`` work on arrays); :meth:`nnlab.nn.Module.parameter_tensors` gives one
``Parameter`` per array parameter, a live view of the module's array (``.data`` reads and writes it), so that an
optimizer object or the tape sees every parameter of a model the same way.
"""

from __future__ import annotations

from typing import Any

from ..autograd import Tensor
from ..validation import check_numeric

__all__ = ["Parameter", "BoundParameter"]


class Parameter(Tensor):
    """A Tensor with ``requires_grad=True`` that a module registers as a parameter when assigned to it.

    >>> self.scale = nnlab.nn.Parameter(np.ones(8, dtype=np.float32))
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True) -> None:
        check_numeric("Parameter", "data", data)
        super().__init__(data, requires_grad=requires_grad)
        if not hasattr(self.data, "ndim"):
            raise TypeError(f"Parameter: data must be an array, got {type(data).__name__}")

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class BoundParameter(Parameter):
    """The tape's view of a module's array parameter ``name``: ``.data`` is the module's current array (the
    Solver and ``load_state_dict`` may replace it), writing ``.data`` replaces it in the module."""

    __slots__ = ("_owner", "_pname")

    def __init__(self, owner: Any, name: str) -> None:  # noqa: D107 - set the slots first: .data reads them
        if not hasattr(owner, "_parameters") or not isinstance(name, str):
            raise TypeError(f"BoundParameter: owner must be a Module and name one of its parameters, got "
                            f"owner={type(owner).__name__}, name={name!r}")
        self._owner = owner
        self._pname = name
        self.grad = None
        self.requires_grad = True
        self._node = None
        self._index = 0

    @property  # type: ignore[override]
    def data(self) -> Any:
        return self._owner._parameters[self._pname]

    @data.setter
    def data(self, value: Any) -> None:
        setattr(self._owner, self._pname, value)
