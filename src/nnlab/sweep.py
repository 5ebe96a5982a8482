"""Kept for old imports: a recipe's declared sweep is run by the runner (:func:`nnlab.runner.run_sweep`, chosen by
:func:`nnlab.runner.sweep_grid` inside :func:`nnlab.runner.train`), as a loop of its own ``train`` calls."""

from __future__ import annotations

from .runner import grid_texts, run_sweep, sweep_command

__all__ = ["run_sweep", "sweep_command", "grid_texts"]
