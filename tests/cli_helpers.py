"""One way for the tests to run the real ``nnlab`` command: a fresh Python process, as a user runs it.

:func:`nnlab` replaces the copies the CLI tests used to carry (test_divergence_cli, test_cache_cli,
test_data_errors_cli, test_resume): ``python -m nnlab.cli ARGS`` with the session's environment minus
``NNLAB_DEBUG`` (so a failure is the one line a user sees, not a traceback), plots on Agg, and any ``env``
overrides (a value of None removes the variable).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

__all__ = ["ONE_THREAD", "nnlab", "nnlab_command", "nnlab_env", "require_recipe", "wait_for_checkpoint"]

#: One BLAS / OpenMP thread: runs whose figures are compared bit for bit across processes use it.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def nnlab_env(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The environment of a test ``nnlab`` process.

    Parameters
    ----------
    env : overrides applied last; a value of None removes that variable.

    Returns
    -------
    dict: ``os.environ`` without ``NNLAB_DEBUG``, with ``MPLBACKEND=Agg``, then ``env``.
    """
    out = {k: v for k, v in os.environ.items() if k != "NNLAB_DEBUG"}
    out["MPLBACKEND"] = "Agg"
    for key, value in (env or {}).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = str(value)
    return out


def nnlab_command(*args: str) -> list[str]:
    """The argument vector of ``nnlab ARGS`` run by this interpreter (for ``subprocess.Popen``)."""
    return [sys.executable, "-m", "nnlab.cli", *args]


def nnlab(*args: str, cwd: Path, env: Mapping[str, str | None] | None = None,
          timeout: float = 900) -> subprocess.CompletedProcess:
    """Run ``nnlab ARGS`` in a fresh Python process and wait for it.

    Parameters
    ----------
    args : the command line after ``nnlab``.
    cwd : the working folder (where relative run folders land).
    env : environment overrides (see :func:`nnlab_env`).
    timeout : seconds before ``subprocess.TimeoutExpired``.

    Returns
    -------
    subprocess.CompletedProcess with ``returncode``, ``stdout`` and ``stderr`` as text.
    """
    return subprocess.run(nnlab_command(*args), cwd=cwd, env=nnlab_env(env), capture_output=True, text=True,
                          timeout=timeout)


def require_recipe(name: str) -> None:
    """Fail the calling test (never skip it) when the recipe ``name`` is not registered.

    A test written for a recipe that was removed or renamed must say so, not turn into a skip that nobody reads.

    Raises
    ------
    pytest.fail.Exception naming the recipe and the registered ones.
    """
    import pytest

    from nnlab.recipes import get_recipe, list_recipes

    try:
        get_recipe(name)
    except KeyError:
        pytest.fail(f"recipe {name!r} is not registered (known: {sorted(r.name for r in list_recipes())}); "
                    "update or remove the test that needs it")


def wait_for_checkpoint(proc: subprocess.Popen, out: Path, epochs: int = 1, timeout: float = 300) -> Path:
    """The run folder under ``out`` once its checkpoint holds at least ``epochs`` epochs (a training process
    ``proc`` still running); fails when the process ends first or nothing comes within ``timeout`` seconds."""
    from nnlab.io import load_arrays

    deadline = time.time() + timeout
    while time.time() < deadline:
        for ckpt in out.glob("*/checkpoint_latest.npz"):
            try:
                _, meta = load_arrays(ckpt)
            except (OSError, ValueError):
                continue
            if int(meta.get("epoch", 0)) >= epochs:
                return ckpt.parent
        if proc.poll() is not None:
            raise AssertionError(f"training ended before a checkpoint: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("no checkpoint in time")
