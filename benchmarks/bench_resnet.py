"""Residual-network training steps: nnlab vs a PyTorch twin with the same weights, on the CPU, in one process.

Usage: ``python benchmarks/bench_resnet.py [--quick] [--threads 1 2] [--batch 128] [--repeats 3] [--nets ...]``

One training step = forward, softmax cross-entropy, backward and an SGD-momentum update (nnlab: ``Classifier``
+ ``optim.sgd_momentum`` per parameter, as the Solver does; torch: ``torch.optim.SGD(momentum=0.9)``), batch 128
of float32 32x32 images in training mode (batch norm on batch statistics). The torch twin has the same structure,
names and weights (``tests/parity/torch_twins.py``); the first losses of the two are printed side by side.

Networks (``nnlab.models.resnet``):
- ``resnet20``: ``resnet_cifar(depth=20)`` (16/32/64 channels, 0.27 M parameters);
- ``resnet8``: ``resnet_cifar(depth=8)``;
- ``fast``: ``resnet_fast()`` (stem 32, stages 64/128/256, one residual pair per stage);
- ``fast9``: ``resnet_fast(residual=(True, False, True))`` (Page's ResNet-9 layout at half width);
- ``fast-narrow``: ``resnet_fast(widths=(32, 64, 128))``.

For each thread count (``common.at_threads``: ``nnlab.set_num_threads`` and ``torch.set_num_threads``) nnlab and
torch steps are interleaved (``benchmarks/common.time_pair``): times are medians, the ratio nnlab / torch is the
median of the per-pair ratios, so a change in machine load hits both alike; at 1 thread the process CPU time of each
step is measured too (interleaved), the load-robust estimate of the step on an idle machine. Each line also gives
the time of one CIFAR-10 training epoch (50,000 images = ceil(50000 / batch) steps), the conv forward GFLOP per
image, and the achieved GFLOP/s of the step (3 x the conv + linear forward flops: forward, input and weight
gradients). The load average is printed before and after: on a machine with more runnable jobs than CPUs the
2-thread times collapse (threads wait for each other at every GEMM barrier) and only the 1-thread figures are
meaningful.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from common import at_threads, cpu_time_pair, time_pair  # noqa: E402  (benchmarks/common.py)
from tests.parity.torch_twins import torch_twin  # noqa: E402

import nnlab.nn as nn  # noqa: E402
from nnlab.models import Classifier, resnet_cifar, resnet_fast  # noqa: E402
from nnlab.optim import sgd_momentum  # noqa: E402

NETS = {
    "resnet20": lambda: resnet_cifar(depth=20, seed=0),
    "resnet8": lambda: resnet_cifar(depth=8, seed=0),
    "fast": lambda: resnet_fast(seed=0),
    "fast9": lambda: resnet_fast(residual=(True, False, True), seed=0),
    "fast-narrow": lambda: resnet_fast(widths=(32, 64, 128), seed=0),
}
EPOCH_IMAGES = 50_000


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="batch 32, one timed pair per measurement")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    parser.add_argument("--batch", type=int, default=None, help="batch size (default 128, quick 32)")
    parser.add_argument("--repeats", type=int, default=None, help="timed pairs per measurement (default 3)")
    parser.add_argument("--nets", nargs="+", default=["resnet20", "fast"], choices=sorted(NETS),
                        help="networks to time (default resnet20 fast)")
    args = parser.parse_args(argv)
    args.batch = args.batch or (32 if args.quick else 128)
    args.repeats = args.repeats or (1 if args.quick else 3)
    return args


def forward_gflop_per_image(net: nn.Module, image: np.ndarray) -> float:
    """GFLOP (2 x multiply-adds) of the Conv2d and Linear layers for one image: their ``forward`` is wrapped for
    one eval-mode pass to read the output shapes (output positions x weight size)."""
    flops = 0.0
    originals = {cls: cls.forward for cls in (nn.Conv2d, nn.Linear)}

    def counting(cls):
        def forward(self, x):
            nonlocal flops
            out = originals[cls](self, x)
            positions = out.size // (out.shape[1] if cls is nn.Conv2d else out.shape[-1])
            flops += 2.0 * self.weight.size * positions
            return out
        return forward

    try:
        for cls in originals:
            cls.forward = counting(cls)
        net.eval()
        net(image[None])
    finally:
        for cls, f in originals.items():
            cls.forward = f
        net.train()
    return flops / 1e9


def step_pair(net: nn.Module, X: np.ndarray, y: np.ndarray, lr: float = 0.05, momentum: float = 0.9):
    """Closures for one SGD-momentum training step of ``net`` (through ``Classifier``) and of its torch twin."""
    net.train()
    twin = torch_twin(net)
    model = Classifier(net)
    configs = {k: {"learning_rate": lr, "momentum": momentum} for k in model.params}
    opt = torch.optim.SGD(twin.parameters(), lr=lr, momentum=momentum)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def ours():
        loss, grads = model.loss(X, y)
        for k in list(model.params):
            model.params[k], configs[k] = sgd_momentum(model.params[k], grads[k], configs[k])
        return loss

    def theirs():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(twin(Xt), yt)
        loss.backward()
        opt.step()
        return loss

    return ours, theirs


def main() -> int:
    args = _parse_args()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.batch, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, size=args.batch)
    steps = math.ceil(EPOCH_IMAGES / args.batch)
    print(f"bench_resnet: batch {args.batch}, float32, train mode, SGD momentum 0.9; epoch = {steps} steps; "
          f"torch {torch.__version__}, numpy {np.__version__}; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs")
    rows = []
    for name in args.nets:
        net = NETS[name]()
        gflop = forward_gflop_per_image(net, X[0])
        params = sum(p.size for p in net.parameters())
        ours, theirs = step_pair(net, X, y)
        first = (float(ours()), theirs().item())  # same weights, same batch: the first losses agree
        print(f"\n{name}: {params / 1e6:.3f} M parameters, {gflop:.3f} GFLOP/image forward; first-step loss "
              f"nnlab {first[0]:.6f} torch {first[1]:.6f}")
        for threads in args.threads:
            with at_threads(threads):
                t_ours, t_theirs, ratio = time_pair(ours, theirs, repeats=args.repeats, min_time=0.0)
                cpu = cpu_time_pair(ours, theirs, args.repeats) if threads == 1 else None
            achieved = 3 * gflop * args.batch / t_ours
            rows.append((name, threads, t_ours, t_theirs, ratio))
            print(f"  {threads} thread{'s' if threads > 1 else ' '}: step nnlab {t_ours * 1e3:8.1f} ms "
                  f"torch {t_theirs * 1e3:8.1f} ms  ratio {ratio:5.2f}  |  epoch nnlab {t_ours * steps / 60:5.1f} min "
                  f"torch {t_theirs * steps / 60:5.1f} min  |  nnlab {achieved:6.1f} GFLOP/s")
            if cpu is not None:
                rows.append((f"{name} (CPU time)", threads, *cpu))
                print(f"  1 thread, CPU time: step nnlab {cpu[0] * 1e3:8.1f} ms torch {cpu[1] * 1e3:8.1f} ms  "
                      f"ratio {cpu[2]:5.2f}  |  epoch nnlab {cpu[0] * steps / 60:5.1f} min torch "
                      f"{cpu[1] * steps / 60:5.1f} min  |  nnlab {3 * gflop * args.batch / cpu[0]:6.1f} GFLOP/s")
    print(f"\nsummary (ratio = nnlab / torch, median of interleaved pairs; epoch = training steps only; load average "
          f"now {os.getloadavg()[0]:.1f}: with more runnable jobs than CPUs, multi-threaded BLAS/OpenMP times collapse "
          "and their ratios mean little)")
    for name, threads, t_ours, t_theirs, ratio in rows:
        print(f"  {name:<23} {threads} thr  ratio {ratio:5.2f}  epoch nnlab {t_ours * steps / 60:5.1f} min, "
              f"torch {t_theirs * steps / 60:5.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
