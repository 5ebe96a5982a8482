"""Wall time of one nnlab tune study of short digits-mlp trials with ``--jobs 2`` vs ``--jobs 1`` (same grid, the
default SQLite storage, measured in the same run). Goal on a 2-core machine: ratio jobs2/jobs1 <= 0.65.

    python benchmarks/bench_tune.py [--trials 8] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from nnlab.tune import tune


def run_study(jobs: int, trials: int, epochs: int, out: str) -> float:
    """Seconds to finish a grid of ``trials`` digits-mlp configurations with ``jobs`` worker processes."""
    lrs = ",".join(f"{1e-3 * (1.5 ** k):.3g}" for k in range(trials))
    start = time.perf_counter()
    study = tune("digits-mlp", [f"learning_rate=grid:{lrs}"], sampler="grid", pruner="none", jobs=jobs,
                 fixed={"hidden_dims": [64], "num_epochs": epochs}, out=out, study=f"bench-jobs{jobs}",
                 keep_weights=False, live=False)
    seconds = time.perf_counter() - start
    finished = sum(t.state.name == "COMPLETE" for t in study.trials)
    assert finished == trials, f"jobs={jobs}: {finished} of {trials} trials completed"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        t1 = run_study(1, args.trials, args.epochs, out)
        t2 = run_study(2, args.trials, args.epochs, out)
    print(f"nnlab tune digits-mlp, {args.trials} trials x {args.epochs} epochs, {os.cpu_count()} CPUs")
    print(f"  --jobs 1: {t1:7.2f} s")
    print(f"  --jobs 2: {t2:7.2f} s")
    print(f"  ratio jobs2/jobs1: {t2 / t1:.3f} (goal <= 0.65)")


if __name__ == "__main__":
    main()
