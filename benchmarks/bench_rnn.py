"""One training step (forward + backward + RMSprop update) of CharRNN-LSTM (batch 64, T 30, embedding 256,
hidden 128, vocabulary 37, float32), nnlab vs the same model in PyTorch (CPU, same thread count, same weights),
in one process. Goal: ratio <= 2.0.

    python benchmarks/bench_rnn.py [--repeats 9] [--cell lstm|rnn]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import blas_threads, ratio_line, time_pair  # noqa: E402

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


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--cell", choices=["lstm", "rnn"], default="lstm")
    args = parser.parse_args(argv)

    import torch

    threads = blas_threads()
    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    X = rng.integers(0, V, size=(N, T)).astype(np.int64)
    y = rng.integers(0, V, size=N).astype(np.int64)

    model, ours = nnlab_step_fn(X, y, args.cell)
    theirs = torch_step_fn(X, y, model, args.cell)
    first_ours, first_theirs = ours(), theirs()
    t_ours, t_theirs, ratio = time_pair(ours, theirs, repeats=args.repeats)
    print(f"threads: numpy BLAS {threads}, torch {torch.get_num_threads()}")
    print(f"initial loss: nnlab {first_ours:.6f}  torch {first_theirs:.6f}  (same weights)")
    label = f"CharRNN-{args.cell.upper()} {N}x{T}, E{E} H{H} f32, fwd+bwd+RMSprop"
    print(ratio_line(label, t_ours, t_theirs, width=52))
    print(f"RATIO nnlab/torch = {ratio:.2f} (median of interleaved pairs; goal <= 2.0)")
    return ratio


if __name__ == "__main__":
    main()
