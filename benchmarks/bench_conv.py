"""Convolution, max-pool and conv-net training steps: nnlab vs PyTorch on the CPU, in one process.

Usage: ``python benchmarks/bench_conv.py [--quick] [--threads 2] [--step-threads 1 2] [--repeats 7] [--profile]
[--algos] [--sections conv,accuracy,pool,naive,steps,memory]``

Both libraries run with the same thread count (``--threads``: nnlab's thread policy, ``nnlab.set_num_threads``,
which keeps BLAS at one thread; ``torch.set_num_threads``); the training steps at each of ``--step-threads``.
nnlab and torch samples are interleaved (``benchmarks/common.time_pair``): times are medians, the ratio nnlab /
torch is the median of the per-pair ratios (below 1: nnlab is faster), so a change of machine load hits both
alike. Sections:

1. conv forward and forward + backward (``torch.nn.functional.conv2d`` + autograd), float32 and float64, on the
   shapes of issues 3 and 14, with the algorithm ``conv_forward_fast`` chose ('auto') and the effective GFLOP/s
   (direct-convolution flops / time: forward 2*F*(C*KH*KW)*(N*H'*W'), forward + backward three times that; it
   can exceed the GEMM peak when Winograd does fewer multiplications), next to numpy's own 1024^3 GEMM rate
   measured in the same run. ``--algos`` also times every algorithm that applies to the case, forced
   (``conv_param['algo']``); column cpu: the forward + backward ratio in process CPU time (interleaved pairs);
   ``--profile`` times the stages of every algorithm (im2col: im2col, GEMMs, col2im; MEC: lower, GEMMs, store,
   fold; Winograd: load, input transform, GEMMs, output transform, store and their adjoints, in CPU time).
   ``--malloc steady`` keeps freed memory in the process (``common.steady_malloc``): without it, which
   library's large temporaries are page-faulted in afresh depends on the other's recent allocations.
   ``--cases 'C64,C128'`` keeps the conv cases whose names contain one of the strings.
2. float32 error of every algorithm against a float64 direct convolution, at unit scale and at the scales of a
   trained network; max-pool 2x2 forward and forward + backward.
3. naive vs fast conv on the spec's x(100,3,31,31) case (float64).
4. one training step (forward, backward, Adam) of ThreeLayerConvNet (batch 50) and of the MRI network (batch
   32, 1x84x84), each against the same network written with torch.nn, started from the same weights.
5. tracemalloc peak of one ThreeLayerConvNet training step at batch 50 and 200, next to the bytes of its
   im2col matrix plus activations.

Timings on a machine shared with other jobs are noisy: hold the machine-wide lock, read the ratios.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import OrderedDict


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats; naive conv on 10 samples, scaled")
    parser.add_argument("--threads", type=int, default=2, help="threads for numpy's BLAS and torch (default 2)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per measurement (default 7, quick 3)")
    parser.add_argument("--step-threads", type=int, nargs="+", default=None,
                        help="thread counts of the training-step section, both libraries (default 1 2)")
    parser.add_argument("--profile", action="store_true", help="time the stages of every nnlab conv algorithm")
    parser.add_argument("--algos", action="store_true", help="time every applicable conv algorithm, forced")
    parser.add_argument("--cases", default="", help="comma-separated substrings: run only the conv cases named so")
    parser.add_argument("--sections", default="conv,accuracy,pool,naive,steps,memory",
                        help="comma-separated sections to run (default: all)")
    parser.add_argument("--malloc", choices=("default", "steady"), default="default",
                        help="'steady': glibc malloc keeps freed memory (common.steady_malloc), so neither library "
                             "pays page faults that depend on the other's allocations (default: as a user gets)")
    parser.add_argument("--min-time", type=float, default=None,
                        help="seconds each timing sample loops for (default 0.05, quick 0.02)")
    args = parser.parse_args(argv)
    if args.min_time is None:
        args.min_time = 0.02 if args.quick else 0.05
    return args


ARGS = _parse_args()
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread variables)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from nnlab.layers.conv import (  # noqa: E402
    _col2im,
    _im2col,
    conv_backward_fast,
    conv_backward_naive,
    conv_forward_fast,
    conv_forward_naive,
)
from nnlab.layers.mec import conv_backward_mec, conv_forward_mec  # noqa: E402
from nnlab.layers.pooling import max_pool_backward_fast, max_pool_forward_fast  # noqa: E402
from nnlab.layers.winograd import conv_backward_winograd, conv_forward_winograd  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import THREAD_COUNTS, at_threads, cpu_time_pair, steady_malloc, time_pair  # noqa: E402  (common.py)

from nnlab.threads import set_num_threads  # noqa: E402

torch.set_num_threads(ARGS.threads)
set_num_threads(ARGS.threads)  # nnlab's pool (BLAS stays at 1 thread under nnlab's policy)

# (name, x shape, w shape, stride, pad) — the shapes of issue 3, item 4, and of issue 14.
CONV_CASES = [
    ("7x7 C3->32", (50, 3, 32, 32), (32, 3, 7, 7), 1, 3),
    ("3x3 C3->32", (64, 3, 32, 32), (32, 3, 3, 3), 1, 1),
    ("3x3 C64->64", (64, 64, 16, 16), (64, 64, 3, 3), 1, 1),
    ("3x3 C128->128", (32, 128, 8, 8), (128, 128, 3, 3), 1, 1),
    ("3x3 C32->64", (64, 32, 16, 16), (64, 32, 3, 3), 1, 1),
    ("3x3 s2 C3->25", (100, 3, 31, 31), (25, 3, 3, 3), 2, 1),
]
WINOGRAD = {"winograd2": 2, "winograd4": 4}
POOL_CASE = ("maxpool 2x2", (64, 32, 32, 32), 2, 2)


def median_time(fn, repeats: int, cpu: bool = False) -> float:
    """Median wall time (``cpu=True``: process CPU time) of ``fn()`` in seconds over ``repeats`` runs, after one
    warm-up run."""
    clock = time.process_time if cpu else time.perf_counter
    fn()
    times = []
    for _ in range(repeats):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return float(np.median(times))


def numpy_gemm_gflops(dtype, repeats: int, n: int = 1024) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    return 2 * n**3 / median_time(lambda: a @ b, repeats) / 1e9


def cpu_pair(ours, theirs, repeats: int) -> float:
    """Median of per-pair ratios of process CPU time, ours / theirs, interleaved (``common.cpu_time_pair``)."""
    return cpu_time_pair(ours, theirs, repeats)[2]


def direct_flops(x_shape, w_shape, stride: int, pad: int) -> int:
    """Multiply-adds x 2 of a direct convolution: 2 * F * C * KH * KW * N * H' * W'."""
    N, _, H, W = x_shape
    F, C, KH, KW = w_shape
    OH, OW = (H + 2 * pad - KH) // stride + 1, (W + 2 * pad - KW) // stride + 1
    return 2 * F * C * KH * KW * N * OH * OW


def applicable_algos(w_shape, stride: int) -> list[str]:
    return ["im2col", "mec"] + (list(WINOGRAD) if tuple(w_shape[2:]) == (3, 3) and stride == 1 else [])


def bench_conv(name, x_shape, w_shape, stride, pad, dtype, repeats: int, algo: str = "auto") -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    conv_param = {"stride": stride, "pad": pad, "algo": algo}
    out, cache = conv_forward_fast(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape).astype(dtype)

    def ours_fwd():
        return conv_forward_fast(x, w, b, conv_param)

    def ours_fwd_bwd():
        _, c = conv_forward_fast(x, w, b, conv_param)
        return conv_backward_fast(dout, c)

    xt, wt, bt = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
    dout_t = torch.from_numpy(dout)

    def torch_fwd():
        with torch.no_grad():
            return F.conv2d(xt, wt, bt, stride=stride, padding=pad)

    def torch_fwd_bwd():
        o = F.conv2d(xt, wt, bt, stride=stride, padding=pad)
        return torch.autograd.grad(o, (xt, wt, bt), dout_t)

    flops = direct_flops(x_shape, w_shape, stride, pad)
    r = {"name": name, "dtype": np.dtype(dtype).name, "algo": cache[0]}
    r["ours_fwd"], r["torch_fwd"], r["ratio_fwd"] = time_pair(ours_fwd, torch_fwd, repeats, ARGS.min_time)
    r["ours_fb"], r["torch_fb"], r["ratio_fb"] = time_pair(ours_fwd_bwd, torch_fwd_bwd, repeats, ARGS.min_time)
    r["cpu_ratio_fb"] = cpu_pair(ours_fwd_bwd, torch_fwd_bwd, repeats)
    r["gflops_fwd"], r["gflops_fb"] = flops / r["ours_fwd"] / 1e9, 3 * flops / r["ours_fb"] / 1e9
    r["torch_gflops_fb"] = 3 * flops / r["torch_fb"] / 1e9
    return r


def profile_conv(name, x_shape, w_shape, stride, pad, dtype, repeats: int) -> dict:
    """Median CPU time of each stage of the im2col path of conv_forward_fast / conv_backward_fast, in seconds
    (each stage on the whole batch)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    Fn, _, KH, KW = w_shape
    N, _, H, W = x_shape
    OH, OW = (H + 2 * pad - KH) // stride + 1, (W + 2 * pad - KW) // stride + 1
    w2 = w.reshape(Fn, -1)
    wb = np.concatenate([w2, np.zeros((Fn, 1), dtype)], axis=1)
    cols = _im2col(x, KH, KW, stride, pad, OH, OW)
    g = rng.standard_normal((N, Fn, OH * OW)).astype(dtype)
    dcols = np.matmul(w2.T, g)
    return {
        "im2col": median_time(lambda: _im2col(x, KH, KW, stride, pad, OH, OW), repeats, cpu=True),
        "gemm": median_time(lambda: np.matmul(wb, cols), repeats, cpu=True),
        "dw gemm": median_time(lambda: np.matmul(g, cols.transpose(0, 2, 1)).sum(axis=0), repeats, cpu=True),
        "dcols gemm": median_time(lambda: np.matmul(w2.T, g), repeats, cpu=True),
        "col2im": median_time(lambda: _col2im(dcols, x_shape, KH, KW, stride, pad, OH, OW), repeats, cpu=True),
    }


def profile_winograd(x_shape, w_shape, pad, dtype, m: int, repeats: int) -> tuple[dict, dict]:
    """Median CPU seconds of each stage of conv_forward_winograd and conv_backward_winograd (their ``profile``,
    ``time.process_time``: robust to other processes' load at 1 thread)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    out, cache = conv_forward_winograd(x, w, b, {"stride": 1, "pad": pad}, m=m)
    dout = rng.standard_normal(out.shape).astype(dtype)
    fwd, bwd = [], []
    for _ in range(repeats + 1):
        fwd.append({})
        _, cache = conv_forward_winograd(x, w, b, {"stride": 1, "pad": pad}, m=m, profile=fwd[-1])
        bwd.append({})
        conv_backward_winograd(dout, cache, profile=bwd[-1])
    median = lambda runs: {k: float(np.median([r[k] for r in runs[1:]])) for k in runs[0]}  # noqa: E731
    return median(fwd), median(bwd)


def profile_mec(x_shape, w_shape, stride, pad, dtype, repeats: int) -> tuple[dict, dict]:
    """Median CPU seconds of each stage of conv_forward_mec and conv_backward_mec (their ``profile``)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    conv_param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_mec(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape).astype(dtype)
    fwd, bwd = [], []
    for _ in range(repeats + 1):
        fwd.append({})
        _, cache = conv_forward_mec(x, w, b, conv_param, profile=fwd[-1])
        bwd.append({})
        conv_backward_mec(dout, cache, profile=bwd[-1])
    median = lambda runs: {k: float(np.median([r[k] for r in runs[1:]])) for k in runs[0]}  # noqa: E731
    return median(fwd), median(bwd)


def bench_pool(name, x_shape, size, stride, dtype, repeats: int) -> dict:
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(dtype)
    pool_param = {"pool_height": size, "pool_width": size, "stride": stride}
    out, _ = max_pool_forward_fast(x, pool_param)
    dout = rng.standard_normal(out.shape).astype(dtype)
    xt = torch.from_numpy(x).requires_grad_(True)
    dout_t = torch.from_numpy(dout)

    def ours_fwd_bwd():
        _, c = max_pool_forward_fast(x, pool_param)
        return max_pool_backward_fast(dout, c)

    def torch_fwd():
        with torch.no_grad():
            return F.max_pool2d(xt, size, stride)

    def torch_fwd_bwd():
        return torch.autograd.grad(F.max_pool2d(xt, size, stride), xt, dout_t)

    r = {"name": name, "dtype": np.dtype(dtype).name}
    r["ours_fwd"], r["torch_fwd"], r["ratio_fwd"] = time_pair(lambda: max_pool_forward_fast(x, pool_param),
                                                              torch_fwd, repeats, ARGS.min_time)
    r["ours_fb"], r["torch_fb"], r["ratio_fb"] = time_pair(ours_fwd_bwd, torch_fwd_bwd, repeats, ARGS.min_time)
    return r


def bench_naive_speedup(quick: bool) -> dict:
    """The spec's fast-layer cell (seed 004 §9.5): x(100,3,31,31), w(25,3,3,3), stride 2, pad 1, float64."""
    rs = np.random.RandomState(231)
    x = rs.randn(100, 3, 31, 31)
    w = rs.randn(25, 3, 3, 3)
    b = rs.randn(25)
    dout = rs.randn(100, 25, 16, 16)
    conv_param = {"stride": 2, "pad": 1}
    n_naive = 10 if quick else 100
    scale = 100 / n_naive
    t0 = time.perf_counter()
    _, cache_n = conv_forward_naive(x[:n_naive], w, b, conv_param)
    t_naive_fwd = (time.perf_counter() - t0) * scale
    t0 = time.perf_counter()
    conv_backward_naive(dout[:n_naive], cache_n)
    t_naive_bwd = (time.perf_counter() - t0) * scale
    _, cache_f = conv_forward_fast(x, w, b, conv_param)
    t_fast_fwd = median_time(lambda: conv_forward_fast(x, w, b, conv_param), 5)
    t_fast_bwd = median_time(lambda: conv_backward_fast(dout, cache_f), 5)
    return {"n_naive": n_naive, "naive_fwd": t_naive_fwd, "naive_bwd": t_naive_bwd,
            "fast_fwd": t_fast_fwd, "fast_bwd": t_fast_bwd}


# ------------------------------------------------------------------------------------ training steps


def _adam_steps(model, net, X: np.ndarray, y: np.ndarray, lr: float):
    """Closures for one Adam training step (forward, backward, update) of an nnlab model and of its torch twin
    ``net`` on the same batch ``(X, y)`` with learning rate ``lr``; each returns the step's loss."""
    from nnlab.optim import adam

    configs = {k: {"learning_rate": lr} for k in model.params}
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def ours():
        loss, grads = model.loss(X, y)
        for k in list(model.params):
            model.params[k], configs[k] = adam(model.params[k], grads[k], configs[k])
        return loss

    def theirs():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(net(Xt), yt)
        loss.backward()
        opt.step()
        return loss

    return ours, theirs


def three_layer_steps(batch: int):
    """One Adam step of ThreeLayerConvNet (batch ``batch``, CIFAR-sized float32 input) in nnlab and in torch.

    The torch twin (conv 7x7 pad 3 - relu - 2x2 max pool - linear - relu - linear, cross-entropy) starts from
    the nnlab weights (``W2``/``W3`` transposed into ``Linear.weight``). Returns ``(ours, theirs, loss_pair)``.
    """
    from nnlab.models import ThreeLayerConvNet

    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, size=batch)
    model = ThreeLayerConvNet(weight_scale=1e-2, seed=0, dtype=np.float32)
    p = model.params
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 7, padding=3), torch.nn.ReLU(), torch.nn.MaxPool2d(2, 2),
                              torch.nn.Flatten(), torch.nn.Linear(32 * 16 * 16, 100), torch.nn.ReLU(),
                              torch.nn.Linear(100, 10))
    with torch.no_grad():
        for (w_t, b_t), (w, b, transpose) in zip(((net[0].weight, net[0].bias), (net[4].weight, net[4].bias),
                                                  (net[6].weight, net[6].bias)),
                                                 (("W1", "b1", False), ("W2", "b2", True), ("W3", "b3", True))):
            w_t.copy_(torch.from_numpy(p[w].T.copy() if transpose else p[w]))
            b_t.copy_(torch.from_numpy(p[b]))
    with torch.no_grad():
        losses = (float(model.loss(X, y)[0]),
                  float(F.cross_entropy(net(torch.from_numpy(X)), torch.from_numpy(y))))
    return (*_adam_steps(model, net, X, y, 1e-3), losses)


def mri_steps(batch: int = 32):
    """One Adam step of the seed-003 MRI network (``mri_cnn`` through ``Classifier``; input (batch, 1, 84, 84),
    float32, dropout 0.2 active) in nnlab and in torch (the same ``Sequential`` built from torch.nn, loaded from
    the nnlab state dict). Returns ``(ours, theirs, max |scores difference| in eval mode)``."""
    from nnlab.models import Classifier, mri_cnn

    nn = torch.nn
    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, 1, 84, 84)).astype(np.float32)
    y = rng.integers(0, 4, size=batch)
    model = Classifier(mri_cnn(seed=0))

    def conv(cin, cout):
        return nn.Conv2d(cin, cout, 3, padding=1)

    act = nn.LeakyReLU(0.01)
    net = nn.Sequential(OrderedDict([
        ("feature_extractor", nn.Sequential(conv(1, 8), act, conv(8, 32), act, nn.MaxPool2d(2, 2), nn.Dropout(0.2),
                                            conv(32, 32), act, conv(32, 64), act, nn.MaxPool2d(2, 2),
                                            nn.Dropout(0.2))),
        ("avg_pooling", nn.AdaptiveAvgPool2d((7, 7))),
        ("flatten", nn.Flatten()),
        ("classifier", nn.Sequential(nn.Linear(3136, 256), act, nn.Dropout(0.2), nn.Linear(256, 128), act,
                                     nn.Dropout(0.2), nn.Linear(128, 4))),
    ]))
    net.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in model.state_dict().items()})
    net.eval()
    with torch.no_grad():
        diff = float(np.abs(model.loss(X) - net(torch.from_numpy(X)).numpy()).max())
    net.train()
    return (*_adam_steps(model, net, X, y, 1e-4), diff)


def step_memory(batch: int) -> dict:
    """Peak traced memory (tracemalloc) of one ThreeLayerConvNet training step (forward, backward, no update)
    at ``batch``, next to the bytes it must hold: the im2col matrix kept for the backward, the backward's
    column gradient of the same size, and the activations (conv out, relu out, pool out and argmax, hidden
    layer, scores) plus the gradients of those activations that are alive at the same time."""
    import tracemalloc

    from nnlab.models import ThreeLayerConvNet

    rng = np.random.default_rng(0)
    X = rng.standard_normal((batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, size=batch)
    model = ThreeLayerConvNet(seed=0, dtype=np.float32)
    model.loss(X, y)  # warm-up outside the trace
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    model.loss(X, y)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    KH, KW = model.params["W1"].shape[2:]
    cols_bytes = batch * (3 * KH * KW + 1) * 32 * 32 * X.itemsize  # the 7x7 layer's im2col matrix (N, K+1, H'W')
    conv_out = batch * 32 * 32 * 32 * 4
    activations = (2 * conv_out + conv_out // 4 + conv_out // 16  # conv out, relu out, pool out, uint8 argmax
                   + 2 * batch * 100 * 4 + batch * 10 * 4)  # hidden pre/post relu, scores
    return {"batch": batch, "peak": peak, "cols": cols_bytes, "activations": activations}


def _ms(t: float) -> str:
    return f"{t * 1e3:8.2f}"


def accuracy_section() -> None:
    """float32 error of each algorithm against a float64 direct convolution (max |err| / max |ref|)."""
    print("\nfloat32 error vs float64 direct conv, max |nnlab32 - ref64| / max |ref64| (out / dx / dw):")
    rng = np.random.default_rng(0)
    for C, F_, N, H in ((64, 64, 16, 16), (128, 128, 8, 8)):
        for label, xs, ws in (("unit x, unit w", 1.0, 1.0), ("unit x, He w", 1.0, (2 / (9 * C)) ** 0.5),
                              ("x*30, w*0.03", 30.0, 0.03)):
            x = rng.standard_normal((N, C, H, H)) * xs
            w = rng.standard_normal((F_, C, 3, 3)) * ws
            b = rng.standard_normal(F_)
            ref, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1, "algo": "im2col"})
            dout = rng.standard_normal(ref.shape)
            refs = (ref, *conv_backward_fast(dout, cache)[:2])
            parts = []
            for algo in ("im2col", "mec", *WINOGRAD):
                a32 = [a.astype(np.float32) for a in (x, w, b)]
                out, c32 = conv_forward_fast(*a32, {"stride": 1, "pad": 1, "algo": algo})
                ours = (out, *conv_backward_fast(dout.astype(np.float32), c32)[:2])
                errs = [np.abs(o - r).max() / np.abs(r).max() for o, r in zip(ours, refs)]
                parts.append(f"{algo} " + " / ".join(f"{e:.1e}" for e in errs))
            print(f"  C{C}->{F_} {label:<15} " + "   ".join(parts), flush=True)


def _conv_line(r: dict, peak: float) -> str:
    return (f"{r['name']:<15}{r['dtype']:<8}{r['algo']:<10}{_ms(r['ours_fwd'])} {_ms(r['torch_fwd'])}"
            f"{r['ratio_fwd']:7.2f}  {_ms(r['ours_fb'])} {_ms(r['torch_fb'])}{r['ratio_fb']:7.2f}"
            f"{r['cpu_ratio_fb']:6.2f}  {r['gflops_fwd']:6.0f} /{r['gflops_fb']:5.0f}  "
            f"(torch f+b {r['torch_gflops_fb']:4.0f}; "
            f"numpy GEMM {peak:.0f})")


def conv_section(peak: dict, repeats: int) -> None:
    header = (f"{'case':<15}{'dtype':<8}{'algo':<10}{'fwd ms':>8}{'torch':>9}{'ratio':>7}  {'f+b ms':>8}{'torch':>9}"
              f"{'ratio':>7}{'cpu':>6}  {'eff. GFLOP/s f / f+b':>20}")
    print(header)
    print("-" * len(header))
    for dtype in (np.float32, np.float64):
        for name, xs, ws, s, p in CONV_CASES:
            if ARGS.cases and not any(c in name for c in ARGS.cases.split(",")):
                continue
            print(_conv_line(bench_conv(name, xs, ws, s, p, dtype, repeats), peak[dtype]), flush=True)
            if ARGS.algos:
                for algo in applicable_algos(ws, s):
                    r = bench_conv("  forced", xs, ws, s, p, dtype, repeats, algo=algo)
                    print(_conv_line(r, peak[dtype]), flush=True)
            if ARGS.profile:
                parts = profile_conv(name, xs, ws, s, p, dtype, repeats)
                print("    im2col profile ms: " + ", ".join(f"{k} {v * 1e3:.2f}" for k, v in parts.items()))
                for algo in applicable_algos(ws, s)[1:]:
                    if algo == "mec":
                        fwd, bwd = profile_mec(xs, ws, s, p, dtype, repeats)
                    else:
                        fwd, bwd = profile_winograd(xs, ws, p, dtype, WINOGRAD[algo], repeats)
                    print(f"    {algo} profile ms: forward " + ", ".join(f"{k} {v * 1e3:.2f}" for k, v in fwd.items())
                          + f" (sum {sum(fwd.values()) * 1e3:.2f})")
                    print(f"    {' ' * len(algo)}             backward "
                          + ", ".join(f"{k} {v * 1e3:.2f}" for k, v in bwd.items())
                          + f" (sum {sum(bwd.values()) * 1e3:.2f})", flush=True)


def pool_section(repeats: int) -> None:
    for dtype in (np.float32, np.float64):
        name, xs, size, s = POOL_CASE
        r = bench_pool(name, xs, size, s, dtype, repeats)
        print(f"{name:<15}{r['dtype']:<18}{_ms(r['ours_fwd'])} {_ms(r['torch_fwd'])}"
              f"{r['ratio_fwd']:7.2f}  {_ms(r['ours_fb'])} {_ms(r['torch_fb'])}"
              f"{r['ratio_fb']:7.2f}")


def naive_section() -> None:
    r = bench_naive_speedup(ARGS.quick)
    note = "" if r["n_naive"] == 100 else f" (naive timed on {r['n_naive']} samples, scaled to 100)"
    print(f"\nnaive vs fast, spec case x(100,3,31,31) w(25,3,3,3) stride 2 pad 1, float64{note}:")
    print(f"  forward : naive {r['naive_fwd']:.3f}s  fast {r['fast_fwd'] * 1e3:.2f}ms  "
          f"speed-up {r['naive_fwd'] / r['fast_fwd']:.0f}x   (course code: 265x)")
    print(f"  backward: naive {r['naive_bwd']:.3f}s  fast {r['fast_bwd'] * 1e3:.2f}ms  "
          f"speed-up {r['naive_bwd'] / r['fast_bwd']:.0f}x   (course code: 554x)")


def steps_section(repeats: int) -> None:
    print("\ntraining steps, float32, forward + backward + Adam, same initial weights (goal ratio <= 1.0):")
    for threads in ARGS.step_threads or THREAD_COUNTS:
        with at_threads(threads):
            ours, theirs, (loss_ours, loss_theirs) = three_layer_steps(50)
            t_o, t_t, ratio = time_pair(ours, theirs, repeats, ARGS.min_time)
            cpu = f" (cpu {cpu_pair(ours, theirs, repeats):.2f})" if threads == 1 else ""
            print(f"  {threads} thr ThreeLayerConvNet, batch 50 (3x32x32) nnlab {_ms(t_o)} ms  torch {_ms(t_t)} ms  "
                  f"ratio {ratio:.2f}{cpu}   (initial loss {loss_ours:.6f} vs {loss_theirs:.6f}; load "
                  f"{os.getloadavg()[0]:.2f})", flush=True)
            ours, theirs, diff = mri_steps(32)
            t_o, t_t, ratio = time_pair(ours, theirs, repeats, ARGS.min_time)
            cpu = f" (cpu {cpu_pair(ours, theirs, repeats):.2f})" if threads == 1 else ""
            print(f"  {threads} thr MRI network, batch 32 (1x84x84)       nnlab {_ms(t_o)} ms  torch {_ms(t_t)} ms  "
                  f"ratio {ratio:.2f}{cpu}   (eval-mode scores differ by {diff:.1e}; load {os.getloadavg()[0]:.2f})",
                  flush=True)


def memory_section() -> None:
    print("\npeak traced memory of one ThreeLayerConvNet training step (float32; goal: linear in the batch, "
          "<= 2x im2col + activations):")
    rows = [step_memory(n) for n in (50, 200)]
    for m in rows:
        need = m["cols"] + m["activations"]
        print(f"  batch {m['batch']:3d}: peak {m['peak'] / 2**20:7.1f} MiB   im2col {m['cols'] / 2**20:6.1f} MiB + "
              f"activations {m['activations'] / 2**20:6.1f} MiB = {need / 2**20:6.1f} MiB   "
              f"peak / that {m['peak'] / need:.2f}")
    print(f"  peak(200) / peak(50) = {rows[1]['peak'] / rows[0]['peak']:.2f} (linear: 4.00)")


def main() -> int:
    repeats = ARGS.repeats or (3 if ARGS.quick else 7)
    sections = set(ARGS.sections.split(","))
    print(f"nnlab conv/pool vs torch {torch.__version__} (CPU), {ARGS.threads} threads, median of {repeats} runs")
    print(f"numpy {np.__version__}; cpu count {os.cpu_count()}; load average {os.getloadavg()[0]:.2f} "
          "(a shared machine makes ratios noisy)")
    if ARGS.malloc == "steady":
        print("malloc: steady (freed memory kept in the process: no page faults on recycled temporaries)"
              if steady_malloc() else "malloc: steady requested, but this C library has no mallopt: default")
    else:
        print("malloc: default (large temporaries may be page-faulted in afresh on every call; --malloc steady)")
    peak = {dt: numpy_gemm_gflops(dt, repeats) for dt in (np.float32, np.float64)}
    print(f"numpy GEMM 1024^3: float32 {peak[np.float32]:.0f} GFLOP/s, float64 {peak[np.float64]:.0f} GFLOP/s\n")
    if "conv" in sections:
        conv_section(peak, repeats)
    if "accuracy" in sections:
        accuracy_section()
    if "pool" in sections:
        pool_section(repeats)
    if "naive" in sections:
        naive_section()
    if "steps" in sections:
        steps_section(repeats)
    if "memory" in sections:
        memory_section()
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
