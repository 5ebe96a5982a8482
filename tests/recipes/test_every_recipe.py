"""Every recipe, one contract: its --quick run (through `nnlab train`) writes the run format; every model it trains
reloads with `nnlab.load_run`, `nnlab evaluate` reproduces metrics.json's figures exactly, and `nnlab export` gives
an ONNX graph that onnx's checker accepts and ONNX Runtime runs to nnlab's scores (1e-4, same argmax)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnlab.cli import main
from nnlab.recipes import get_recipe, list_recipes
from nnlab.runs import load_recipe_data, load_run, predict_scores

pytestmark = pytest.mark.data

# Recipes whose quick run trains no reloadable model (analysis of kernel methods).
NO_MODEL = {"svm-kernels"}
# The sweep recipes train through their quick sweep; the rest train one model or a study.
NAMES = sorted(r.name for r in list_recipes())


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("every")


def _model_dirs(run_dir: Path) -> list[Path]:
    config = json.loads((run_dir / "config.json").read_text())
    variants = config.get("variants")
    return [run_dir / v for v in variants] if variants else [run_dir]


@pytest.mark.parametrize("name", NAMES)
def test_quick_run_reloads_evaluates_exactly_and_exports_to_onnx(name, runs_root, capsys):
    out = runs_root / name
    assert main(["train", name, "--quick", "--out", str(out)]) == 0, capsys.readouterr().err
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "finished"
    if name in NO_MODEL:
        return
    onnxruntime = pytest.importorskip("onnxruntime")
    model_dirs = _model_dirs(run_dir)
    assert model_dirs and all((d / "metrics.json").is_file() for d in model_dirs), model_dirs
    for model_dir in model_dirs:
        run = load_run(model_dir)
        written = json.loads((model_dir / "metrics.json").read_text())
        split = "test" if "test_acc" in written or "test_loss" in written else "val"
        figures = run.evaluate(split)
        # every figure metrics.json holds as a number that evaluate also gives, and at least the split's headline
        # one (accuracy or loss): a renamed key or an empty evaluate fails instead of comparing nothing
        compared = sorted(k for k in figures if isinstance(written.get(k), float))
        assert {f"{split}_acc", f"{split}_loss"} & set(compared), (model_dir, sorted(figures), sorted(written))
        for key in compared:
            assert figures[key] == written[key], (model_dir, key, figures[key], written[key])
        # ONNX: the exported graph reproduces the scores on (a slice of) the split
        assert main(["export", str(model_dir), "-o", str(model_dir / "model.onnx")]) == 0, capsys.readouterr().err
        data = load_recipe_data(get_recipe(run.recipe), run.settings)
        X = data[f"X_{split}"][:64]
        ours = predict_scores(run.model, X)
        session = onnxruntime.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
        feed = X.astype(np.float32) if np.issubdtype(X.dtype, np.floating) else X.astype(np.int64)
        theirs = session.run(None, {session.get_inputs()[0].name: feed})[0]
        assert theirs.shape == ours.shape
        assert np.abs(theirs - ours).max() <= 1e-4 * max(1.0, np.abs(ours).max()), model_dir
        assert np.array_equal(np.argmax(theirs, axis=1), np.argmax(ours, axis=1)), model_dir
