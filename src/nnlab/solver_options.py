"""Kept for old imports: ``nnlab.solver_options`` is now :mod:`nnlab.solver.options` (public names re-exported)."""

from __future__ import annotations

from .solver.options import *  # noqa: F403
from .solver.options import __all__  # noqa: F401
