"""The public API of ``import nnlab``: what ``dir(nnlab)`` / ``nnlab.__all__`` show, that they stay lazy, and
``nnlab.train(recipe, **settings) -> Run`` giving the CLI's figures for the same settings."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import nnlab
from nnlab.recipes.contract import SettingError
from nnlab.runs import Run
from tests.cli_helpers import nnlab as nnlab_cli

SUBPACKAGES = {"layers", "nn", "models", "optim", "data", "kernels", "onnx", "recipes", "autograd", "backend",
               "schedules", "solver", "viz", "tune", "tracking", "gradcheck", "callbacks"}


def test_dir_lists_the_public_names_and_the_subpackages():
    names = dir(nnlab)
    for name in ("train", "load_run", "Run", "Solver", "Tensor", "tensor", "no_grad", "enable_grad", "cat",
                 "stack", "where", "maximum", "minimum", "set_num_threads", "get_num_threads", "__version__"):
        assert name in names, name
    assert SUBPACKAGES <= set(names), SUBPACKAGES - set(names)
    assert not [n for n in names if n.startswith("_") and not n.endswith("__")], "private helpers listed"
    assert "importlib" not in names and "annotations" not in names


def test_all_names_resolve_and_are_what_they_say():
    public = nnlab.__all__
    assert set(public) <= set(dir(nnlab)) and "train" in public and "Solver" in public
    for name in public:
        assert getattr(nnlab, name) is not None, name
    from nnlab.api import train
    from nnlab.autograd import Tensor
    from nnlab.runs import load_run
    from nnlab.solver import Solver

    assert (nnlab.train, nnlab.load_run, nnlab.Solver, nnlab.Tensor) == (train, load_run, Solver, Tensor)
    assert nnlab.get_num_threads() >= 1
    namespace: dict = {}
    exec("from nnlab import *", namespace)
    assert {"train", "load_run", "Solver", "nn", "layers"} <= set(namespace)


def test_a_reserved_name_whose_module_is_missing_is_left_out_not_an_error(monkeypatch):
    monkeypatch.setitem(nnlab._LAZY_NAMES, "not_yet", ("nnlab.not_written_yet",))
    monkeypatch.setattr(nnlab, "_SUBMODULES", (*nnlab._SUBMODULES, "not_a_package_yet"))
    assert "not_yet" not in dir(nnlab) and "not_yet" not in nnlab.__all__
    assert "not_a_package_yet" not in dir(nnlab)
    with pytest.raises(AttributeError, match=r"'not_yet' yet \(it will come from nnlab.not_written_yet\)"):
        nnlab.not_yet  # noqa: B018
    with pytest.raises(AttributeError, match="not part of this version yet"):
        nnlab.not_a_package_yet  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        nnlab.no_such_name  # noqa: B018


def test_import_nnlab_stays_lazy():
    """``import nnlab`` imports neither NumPy nor the recipes nor the training loop (measured: ~1.5 ms with
    ``python -X importtime``)."""
    code = ("import sys, nnlab; heavy = [m for m in ('numpy', 'nnlab.recipes', 'nnlab.solver', 'nnlab.runs') "
            "if m in sys.modules]; print(heavy); print(nnlab.__version__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["[]", nnlab.__version__]


def test_train_from_python_equals_the_cli_for_the_same_settings(tmp_path):
    run = nnlab.train("digits-mlp", num_epochs=3, out=tmp_path / "py")
    assert isinstance(run, Run) and run.status == "finished" and run.recipe == "digits-mlp"
    assert run.settings["num_epochs"] == 3 and run.path.parent == tmp_path / "py"
    figures = run.evaluate("test")

    proc = nnlab_cli("train", "digits-mlp", "--set", "num_epochs=3", "--out", str(tmp_path / "cli"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (cli_dir,) = (tmp_path / "cli").iterdir()
    cli_metrics = json.loads((cli_dir / "metrics.json").read_text())
    assert figures["test_acc"] == cli_metrics["test_acc"] == run.metrics["test_acc"]
    assert run.metrics["loss_history"] == cli_metrics["loss_history"]
    assert run.settings == json.loads((cli_dir / "config.json").read_text())["settings"]
    proc = nnlab_cli("evaluate", str(cli_dir), "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == figures


def test_train_refuses_bad_settings_before_writing_anything(tmp_path):
    with pytest.raises(SettingError, match="num_epochs"):
        nnlab.train("digits-mlp", num_epochs=0, out=tmp_path / "runs")
    with pytest.raises(SettingError, match="no_such_setting"):
        nnlab.train("digits-mlp", no_such_setting=1, out=tmp_path / "runs")
    with pytest.raises(KeyError, match="no-such-recipe"):
        nnlab.train("no-such-recipe", out=tmp_path / "runs")
    with pytest.raises(TypeError, match="recipe must be a recipe name"):
        nnlab.train(None)
    assert not (tmp_path / "runs").exists()


@pytest.mark.data
def test_train_sweeps_exactly_when_the_cli_does(tmp_path):
    """cifar10-softmax declares a quick sweep (learning_rate x reg): nnlab.train sweeps it as `nnlab train
    cifar10-softmax --quick` does (same trials, same best settings and figure); a swept setting given by name
    trains that one configuration."""
    run = nnlab.train("cifar10-softmax", quick=True, out=tmp_path / "py")
    assert len(run.metrics["sweep"]) == 2 and (run.path / "sweep.png").is_file()
    proc = nnlab_cli("train", "cifar10-softmax", "--quick", "--out", str(tmp_path / "cli"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (cli_dir,) = (tmp_path / "cli").iterdir()
    cli_metrics = json.loads((cli_dir / "metrics.json").read_text())
    assert run.metrics["best_settings"] == cli_metrics["best_settings"]
    assert [r["val_acc"] for r in run.metrics["sweep"]] == [r["val_acc"] for r in cli_metrics["sweep"]]
    assert run.evaluate("test")["test_acc"] == cli_metrics["test_acc"]

    one = nnlab.train("cifar10-softmax", quick=True, learning_rate=1e-6, out=tmp_path / "one")
    assert "sweep" not in one.metrics and one.settings["learning_rate"] == 1e-6
