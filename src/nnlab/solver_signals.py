"""Kept for old imports: ``nnlab.solver_signals`` is now :mod:`nnlab.solver.signals` (public names re-exported)."""

from __future__ import annotations

from .solver.signals import *  # noqa: F403
from .solver.signals import __all__  # noqa: F401
