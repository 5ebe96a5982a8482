"""Kept for old imports: ``nnlab.solver_state`` is now :mod:`nnlab.solver.state` (public names re-exported)."""

from __future__ import annotations

from .solver.state import *  # noqa: F403
from .solver.state import __all__  # noqa: F401
