"""User mistakes fail well: through the CLI, exit status 2, exactly one line on stderr naming the culprit, no
traceback, and no run folder left behind; through the Python API, the right exception type naming the argument.

Each case runs the real command in-process (``nnlab.cli.main``) against real recipes, real run folders (a digits-mlp
run trained once per module) and real files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from nnlab.cli import main

QUICK = ["--quick", "--set", "num_epochs=1"]


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "digits-mlp", *QUICK, "--out", str(out)]) == 0
    (run,) = list(out.iterdir())
    return run


def _broken_copy(run: Path, tmp: Path, edit) -> Path:
    copy = tmp / "copy"
    shutil.copytree(run, copy)
    edit(copy)
    return copy


# (argv builder, words the single stderr line must contain)
TRAIN_CASES = [
    (["--set", "learning_rate=abc"], ["learning_rate", "float"]),
    (["--set", "learning_rate=-1"], ["learning_rate", "> 0"]),
    (["--set", "learning_rate=0"], ["learning_rate"]),
    (["--set", "learning_rate=nan"], ["learning_rate"]),
    (["--set", "learning_rate=inf"], ["learning_rate"]),
    (["--set", "batch_size=0"], ["batch_size", ">= 1"]),
    (["--set", "batch_size=2.5"], ["batch_size", "int"]),
    (["--set", "num_epochs=-1"], ["num_epochs", ">= 1"]),
    (["--set", "num_epochs=0"], ["num_epochs"]),
    (["--set", "update_rule=foo"], ["update_rule", "adam"]),
    (["--set", "update_rule=adamm"], ["update_rule", "did you mean 'adam'"]),
    (["--set", "dropout=1.0"], ["dropout", "[0, 1)"]),
    (["--set", "dropout=-0.1"], ["dropout"]),
    (["--set", "lr_decay=-1"], ["lr_decay", "(0, 1]"]),
    (["--set", "lr_decay=1.5"], ["lr_decay"]),
    (["--set", "seed=abc"], ["seed", "int"]),
    (["--set", "seed=-3"], ["seed", ">= 0"]),
    (["--set", "hidden_dims=[0,5]"], ["hidden_dims"]),
    (["--set", "hidden_dims=abc"], ["hidden_dims", "list of int"]),
    (["--set", "normalization=batchnrom"], ["normalization", "did you mean 'batchnorm'"]),
    (["--set", "weight_scale=0"], ["weight_scale"]),
    (["--set", "reg=-1"], ["reg", ">= 0"]),
    (["--set", "learnin_rate=1"], ["learnin_rate", "did you mean 'learning_rate'"]),
    (["--set", "foo"], ["KEY=VALUE"]),
    (["--set", "grad_clip=-1"], ["grad_clip"]),
    (["--set", "batch_order=random"], ["batch_order", "shuffle"]),
    (["--set", "num_train_samples=0"], ["num_train_samples"]),
    (["--set", "activation=gelu"], ["activation", "relu"]),
    (["--set", "optim_config={'lr': 1}"], ["optim_config"]),
]


@pytest.mark.parametrize("extra, words", TRAIN_CASES, ids=[" ".join(c[0]) for c in TRAIN_CASES])
def test_bad_train_setting_exits_2_with_one_line_and_no_folder(tmp_path, capsys, extra, words):
    code = main(["train", "digits-mlp", "--out", str(tmp_path / "runs"), *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def _no_config(run: Path) -> None:
    (run / "config.json").unlink()


def _corrupt_config(run: Path) -> None:
    (run / "config.json").write_text("{not json")


def _old_format_config(run: Path) -> None:
    cfg = json.loads((run / "config.json").read_text())
    cfg.pop("format")
    (run / "config.json").write_text(json.dumps(cfg))


def _no_weights(run: Path) -> None:
    (run / "model.npz").unlink()


def _garbage_weights(run: Path) -> None:
    (run / "model.npz").write_bytes(b"PK\x03\x04 this is not a zip file")


def _truncated_weights(run: Path) -> None:
    data = (run / "model.npz").read_bytes()
    (run / "model.npz").write_bytes(data[: len(data) // 2])


def _unknown_recipe(run: Path) -> None:
    cfg = json.loads((run / "config.json").read_text())
    cfg["recipe"] = "no-such-recipe"
    (run / "config.json").write_text(json.dumps(cfg))


def _wrong_shapes(run: Path) -> None:
    cfg = json.loads((run / "config.json").read_text())
    cfg["settings"]["hidden_dims"] = [7, 7]
    (run / "config.json").write_text(json.dumps(cfg))


RUN_CASES = [
    (["evaluate", "{missing}"], None, ["no such run folder"]),
    (["evaluate", "{run}"], _no_config, ["config.json", "not found"]),
    (["evaluate", "{run}"], _corrupt_config, ["config.json", "corrupt JSON"]),
    (["evaluate", "{run}"], _old_format_config, ["config.json", "format"]),
    (["evaluate", "{run}"], _no_weights, ["model.npz", "not found"]),
    (["evaluate", "{run}"], _garbage_weights, ["model.npz"]),
    (["evaluate", "{run}"], _truncated_weights, ["model.npz"]),
    (["evaluate", "{run}"], _unknown_recipe, ["no-such-recipe"]),
    (["evaluate", "{run}"], _wrong_shapes, ["model.npz", "shape"]),
    (["evaluate", "{run}", "--split", "bogus"], None, ["--split", "bogus"]),
    (["predict", "{run}", "{missing}/x.png"], None, ["x.png"]),
    (["predict", "{run}", "{textfile}"], None, ["notes.txt", "PNG or JPEG"]),
    (["predict", "{run}"], None, ["image FILE"]),
    (["generate", "{run}", "--seed-text", "hello"], None, ["not a character model"]),
    (["predict", "{run}", "--seed-text", "hello"], None, ["image FILE"]),
    (["train", "--resume", "{missing}"], None, ["config.json"]),
    (["train", "--resume", "{run}"], None, ["already finished"]),
    (["train", "digits-mlp", "--resume", "{run}"], None, ["--resume"]),
    (["runs", "{missing}"], None, ["no such folder"]),
    (["export", "{missing}"], None, ["no such run folder"]),
]


@pytest.mark.parametrize("argv, edit, words", RUN_CASES,
                         ids=[f"{' '.join(a)}:{e.__name__ if e else ''}" for a, e, _ in RUN_CASES])
def test_bad_run_folder_or_file_exits_2_with_one_line(digits_run, tmp_path, capsys, argv, edit, words):
    run = _broken_copy(digits_run, tmp_path, edit) if edit else digits_run
    textfile = tmp_path / "notes.txt"
    textfile.write_text("not an image")
    before = sorted(p.name for p in run.iterdir())
    args = [a.format(run=run, missing=tmp_path / "missing", textfile=textfile) for a in argv]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]
    assert sorted(p.name for p in run.iterdir()) == before  # nothing written into the run


TUNE_CASES = [
    (["--param", "reg=choice:0.0:0.1:0.5"], ["reg", "float"]),
    (["--param", "learning_rate=uniform:-1:1"], ["learning_rate", "> 0"]),
    (["--param", "update_rule=choice:adam,foo"], ["update_rule", "foo"]),
    (["--param", "nosuch=uniform:0:1"], ["nosuch"]),
    (["--param", "hidden_dims=uniform:1:3"], ["hidden_dims"]),
    (["--param", "batch_size=uniform:16:64"], ["batch_size", "int"]),
    (["--param", "learning_rate=loguniform:1e-4:1e-2", "--set", "batch_size=0"], ["batch_size", ">= 1"]),
    (["--param", "learning_rate=loguniform:1e-4:1e-2", "--set", "dropout=abc"], ["dropout", "float"]),
    (["--param", "learning_rate=oops:1:2"], ["oops"]),
]


@pytest.mark.parametrize("extra, words", TUNE_CASES, ids=[" ".join(c[0]) for c in TUNE_CASES])
def test_bad_tune_param_exits_2_before_any_trial(tmp_path, capsys, extra, words):
    code = main(["tune", "digits-mlp", "--out", str(tmp_path / "runs"), "--trials", "2", *extra])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").rglob("trials"))


def test_debug_flag_shows_the_traceback(tmp_path, capsys):
    assert main(["--debug", "train", "digits-mlp", "--set", "learning_rate=abc", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "learning_rate" in err.strip().splitlines()[-1]


# ------------------------------------------------------------------------------------------------- Python API
def _api_cases():
    from nnlab import runner
    from nnlab.data import load_digits
    from nnlab.models import FullyConnectedNet
    from nnlab.solver import Solver

    data = load_digits()

    def solver(**kw):
        return Solver(FullyConnectedNet([8], input_dim=64, num_classes=10), data, verbose=False, **kw)

    return [
        (lambda: runner.prepare("digits-mlp", {"learning_rate": "1e-3"}), ValueError, "learning_rate"),
        (lambda: runner.prepare("digits-mlp", {"nope": 1}), ValueError, "nope"),
        (lambda: runner.prepare("no-such-recipe"), KeyError, "no-such-recipe"),
        (lambda: runner.prepare("digits-mlp", {"hidden_dims": [3, -1]}), ValueError, "hidden_dims"),
        (lambda: solver(num_epochs=0), ValueError, "num_epochs"),
        (lambda: solver(optim_config={"lr": 1.0}), ValueError, "learning_rate"),
        (lambda: solver(optim_config={"learning_rate": "1e-3"}), TypeError, "learning_rate"),
        (lambda: solver(lr_decay=-1.0), ValueError, "lr_decay"),
        (lambda: solver(lr_decay=1.5), ValueError, "lr_decay"),
        (lambda: solver(seed=-1), ValueError, "seed"),
        (lambda: solver(batch_size=0), ValueError, "batch_size"),
        (lambda: solver(batch_order="random"), ValueError, "batch_order"),
        (lambda: solver(grad_clip=-1.0), ValueError, "grad_clip"),
        (lambda: solver(update_rule="foo"), ValueError, "foo"),
        (lambda: FullyConnectedNet([0], input_dim=64), ValueError, "hidden_dims"),
        (lambda: FullyConnectedNet([8], input_dim=64, dropout=1.0), ValueError, "dropout"),
        (lambda: FullyConnectedNet([8], input_dim=64, normalization="bn"), ValueError, "normalization"),
    ]


def test_python_api_bad_inputs_raise_the_right_type_naming_the_argument():
    cases = _api_cases()
    for i, (call, exc_type, word) in enumerate(cases):
        with pytest.raises(exc_type) as info:
            call()
        assert word in str(info.value), (i, str(info.value))


def test_python_api_run_errors(tmp_path, digits_run):
    from nnlab import nn
    from nnlab.io import load_arrays
    from nnlab.runs import RunError, load_run

    with pytest.raises(RunError, match="no such run folder"):
        load_run(tmp_path / "nope")
    broken = _broken_copy(digits_run, tmp_path, _corrupt_config)
    with pytest.raises(RunError, match="config.json"):
        load_run(broken)
    with pytest.raises(ValueError, match="split"):
        load_run(digits_run).evaluate(split="bogus")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.npz"):
        load_arrays(bad)
    with pytest.raises(ValueError, match="embed_dim"):
        nn.MultiheadAttention(embed_dim=10, num_heads=3)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv2d(3, 4, kernel_size=0)
    assert np.isfinite(load_run(digits_run).predict(np.zeros((2, 64), np.float32))).all()
