"""Cost of TensorBoard logging on a training epoch: the digits-mlp recipe's network (FullyConnectedNet [256, 128],
batch norm, dropout 0.1, Adam, batch 64) trained through the Solver with and without ``TensorBoardLogger``
(per-iteration loss and learning rate, per-epoch accuracies and weight histograms, hparams at the end).

Samples are interleaved (plain, logged, plain, logged, ...; the order flips every pair) so that a change in the
machine's load hits both alike; each sample trains ``--epochs`` epochs from the same initial weights, and the
logged sample includes opening and closing the event file. Prints the median epoch time of each and the median
of the per-pair ratios as the overhead in percent (target: at most 2 %), the time spent inside the logger's
hooks per epoch during training, and the same hooks timed alone on the same parameters (the logger's own cost,
which the noise of a loaded machine does not blur).

Run: ``python benchmarks/bench_tracking.py [--pairs 9] [--epochs 3] [--mlflow]`` (``--mlflow`` also measures
``MLflowLogger`` on a SQLite file).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import blas_threads  # noqa: E402

from nnlab.data import load_digits  # noqa: E402
from nnlab.models import FullyConnectedNet  # noqa: E402
from nnlab.solver import Solver  # noqa: E402

SETTINGS = {"hidden_dims": [256, 128], "normalization": "batchnorm", "dropout": 0.1, "reg": 1e-4,
            "weight_scale": 0.1, "update_rule": "adam", "learning_rate": 2e-3, "lr_decay": 0.95, "batch_size": 64}


def train_once(data: dict, epochs: int, callbacks: list) -> float:
    """Seconds per epoch of one Solver run (model built outside the timed region)."""
    np.random.seed(0)
    model = FullyConnectedNet(SETTINGS["hidden_dims"], input_dim=64, num_classes=10,
                              normalization=SETTINGS["normalization"], dropout=SETTINGS["dropout"],
                              reg=SETTINGS["reg"], weight_scale=SETTINGS["weight_scale"], dtype=np.float32)
    solver = Solver(model, data, update_rule="adam", optim_config={"learning_rate": SETTINGS["learning_rate"]},
                    lr_decay=SETTINGS["lr_decay"], batch_size=SETTINGS["batch_size"], num_epochs=epochs,
                    num_train_samples=None, verbose=False, progress=False, seed=0, callbacks=callbacks)
    start = time.perf_counter()
    solver.train()
    return (time.perf_counter() - start) / epochs


class Timed:
    """Wrap a callback and add up the wall time spent in its hooks (the logger's own cost, independent of the
    noise in the training step's time)."""

    HOOKS = ("on_train_begin", "on_iteration_end", "on_epoch_end", "on_train_end")

    def __init__(self, callback) -> None:
        self.callback = callback
        self.seconds = dict.fromkeys(self.HOOKS, 0.0)
        self.epochs: list[float] = []  # seconds in the per-iteration and per-epoch hooks, epoch by epoch
        self._this_epoch = 0.0
        for hook in self.HOOKS:
            setattr(self, hook, self._wrap(hook, getattr(callback, hook)))

    def _wrap(self, hook, fn):
        def timed(*args):
            start = time.perf_counter()
            fn(*args)
            elapsed = time.perf_counter() - start
            self.seconds[hook] += elapsed
            if hook in ("on_iteration_end", "on_epoch_end"):
                self._this_epoch += elapsed
            if hook == "on_epoch_end":
                self.epochs.append(self._this_epoch)
                self._this_epoch = 0.0
        return timed

    @property
    def per_epoch(self) -> float:
        """Seconds in the hooks that run every iteration and epoch."""
        return self.seconds["on_iteration_end"] + self.seconds["on_epoch_end"]

    @property
    def per_run(self) -> float:
        """Seconds in the once-per-run hooks (open the file / create the run; hparams, close)."""
        return self.seconds["on_train_begin"] + self.seconds["on_train_end"]


def measure(data: dict, epochs: int, pairs: int, make_logger) -> tuple[float, float, float, float, float]:
    """Median plain epoch, median logged epoch, median per-pair ratio (logged / plain), median over all logged
    epochs of the seconds spent in the logger's per-iteration and per-epoch hooks (a median, so that the odd
    epoch in which the process was descheduled inside a hook does not count), median seconds per run in its
    begin/end hooks."""
    train_once(data, 1, [])  # warm-up: imports, BLAS threads, allocator
    train_once(data, 1, [make_logger()])
    plain, logged, inside, once = [], [], [], []
    for i in range(pairs):
        order = (False, True) if i % 2 == 0 else (True, False)
        for with_logger in order:
            if with_logger:
                timed = Timed(make_logger())
                logged.append(train_once(data, epochs, [timed]))
                inside += timed.epochs
                once.append(timed.per_run)
            else:
                plain.append(train_once(data, epochs, []))
    ratios = [b / a for a, b in zip(plain, logged)]
    return (statistics.median(plain), statistics.median(logged), statistics.median(ratios),
            statistics.median(inside), statistics.median(once))


def hooks_alone(make_logger, epochs: int = 200) -> float:
    """Median seconds of one epoch's worth of logger work (19 ``on_iteration_end`` + ``on_epoch_end``) on the
    digits-mlp network's parameters, with no training around it: the logger's own cost, free of the training
    step's noise."""
    model = FullyConnectedNet(SETTINGS["hidden_dims"], input_dim=64, num_classes=10,
                              normalization=SETTINGS["normalization"], dtype=np.float32)

    class _Solver:  # what the hooks read
        pass

    s = _Solver()
    s.model, s.optim_configs = model, {k: {"learning_rate": 1e-3} for k in model.params}
    s.loss_history, s.train_acc_history, s.val_acc_history = [], [0.5], [0.5]
    s.iterations_per_epoch, s.last_grad_norm, s.best_val_acc, s.epoch, s.diverged = 19, 1.0, 0.5, 0, False
    logger = make_logger()
    logger.on_train_begin(s)
    times = []
    for e in range(1, epochs + 1):
        start = time.perf_counter()
        for i in range(s.iterations_per_epoch):
            s.loss_history.append(1.0)
            logger.on_iteration_end(s, (e - 1) * s.iterations_per_epoch + i, 1.0)
        logger.on_epoch_end(s, e)
        times.append(time.perf_counter() - start)
    logger.on_train_end(s)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=9, help="interleaved (plain, logged) samples")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per sample")
    parser.add_argument("--mlflow", action="store_true", help="also measure MLflowLogger (SQLite)")
    args = parser.parse_args()

    from nnlab.tracking import MLflowLogger, TensorBoardLogger

    data = load_digits(seed=0)
    ipe = max(data["X_train"].shape[0] // SETTINGS["batch_size"], 1)
    print(f"digits-mlp: {data['X_train'].shape[0]} training images, {ipe} iterations per epoch, "
          f"{args.epochs} epochs per sample, {args.pairs} interleaved pairs, BLAS threads {blas_threads()}")
    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10**6))

        def tensorboard():
            return TensorBoardLogger(Path(tmp, f"tb{next(counter)}"), hparams=SETTINGS, histograms=True)

        loggers = [("TensorBoardLogger (histograms on)", tensorboard)]
        if args.mlflow:
            uri = f"sqlite:///{Path(tmp, 'mlflow.db')}"
            loggers.append(("MLflowLogger (SQLite)",
                            lambda: MLflowLogger(uri, experiment="bench", params=SETTINGS)))
        for name, make in loggers:
            alone = hooks_alone(make)
            plain, logged, ratio, inside, once = measure(data, args.epochs, args.pairs, make)
            print(f"{name}:\n  wall: epoch {plain * 1e3:.1f} ms plain, {logged * 1e3:.1f} ms logged, overhead "
                  f"{100 * (ratio - 1):+.2f} % (median of per-pair ratios; target <= 2 %)\n"
                  f"  inside the logger: {inside * 1e3:.2f} ms per epoch (median) = {100 * inside / plain:.2f} % of a "
                  f"plain epoch (per-iteration and per-epoch hooks), plus {once * 1e3:.1f} ms once per run "
                  f"(= {100 * once / (plain * args.epochs):.2f} % of this {args.epochs}-epoch run)\n"
                  f"  the hooks alone (no training around them): {alone * 1e3:.2f} ms per epoch = "
                  f"{100 * alone / plain:.2f} % of a plain epoch")


if __name__ == "__main__":
    main()
