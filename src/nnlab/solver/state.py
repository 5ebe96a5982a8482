"""The Solver's checkpoint format: every piece of training state as plain arrays plus JSON metadata (no pickle).

A checkpoint holds what a resumed run needs to continue **bit-identically**: parameters and buffers (and the best
ones), every optimizer config (state arrays and scalars), the histories, the iteration and epoch counters, the
batch order of the epoch in progress, and the state of every random generator that affects training: the
Solver's own (minibatches, accuracy subsamples), the shuffle order's own one, NumPy's global one (models built
with ``seed=None`` draw their dropout masks from it) and the extra generators given as ``rng_sources``
(augmentation, model RNGs).
Learning-rate schedules are pure functions of the step counter, so they need nothing else.

Layout (:func:`nnlab.io.save_arrays`): ``params/<name>``, ``best_params/<name>``, ``buffers/<name>``,
``best_buffers/<name>``, ``optim/<param>/<key>``, ``history/{loss,train_acc,val_acc,grad_norm}``,
``order`` (the shuffled epoch's permutation), ``rng/<source>/keys`` (MT19937 keys); the metadata holds the
rest (format tag, counters, settings, scalar config entries, RNG positions).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..backend import to_numpy, xp_of

__all__ = ["CHECKPOINT_FORMAT", "pack_rng", "unpack_rng", "rng_snapshot", "restore_rng_snapshot",
           "solver_state", "load_solver_state"]

CHECKPOINT_FORMAT = "nnlab.solver.checkpoint/1"


# ---------------------------------------------------------------------------------------------------------------
# random generators
# ---------------------------------------------------------------------------------------------------------------
def _jsonable(value: Any) -> Any:
    """A JSON-safe copy of a bit-generator state (arrays become tagged lists)."""
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=value["dtype"])
        return {k: _from_jsonable(v) for k, v in value.items()}
    return value


def pack_rng(rng: Any, arrays: dict[str, np.ndarray], key: str) -> dict:
    """Store ``rng``'s state: MT19937 keys into ``arrays[f"{key}/keys"]``, the rest in the returned dict."""
    if isinstance(rng, np.random.Generator):
        return {"kind": "Generator", "state": _jsonable(rng.bit_generator.state)}
    if rng is np.random or isinstance(rng, np.random.RandomState):
        name, keys, pos, has_gauss, cached = rng.get_state()
        arrays[f"{key}/keys"] = np.asarray(keys, dtype=np.uint32)
        return {"kind": "global" if rng is np.random else "RandomState", "name": name, "pos": int(pos),
                "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}
    raise TypeError(f"checkpoint: cannot store the state of a {type(rng).__name__} (expected a NumPy "
                    "RandomState or Generator)")


def unpack_rng(rng: Any, arrays: dict[str, np.ndarray], key: str, meta: dict, what: str) -> Any:
    """Write a state stored by :func:`pack_rng` into ``rng`` **in place** and return it.

    ``rng`` may be None for the Solver's own generator: one of the stored kind is then created (``np.random``
    for ``"global"``). A stored kind that does not match ``rng``'s is a ``ValueError`` naming ``what``.
    """
    kind = meta.get("kind")
    if kind == "Generator":
        if rng is None:
            rng = np.random.default_rng()
        if not isinstance(rng, np.random.Generator):
            raise ValueError(f"Solver.resume: {what} was a numpy Generator in the checkpoint but is a "
                             f"{type(rng).__name__} now")
        rng.bit_generator.state = _from_jsonable(meta["state"])
        return rng
    if kind in ("global", "RandomState"):
        if rng is None:
            rng = np.random if kind == "global" else np.random.RandomState()
        if not (rng is np.random or isinstance(rng, np.random.RandomState)):
            raise ValueError(f"Solver.resume: {what} was a RandomState in the checkpoint but is a "
                             f"{type(rng).__name__} now")
        rng.set_state((meta["name"], arrays[f"{key}/keys"], meta["pos"], meta["has_gauss"],
                       meta["cached_gaussian"]))
        return rng
    raise ValueError(f"Solver.resume: the checkpoint has no usable state for {what} (kind {kind!r})")


def rng_snapshot(rng: Any) -> Any:
    """An in-memory copy of ``rng``'s state (cheap: taken at the start of every iteration)."""
    if isinstance(rng, np.random.Generator):
        return rng.bit_generator.state
    return rng.get_state()


def restore_rng_snapshot(rng: Any, state: Any) -> None:
    """Put back a state taken by :func:`rng_snapshot`."""
    if isinstance(rng, np.random.Generator):
        rng.bit_generator.state = state
    else:
        rng.set_state(state)


# ---------------------------------------------------------------------------------------------------------------
# the whole training state
# ---------------------------------------------------------------------------------------------------------------
def solver_state(solver: Any, settings: dict, pending_bookkeeping: bool = False) -> tuple[dict, dict]:
    """``(arrays, metadata)`` of ``solver``'s full training state for :func:`nnlab.io.save_arrays`."""
    arrays: dict[str, np.ndarray] = {}
    buffers = solver._model_buffers()
    for prefix, group in (("params", solver.model.params), ("best_params", solver.best_params),
                          ("buffers", buffers), ("best_buffers", solver.best_buffers)):
        for k, v in group.items():
            arrays[f"{prefix}/{k}"] = to_numpy(v)
    optim_scalars: dict[str, dict[str, Any]] = {}
    optim_arrays: dict[str, list[list[str]]] = {}
    for p, config in solver.optim_configs.items():
        optim_scalars[p], optim_arrays[p] = {}, []
        for key, value in config.items():
            if isinstance(value, (bool, int, float, str)) or value is None:
                optim_scalars[p][key] = value
                continue
            name = f"optim/{p}/{key}"
            if name in arrays:
                raise ValueError(f"Solver: checkpoint key {name!r} is ambiguous (parameter and config names "
                                 "must not make the same 'optim/<param>/<key>' path)")
            arrays[name] = to_numpy(value)
            optim_arrays[p].append([key, "scalar" if isinstance(value, np.generic) else "array"])
    for name in ("loss", "train_acc", "val_acc", "grad_norm"):
        arrays[f"history/{name}"] = np.asarray(getattr(solver, f"{name}_history"), dtype=np.float64)
    if solver._order is not None:
        arrays["order"] = np.asarray(solver._order, dtype=np.int64)
    rng_meta = {"solver": pack_rng(solver._rng, arrays, "rng/solver"),
                "order": (pack_rng(solver._order_rng, arrays, "rng/order")
                          if solver._order_rng is not solver._rng else None),
                "global": pack_rng(np.random, arrays, "rng/global"),
                "sources": {name: pack_rng(r, arrays, f"rng/source/{name}")
                            for name, r in solver.rng_sources.items()}}
    try:
        json.dumps(settings["optim_config"])
    except (TypeError, ValueError):
        settings = {**settings, "optim_config": None}
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "epoch": int(solver.epoch),
        "iteration": int(solver.iteration),
        "pending_bookkeeping": bool(pending_bookkeeping),
        "best_val_acc": float(solver.best_val_acc),
        "param_names": list(solver.model.params),
        "best_param_names": list(solver.best_params),
        "buffer_names": list(buffers),
        "best_buffer_names": list(solver.best_buffers),
        "optim_scalars": optim_scalars,
        "optim_arrays": optim_arrays,
        "rng": rng_meta,
        "settings": settings,
        "callables": {"lr_schedule": solver.lr_schedule is not None,
                      "batch_transform": solver.batch_transform is not None,
                      "rng_sources": sorted(solver.rng_sources),
                      "callbacks": [type(cb).__name__ for cb in solver.callbacks]},
    }
    return arrays, metadata


def _target(current: Any, kind: str) -> Any:
    """The generator to restore a stored ``kind`` into: the Solver's own when it has that kind, else None (a new
    one is made), and ``np.random`` itself for the global generator."""
    if kind == "global":
        return np.random
    if kind == "RandomState" and isinstance(current, np.random.RandomState):
        return current
    if kind == "Generator" and isinstance(current, np.random.Generator):
        return current
    return None


def load_solver_state(solver: Any, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Put a state written by :func:`solver_state` into ``solver`` (and its model and generators)."""
    names = meta["param_names"]
    model = solver.model
    if sorted(names) != sorted(model.params):
        raise ValueError(f"Solver.resume: the checkpoint has parameters {sorted(names)} but the model has "
                         f"{sorted(model.params)}")
    for k in names:
        saved, current = arrays[f"params/{k}"], model.params[k]
        if tuple(saved.shape) != tuple(current.shape):
            raise ValueError(f"Solver.resume: parameter {k!r} has shape {tuple(saved.shape)} in the checkpoint "
                             f"but {tuple(current.shape)} in the model")
        model.params[k] = xp_of(current).asarray(saved)
    solver.best_params = {k: xp_of(model.params[k]).asarray(arrays[f"best_params/{k}"])
                          for k in meta["best_param_names"]}
    if meta.get("buffer_names"):
        if not callable(getattr(model, "load_buffer_arrays", None)):
            raise ValueError("Solver.resume: the checkpoint holds model buffers (e.g. batch-norm running "
                             "statistics) but the model has no load_buffer_arrays() method")
        model.load_buffer_arrays({k: arrays[f"buffers/{k}"] for k in meta["buffer_names"]})
    solver.best_buffers = {k: arrays[f"best_buffers/{k}"] for k in meta.get("best_buffer_names", [])}
    solver.optim_configs = {}
    for p in names:
        config = dict(meta["optim_scalars"].get(p, {}))
        xp = xp_of(model.params[p])
        for key, kind in meta["optim_arrays"].get(p, []):
            value = arrays[f"optim/{p}/{key}"]
            config[key] = value[()] if kind == "scalar" else xp.asarray(value)
        solver.optim_configs[p] = config
    for name in ("loss", "train_acc", "val_acc", "grad_norm"):
        key = f"history/{name}"
        setattr(solver, f"{name}_history", arrays[key].tolist() if key in arrays else [])
    solver.epoch = int(meta["epoch"])
    solver.iteration = int(meta.get("iteration", solver.epoch * solver.iterations_per_epoch))
    solver._pending_bookkeeping = bool(meta.get("pending_bookkeeping", False))
    solver._order = arrays["order"] if "order" in arrays else None
    solver.best_val_acc = meta["best_val_acc"]
    rng = meta.get("rng", {})
    if "solver" not in rng:  # written before rng sources existed: the Solver's generator only, stored flat
        if rng.get("kind") in ("Generator", "global", "RandomState"):
            solver._rng = unpack_rng(_target(solver._rng, rng["kind"]), arrays, "rng", rng, "the Solver's RNG")
        return
    solver._rng = unpack_rng(_target(solver._rng, rng["solver"]["kind"]), arrays, "rng/solver", rng["solver"],
                             "the Solver's RNG (seed)")
    unpack_rng(np.random, arrays, "rng/global", rng["global"], "NumPy's global RNG")
    if rng.get("order") is not None:
        if solver._order_rng is solver._rng:
            raise ValueError("Solver.resume: the checkpoint has a separate batch-order RNG (batch_order 'shuffle' "
                             "with an int seed) but this Solver has none; resume with the same batch_order and seed")
        unpack_rng(solver._order_rng, arrays, "rng/order", rng["order"], "the batch-order RNG")
    stored = rng.get("sources", {})
    missing = sorted(set(stored) - set(solver.rng_sources))
    if missing:
        raise ValueError(f"Solver.resume: the checkpoint holds the state of rng_sources {missing}; pass the "
                         f"same generators again (rng_sources={{{', '.join(repr(m) + ': ...' for m in missing)}}})")
    for name, source_meta in stored.items():
        unpack_rng(solver.rng_sources[name], arrays, f"rng/source/{name}", source_meta, f"rng_sources[{name!r}]")
