"""Train a recipe from Python as ``nnlab train`` does: ``nnlab.train(recipe, **settings) -> Run``.

The Python counterpart of the command line (Keras' ``fit``, Lightning's ``Trainer.fit``)::

    import nnlab

    run = nnlab.train("digits-mlp", num_epochs=3)       # = nnlab train digits-mlp --set num_epochs=3
    run.evaluate("test")                                # {'test_acc': ...}, the figure the CLI prints
    run.path, run.status, run.metrics                   # the run folder, 'finished', metrics.json

It goes through the same two steps as the CLI (:func:`nnlab.runner.prepare` for the typed, checked settings,
then :func:`nnlab.runner.train`, which sweeps the recipe's grid exactly when the CLI's run does) and returns what
:func:`nnlab.load_run` returns for the run folder, so a run trained here and one trained by the CLI with the
same settings give the same figures. This module sits at the top of the layering, beside ``cli``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .runs import Run, load_run

__all__ = ["train"]


def train(recipe: str, *, quick: bool = False, out: str | Path = "runs", progress: bool | None = False,
          callbacks: Sequence[Any] = (), threads: int | None = None, **settings: Any) -> Run:
    """Run recipe ``recipe`` with ``settings`` into a new run folder under ``out`` and load it back.

    Parameters
    ----------
    recipe : a recipe name (``nnlab train --list``), e.g. ``"digits-mlp"``.
    quick : the recipe's quick settings first (``--quick``), then ``settings``.
    out : the folder that receives the run folder (``--out``; default ``runs``).
    progress : progress bars (False by default here; None = when stderr is a terminal, as the CLI).
    callbacks : extra Solver callbacks (:class:`nnlab.callbacks.Callback`); not used by a sweep.
    threads : ``nnlab.set_num_threads(threads)`` first (``--threads``); None keeps the thread policy as it is,
        deciding it (``NNLAB_NUM_THREADS`` or the cores, BLAS at one thread) if nothing has yet, as the CLI does.
        Figures do not depend on the count, but they do on BLAS running under the policy.
    **settings : the recipe's settings by name with Python values (``num_epochs=3``, ``learning_rate=1e-3``),
        parsed and range-checked as ``--set NAME=VALUE`` is. A recipe with a sweep sweeps (as the CLI) unless
        one of its swept settings is given or ``sweep=False``.

    Returns
    -------
    Run : :func:`nnlab.load_run` of the run folder: ``run.path``, ``run.status`` ('finished', or 'diverged' with
        the last good weights kept), ``run.metrics``, ``run.model``, ``run.evaluate(split)``, ``run.predict(X)``.

    Raises
    ------
    KeyError : an unknown recipe (the message lists the known ones).
    nnlab.recipes.contract.SettingError : an unknown setting or a value out of its range (nothing is written).
    nnlab.runs.RunError : after training, for a recipe whose run holds no single reloadable model (a study of
        several variants: load one of them, the message names it; a kernel-method analysis).
    """
    from . import runner
    from .threads import get_num_threads, set_num_threads

    if not isinstance(recipe, str) or not recipe:
        raise TypeError(f"nnlab.train: recipe must be a recipe name (str), got {recipe!r}")
    recipe_obj, cfg = runner.prepare(recipe, settings, quick=quick)
    if threads is not None:
        set_num_threads(threads)
    else:
        get_num_threads()  # the policy's first decision sets BLAS to its one thread (OpenBLAS's own split
        # changes the last bits of a GEMM with its thread count: the CLI's figures are at one BLAS thread)
    # given: the runner sweeps the recipe's grid by the CLI's rule (unless a swept setting is given or sweep=False)
    outcome = runner.train(recipe_obj, cfg, quick=quick, out=out, progress=progress, callbacks=callbacks,
                           given=set(settings))
    return load_run(outcome.run_dir)
