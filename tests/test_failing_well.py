"""Failing well (issue 22): a user's mistake is one line and exit 2 with nothing left behind, a signal ends a run
like Ctrl-C (checkpoint, status, resume command, exit 128 + signal), a dead run says so, and no answer is
silently wrong (16-bit images, NaN inputs). Real processes for the signals, the real CLI for the rest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnlab.cli import main
from nnlab.io import load_arrays
from nnlab.runs import NonFiniteInputError, effective_status, list_runs, load_run
from tests.cli_helpers import ONE_THREAD, nnlab, nnlab_command, nnlab_env, wait_for_checkpoint


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", "digits-mlp", "--quick", "--out", str(out), "--no-progress"]) == 0
    (run,) = out.iterdir()
    return run


def _one_line_exit_2(capsys, argv: list[str], *words: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and "Traceback" not in err and "internal error" not in err, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------------------- the probes of the issue
def test_out_that_is_a_file_or_empty(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    _one_line_exit_2(capsys, ["train", "--quick", "--out", str(tmp_path / "afile")], "afile", "is a file")
    _one_line_exit_2(capsys, ["train", "--quick", "--out", str(tmp_path / "afile" / "sub")], "which is a file")
    _one_line_exit_2(capsys, ["train", "--quick", "--out", ""], "--out is empty")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing written in the current folder


def test_download_dest_a_file_and_unknown_names(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    _one_line_exit_2(capsys, ["data", "download", "mnist", "--dest", str(tmp_path / "afile")], "is a file")
    _one_line_exit_2(capsys, ["data", "download", "minst"], "did you mean 'mnist'?")
    line = _one_line_exit_2(capsys, ["data", "download", "imagenet"], "unknown dataset 'imagenet'", "mnist")
    assert "did you mean" not in line


def test_failed_download_leaves_no_folder(tmp_path, capsys):
    dest = tmp_path / "new" / "mnist"
    _one_line_exit_2(capsys, ["data", "download", "mnist", "--dest", str(dest), "--mirror", "http://127.0.0.1:9",
                              "--no-progress"], "cannot fetch")
    assert list(tmp_path.iterdir()) == []


def test_sixteen_bit_png_scores_as_its_eight_bit_twin(digits_run, tmp_path, capsys):
    rng = np.random.RandomState(3)
    grey = rng.randint(0, 256, size=(8, 8)).astype(np.uint8)
    Image.fromarray(grey).save(tmp_path / "eight.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "sixteen.png")
    assert Image.open(tmp_path / "sixteen.png").mode == "I;16"
    run = load_run(digits_run)
    p8, p16 = run.predict_proba(run.load_images([tmp_path / "eight.png", tmp_path / "sixteen.png"]))
    np.testing.assert_allclose(p16, p8, atol=1e-6)
    assert main(["predict", str(digits_run), str(tmp_path / "eight.png"), str(tmp_path / "sixteen.png")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split("\t")[1:] == out[1].split("\t")[1:]


def test_huge_png_refused_in_one_line(digits_run, tmp_path, capsys, monkeypatch):
    Image.fromarray(np.zeros((200, 300), dtype=np.uint8)).save(tmp_path / "big.png")
    monkeypatch.setenv("NNLAB_MAX_IMAGE_PIXELS", "50000")
    _one_line_exit_2(capsys, ["predict", str(digits_run), str(tmp_path / "big.png")],
                     "300x200 = 60,000 pixels", "limit of 50,000", "NNLAB_MAX_IMAGE_PIXELS=60000")
    monkeypatch.setenv("NNLAB_MAX_IMAGE_PIXELS", "60000")
    assert main(["predict", str(digits_run), str(tmp_path / "big.png")]) == 0


def test_nan_inputs_refused_with_count_and_first_index(digits_run):
    run = load_run(digits_run)
    X = np.zeros((5, 64), dtype=np.float32)
    X[3, 7] = np.nan
    X[4, 0] = np.inf
    for fn in (run.predict, run.predict_proba):
        with pytest.raises(NonFiniteInputError, match=r"holds 2 NaN or infinite values \(first at X\[3, 7\]"):
            fn(X)
    assert run.predict(X, allow_nonfinite=True).shape == (5,)
    assert np.isfinite(run.predict_proba(X[:3])).all()
    with pytest.raises(ValueError, match="predict: X must have at least one row"):
        run.predict(np.zeros((0, 64)))
    with pytest.raises(TypeError, match="predict_proba: X must hold numbers"):
        run.predict_proba(np.array([["a"] * 64]))
    with pytest.raises(ValueError, match="load_images: files is empty"):
        run.load_images([])


def test_evaluate_refuses_nan_data(digits_run):
    run = load_run(digits_run)
    from nnlab.recipes import get_recipe
    from nnlab.runs import load_recipe_data

    data = load_recipe_data(get_recipe(run.recipe), run.settings)
    data["X_test"] = data["X_test"].copy()
    data["X_test"][10, 2] = np.nan
    with pytest.raises(NonFiniteInputError, match=r"evaluate: X_test holds 1 NaN .*X_test\[10, 2\]"):
        run.evaluate("test", data=data)
    assert 0 <= run.evaluate("test", data=data, allow_nonfinite=True)["test_acc"] <= 1


def test_garbage_checkpoint_on_resume(digits_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    (run / "checkpoint_latest.npz").write_bytes(os.urandom(300))
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "status": "stopped"}))
    _one_line_exit_2(capsys, ["train", "--resume", str(run)], "checkpoint_latest.npz", "damaged")


def test_garbage_weights_never_suggest_pickle(digits_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(digits_run, run)
    np.save(run / "model.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (run / "model.npy").rename(run / "model.npz")  # an object array: NumPy's message offers to unpickle it
    line = _one_line_exit_2(capsys, ["evaluate", str(run)], "model.npz")
    assert "pickle" in line and "allow_pickle" not in line and "unsafe" not in line.lower()


def test_bogus_mlflow_uri_checked_before_any_folder(tmp_path, capsys):
    pytest.importorskip("mlflow")
    out = tmp_path / "runs"
    _one_line_exit_2(capsys, ["train", "--quick", "--log", "mlflow", "--mlflow-uri", "bogus://x", "--out",
                              str(out)], "bogus://", "sqlite:///")
    assert not out.exists()


def test_export_into_a_missing_folder_refused(digits_run, tmp_path, capsys):
    pytest.importorskip("onnx")
    target = tmp_path / "no" / "such" / "m.onnx"
    _one_line_exit_2(capsys, ["export", str(digits_run), "-o", str(target)], "does not exist", "create it first")
    assert not (tmp_path / "no").exists()
    _one_line_exit_2(capsys, ["export", str(digits_run), "-o", str(tmp_path)], "is a folder")


def test_settings_case_and_batch_size(tmp_path, capsys):
    out = tmp_path / "runs"
    _one_line_exit_2(capsys, ["train", "--quick", "--set", "batch_size=100000", "--out", str(out)],
                     "batch_size", "100000", "training samples")
    assert not out.exists()
    _one_line_exit_2(capsys, ["train", "--quick", "--set", "activation=relo", "--out", str(out)],
                     "did you mean 'relu'")
    assert main(["train", "--quick", "--set", "activation=ReLU", "--out", str(out), "--no-progress"]) == 0
    (run,) = out.iterdir()
    assert json.loads((run / "config.json").read_text())["settings"]["activation"] == "relu"


# ------------------------------------------------------------------------------- run folders and status
def test_runs_lists_only_folders_nnlab_wrote(digits_run, tmp_path):
    root = tmp_path / "runs"
    shutil.copytree(digits_run, root / digits_run.name)
    shutil.copytree(digits_run, root / "mlartifacts" / "1" / "abc" / "artifacts")  # MLflow's copy
    old = root / "old-run"  # a run written before the marker: listed
    shutil.copytree(digits_run, old)
    config = json.loads((old / "config.json").read_text())
    del config["run_name"]
    (old / "config.json").write_text(json.dumps(config))
    shutil.copytree(old, root / "mlartifacts" / "2" / "def" / "artifacts")  # an old run's MLflow copy
    assert sorted(r["run"] for r in list_runs(root)) == [digits_run.name, "old-run"]


def test_effective_status_of_live_and_dead_processes(tmp_path):
    (tmp_path / "checkpoint_latest.npz").write_bytes(b"")
    me = {"status": "running", "pid": os.getpid(), "host": socket.gethostname(), "heartbeat": time.time()}
    assert effective_status(tmp_path, me) == "running"
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert effective_status(tmp_path, {**me, "pid": dead.pid}) == "interrupted (resumable)"
    elsewhere = {**me, "host": "another-host", "heartbeat": time.time() - 7200}
    assert effective_status(tmp_path, elsewhere) == "interrupted (resumable)"
    assert effective_status(tmp_path, {**elsewhere, "heartbeat": time.time()}) == "running"
    (tmp_path / "checkpoint_latest.npz").unlink()
    assert effective_status(tmp_path, {**me, "pid": dead.pid}) == "interrupted"
    assert effective_status(tmp_path, {"status": "finished", "pid": dead.pid}) == "finished"


# ------------------------------------------------------------------------------- signals, real processes
def _start(out: Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(nnlab_command("train", "digits-mlp", "--set", "num_epochs=40", "--set", "dropout=0.3",
                                          "--out", str(out)), cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=nnlab_env(ONE_THREAD))



@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref")
    done = nnlab("train", "digits-mlp", "--set", "num_epochs=40", "--set", "dropout=0.3", "--out", str(out),
                 cwd=out, env=ONE_THREAD, timeout=600)
    assert done.returncode == 0, done.stderr
    (run,) = out.iterdir()
    return run


@pytest.mark.parametrize("how,code", [(signal.SIGTERM, 143), (signal.SIGHUP, 129)], ids=["SIGTERM", "SIGHUP"])
def test_signal_stops_like_ctrl_c_and_resumes_bitwise(tmp_path, reference_run, how, code):
    proc = _start(tmp_path / "runs", tmp_path)
    run_dir = wait_for_checkpoint(proc, tmp_path / "runs", epochs=2)
    live = json.loads((run_dir / "metrics.json").read_text())
    assert live["status"] == "running" and live["pid"] == proc.pid and live["host"] == socket.gethostname()
    assert effective_status(run_dir, live) == "running"
    time.sleep(0.02)  # into the next epoch
    assert proc.poll() is None, "the run finished before it could be interrupted: make it longer"
    proc.send_signal(how)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert f"interrupted by {how.name}; checkpoint written. Resume with: nnlab train --resume {run_dir}" in err
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "stopped" and how.name in metrics["reason"]
    assert (run_dir / "checkpoint_latest.npz").is_file() and not (run_dir / "model.npz").exists()

    resumed = nnlab("train", "--resume", str(run_dir), cwd=tmp_path, env=ONE_THREAD, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    a, _ = load_arrays(run_dir / "model.npz")
    b, _ = load_arrays(reference_run / "model.npz")
    weights = sorted(k for k in b if k.startswith(("params/", "buffers/")))
    assert weights and sorted(k for k in a if k.startswith(("params/", "buffers/"))) == weights
    for k in weights:
        assert np.array_equal(a[k], b[k]), k
    assert json.loads((run_dir / "metrics.json").read_text())["loss_history"] == \
        json.loads((reference_run / "metrics.json").read_text())["loss_history"]


def test_kill_9_shows_interrupted_resumable(tmp_path, capsys):
    proc = _start(tmp_path / "runs", tmp_path)
    run_dir = wait_for_checkpoint(proc, tmp_path / "runs", epochs=1)
    proc.kill()
    proc.communicate(timeout=60)
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "running"  # what the file says
    assert main(["runs", str(tmp_path / "runs")]) == 0
    table = capsys.readouterr().out
    assert "interrupted (resumable)" in table and " running " not in table
    _one_line_exit_2(capsys, ["evaluate", str(run_dir)], "interrupted (resumable)",
                     f"nnlab train --resume {run_dir}")


def test_progress_lines_without_a_terminal(tmp_path):
    done = nnlab("train", "digits-mlp", "--quick", "--out", str(tmp_path), cwd=tmp_path, env=ONE_THREAD)
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("epoch ")]  # logs on stdout, errors on stderr
    assert [ln.split(":")[0] for ln in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"], done.stdout
    assert not [ln for ln in done.stderr.splitlines() if ln.startswith("epoch ")], done.stderr
    for ln in lines:
        assert "loss " in ln and "train acc " in ln and "val acc " in ln and "ETA " in ln
    quiet = nnlab("train", "digits-mlp", "--quick", "--no-progress", "--out", str(tmp_path), cwd=tmp_path)
    assert "epoch 1/3" not in quiet.stdout + quiet.stderr


def test_progress_lines_inside_a_long_epoch(monkeypatch):
    import io

    import nnlab.solver.progress as sp

    clock = [1000.0]
    monkeypatch.setattr(sp.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    lines = sp.ProgressLines(start=0, total=400, num_epochs=2, iterations_per_epoch=200, every_s=30, stream=stream)
    for t in range(100):  # one iteration per second: a line after 30 s, 60 s, 90 s of silence
        clock[0] += 1.0
        lines.iteration(t, 0.5)
    out = stream.getvalue().splitlines()
    assert len(out) == 3, out
    assert out[0] == "epoch 1/2: iteration 30/200, loss 0.5000, 30s into the epoch, ETA 6m10s"
    assert sp.format_seconds(3.25) == "3.2s" and sp.format_seconds(3725) == "1h02m"


# ------------------------------------------------------------------------------------------------------ plots
def _figures(monkeypatch) -> list:
    import nnlab.viz as viz

    figs: list = []
    monkeypatch.setattr(viz, "_save", lambda fig, path, dpi=100: figs.append(fig) or Path(path))
    return figs


def _check_axes_explained(fig) -> None:
    for ax in fig.axes:
        if not ax.axison or ax.get_label() == "<colorbar>":
            continue
        assert ax.get_xlabel() and ax.get_ylabel(), (ax.get_title(), ax.get_xlabel(), ax.get_ylabel())
        lines = [ln for ln in ax.get_lines()]
        if lines:
            legend = ax.get_legend()
            assert legend is not None, ax.get_title()
            shown = {t.get_text() for t in legend.get_texts()}
            for ln in lines:
                assert not ln.get_label().startswith("_") and ln.get_label() in shown, (ax.get_title(), ln.get_label())


def test_plots_label_every_axis_and_line(monkeypatch, tmp_path):
    import nnlab.viz as viz

    figs = _figures(monkeypatch)
    hist = {"loss_history": [2.0, 1.5, 1.0], "train_acc_history": [0.3, 0.6], "val_acc_history": [0.25, 0.5]}
    viz.plot_training_curves(hist, tmp_path / "c.png", title="digits-mlp")
    viz.plot_run_comparison({"a": hist, "b": hist}, tmp_path / "r.png")
    viz.plot_epoch_losses([2.0, 1.0], tmp_path / "e.png")
    viz.plot_weight_scale_sweep([0.1, 1.0], {"bn": {"best_val_acc": [0.5, 0.6], "best_train_acc": [0.5, 0.7],
                                                    "final_loss": [1.5, 1.2]}}, tmp_path / "w.png")
    viz.plot_confusion_matrix([0, 1, 1], [0, 1, 0], tmp_path / "m.png", normalize="true", split="test")
    assert len(figs) == 5
    for fig in figs:
        _check_axes_explained(fig)
    assert "test split" in figs[-1].axes[0].get_title()
    viz.plot_confusion_matrix([0, 1], [0, 1], tmp_path / "m2.png", title="digits", split="val")
    assert figs[-1].axes[0].get_title() == "digits (val split)"


# ------------------------------------------------------------------------------------------- data folders
def test_data_root_or_dataset_folder_both_accepted(tmp_path, monkeypatch):
    from nnlab.data.paths import DataNotFoundError, find_data_file

    root = tmp_path / "data"
    (root / "mnist").mkdir(parents=True)
    (root / "mnist" / "f.gz").write_bytes(b"x")
    want = root / "mnist" / "f.gz"
    assert find_data_file("load_x", root, "mnist", ("f.gz",), "mnist") == want           # the data root
    assert find_data_file("load_x", root / "mnist", "mnist", ("f.gz",), "mnist") == want  # the dataset folder
    monkeypatch.setenv("NNLAB_DATA", str(root))
    assert find_data_file("load_x", None, "mnist", ("f.gz",), "mnist") == want
    monkeypatch.setenv("NNLAB_DATA", str(root / "mnist"))
    assert find_data_file("load_x", None, "mnist", ("f.gz",), "mnist") == want
    with pytest.raises(TypeError, match="load_mnist: path must be a file or folder path"):
        find_data_file("load_mnist", 123, "mnist", ("f.gz",), "mnist")
    with pytest.raises(DataNotFoundError, match=r"nnlab data download mnist --dest"):
        find_data_file("load_x", tmp_path / "empty", "mnist", ("f.gz",), "mnist")


def test_load_mnist_with_a_number_names_the_argument():
    from nnlab.data.mnist import load_mnist

    with pytest.raises(TypeError, match="load_mnist: path must be"):
        load_mnist(123)


def test_solver_unknown_keyword_names_the_solver():
    from nnlab.models import FullyConnectedNet
    from nnlab.solver import Solver

    model = FullyConnectedNet([4], input_dim=3, num_classes=2)
    data = {"X_train": np.zeros((4, 3)), "y_train": np.zeros(4, int), "X_val": np.zeros((2, 3)),
            "y_val": np.zeros(2, int)}
    with pytest.raises(ValueError, match=r'^Solver: Unrecognized arguments "bogus_kw"'):
        Solver(model, data, bogus_kw=1)


def test_unreachable_tracking_database_checked_before_any_folder(tmp_path, capsys):
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    out = tmp_path / "runs"
    _one_line_exit_2(capsys, ["train", "--quick", "--log", "mlflow", "--mlflow-uri",
                              "postgresql://nobody@127.0.0.1:9/db", "--out", str(out)],
                     "cannot connect to the tracking database")
    assert not out.exists()


# ----------------------------------------------------------------------- OS errors on a user's paths
@pytest.mark.parametrize("err,words", [
    (PermissionError(13, "Permission denied", "/data/x"), ("/data/x", "permission denied")),
    (OSError(30, "Read-only file system", "/ro/runs"), ("/ro/runs", "read-only file system")),
    (OSError(28, "No space left on device", "/full/runs/m.npz"), ("/full/runs/m.npz", "no space left")),
    (FileExistsError(17, "File exists", "/etc/passwd"), ("/etc/passwd", "already exists")),
    (NotADirectoryError(20, "Not a directory", "/etc/passwd/x"), ("/etc/passwd/x", "is a file, not a folder")),
], ids=["EACCES", "EROFS", "ENOSPC", "EEXIST", "ENOTDIR"])
def test_os_errors_are_user_errors_in_one_line(monkeypatch, capsys, err, words):
    import nnlab.cli as cli

    def fail(args):
        raise err

    monkeypatch.setattr(cli, "_cmd_runs", fail)
    _one_line_exit_2(capsys, ["runs"], *words)


def test_out_not_writable_refused_before_anything(tmp_path, capsys, monkeypatch):
    import nnlab.cli as cli

    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)  # (the tests may run as root)
    _one_line_exit_2(capsys, ["train", "--quick", "--out", str(tmp_path / "runs")], "not writable")
    assert not (tmp_path / "runs").exists()


def test_tune_out_checked_like_train(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    for out, words in (("", ("--out is empty",)), (str(tmp_path / "afile"), ("afile", "is a file"))):
        _one_line_exit_2(capsys, ["tune", "--quick", "--param", "learning_rate=loguniform:1e-4:1e-2", "--trials",
                                  "1", "--out", out], *words)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_char_prompt_lowercased_as_the_training_text():
    from nnlab.runs import Run

    run = Run(path=Path("r"), config={"recipe": "macbeth-rnn", "settings": {}}, metrics={}, model=None,
              info={"vocab": "abcdefghijklmnopqrstuvwxyz .,"})
    assert run.lowercased_prompt("To be, or not") == "to be, or not"
    assert run.lowercased_prompt("to be") is None           # nothing to change
    assert run.lowercased_prompt("to bé") is None           # no capital: the unknown character is reported later
    assert run.lowercased_prompt("To bé") == "to bé"


@pytest.mark.data
def test_char_model_cli_prompt_and_image(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["train", "macbeth-rnn", "--quick", "--out", str(out), "--no-progress"]) == 0
    (run,) = out.iterdir()
    capsys.readouterr()
    assert main(["predict", str(run), "--seed-text", "To Be", "--length", "10", "--seed", "1"]) == 0
    captured = capsys.readouterr()
    assert "was lower-cased, as the training text was" in captured.err
    assert len(captured.out.rstrip("\n")) == 10  # the 10 sampled characters
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "digit.png")
    _one_line_exit_2(capsys, ["predict", str(run), str(tmp_path / "digit.png")], "digit.png", "not UTF-8 text")


@pytest.mark.data
def test_evaluate_data_accepts_root_or_dataset_folder(tmp_path, capsys, monkeypatch):
    from nnlab.data.paths import data_root

    root = data_root()
    out = tmp_path / "runs"
    assert main(["train", "housing-softsign", "--quick", "--out", str(out), "--no-progress"]) == 0
    (study,) = out.iterdir()
    variant = study / "gd"
    capsys.readouterr()
    figures = []
    for data in (root, root / "california_housing"):
        assert main(["evaluate", str(variant), "--data", str(data), "--json"]) == 0
        figures.append(capsys.readouterr().out.splitlines()[-1])
    monkeypatch.setenv("NNLAB_DATA", str(root / "california_housing"))  # the dataset folder as NNLAB_DATA
    assert main(["evaluate", str(variant), "--json"]) == 0
    figures.append(capsys.readouterr().out.splitlines()[-1])
    assert figures[0] == figures[1] == figures[2] and json.loads(figures[0])["test_acc"] > 0
