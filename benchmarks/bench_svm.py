"""Fit time of nnlab's KernelSVM (SMO in NumPy) vs scikit-learn's SVC (LIBSVM, C++) on 2000 points, RBF kernel,
measured in one process on the same data. Goal: ratio nnlab/scikit-learn <= 10.

    python benchmarks/bench_svm.py [--n 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_threads, time_fn  # noqa: E402

from nnlab.kernels import KernelSVM  # noqa: E402


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_moons

    return make_moons(n, noise=0.3, random_state=seed)


def main(argv: list[str] | None = None) -> int:
    from sklearn.svm import SVC

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    X, y = make_data(args.n)
    print(f"KernelSVM vs sklearn.svm.SVC fit, {args.n} points (two moons), RBF gamma='scale', tol=1e-3; "
          f"BLAS threads {blas_threads()}")
    worst = 0.0
    for C in (1.0, 10.0):
        ours = KernelSVM(C=C).fit(X, y)
        theirs = SVC(C=C).fit(X, y)
        agree = float(np.mean(ours.predict(X) == theirs.predict(X)))
        t_ours = time_fn(lambda C=C: KernelSVM(C=C).fit(X, y), repeats=args.repeats, warmup=1, min_time=0.0)
        t_theirs = time_fn(lambda C=C: SVC(C=C).fit(X, y), repeats=args.repeats, warmup=1, min_time=0.0)
        ratio = t_ours / t_theirs
        worst = max(worst, ratio)
        print(f"C={C:<5g} nnlab {t_ours * 1e3:8.1f} ms ({int(ours.n_iter_[0])} SMO steps, "
              f"{ours.support_.size} SVs)   scikit-learn {t_theirs * 1e3:8.1f} ms ({int(theirs.n_iter_[0])} steps, "
              f"{theirs.support_.size} SVs)   ratio {ratio:5.2f}   identical predictions {agree:.4f}")
    print(f"worst ratio {worst:.2f} (goal <= 10)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
