"""The sweep behind ``choose_conv_algo`` for 3x3 stride-1 layers: every nnlab algorithm, forced, fwd + bwd, by
process CPU time at 1 thread (the work itself, robust to other processes' load), over input channels and sizes.

Usage: ``python benchmarks/bench_conv_sweep.py [--channels 8 16 24 32 48 64 96 128] [--sizes 8 16 32 42 64 84]
[--dtype float32] [--repeats 5] [--torch] [--same-width]``

Each case is x(N, C, H, H) with F = 2C output channels (C for C >= 64; ``--same-width``: F = C always, the
ResNet stages, where MEC's backward takes its transposed-convolution dx), pad 1, and N chosen so that the input
holds about 48 * 16 * 32 * 32 values (8 <= N <= 256). Printed: ms per algorithm, the fastest, what ``auto``
picks and how far it is from the fastest; ``--torch`` adds ``torch.nn.functional.conv2d`` fwd + bwd at 1 thread.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import blas_line, load_line, steady_malloc  # noqa: E402

from nnlab.layers.conv import choose_conv_algo, conv_backward_fast, conv_forward_fast  # noqa: E402
from nnlab.threads import set_num_threads  # noqa: E402

ALGOS = ("im2col", "mec", "winograd2", "winograd4")


def cpu_time(fn, repeats: int) -> float:
    """Median process CPU time of ``fn()`` in seconds (one warm-up call)."""
    fn()
    samples = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        samples.append(time.process_time() - start)
    return statistics.median(samples)


def sweep_case(rng: np.random.Generator, C: int, H: int, dtype: np.dtype, repeats: int, torch=None,
               same_width: bool = False) -> str:
    """One line of the sweep: x(N, C, H, H), F = 2C (C from 64 on, or always with ``same_width``), every
    algorithm (and torch when given)."""
    N = int(min(256, max(8, 48 * 16 * 32 * 32 // (C * H * H))))
    F = 2 * C if C < 64 and not same_width else C
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    w = (rng.standard_normal((F, C, 3, 3)) * 0.1).astype(dtype)
    b = np.zeros(F, dtype)
    dout = rng.standard_normal((N, F, H, H)).astype(dtype)
    times = {}
    for algo in ALGOS:
        conv_param = {"stride": 1, "pad": 1, "algo": algo}

        def step(conv_param: dict = conv_param) -> None:
            _, cache = conv_forward_fast(x, w, b, conv_param)
            conv_backward_fast(dout, cache)

        times[algo] = cpu_time(step, repeats)
    best = min(times, key=times.get)
    auto = choose_conv_algo(x.shape, w.shape, 1, 1, dtype)
    line = (f"C{C:>3}->{F:<3} {H:>2}x{H:<2} N{N:<3} " + "  ".join(f"{a} {t * 1e3:7.2f}" for a, t in times.items())
            + f"  | best {best:<9} auto {auto:<9} ({times[auto] / times[best]:.2f}x best)")
    if torch is not None:
        xt = torch.from_numpy(x).requires_grad_()
        wt, bt = torch.from_numpy(w).requires_grad_(), torch.from_numpy(b).requires_grad_()
        dt = torch.from_numpy(dout)

        def theirs() -> None:
            xt.grad = wt.grad = bt.grad = None
            torch.nn.functional.conv2d(xt, wt, bt, padding=1).backward(dt)

        t_torch = cpu_time(theirs, repeats)
        line += f"  torch {t_torch * 1e3:7.2f} (auto / torch {times[auto] / t_torch:.2f})"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, nargs="+", default=[8, 16, 24, 32, 48, 64, 96, 128])
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32, 42, 64, 84])
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--torch", action="store_true", help="also time torch at 1 thread")
    parser.add_argument("--same-width", action="store_true", help="F = C output channels (default 2C below 64)")
    args = parser.parse_args(argv)
    steady_malloc()
    set_num_threads(1)
    dtype = np.dtype(args.dtype)
    torch = None
    if args.torch:
        import torch

        torch.set_num_threads(1)
    print(f"bench_conv_sweep: 3x3 stride 1 pad 1, {dtype.name}, fwd + bwd, CPU time at 1 thread (ms); {load_line()}; "
          f"{blas_line()}")
    rng = np.random.default_rng(0)
    for C in args.channels:
        for H in args.sizes:
            print(sweep_case(rng, C, H, dtype, args.repeats, torch, args.same_width), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
