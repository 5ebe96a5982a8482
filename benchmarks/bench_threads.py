"""nnlab's own speed-up from 1 to N threads, kernel by kernel (the passes ``nnlab.threads`` splits), and a check
that the results are bitwise the same at both counts.

Usage: ``python benchmarks/bench_threads.py [--threads 1 2] [--repeats 5] [--kernels conv,winograd,...]``

For each kernel (forward + backward, float32, shapes of the training-step benchmarks) the steps at the thread
counts given are interleaved (``common.time_fn`` samples alternated, so a change of machine load hits all
counts alike); printed: median ms per count, the speed-up ``t(first) / t(count)``, and the load average.
On a machine with more runnable jobs than CPUs the multi-thread times collapse and mean little: the thresholds
in the kernels (``conv._GROUP_FLOPS``, ``normalization._BLOCK_BYTES``/``_MIN_RUN_BYTES``,
``pooling._BLOCK_BYTES``, ``threads.ELEMENTWISE_CHUNK_BYTES``, ``winograd._CHUNK_BYTES``,
``optim.rules._UPDATE_CHUNK_BYTES``) were set from runs of this kind and of CPU-time comparisons at 1 thread.
Families: conv, winograd, norm, pool, act, optim (Adam / SGD momentum updates), attention, and ``gil`` (not
a kernel: how two Python threads scale a stream of NumPy calls by the size of each call; see ``nnlab.threads``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import blas_line, load_line, steady_malloc, time_fn  # noqa: E402

from nnlab.layers import (  # noqa: E402
    conv_backward_fast,
    conv_forward_fast,
    layernorm_backward,
    layernorm_forward,
    max_pool_backward_fast,
    max_pool_forward_fast,
    relu_backward,
    relu_forward,
    scaled_dot_product_attention_backward,
    scaled_dot_product_attention_forward,
    spatial_batchnorm_backward,
    spatial_batchnorm_forward,
)
from nnlab.optim import adam, sgd_momentum  # noqa: E402
from nnlab.threads import set_num_threads  # noqa: E402


def _conv(xs, ws, pad, algo):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) * 0.1).astype(np.float32)
    b = np.zeros(ws[0], np.float32)
    conv_param = {"stride": 1, "pad": pad, "algo": algo}
    dout = rng.standard_normal(conv_forward_fast(x, w, b, conv_param)[0].shape).astype(np.float32)

    def step():
        out, cache = conv_forward_fast(x, w, b, conv_param)
        return (out, *conv_backward_fast(dout, cache))

    return step


def _bn(xs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    g, b = np.ones(xs[1], np.float32), np.zeros(xs[1], np.float32)
    dout = rng.standard_normal(xs).astype(np.float32)

    def step():
        out, cache = spatial_batchnorm_forward(x, g, b, {"mode": "train"})
        return (out, *spatial_batchnorm_backward(dout, cache))

    return step


def _ln(xs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    g, b = np.ones(xs[-1], np.float32), np.zeros(xs[-1], np.float32)
    dout = rng.standard_normal(xs).astype(np.float32)

    def step():
        out, cache = layernorm_forward(x, g, b, {})
        return (out, *layernorm_backward(dout, cache))

    return step


def _pool(xs):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(np.float32)
    pp = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dout = rng.standard_normal(max_pool_forward_fast(x, pp)[0].shape).astype(np.float32)

    def step():
        out, cache = max_pool_forward_fast(x, pp)
        return out, max_pool_backward_fast(dout, cache)

    return step


def _relu(xs):
    x = np.random.default_rng(0).standard_normal(xs).astype(np.float32)

    def step():
        out, cache = relu_forward(x)
        return out, relu_backward(x, cache)

    return step


def _attention(shape):
    rng = np.random.default_rng(0)
    q, k, v, dout = (rng.standard_normal(shape).astype(np.float32) for _ in range(4))

    def step():
        out, cache = scaled_dot_product_attention_forward(q, k, v, is_causal=True)
        return (out, *scaled_dot_product_attention_backward(dout, cache))

    return step


def _update(shape, rule):
    """One update of a float32 weight of ``shape`` from a fixed state (Adam: the moments are copied first, since
    the rule updates them in place, so each call does the same arithmetic)."""
    rng = np.random.default_rng(0)
    w, dw, m, v = (rng.standard_normal(shape).astype(np.float32) for _ in range(4))
    v = np.abs(v)

    def step():
        if rule == "adam":
            out, config = adam(w, dw, {"m": m.copy(), "v": v.copy(), "t": 5})
            return out, config["m"], config["v"]
        out, config = sgd_momentum(w, dw, {"velocity": m})
        return out, config["velocity"]

    return step


KERNELS = {
    "conv": [("MRI conv C8->32 im2col, x(32,8,84,84)", lambda: _conv((32, 8, 84, 84), (32, 8, 3, 3), 1, "im2col")),
             ("7x7 C3->32 MEC, x(50,3,32,32)", lambda: _conv((50, 3, 32, 32), (32, 3, 7, 7), 3, "mec")),
             ("3x3 C16->16 MEC, x(128,16,32,32)", lambda: _conv((128, 16, 32, 32), (16, 16, 3, 3), 1, "mec")),
             ("3x3 C3->16 im2col, x(128,3,32,32)", lambda: _conv((128, 3, 32, 32), (16, 3, 3, 3), 1, "im2col"))],
    "winograd": [("3x3 C32->32 winograd4, x(128,32,16,16)", lambda: _conv((128, 32, 16, 16), (32, 32, 3, 3), 1,
                                                                         "winograd4")),
                 ("3x3 C64->64 winograd4, x(128,64,8,8)", lambda: _conv((128, 64, 8, 8), (64, 64, 3, 3), 1,
                                                                       "winograd4")),
                 ("3x3 C64->128 winograd4, x(128,64,32,32)", lambda: _conv((128, 64, 32, 32), (128, 64, 3, 3), 1,
                                                                          "winograd4"))],
    "norm": [("batch norm x(32,32,84,84)", lambda: _bn((32, 32, 84, 84))),
             ("batch norm x(128,16,32,32)", lambda: _bn((128, 16, 32, 32))),
             ("layer norm x(32,256,512)", lambda: _ln((32, 256, 512)))],
    "pool": [("max pool 2x2 x(64,32,32,32)", lambda: _pool((64, 32, 32, 32)))],
    "act": [("ReLU x(64,32,32,32)", lambda: _relu((64, 32, 32, 32)))],
    "optim": [("Adam w(3136,256) (MRI FC1; + state copy)", lambda: _update((3136, 256), "adam")),
              ("Adam w(4096,1024) (+ state copy)", lambda: _update((4096, 1024), "adam")),
              ("SGD momentum w(4096,1024)", lambda: _update((4096, 1024), "sgd_momentum"))],
    "attention": [("causal attention q(8,8,128,64)", lambda: _attention((8, 8, 128, 64)))],
}


def gil_line(kib: int, total_bytes: float = 1e9, repeats: int = 7) -> str:
    """How far two Python threads speed up a stream of NumPy calls of ``kib`` KiB each (``multiply`` then ``add``
    on float32 arrays; ``total_bytes`` of operands per sample), against one thread doing both streams: the GIL is
    released inside each call and taken back after it, so calls of a few microseconds spend their time handing
    the lock over and gain nothing, while calls of a millisecond scale with the cores (see ``nnlab.threads``).
    The median of ``repeats`` interleaved pairs (one thread, two threads)."""
    import threading

    size = kib * 256
    n = max(1, int(total_bytes // (kib * 1024) // 8))

    def stream(count: int) -> None:
        a = np.random.default_rng(0).random(size, dtype=np.float32)
        b = np.empty_like(a)
        for _ in range(count):
            np.multiply(a, 1.5, out=b)
            np.add(b, a, out=b)

    ones, ratios = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        stream(2 * n)
        one = time.perf_counter() - start
        workers = [threading.Thread(target=stream, args=(n,)) for _ in range(2)]
        start = time.perf_counter()
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        ones.append(one)
        ratios.append(one / (time.perf_counter() - start))
    return (f"  {kib:>6} KiB per call: {statistics.median(ones) / (4 * n) * 1e6:7.2f} us per call on 1 thread; "
            f"2 threads {statistics.median(ratios):4.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})  "
            f"({load_line()})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--kernels", default=",".join(KERNELS), help="comma-separated: " + ", ".join([*KERNELS, "gil"]))
    args = parser.parse_args(argv)
    steady_malloc()
    print(f"bench_threads: nnlab speed-up from {args.threads[0]} thread(s), fwd + bwd float32, median of "
          f"{args.repeats} interleaved samples; {load_line()}; {blas_line()}")
    for family in args.kernels.split(","):
        if family == "gil":
            print("NumPy calls on two Python threads (the GIL hand-over), one stream of calls vs two at once:")
            for kib in (16, 64, 256, 1024, 4096):
                print(gil_line(kib), flush=True)
            continue
        for label, make in KERNELS[family]:
            step = make()
            results, times = {}, {n: [] for n in args.threads}
            for n in args.threads:
                set_num_threads(n)
                results[n] = [np.array(r) for r in step()]
            for _ in range(args.repeats):
                for n in args.threads:
                    set_num_threads(n)
                    times[n].append(time_fn(step, repeats=1, warmup=1, min_time=0.05))
            same = all(all(a.tobytes() == b.tobytes() for a, b in zip(results[args.threads[0]], results[n]))
                       for n in args.threads)
            med = {n: statistics.median(t) for n, t in times.items()}
            base = med[args.threads[0]]
            cells = "  ".join(f"{n} thr {med[n] * 1e3:8.2f} ms ({base / med[n]:4.2f}x)" for n in args.threads)
            print(f"  {label:<46} {cells}  bitwise same: {'yes' if same else 'NO'}  ({load_line()})", flush=True)
    set_num_threads(args.threads[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
