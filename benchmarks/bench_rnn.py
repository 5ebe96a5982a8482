"""One training step (forward + backward + RMSprop update) of CharRNN-LSTM (batch 64, T 30, embedding 256,
hidden 128, vocabulary 37, float32), nnlab vs the same model in PyTorch (CPU, same thread count, same weights),
in one process. Goal: ratio <= 2.0.

    python benchmarks/bench_rnn.py [--repeats 9] [--cell lstm|rnn] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import THREAD_COUNTS, at_threads, load_line, ratio_line, time_pair  # noqa: E402

from nnlab.models.char_rnn import CharRNN  # noqa: E402
from nnlab.optim import rmsprop  # noqa: E402

N, T, V, E, H = 64, 30, 37, 256, 128


def nnlab_step_fn(X: np.ndarray, y: np.ndarray, cell: str):
    model = CharRNN(V, E, H, cell=cell, seed=0, dtype=np.float32)
    configs = {k: {"learning_rate": 1e-3} for k in model.params}

    def step() -> float:
        loss, grads = model.loss(X, y)
        for k in list(model.params):
            model.params[k], configs[k] = rmsprop(model.params[k], grads[k], configs[k])
        return loss

    return model, step


def torch_step_fn(X: np.ndarray, y: np.ndarray, model_np, cell: str):
    import torch

    rnn_cls = torch.nn.LSTM if cell == "lstm" else torch.nn.RNN
    net = torch.nn.ModuleDict({"embedding": torch.nn.Embedding(V, E), "rnn": rnn_cls(E, H, batch_first=True),
                               "fc": torch.nn.Linear(H, V)})
    net.load_state_dict({k: torch.from_numpy(v) for k, v in model_np.state_dict().items()})
    opt = torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.99, eps=1e-8)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        _, state = net["rnn"](net["embedding"](Xt))
        h_n = state[0] if cell == "lstm" else state
        loss = loss_fn(net["fc"](h_n.squeeze(0)), yt)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def main(argv: list[str] | None = None) -> dict[int, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--cell", choices=["lstm", "rnn"], default="lstm")
    parser.add_argument("--threads", type=int, nargs="+", default=list(THREAD_COUNTS),
                        help="thread counts, both libraries (default 1 2)")
    args = parser.parse_args(argv)

    import torch  # noqa: F401  (imported before at_threads, which sets its threads)

    rng = np.random.default_rng(0)
    X = rng.integers(0, V, size=(N, T)).astype(np.int64)
    y = rng.integers(0, V, size=N).astype(np.int64)
    ratios = {}
    for threads in args.threads:
        with at_threads(threads):
            model, ours = nnlab_step_fn(X, y, args.cell)
            theirs = torch_step_fn(X, y, model, args.cell)
            first_ours, first_theirs = ours(), theirs()
            t_ours, t_theirs, ratio = time_pair(ours, theirs, repeats=args.repeats)
        ratios[threads] = ratio
        print(f"threads {threads}: initial loss nnlab {first_ours:.6f}  torch {first_theirs:.6f}  (same weights)")
        label = f"CharRNN-{args.cell.upper()} {N}x{T}, E{E} H{H} f32, {threads} thr"
        print(ratio_line(label, t_ours, t_theirs, width=52) + f"   ({load_line()})")
    print("RATIO nnlab/torch = " + ", ".join(f"{r:.2f} ({t} thr)" for t, r in ratios.items())
          + " (median of interleaved pairs; goal <= 1.0)")
    return ratios


if __name__ == "__main__":
    main()
