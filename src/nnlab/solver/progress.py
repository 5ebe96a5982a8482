"""Progress without a terminal: what a Solver prints when stderr is a file or a pipe (a batch job's log).

A terminal gets tqdm's bar. Without one, a bar would write nothing readable until the end, so
:class:`ProgressLines` writes plain lines on stdout instead, as Keras' ``fit(verbose=2)`` does (stderr stays for
errors: a failed run's log ends with one line there that names the cause): one per epoch
(loss, train and validation accuracy, time, ETA) and, inside a long epoch, one at least every ``every_s``
seconds (30 by default) so that a log never goes quiet for longer.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["ProgressLines", "format_seconds"]


def format_seconds(seconds: float) -> str:
    """``'4.2s'``, ``'42s'``, ``'3m05s'`` or ``'1h02m'``."""
    if seconds < 9.95:
        return f"{max(seconds, 0.0):.1f}s"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


class ProgressLines:
    """Plain progress lines for a Solver run from iteration ``start`` to ``total`` (see the module docstring).

    Parameters
    ----------
    start, total : the first iteration of this session and the run's number of iterations.
    num_epochs, iterations_per_epoch : to name epochs and iterations within them.
    every_s : the longest silence inside an epoch, in seconds.
    stream : where lines go (default ``sys.stdout``, flushed after each line).
    """

    def __init__(self, start: int, total: int, num_epochs: int, iterations_per_epoch: int, every_s: float = 30.0,
                 stream: TextIO | None = None) -> None:
        self.start, self.total = int(start), int(total)
        self.num_epochs, self.per_epoch = int(num_epochs), max(int(iterations_per_epoch), 1)
        self.every_s = float(every_s)
        self.stream = stream
        self.t0 = self.last = time.monotonic()
        self.epoch_t0 = self.t0

    def _eta(self, done: int) -> str:
        ran = done - self.start
        if ran <= 0:
            return "?"
        return format_seconds((time.monotonic() - self.t0) / ran * (self.total - done))

    def _write(self, text: str) -> None:
        stream = self.stream if self.stream is not None else sys.stdout
        print(text, file=stream, flush=True)
        self.last = time.monotonic()

    def iteration(self, t: int, loss: float) -> None:
        """After iteration ``t`` (0-based) with loss ``loss``: a line when ``every_s`` passed without one."""
        if time.monotonic() - self.last < self.every_s:
            return
        epoch = t // self.per_epoch + 1
        within = t % self.per_epoch + 1
        self._write(f"epoch {epoch}/{self.num_epochs}: iteration {within}/{self.per_epoch}, loss {loss:.4f}, "
                    f"{format_seconds(time.monotonic() - self.epoch_t0)} into the epoch, ETA {self._eta(t + 1)}")

    def epoch(self, solver: Any) -> None:
        """At an epoch end: the epoch's line (mean loss over the epoch, accuracies, time, ETA)."""
        losses = solver.loss_history[-self.per_epoch:]
        loss = sum(losses) / len(losses) if losses else float("nan")
        train_acc = solver.train_acc_history[-1] if solver.train_acc_history else float("nan")
        val_acc = solver.val_acc_history[-1] if solver.val_acc_history else float("nan")
        now = time.monotonic()
        self._write(f"epoch {solver.epoch}/{self.num_epochs}: loss {loss:.4f}, train acc {train_acc:.4f}, "
                    f"val acc {val_acc:.4f}, {format_seconds(now - self.epoch_t0)}, ETA {self._eta(solver.iteration)}")
        self.epoch_t0 = now
