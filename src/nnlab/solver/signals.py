"""Signals during training: Ctrl-C (SIGINT), SIGTERM and SIGHUP end a Solver run cleanly.

What batch schedulers (Slurm), systemd, docker and Kubernetes send before a kill is SIGTERM; a closed terminal
sends SIGHUP. :class:`DeferredSignals` makes each of them behave like Ctrl-C: the current iteration is finished
first (a second signal interrupts at once), then the Solver writes its checkpoint and raises
``KeyboardInterrupt``; :attr:`DeferredSignals.signum` says which signal it was, so the ``nnlab`` command can exit
with ``128 + signum`` (130, 143, 129) as a shell would.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

__all__ = ["DeferredSignals", "HANDLED_SIGNALS", "signal_name"]

HANDLED_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))


def signal_name(signum: int | None) -> str:
    """``'SIGTERM'`` for 15, ``'KeyboardInterrupt'`` for None (an interrupt raised in code)."""
    return signal.Signals(signum).name if signum else "KeyboardInterrupt"


class DeferredSignals:
    """Install handlers that record the first SIGINT/SIGTERM/SIGHUP (``pending``, ``signum``) and raise
    ``KeyboardInterrupt`` (with a ``signum`` attribute) on the second; :meth:`restore` puts the previous handlers
    back.

    A signal is taken over only from the main thread and only when nobody else handles it: its handler is the
    default one (``default_int_handler`` for SIGINT, ``SIG_DFL`` for the others) or one marked with an attribute
    ``nnlab_signal_handler = True`` (the ``nnlab`` command's, which raises at once outside training).
    """

    def __init__(self) -> None:
        self.pending = False
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> bool:
        """Take over the signals that can be; True when Ctrl-C itself is deferred."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for signum in HANDLED_SIGNALS:
            current = signal.getsignal(signum)
            default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
            if current is default or getattr(current, "nnlab_signal_handler", False):
                signal.signal(signum, self._handler)
                self._previous[signum] = current
        return signal.SIGINT in self._previous

    def _handler(self, signum: int, frame: Any) -> None:
        if self.pending:
            exc = KeyboardInterrupt()
            exc.signum = signum  # type: ignore[attr-defined]
            raise exc
        self.pending, self.signum = True, signum

    def restore(self) -> None:
        """Put the handlers found by :meth:`install` back."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
