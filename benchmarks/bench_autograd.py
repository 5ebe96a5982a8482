"""The autograd tape's cost (issue 20): a chain of tiny operations, forward + backward, on nnlab Tensors vs torch
tensors (same values, gradients checked equal), interleaved in one process, at 1 and 2 threads; and the
training steps of FullyConnectedNet, ThreeLayerConvNet and CharTransformer through autograd vs their
hand-written path vs torch (same weights and batch; see training_step_fns).

    python benchmarks/bench_autograd.py [--repeats 9] [--threads 1 2] [--ops 1000] [--size 16] [--profile]

The chain cycles ``y * w`` (w a (size,) leaf used ops/4 times), ``y + 0.001``, ``tanh(y)``, ``y - 0.0005`` on a
(size,) float32 vector: every operation is tiny, so the time is the per-operation cost of the tape (recording
a node, running its backward, accumulating). ``numpy floor`` is the same forward and backward kernels called
directly, without a tape: what the chain would cost with a free tape. Goals: chain <= 0.5x torch; steps <=
1.10x hand-written and <= 1.0x torch.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import THREAD_COUNTS, at_threads, cpu_time_pair, load_line, ratio_line, time_pair  # noqa: E402

import nnlab.autograd as ag  # noqa: E402
from nnlab.layers import activations as act  # noqa: E402
from nnlab.layers import tensor_ops as ops  # noqa: E402

MUL, ADD, SUB = 1.0001, 0.001, 0.0005


# ---- the chain of tiny operations ------------------------------------------------------------------------------
def nnlab_chain_fn(x0: np.ndarray, w0: np.ndarray, n_ops: int) -> Callable[[], tuple]:
    """Forward + backward of the chain on the tape; returns (dx, dw)."""

    def chain() -> tuple:
        x = ag.tensor(x0, requires_grad=True)
        w = ag.tensor(w0, requires_grad=True)
        y = x
        for _ in range(n_ops // 4):
            y = ((y * w + ADD).tanh()) - SUB
        y.sum().backward()
        return x.grad, w.grad

    return chain


def torch_chain_fn(x0: np.ndarray, w0: np.ndarray, n_ops: int) -> Callable[[], tuple]:
    import torch

    def chain() -> tuple:
        x = torch.tensor(x0, requires_grad=True)
        w = torch.tensor(w0, requires_grad=True)
        y = x
        for _ in range(n_ops // 4):
            y = ((y * w + ADD).tanh()) - SUB
        y.sum().backward()
        return x.grad.numpy(), w.grad.numpy()

    return chain


def kernel_chain_fn(x0: np.ndarray, w0: np.ndarray, n_ops: int) -> Callable[[], tuple]:
    """The same forward and backward kernels called directly (no tape): the NumPy floor of the chain."""

    def chain() -> tuple:
        caches = []
        y = x0
        for _ in range(n_ops // 4):
            y, c_mul = ops.mul_forward(y, w0)
            y, _ = ops.add_forward(y, ADD)
            y, c_tanh = act.tanh_forward(y)
            y, _ = ops.sub_forward(y, SUB)
            caches.append((c_mul, c_tanh))
        g = np.ones_like(y)
        dw = np.zeros_like(w0)
        for c_mul, c_tanh in reversed(caches):
            g = act.tanh_backward(g, c_tanh)
            g, dw_k = ops.mul_backward(g, c_mul, (True, True))
            dw += dw_k
        return g, dw

    return chain


def profile_chain(chain: Callable[[], object], calls: int = 30, top: int = 18) -> str:
    """cProfile of ``calls`` chains, the ``top`` functions by own time (the tape's per-op costs)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        chain()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


# ---- training steps: the same models through autograd, hand-written, and in torch --------------------------------
STEP_MODELS = ("FullyConnectedNet", "ThreeLayerConvNet", "CharTransformer")


def _tape_adam_step(forward: Callable, params: list, X: np.ndarray, y: np.ndarray, lr: float):
    """A torch-style step on the tape: ``loss = F.cross_entropy(forward(X), y); zero_grad; backward; step``."""
    import nnlab.functional as F
    from nnlab.optim import Adam

    opt = Adam(params, lr=lr, eps=1e-8)

    def step() -> float:
        scores = forward(ag.tensor(X))
        loss = F.cross_entropy(scores.reshape(-1, scores.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step


def training_step_fns(model: str) -> tuple[Callable[[], float], Callable[[], float], Callable[[], float]]:
    """``(autograd_step, handwritten_step, torch_step)`` for ``model`` in :data:`STEP_MODELS`, from the same
    weights and batch, each a whole step (forward, backward, Adam update):

    - autograd: the model's forward written with ``nnlab.functional`` on Tensors over the same weights
      (FullyConnectedNet, ThreeLayerConvNet) or its forward-only twin (``CharTransformerTape``), then
      ``loss.backward()`` and ``nnlab.optim.Adam``;
    - hand-written: ``model.loss(X, y)`` and the ``adam`` update rule, as ``bench_fc.py`` / ``bench_conv.py`` /
      ``bench_transformer.py`` time it (their ``nnlab_step_fn``);
    - torch: the twin those scripts build.

    The first losses of the three agree (asserted). Goals: autograd <= 1.10x hand-written, <= 1.0x torch.
    """
    import nnlab.functional as F

    rng = np.random.default_rng(0)
    if model == "FullyConnectedNet":
        import bench_fc

        X = rng.standard_normal((bench_fc.N, bench_fc.D)).astype(np.float32)
        y = rng.integers(0, bench_fc.C, size=bench_fc.N).astype(np.int64)
        net, hand = bench_fc.nnlab_step_fn(X, y)
        theirs = bench_fc.torch_step_fn(X, y, net)
        depth = bench_fc.DEPTH + 1
        P = {k: ag.tensor(v.copy(), requires_grad=True) for k, v in net.params.items()}

        def forward(x):
            for i in range(1, depth + 1):
                x = x @ P[f"W{i}"] + P[f"b{i}"]  # CS231n's (D, M) weights: a matmul node and a broadcast add
                if i < depth:
                    x = F.relu(x)
            return x

        auto = _tape_adam_step(forward, list(P.values()), X, y, 1e-3)
    elif model == "ThreeLayerConvNet":
        import bench_conv

        hand, theirs, _ = bench_conv.three_layer_steps(50)
        from nnlab.models import ThreeLayerConvNet

        net = ThreeLayerConvNet(weight_scale=1e-2, seed=0, dtype=np.float32)  # three_layer_steps' weights and batch
        X = rng.standard_normal((50, 3, 32, 32)).astype(np.float32)
        y = rng.integers(0, 10, size=50)
        P = {k: ag.tensor(v.copy(), requires_grad=True) for k, v in net.params.items()}

        def forward(x):
            # ReLU after the pool, as the hand-written conv_relu_pool applies it (max-pool and ReLU commute: the
            # same values and gradients, a quarter of the elements)
            x = F.relu(F.max_pool2d(F.conv2d(x, P["W1"], P["b1"], padding=3), 2))
            x = F.relu(x.flatten(1) @ P["W2"] + P["b2"])
            return x @ P["W3"] + P["b3"]

        auto = _tape_adam_step(forward, list(P.values()), X, y, 1e-3)
    elif model == "CharTransformer":
        import bench_transformer as bt

        from nnlab.models.tape_twins import CharTransformerTape

        X = rng.integers(0, bt.V, size=(bt.N, bt.T)).astype(np.int64)
        y = rng.integers(0, bt.V, size=(bt.N, bt.T)).astype(np.int64)
        net, hand = bt.nnlab_step_fn(X, y, 0.0)
        theirs = bt.torch_step_fn(X, y, net, 0.0)
        twin = CharTransformerTape(bt.V, bt.D, bt.HEADS, bt.LAYERS, bt.FF, max_len=bt.T, dropout=0.0, seed=0,
                                   dtype=np.float32)
        twin.load_state_dict(net.state_dict())
        auto = _tape_adam_step(twin, twin.parameter_tensors(), X, y, 1e-3)
    else:
        raise ValueError(f"training_step_fns: model must be one of {STEP_MODELS}, got {model!r}")
    first = auto(), hand(), theirs()
    first = tuple(float(v[0] if isinstance(v, tuple) else v.item() if hasattr(v, "item") else v) for v in first)
    assert max(first) - min(first) <= 1e-4 * max(abs(v) for v in first), f"{model}: first losses differ {first}"
    return auto, hand, theirs


def run_steps(threads: int, repeats: int) -> None:
    for model in STEP_MODELS:
        try:
            auto, hand, theirs = training_step_fns(model)
        except NotImplementedError as e:
            print(f"  {model}: pending ({e})")
            continue
        t_auto, t_hand, r_hand = time_pair(auto, hand, repeats=repeats)
        t_auto2, t_theirs, r_torch = time_pair(auto, theirs, repeats=repeats)
        print(ratio_line(f"{model} step autograd vs torch, {threads} thr", t_auto2, t_theirs, width=50))
        print(f"{'':50} autograd/hand-written {r_hand:5.2f} (goal <= 1.10), autograd/torch {r_torch:5.2f} "
              "(goal <= 1.0)")


# ---- main -----------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> dict[int, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, nargs="+", default=list(THREAD_COUNTS))
    parser.add_argument("--ops", type=int, default=1000, help="operations in the chain (a multiple of 4)")
    parser.add_argument("--size", type=int, default=16, help="elements of the chain's vector")
    parser.add_argument("--profile", action="store_true", help="cProfile the nnlab chain (top functions by own time)")
    parser.add_argument("--no-steps", action="store_true", help="only the chain")
    args = parser.parse_args(argv)

    import torch  # noqa: F401  (imported before at_threads, which sets its threads)

    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(args.size).astype(np.float32)
    w0 = rng.uniform(0.9, 1.1, args.size).astype(np.float32)
    ours, theirs = nnlab_chain_fn(x0, w0, args.ops), torch_chain_fn(x0, w0, args.ops)
    floor = kernel_chain_fn(x0, w0, args.ops)
    for a, b, c, name in zip(ours(), theirs(), floor(), ("dx", "dw")):
        err = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))
        assert err < 1e-4 and np.array_equal(a, c), f"chain {name}: nnlab and torch disagree ({err:.2e})"
    ratios = {}
    for threads in args.threads:
        with at_threads(threads):
            t_ours, t_theirs, ratio = time_pair(ours, theirs, repeats=args.repeats)
            t_floor, t_theirs2, ratio_floor = time_pair(floor, theirs, repeats=args.repeats)
        ratios[threads] = ratio
        label = f"chain of {args.ops} ops on ({args.size},) f32, fwd+bwd, {threads} thr"
        print(ratio_line(label, t_ours, t_theirs, width=50) + f"   ({load_line()})")
        print(ratio_line(f"  numpy floor (kernels, no tape), {threads} thr", t_floor, t_theirs2, width=50))
        per_op = (t_ours - t_floor) / args.ops * 1e6
        print(f"  tape overhead {per_op:.2f} us per operation (forward + backward); torch "
              f"{t_theirs / args.ops * 1e6:.2f} us per operation all in; ratio nnlab/torch {ratio:.2f}, "
              f"floor/torch {ratio_floor:.2f}")
        if threads == 1:  # process CPU time: the load-robust figure at one thread
            with at_threads(1):
                c_ours, c_theirs, c_ratio = cpu_time_pair(ours, theirs, repeats=20 * args.repeats)
            print(f"  CPU time at 1 thread: nnlab {c_ours * 1e3:.3f} ms, torch {c_theirs * 1e3:.3f} ms, ratio "
                  f"{c_ratio:.2f}")
        if not args.no_steps:
            with at_threads(threads):
                run_steps(threads, args.repeats)
    print("RATIO chain nnlab/torch = " + ", ".join(f"{r:.2f} ({t} thr)" for t, r in ratios.items())
          + " (median of interleaved pairs; goal <= 0.5)")
    if args.profile:
        with at_threads(1):
            print(profile_chain(ours))
    return ratios


if __name__ == "__main__":
    main()
