"""One training step (forward + backward + Adam update) of FullyConnectedNet([100]*5) on a 200x3072 float32
batch, nnlab vs the same network in PyTorch (CPU, same thread count), in one process. Goal: ratio <= 1.3.

    python benchmarks/bench_fc.py [--repeats 7] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import THREAD_COUNTS, at_threads, load_line, numpy_gemm_gflops, ratio_line, time_pair  # noqa: E402

from nnlab.models import FullyConnectedNet  # noqa: E402
from nnlab.optim import adam  # noqa: E402

N, D, H, C, DEPTH = 200, 3072, 100, 10, 5


def nnlab_step_fn(X: np.ndarray, y: np.ndarray):
    np.random.seed(0)
    model = FullyConnectedNet([H] * DEPTH, input_dim=D, num_classes=C, weight_scale=1e-2, dtype=np.float32)
    configs = {k: {"learning_rate": 1e-3} for k in model.params}

    def step() -> float:
        loss, grads = model.loss(X, y)
        for k, w in model.params.items():
            model.params[k], configs[k] = adam(w, grads[k], configs[k])
        return loss

    return model, step


def torch_step_fn(X: np.ndarray, y: np.ndarray, model_np):
    import torch

    layers = []
    dims = [D] + [H] * DEPTH + [C]
    for i in range(len(dims) - 1):
        lin = torch.nn.Linear(dims[i], dims[i + 1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(model_np.params[f"W{i + 1}"].T.copy()))
            lin.bias.copy_(torch.from_numpy(model_np.params[f"b{i + 1}"].copy()))
        layers.append(lin)
        if i < len(dims) - 2:
            layers.append(torch.nn.ReLU())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(Xt), yt)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def main(argv: list[str] | None = None) -> dict[int, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, nargs="+", default=list(THREAD_COUNTS),
                        help="thread counts, both libraries (default 1 2)")
    args = parser.parse_args(argv)

    import torch  # noqa: F401  (imported before at_threads, which sets its threads)

    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D)).astype(np.float32)
    y = rng.integers(0, C, size=N).astype(np.int64)
    flops = 0
    dims = [D] + [H] * DEPTH + [C]
    for i in range(len(dims) - 1):
        flops += 3 * 2 * N * dims[i] * dims[i + 1]  # forward GEMM + two backward GEMMs
    print(f"NumPy float32 GEMM (1024^3): {numpy_gemm_gflops(np.float32):.1f} GFLOP/s")
    ratios = {}
    for threads in args.threads:
        with at_threads(threads):
            model, ours = nnlab_step_fn(X, y)
            theirs = torch_step_fn(X, y, model)
            first_ours, first_theirs = ours(), theirs()
            t_ours, t_theirs, ratio = time_pair(ours, theirs, repeats=args.repeats)
        ratios[threads] = ratio
        print(f"threads {threads}: initial loss nnlab {first_ours:.6f}  torch {first_theirs:.6f}  (same weights)")
        print(ratio_line(f"FC [100]*5, 200x3072 f32, fwd+bwd+Adam, {threads} thr", t_ours, t_theirs)
              + f"   ({load_line()})")
        print(f"  nnlab step GEMM throughput: {flops / t_ours / 1e9:.1f} GFLOP/s")
    print("RATIO nnlab/torch = " + ", ".join(f"{r:.2f} ({t} thr)" for t, r in ratios.items())
          + " (median of interleaved pairs; goal <= 1.0)")
    return ratios


if __name__ == "__main__":
    main()
