"""Kept for old imports: ``nnlab.solver_guard`` is now :mod:`nnlab.solver.guard` (public names re-exported)."""

from __future__ import annotations

from .solver.guard import *  # noqa: F403
from .solver.guard import __all__  # noqa: F401
