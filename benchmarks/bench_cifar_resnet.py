"""The ``cifar10-resnet`` recipe's training epoch: nnlab vs a PyTorch twin of the same network and schedule, on the CPU.

Usage: ``python benchmarks/bench_cifar_resnet.py [--threads 1 2] [--repeats 3] [--set widths=[32,64,128] ...]``

One training step as the recipe runs it (its settings, ``--set`` overrides them):
- nnlab: a shuffled minibatch, the recipe's ``batch_transform`` (random crop with padding 4 + horizontal flip, in
  NumPy), ``model.loss`` (``FlipTTAClassifier``: label-smoothed cross-entropy, L2 on conv/linear weights,
  backward) and the Nesterov-momentum update of every parameter with the one-cycle learning rate of that step —
  the Solver's work per iteration;
- torch: the twin network (``tests/parity/torch_twins.py``: same structure, names and weights), the same
  augmentation in torch ops, ``F.cross_entropy(label_smoothing=...)``, ``torch.optim.SGD(nesterov=True,
  weight_decay=...)`` on the conv/linear weights only and ``OneCycleLR`` stepped per iteration.
The epoch time = ``N_train // batch`` steps + the per-epoch accuracy checks (1000 training + 1000 validation
images, each scored on the image and its mirror: flip TTA), in eval mode (torch under ``no_grad``).

Steps are interleaved (``benchmarks/common.time_pair``): medians, ratio = median of the per-pair ratios, so a
change in machine load hits both alike. Thread counts: ``common.at_threads`` (``nnlab.set_num_threads``,
``torch.set_num_threads``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from common import at_threads, time_pair  # noqa: E402  (benchmarks/common.py)
from tests.parity.torch_twins import torch_twin  # noqa: E402

from nnlab import runner  # noqa: E402
from nnlab.optim import get_update_rule  # noqa: E402
from nnlab.runs import predict_scores  # noqa: E402

N_TRAIN = 49_000
CHECK_IMAGES = 2_000  # accuracy checks per epoch: 1000 training (num_train_samples) + 1000 validation images


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed step pairs per thread count (default 3)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a recipe setting (as nnlab train --set)")
    return parser.parse_args(argv)


def torch_augment(X: torch.Tensor, padding: int, gen: torch.Generator) -> torch.Tensor:
    """Random crop (zero padding ``padding``) and horizontal flip with p 0.5, per image, in torch ops."""
    n, _, h, w = X.shape
    if padding:
        Xp = F.pad(X, (padding,) * 4)
        oy = torch.randint(0, 2 * padding + 1, (n,), generator=gen)
        ox = torch.randint(0, 2 * padding + 1, (n,), generator=gen)
        rows = (oy[:, None] + torch.arange(h))[:, None, :, None]  # (n, 1, h, 1)
        cols = (ox[:, None] + torch.arange(w))[:, None, None, :]  # (n, 1, 1, w)
        X = Xp[torch.arange(n)[:, None, None, None], torch.arange(X.shape[1])[None, :, None, None], rows, cols]
    flip = torch.rand(n, generator=gen) < 0.5
    return torch.where(flip[:, None, None, None], X.flip(3), X)


def step_pair(cfg: dict, X: np.ndarray, y: np.ndarray):
    """Closures for one training step of the recipe's model (nnlab) and of its torch twin, and for the accuracy
    checks of one epoch; both start from the same weights."""
    recipe = runner.prepare("cifar10-resnet", cfg)[0]
    model = recipe.model(cfg, {"input_shape": list(X.shape[1:]), "num_classes": 10})
    data = {"X_train": X, "y_train": y}
    opts = runner.solver_options(recipe, cfg, data)
    schedule, transform = opts["lr_schedule"], opts["batch_transform"]
    rule = get_update_rule(cfg["update_rule"])
    base = {"learning_rate": cfg["learning_rate"], "momentum": cfg["momentum"]}
    configs = {k: dict(base) for k in model.params}
    twin = torch_twin(model.module)
    decayed = set(model.regularized_names())
    named = dict(twin.named_parameters())
    groups = [{"params": [named[k] for k in named if k in decayed], "weight_decay": cfg["weight_decay"]},
              {"params": [named[k] for k in named if k not in decayed], "weight_decay": 0.0}]
    opt = torch.optim.SGD(groups, lr=cfg["learning_rate"], momentum=cfg["momentum"], nesterov=True)
    total = (len(y) // cfg["batch_size"]) * cfg["num_epochs"]
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg["learning_rate"], total_steps=total,
                                                pct_start=schedule.pct_start, anneal_strategy="linear",
                                                cycle_momentum=False, div_factor=cfg["div_factor"],
                                                final_div_factor=1e3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    bs, gen = cfg["batch_size"], torch.Generator().manual_seed(0)
    perm = np.random.default_rng(0).permutation(len(y))
    state = {"ours": 0, "theirs": 0}

    def ours():
        t = state["ours"]
        state["ours"] += 1
        idx = perm[(t * bs) % (len(y) - bs):][:bs]
        Xb, yb = transform(X[idx], y[idx])
        loss, grads = model.loss(Xb, yb)
        lr = schedule.lr_at(t)
        for k in list(model.params):
            configs[k]["learning_rate"] = lr
            model.params[k], configs[k] = rule(model.params[k], grads[k], configs[k])
        return loss

    def theirs():
        t = state["theirs"]
        state["theirs"] += 1
        idx = torch.from_numpy(perm[(t * bs) % (len(y) - bs):][:bs])
        twin.train()
        opt.zero_grad(set_to_none=True)
        out = twin(torch_augment(Xt[idx], cfg["crop_padding"], gen))
        loss = F.cross_entropy(out, yt[idx], label_smoothing=cfg["label_smoothing"])
        loss.backward()
        opt.step()
        sched.step()
        return loss

    Xc = X[:CHECK_IMAGES]
    Xct = torch.from_numpy(Xc)

    def ours_check():
        return predict_scores(model, Xc, batch_size=100)  # model.loss(X): eval mode, flip TTA

    def theirs_check():
        twin.eval()
        with torch.no_grad():
            return torch.cat([(twin(b) + twin(b.flip(3))) / 2 for b in Xct.split(100)])

    return ours, theirs, ours_check, theirs_check


def main() -> int:
    args = _parse_args()
    overrides = dict(item.split("=", 1) for item in args.set)
    recipe, cfg = runner.prepare("cifar10-resnet", overrides, from_text=True)
    rng = np.random.default_rng(0)
    n = max(4 * cfg["batch_size"], CHECK_IMAGES)  # the schedule spans num_epochs x 4 steps: enough for the pairs
    X = rng.standard_normal((n, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, size=n)
    steps = N_TRAIN // cfg["batch_size"]
    print(f"bench_cifar_resnet: cifar10-resnet widths {cfg['widths']}, residual {cfg['residual']}, batch "
          f"{cfg['batch_size']}, epoch = {steps} steps + checks of {CHECK_IMAGES} images x2 (TTA); torch "
          f"{torch.__version__}, numpy {np.__version__}; load average {os.getloadavg()[0]:.1f}")
    rows = []
    for threads in args.threads:
        with at_threads(threads):
            ours, theirs, ours_check, theirs_check = step_pair(cfg, X, y)
            start = time.perf_counter()
            t_ours, t_theirs, ratio = time_pair(ours, theirs, repeats=args.repeats, min_time=0.0)
            c_ours, c_theirs, c_ratio = time_pair(ours_check, theirs_check, repeats=1, min_time=0.0)
            wall = time.perf_counter() - start
        e_ours, e_theirs = steps * t_ours + c_ours, steps * t_theirs + c_theirs
        rows.append((threads, t_ours, t_theirs, ratio, e_ours, e_theirs))
        print(f"  {threads} thread{'s' if threads > 1 else ' '}: step nnlab {t_ours:6.2f} s torch {t_theirs:6.2f} s "
              f"ratio {ratio:5.2f} | checks nnlab {c_ours:5.1f} s torch {c_theirs:5.1f} s | epoch nnlab "
              f"{e_ours / 60:5.1f} min torch {e_theirs / 60:5.1f} min ratio {e_ours / e_theirs:5.2f} "
              f"({wall:.0f} s; load {os.getloadavg()[0]:.1f})", flush=True)
    print("\nsummary (ratio = nnlab / torch; epoch = training steps + accuracy checks)")
    for threads, _, _, ratio, e_ours, e_theirs in rows:
        print(f"  {threads} thr  step ratio {ratio:5.2f}  epoch nnlab {e_ours / 60:5.1f} min, torch "
              f"{e_theirs / 60:5.1f} min, ratio {e_ours / e_theirs:5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
