"""One training step (forward + backward + Adam update) of a small CharTransformer (batch 32, T 64, d_model 128,
4 heads, 2 pre-norm layers, feed-forward 512, GELU, dropout 0.1, vocabulary 65, float32), nnlab vs the same
model in PyTorch (CPU, same weights), interleaved in one process, at 1 and 2 threads.

    python benchmarks/bench_transformer.py [--repeats 9] [--threads 1 2] [--dropout 0.1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import THREAD_COUNTS, at_threads, load_line, ratio_line, time_pair  # noqa: E402

from nnlab.models.transformer import CharTransformer  # noqa: E402
from nnlab.optim import adam  # noqa: E402

N, T, V, D, HEADS, LAYERS, FF = 32, 64, 65, 128, 4, 2, 512


def nnlab_step_fn(X: np.ndarray, y: np.ndarray, dropout: float):
    model = CharTransformer(V, D, HEADS, LAYERS, FF, max_len=T, dropout=dropout, seed=0, dtype=np.float32)
    configs = {k: {"learning_rate": 1e-3} for k in model.params}

    def step() -> float:
        loss, grads = model.loss(X, y)
        for k in list(model.params):
            model.params[k], configs[k] = adam(model.params[k], grads[k], configs[k])
        return loss

    return model, step


def torch_twin(model_np, dropout: float):
    """The same architecture from torch modules, with nnlab's parameter names, loaded with its weights."""
    import torch

    class Twin(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(V, D)
            self.pos_embedding = torch.nn.Module()
            self.pos_embedding.weight = torch.nn.Parameter(torch.zeros(T, D))
            self.drop = torch.nn.Dropout(dropout)
            self.layers = torch.nn.Sequential(*[
                torch.nn.TransformerEncoderLayer(D, HEADS, FF, dropout=dropout, activation="gelu", batch_first=True,
                                                 norm_first=True) for _ in range(LAYERS)])
            self.norm = torch.nn.LayerNorm(D)
            self.head = torch.nn.Linear(D, V)
            self.register_buffer("mask", torch.nn.Transformer.generate_square_subsequent_mask(T))

        def forward(self, X):
            h = self.drop(self.embedding(X) + self.pos_embedding.weight[:X.shape[1]])
            for layer in self.layers:
                h = layer(h, src_mask=self.mask, is_causal=True)
            return self.head(self.norm(h))

    net = Twin()
    state = {k: torch.from_numpy(v) for k, v in model_np.state_dict().items()}
    state["mask"] = net.mask
    net.load_state_dict(state)
    return net


def torch_step_fn(X: np.ndarray, y: np.ndarray, model_np, dropout: float):
    import torch

    net = torch_twin(model_np, dropout)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-8)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def step() -> float:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(net(Xt).reshape(-1, V), yt.reshape(-1))
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def main(argv: list[str] | None = None) -> dict[int, float]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, nargs="+", default=list(THREAD_COUNTS))
    parser.add_argument("--dropout", type=float, default=0.1)
    args = parser.parse_args(argv)

    import torch  # noqa: F401  (imported before at_threads, which sets its threads)

    rng = np.random.default_rng(0)
    X = rng.integers(0, V, size=(N, T)).astype(np.int64)
    y = rng.integers(0, V, size=(N, T)).astype(np.int64)
    ratios = {}
    for threads in args.threads:
        with at_threads(threads):
            model, ours = nnlab_step_fn(X, y, args.dropout)
            theirs = torch_step_fn(X, y, model, args.dropout)
            first_ours, first_theirs = ours(), theirs()
            t_ours, t_theirs, ratio = time_pair(ours, theirs, repeats=args.repeats)
        ratios[threads] = ratio
        print(f"threads {threads}: initial loss nnlab {first_ours:.4f}  torch {first_theirs:.4f} (same weights)")
        label = f"CharTransformer {N}x{T} d{D} h{HEADS} L{LAYERS} ff{FF} f32, {threads} thr"
        print(ratio_line(label, t_ours, t_theirs, width=50) + f"   ({load_line()})")
    print("RATIO nnlab/torch = " + ", ".join(f"{r:.2f} ({t} thr)" for t, r in ratios.items())
          + " (median of interleaved pairs)")
    return ratios


if __name__ == "__main__":
    main()
