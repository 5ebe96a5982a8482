"""Decoded-array caches, through the real ``nnlab train`` process on real recipes: a dataset copied to a read-write
folder is left exactly as it was (no file added, changed or removed, not even a temporary one: the folders'
mtimes do not move), the cache lands in ``$NNLAB_CACHE`` (and nowhere under ``$HOME``), and a cache file cut in half
is rebuilt transparently: exit 0 and the same figures."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.cli_helpers import nnlab, require_recipe

pytestmark = pytest.mark.data

#: Figures that must be identical between the run on a fresh cache and the run on a rebuilt one.
SAME = ("status", "train_acc", "val_acc", "test_acc", "loss_history", "val_acc_history")


def nnlab_cached(*args: str, cwd: Path, cache: Path | None, home: Path) -> subprocess.CompletedProcess:
    """``nnlab ARGS`` in a fresh process with ``NNLAB_CACHE=cache`` (unset when None) and ``HOME=home`` (no XDG
    cache override)."""
    return nnlab(*args, cwd=cwd, env={"XDG_CACHE_HOME": None, "NNLAB_CACHE": None if cache is None else str(cache),
                                      "HOME": str(home)})


def snapshot(root: Path) -> dict[str, Any]:
    """Every path under ``root`` (and root itself) with its kind, size, mtime and, for files, sha256."""
    out: dict[str, Any] = {}
    for p in [root, *sorted(root.rglob("*"))]:
        st = p.stat()
        key = str(p.relative_to(root))
        if p.is_dir():
            out[key] = ("dir", st.st_mtime_ns)
        else:
            out[key] = ("file", st.st_size, st.st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def cifar10_zip_copy(data_dir: Path, folder: Path) -> Path:
    """A read-write copy of the shared CIFAR-10 JPEG zip (its folder is what the run is given)."""
    folder.mkdir(parents=True)
    shutil.copyfile(data_dir / "cifar10" / "cifar10_jpeg_q75.zip", folder / "cifar10_jpeg_q75.zip")
    return folder


def mri_folder_copy(data_dir: Path, folder: Path, per_class: int = 8) -> Path:
    """An extracted, read-write copy of the shared MRI zip: ``per_class`` real JPEGs per class and split."""
    with zipfile.ZipFile(data_dir / "brain_tumor_mri" / "brain_tumor_mri_224.zip") as zf:
        taken: dict[tuple[str, str], int] = {}
        for info in zf.infolist():
            parts = info.filename.split("/")
            if info.is_dir() or len(parts) != 3:
                continue
            key = (parts[0], parts[1])
            if taken.get(key, 0) < per_class:
                taken[key] = taken.get(key, 0) + 1
                zf.extract(info, folder)
    return folder


CASES = [
    pytest.param("cifar10-softmax", ("--set", "sweep=False"), cifar10_zip_copy, "cifar10_jpeg_q75.zip.",
                 id="cifar10-softmax-zip"),
    pytest.param("mri-cnn", ("--set", "num_epochs=1"), mri_folder_copy, "dataset.",  # named after the folder
                 id="mri-cnn-folder"),
]


@pytest.mark.parametrize("recipe, extra, make_copy, cache_prefix", CASES)
def test_a_quick_run_leaves_the_data_copy_untouched_and_a_truncated_cache_is_rebuilt(
        data_dir, tmp_path, recipe, extra, make_copy, cache_prefix):
    require_recipe(recipe)
    data = make_copy(data_dir, tmp_path / "data" / "dataset")
    cache, home = tmp_path / "cache", tmp_path / "home"
    home.mkdir()
    before = snapshot(tmp_path / "data")
    args = ("train", recipe, "--quick", "--set", f"data_path={data}", *extra, "--out", str(tmp_path / "runs"))

    first = nnlab_cached(*args, cwd=tmp_path, cache=cache, home=home)
    assert first.returncode == 0, first.stderr
    assert snapshot(tmp_path / "data") == before, "the run changed the data folder"
    files = sorted(p for p in cache.rglob("*") if p.is_file())
    ours = [p for p in files if p.name.startswith(cache_prefix) and p.suffix == ".npz"]
    assert len(ours) == 1, files
    assert not [p for p in files if p.name.endswith(".tmp")], files
    assert not (home / ".cache" / "nnlab").exists()  # nothing in the user cache folder when NNLAB_CACHE is set
    assert not [p for p in home.rglob("*.npz")], sorted(home.rglob("*.npz"))
    (run1,) = (tmp_path / "runs").iterdir()
    metrics1 = json.loads((run1 / "metrics.json").read_text())
    assert metrics1["status"] == "finished", metrics1

    full = ours[0].read_bytes()
    ours[0].write_bytes(full[: len(full) // 2])
    second = nnlab_cached(*args, cwd=tmp_path, cache=cache, home=home)
    assert second.returncode == 0, second.stderr
    assert "Traceback" not in second.stderr and "BadZipFile" not in second.stderr.replace(
        "BadZipFile:", ""), second.stderr
    assert snapshot(tmp_path / "data") == before, "the second run changed the data folder"
    run2 = next(p for p in (tmp_path / "runs").iterdir() if p != run1)
    metrics2 = json.loads((run2 / "metrics.json").read_text())
    for key in SAME:
        assert metrics2.get(key) == metrics1.get(key), (key, metrics1.get(key), metrics2.get(key))
    rebuilt = [p for p in cache.rglob("*") if p.is_file() and p.name.startswith(cache_prefix)]
    assert rebuilt == ours, rebuilt  # the same file name, rebuilt in place
    with np.load(ours[0]) as z:  # a complete, readable cache again
        assert len(z.files) > 1
    assert ours[0].stat().st_size == len(full)


def test_without_nnlab_cache_the_cache_goes_to_the_user_cache_folder_not_the_data_folder(data_dir, tmp_path):
    """No NNLAB_CACHE: platformdirs' user cache folder ($HOME/.cache/nnlab on Linux), still never the data."""
    require_recipe("mri-cnn")
    if sys.platform != "linux":
        pytest.skip("the user cache folder is $HOME/.cache/nnlab on Linux only")
    data = mri_folder_copy(data_dir, tmp_path / "data" / "dataset", per_class=4)
    home = tmp_path / "home"
    home.mkdir()
    before = snapshot(tmp_path / "data")
    # 4 images per class: 16 training images, so a batch of 8 (a batch above the training set is refused)
    proc = nnlab_cached("train", "mri-cnn", "--quick", "--set", f"data_path={data}", "--set", "num_epochs=1",
                        "--set", "batch_size=8", "--out", str(tmp_path / "runs"), cwd=tmp_path, cache=None, home=home)
    assert proc.returncode == 0, proc.stderr
    assert snapshot(tmp_path / "data") == before, "the run changed the data folder"
    cached = sorted((home / ".cache" / "nnlab").glob("dataset.*.npz"))
    assert len(cached) == 1, sorted(home.rglob("*"))
