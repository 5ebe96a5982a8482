"""Recipes ``macbeth-transformer`` and ``shakespeare-transformer``: a decoder-only character transformer.

Model: :class:`nnlab.models.transformer.CharTransformer` (token + learned positional embeddings, ``num_layers``
pre-norm causal blocks of ``d_model`` with ``nhead`` heads, a final LayerNorm and a linear read-out), trained
on every position of its windows: for a window ``x = ids[s : s+T]`` the targets are ``ids[s+1 : s+T+1]``, and the
loss is the next-character cross-entropy averaged over the ``N*T`` positions of a batch.

Data. ``macbeth-transformer`` reads Macbeth cleaned as the macbeth-rnn/-lstm recipes do
(:func:`nnlab.data.text.load_macbeth`, the seed's 37-character vocabulary); ``shakespeare-transformer`` reads
``tinyshakespeare.txt`` raw (65 characters, nanoGPT's ``shakespeare_char``). The text of ``L`` characters is cut
at ``c = round(L * (1 - val_fraction))`` exactly as ``macbeth-lstm`` cuts it (``split_windows``): training
windows start every ``window_stride`` characters and end, target included, before ``c`` (``s + T < c``); the
held-out windows start at ``c, c+T, c+2T, ...`` (no overlap) and never reach back into the training text. The
``val`` split (= ``test``) holds them; ``y`` holds the character after each window (the Solver's accuracy checks
score that last position), and the targets of every position are rebuilt from ``X`` and ``y`` by
``batch_transform`` (training) and by the score hook.

Training (the runner's Solver): ``batch_order='shuffle'``, AdamW (decoupled weight decay on every parameter,
``beta2`` a setting), linear warm-up of ``warmup_iters`` iterations from 0.1 x lr, then a cosine to
``min_lr_ratio`` x lr at the last iteration (``LinearWarmup(CosineAnnealingLR)`` per iteration), global gradient
clipping, dropout, final weights kept. ``time_budget_s`` adds a :class:`nnlab.callbacks.TimeBudget`: training
stops at the end of the last epoch that fits (the cosine keeps its ``num_epochs`` length, so choose
``num_epochs`` to fit the budget for a fully annealed run).

Metrics (score hook, eval mode, any split present): ``{split}_loss`` = mean next-character cross-entropy over all
``T`` positions of every window of the split (context 0 .. T-1 characters), ``{split}_acc`` = next-character
accuracy over the same positions, and for training runs ``val_loss_history`` (held-out loss after every epoch,
on at most ``num_curve_windows`` windows), ``train_loss`` on at most ``num_score_windows`` evenly spaced
training windows, and a temperature-``sample_temperature`` ``sample``. ``info["vocab"]`` makes
``nnlab generate RUN`` / ``nnlab predict RUN --seed-text ...`` work: the window is the last ``sequence_len``
characters (a shorter prompt is left-padded with spaces).

Defaults, measured per wall-second (one BLAS thread, the 2-core machine shared with ~6 other jobs, load 10-19):
two blocks, context 64, batch 16 (more, smaller steps beat 4 blocks, context 128 or batch 32 over 5-minute
runs), ReLU and no dropout (exact GELU costs ~22% of a step, dropout's mask ~13%; the model is far from
overfitting in 15 minutes), lr 4e-3 (held-out 1.625, against 1.782 with dropout 0.1 and lr 3e-3).

Equal wall time against ``macbeth-lstm --set val_fraction=0.1`` (run side by side, one BLAS thread each; the
LSTM stops when the transformer run ends): defaults, 1,260 steps in 847 s, held-out ``val_loss`` **1.625**;
the LSTM recipe after 871 s (1.27 epochs) 1.810, and the same recipe with ``seq_loss=True`` (trained on every
position) 1.534. Scored on exactly the LSTM's held-out targets with its 30 characters of context, the
transformer gives 1.613, so the comparison does not hinge on the metric. On the idle machine the same run takes
97 s and gives the same 1.6250 (deterministic); the LSTM recipe reaches 1.826 in those 100 s. tiny-shakespeare,
981 steps in 439 s: 1.902 against 2.025 (LSTM recipe on the same raw text and cut, 479 s) and 1.743
(``seq_loss=True``); 2 epochs in 1150 s: 1.725 against 1.936 and 1.683.

Limits: without dropout the model overfits Macbeth's 92k training characters after ~8 epochs (14 epochs: held-out
best 1.633 at epoch 8, final 1.769, train 1.07 — then the LSTM recipe's 1.713 is better), and dropout 0.2 slows it
too much at these budgets (1.874 after 10 epochs); keep ``num_epochs`` near 7 on Macbeth.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from ..autograd import no_grad
from .contract import Recipe, RunResult, Setting, standard_solver_settings

__all__ = ["RECIPES", "text_splits", "all_position_loss"]


def _read_text(corpus: str, data_path: str | None) -> tuple[str, str]:
    """``(text, vocab)``: Macbeth cleaned with the seed's vocabulary, or tiny-shakespeare raw with its own."""
    if corpus == "macbeth":
        from nnlab.data.text import load_macbeth

        loaded = load_macbeth(data_path, sequence_len=1)
        return loaded["text"], "".join(loaded["vocab"])
    from nnlab.data.paths import DataFormatError, find_data_file

    path = find_data_file("shakespeare-transformer", data_path, "text", ("tinyshakespeare.txt", "input.txt"), None,
                          how="save karpathy/char-rnn's data/tinyshakespeare/input.txt there")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"shakespeare-transformer: {path} is not UTF-8 text ({exc})") from exc
    if len(text) < 2:
        raise DataFormatError(f"shakespeare-transformer: {path} holds {len(text)} characters; a text is needed")
    return text, "".join(sorted(set(text)))


def text_splits(num_chars: int, sequence_len: int, val_fraction: float, window_stride: int,
                max_windows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Start indices ``(train_starts, val_starts)`` of the windows of a text of ``num_chars`` characters.

    Cut ``c = round(num_chars * (1 - val_fraction))`` (macbeth's ``split_windows`` cut). Training windows start
    at ``0, stride, 2 stride, ...`` with ``s + T < c`` (the first ``max_windows`` if set); held-out windows start
    at ``c, c + T, ...`` with ``s + T < num_chars`` (each has a next character). Raises ``ValueError`` when either
    is empty.
    """
    T = sequence_len
    cut = int(round(num_chars * (1.0 - val_fraction)))
    train = np.arange(0, max(cut - T, 0), window_stride, dtype=np.int64)
    if max_windows is not None:
        train = train[:max_windows]
    val = np.arange(cut, max(num_chars - T, cut), T, dtype=np.int64)
    if not len(train) or not len(val):
        raise ValueError(f"char transformer: val_fraction={val_fraction} with sequence_len={T} leaves {len(train)} "
                         f"training and {len(val)} held-out windows in a text of {num_chars} characters; both must "
                         "be > 0")
    return train, val


def _windows(ids: np.ndarray, starts: np.ndarray, T: int) -> tuple[np.ndarray, np.ndarray]:
    return ids[starts[:, None] + np.arange(T)], ids[starts + T]


def _data(corpus: str, cfg: dict[str, Any]) -> dict[str, Any]:
    from nnlab.data.text import encode_text

    text, vocab = _read_text(corpus, cfg["data_path"])
    ids = encode_text(text, {c: i for i, c in enumerate(vocab)}, fn=f"{corpus}-transformer")
    T = cfg["sequence_len"]
    train, val = text_splits(len(ids), T, cfg["val_fraction"], cfg["window_stride"] or max(T // 4, 1),
                             cfg["max_windows"])
    X_train, y_train = _windows(ids, train, T)
    X_val, y_val = _windows(ids, val, T)
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val, "X_test": X_val,
            "y_test": y_val, "text": text, "info": {"vocab": vocab, "class_names": list(vocab)}}


def _model(cfg: dict[str, Any], info: dict[str, Any]) -> Any:
    from nnlab.models.tape_twins import CharTransformerTape
    from nnlab.models.transformer import CharTransformer

    vocab = info["vocab"]
    build = CharTransformerTape if cfg.get("engine") == "autograd" else CharTransformer
    return build(len(vocab), cfg["d_model"], cfg["nhead"], cfg["num_layers"], cfg["dim_feedforward"],
                 max_len=cfg["sequence_len"], dropout=cfg["dropout"], tie_weights=cfg["tie_weights"],
                 activation=cfg["activation"], norm_first=True, seed=cfg["seed"], vocab=vocab)


def _targets(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The next character after every prefix: the window shifted by one, then ``y``. (N, T)."""
    return np.concatenate([X[:, 1:], np.asarray(y).reshape(-1, 1)], axis=1)


def all_position_loss(model: Any, X: np.ndarray, y: np.ndarray, batch_size: int = 64) -> tuple[float, float]:
    """``(loss, acc)``: mean next-character cross-entropy (float64) and accuracy over all ``N*T`` positions of
    windows X (N, T) whose next characters are y (N,), in eval mode (dropout off), ``batch_size`` windows at a
    time (fixed, so a reloaded run reproduces the figure bit for bit)."""
    training = getattr(model, "training", False)
    model.eval()
    total, correct, count = 0.0, 0, 0
    try:
        for i in range(0, len(X), batch_size):
            Xb = X[i:i + batch_size]
            tb = _targets(Xb, y[i:i + batch_size]).reshape(-1)
            with no_grad():  # the autograd twin's forward records nothing here
                z = np.asarray(model.forward(Xb), dtype=np.float64).reshape(len(tb), -1)
            z -= z.max(axis=1, keepdims=True)
            logp = z[np.arange(len(tb)), tb] - np.log(np.exp(z).sum(axis=1))
            total += float(-logp.sum())
            correct += int(np.sum(np.argmax(z, axis=1) == tb))
            count += len(tb)
    finally:
        model.train(training)
    return total / count, correct / count


def _spaced(n: int, k: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, k)).round().astype(np.int64))


def _val_curve_callback(num_windows: int) -> Any:
    """A Solver callback recording the held-out loss (on ``num_windows`` evenly spaced val windows) after every
    epoch in ``solver.records["val_loss_history"]``, and the training seconds so far (this curve's own scoring
    excluded) in ``solver.records["val_loss_seconds"]``; the score hook reads them from ``run.records``."""
    from nnlab.callbacks import Callback

    class ValLossCurve(Callback):
        def on_train_begin(self, solver: Any) -> None:
            self.start, self.scoring = time.perf_counter(), 0.0
            for name in ("val_loss_history", "val_loss_seconds"):
                solver.records.setdefault(name, [])

        def on_epoch_end(self, solver: Any, epoch: int) -> None:
            now = time.perf_counter()
            idx = _spaced(len(solver.X_val), num_windows)
            loss, _ = all_position_loss(solver.model, solver.X_val[idx], solver.y_val[idx])
            solver.records["val_loss_history"].append(loss)
            solver.records["val_loss_seconds"].append(now - self.start - self.scoring)  # this scoring not counted
            self.scoring += time.perf_counter() - now

    return ValLossCurve()


def _solver(cfg: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    from nnlab.callbacks import TimeBudget
    from nnlab.schedules import CosineAnnealingLR, LinearWarmup
    from nnlab.solver.options import epoch_length

    total = cfg["num_epochs"] * epoch_length(len(data["X_train"]), cfg["batch_size"], cfg["batch_order"])
    warmup = min(cfg["warmup_iters"], max(total - 1, 1))
    lr = cfg["learning_rate"]
    schedule = LinearWarmup(warmup, CosineAnnealingLR(max(total - warmup - 1, 1), eta_min=lr * cfg["min_lr_ratio"],
                                                      per_iteration=True))
    callbacks: list[Any] = [_val_curve_callback(cfg["num_curve_windows"])]
    if cfg["time_budget_s"] is not None:
        callbacks.append(TimeBudget(cfg["time_budget_s"]))
    return {"optim_config": {"weight_decay": cfg["weight_decay"], "beta2": cfg["beta2"]}, "lr_schedule": schedule,
            "batch_transform": lambda Xb, yb: (Xb, _targets(Xb, yb)), "keep_best": False,
            "callbacks": callbacks, "num_val_samples": cfg["num_curve_windows"]}


def _score(run: RunResult) -> dict[str, Any]:
    """``{split}_loss`` / ``{split}_acc`` over all positions of every split present (train: at most
    ``num_score_windows`` evenly spaced windows); at training time also the held-out curve and a sample."""
    model, data, cfg = run.model, run.data, run.cfg
    out: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        X, y = data.get(f"X_{split}"), data.get(f"y_{split}")
        if X is None or y is None or not len(y):
            continue
        if split == "train":
            idx = _spaced(len(X), cfg["num_score_windows"])
            X, y = X[idx], y[idx]
        if split == "test" and X is data.get("X_val") and "val_loss" in out:  # the same windows: scored once
            out["test_loss"], out["test_acc"] = out["val_loss"], out["val_acc"]
            continue
        out[f"{split}_loss"], out[f"{split}_acc"] = all_position_loss(model, X, y)
    if run.records.get("val_loss_history"):
        out["val_loss_history"] = [float(v) for v in run.records["val_loss_history"]]
        out["val_loss_seconds"] = [round(float(v), 2) for v in run.records["val_loss_seconds"]]
    if "text" in data:
        out["uniform_loss"] = math.log(model.vocab_size)
        if cfg["sample_length"] > 0:
            from nnlab.generate import sample_from_text

            out["sample_prompt"], out["sample"] = sample_from_text(model, data["text"], cfg["sequence_len"],
                                                                   cfg["sample_length"], cfg["sample_temperature"],
                                                                   cfg["seed"])
    return out


def _plots(run: RunResult) -> None:
    """``loss.png``: mean training loss per epoch (dropout on) and the held-out loss after each epoch."""
    from nnlab import viz

    held_out = run.metrics.get("val_loss_history") or []
    train = run.epoch_means()[:len(held_out)]
    epochs = len(train)
    if not epochs:
        return
    held_out = held_out[:epochs]
    x = list(range(1, epochs + 1))
    viz.plot_loss_panels({"loss": {"x": x, "y": train, "ref_x": x, "ref_y": held_out,
                                   "title": "training (epoch mean) and held-out loss"}},
                         run.run_dir / "loss.png", xlabel="Epoch", ylabel="Cross-entropy (nats/char)",
                         reference_label="held-out")


def _settings(corpus: str, d: dict[str, Any]) -> list[Setting]:
    where = "Macbeth text file or its folder" if corpus == "macbeth" else "tinyshakespeare.txt or its folder"
    return [
        Setting("d_model", "int", 128, "model width (embeddings, attention)", low=1),
        Setting("nhead", "int", 4, "attention heads (must divide d_model)", low=1),
        Setting("num_layers", "int", d["num_layers"], "transformer blocks", low=1),
        Setting("dim_feedforward", "int", 512, "hidden units of each block's feed-forward layer", low=1),
        Setting("activation", "str", "relu", "feed-forward activation (exact GELU costs ~20% of a step)",
                choices=("relu", "gelu")),
        Setting("dropout", "float", d["dropout"], "dropout on embeddings, attention weights and residual branches",
                low=0, high=1, high_open=True),
        Setting("tie_weights", "bool", False, "read-out reuses the token embedding"),
        Setting("sequence_len", "int", 64, "context length T: characters per window (the positional table)",
                low=1),
        Setting("window_stride", "int", d["window_stride"], "characters between training-window starts (None = "
                "sequence_len // 4)", low=1, nullable=True),
        Setting("max_windows", "int", None, "train on the first this many windows (None = all)", low=1,
                nullable=True),
        Setting("val_fraction", "float", 0.1, "fraction of the text held out at its end", low=0, high=1,
                low_open=True, high_open=True),
        Setting("warmup_iters", "int", 100, "iterations of linear warm-up from 0.1 x learning_rate", low=1),
        Setting("min_lr_ratio", "float", 0.1, "the cosine ends at this fraction of learning_rate", low=0, high=1),
        Setting("weight_decay", "float", 0.01, "AdamW decoupled weight decay (every parameter)", low=0),
        Setting("beta2", "float", 0.99, "AdamW second-moment decay", low=0, high=1, high_open=True),
        Setting("time_budget_s", "float", None, "stop at the last epoch that fits in this many seconds (None = "
                "train num_epochs)", low=0, low_open=True, nullable=True),
        Setting("num_curve_windows", "int", 256, "held-out windows scored after every epoch (val_loss_history, "
                "accuracy checks)", low=1),
        Setting("num_score_windows", "int", 1000, "training windows scored for train_loss", low=1),
        Setting("data_path", "path", None, f"{where} (None = $NNLAB_DATA/text)", nullable=True),
        Setting("engine", "str", "kernels", "'kernels': CharTransformer's hand-written backward; 'autograd': its "
                "forward-only twin (nnlab.models.tape_twins.CharTransformerTape), differentiated by the tape",
                choices=("kernels", "autograd")),
        Setting("sample_temperature", "float", 0.75, "temperature of the sample in metrics.json", low=0,
                low_open=True),
        Setting("sample_length", "int", 300, "characters sampled into metrics.json (0 = none)", low=0),
        *standard_solver_settings(update_rule="adamw", learning_rate=d["learning_rate"], num_epochs=d["num_epochs"],
                                  batch_size=16, seed=0, num_train_samples=256, batch_order="shuffle",
                                  grad_clip=1.0),
    ]


# quick (CI): a small model on 1536 short windows, 2 epochs = 96 AdamW steps
_QUICK = {"d_model": 64, "num_layers": 2, "dim_feedforward": 256, "sequence_len": 64, "window_stride": 16,
          "max_windows": 1536, "batch_size": 32, "num_epochs": 2, "warmup_iters": 10, "sample_length": 100,
          "dropout": 0.0, "learning_rate": 3e-3}


def _recipe(corpus: str, d: dict[str, Any], expected: str) -> Recipe:
    text = "Macbeth (cleaned, 37 characters)" if corpus == "macbeth" else "tiny-shakespeare (raw, 65 characters)"
    return Recipe(
        name=f"{corpus}-transformer",
        summary=f"decoder-only character transformer (d_model 128, 4 heads, {d['num_layers']} pre-norm blocks, "
                f"context 64) on {text}; AdamW, warm-up + cosine, last {d['val']} of the text held out",
        expected=expected,
        task="language",
        settings=_settings(corpus, d),
        # tiny-shakespeare's tenth is 111,540 characters: --quick holds out 1% (as much as Macbeth's tenth)
        quick=_QUICK if corpus == "macbeth" else {**_QUICK, "val_fraction": 0.01},
        data=lambda cfg: _data(corpus, cfg), model=_model, solver=_solver, score=_score, plots=_plots,
    )


RECIPES = [
    _recipe("macbeth", {"num_layers": 2, "dropout": 0.0, "window_stride": 32, "learning_rate": 4e-3,
                        "num_epochs": 7, "val": "10%"},
            "held-out val_loss below macbeth-lstm's (val_fraction=0.1) after the same wall time"),
    _recipe("shakespeare", {"num_layers": 2, "dropout": 0.0, "window_stride": 64, "learning_rate": 4e-3,
                            "num_epochs": 1, "val": "10%"},
            "held-out val_loss below an LSTM's trained for the same wall time"),
]
