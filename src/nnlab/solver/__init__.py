"""The training loop and what it needs, one module per concern.

=================  =====================================================================================
``loop``           :class:`Solver`: the CS231n training loop (``Solver(model, data, **kw).train()``)
``options``        the Solver's keyword options: defaults and the checks run before any training
``guard``          :class:`~nnlab.solver.guard.DivergenceRules`: when is a run diverging
``progress``       :class:`~nnlab.solver.progress.ProgressLines`: progress lines without a terminal
``signals``        :class:`~nnlab.solver.signals.DeferredSignals`: Ctrl-C, SIGTERM, SIGHUP end a run cleanly
``state``          the checkpoint format (arrays + JSON, no pickle) from which a run resumes bit-identically
=================  =====================================================================================

``from nnlab.solver import Solver`` is the usual entry. The flat module paths of earlier versions
(``nnlab.solver_state``, ``nnlab.solver_options``, ``nnlab.solver_guard``, ``nnlab.solver_progress``,
``nnlab.solver_signals``) still import: each re-exports its module here.
"""

from __future__ import annotations

from .loop import BATCH_ORDERS, CHECKPOINT_FORMAT, Solver

__all__ = ["Solver", "CHECKPOINT_FORMAT", "BATCH_ORDERS"]
