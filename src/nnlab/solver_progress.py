"""Kept for old imports: ``nnlab.solver_progress`` is now :mod:`nnlab.solver.progress` (public names re-exported)."""

from __future__ import annotations

from .solver.progress import *  # noqa: F403
from .solver.progress import __all__  # noqa: F401
