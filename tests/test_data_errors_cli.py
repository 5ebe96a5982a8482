"""Broken or missing data, through the real ``nnlab train`` process on real recipes: exit status 2, exactly one
line on stderr naming the file (or folder) that is wrong, no traceback, and no run folder left behind -- or only
folders whose ``metrics.json`` says ``status: "failed"`` with the reason (never an empty or "running" one).

The damaged datasets are copies of ``../shared/data`` made by each test in its temporary folder (the shared
folder is only read)."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from nnlab.data.mnist import MNIST_FILES
from tests.cli_helpers import nnlab, require_recipe


def check_fails_well(tmp_path: Path, recipe: str, data_path: Path, culprit: str, *words: str,
                     extra: tuple[str, ...] = ()) -> str:
    """``nnlab train RECIPE --quick --set data_path=DATA_PATH EXTRA``: exit 2, one stderr line naming ``culprit``
    (and ``words``), no traceback, no run folder but failed ones. Returns the line."""
    root = tmp_path / "runs"
    proc = nnlab("train", recipe, "--quick", "--set", f"data_path={data_path}", *extra, "--out", str(root),
                 cwd=tmp_path)
    err = proc.stderr
    assert proc.returncode == 2, f"exit {proc.returncode}\nstderr:\n{err}"
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{err}"
    line = lines[0]
    assert line.startswith("nnlab train: "), line
    assert culprit in line, f"{culprit!r} not named in: {line}"
    for word in words:
        assert word in line, f"{word!r} not in: {line}"
    assert "internal error" not in line, line
    left = sorted(p for p in root.rglob("*") if p.is_dir()) if root.exists() else []
    for folder in left:
        files = {p.name for p in folder.iterdir()}
        assert files, f"empty run folder left behind: {folder}"
        if folder.parent != root and "metrics.json" not in files:
            continue  # a study's variant folder is judged by the study's own metrics.json
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics.get("status") == "failed", (folder, metrics)
        assert culprit in metrics.get("reason", ""), (folder, metrics)
    return line


def mnist_copy(data_dir: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "mnist"
    copy.mkdir()
    for name in MNIST_FILES:
        shutil.copyfile(data_dir / "mnist" / name, copy / name)
    return copy


# ---------------------------------------------------------------------------------------------------- MNIST
def _truncate(file: Path) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])


def _flip_bytes(file: Path) -> None:
    data = bytearray(file.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 16):
        data[i] ^= 0xFF
    file.write_bytes(bytes(data))


@pytest.mark.data
@pytest.mark.parametrize("name, damage", [
    ("train-labels-idx1-ubyte.gz", _truncate),
    ("train-images-idx3-ubyte.gz", _flip_bytes),
    ("t10k-images-idx3-ubyte.gz", _truncate),
], ids=["truncated-train-labels", "flipped-train-images", "truncated-t10k-images"])
def test_mnist_mlp_on_a_corrupted_mnist_file_names_it(data_dir, tmp_path, name, damage):
    copy = mnist_copy(data_dir, tmp_path)
    damage(copy / name)
    check_fails_well(tmp_path, "mnist-mlp", copy, str(copy / name), "sha256", "download it again")


@pytest.mark.data
def test_mnist_mlp_with_a_file_missing_names_the_file(data_dir, tmp_path):
    copy = mnist_copy(data_dir, tmp_path)
    (copy / "t10k-labels-idx1-ubyte.gz").unlink()
    check_fails_well(tmp_path, "mnist-mlp", copy, "t10k-labels-idx1-ubyte.gz", str(copy), "nnlab data download")


def test_mnist_mlp_with_a_missing_data_folder_names_it(tmp_path):
    missing = tmp_path / "no" / "such" / "mnist"
    check_fails_well(tmp_path, "mnist-mlp", missing, str(missing), "does not exist", "nnlab data download mnist")


def test_mnist_mlp_with_a_file_as_data_folder_names_it(tmp_path):
    bogus = tmp_path / "mnist.txt"
    bogus.write_text("not a folder")
    check_fails_well(tmp_path, "mnist-mlp", bogus, str(bogus))


# ------------------------------------------------------------------------------------------------- CIFAR-10
# cifar10-softmax declares a grid: its --quick run is a sweep (the runner's trials) unless sweep=False.
SWEEP_OR_NOT = pytest.mark.parametrize("extra", [(), ("--set", "sweep=False")], ids=["sweep", "single-run"])


@SWEEP_OR_NOT
def test_cifar10_softmax_on_an_empty_folder_names_it(tmp_path, extra):
    require_recipe("cifar10-softmax")
    empty = tmp_path / "cifar10"
    empty.mkdir()
    check_fails_well(tmp_path, "cifar10-softmax", empty, str(empty), "no CIFAR-10 data", extra=extra)


@pytest.mark.data
@SWEEP_OR_NOT
def test_cifar10_softmax_on_a_truncated_zip_names_it(data_dir, tmp_path, extra):
    require_recipe("cifar10-softmax")
    source = data_dir / "cifar10" / "cifar10_jpeg_q75.zip"
    copy = tmp_path / "cifar10" / source.name
    copy.parent.mkdir()
    with open(source, "rb") as f:
        copy.write_bytes(f.read(4 << 20))  # the first 4 MiB: no central directory
    check_fails_well(tmp_path, "cifar10-softmax", copy, str(copy), extra=extra)


@pytest.mark.data
@SWEEP_OR_NOT
def test_cifar10_softmax_on_a_zip_with_an_unreadable_jpeg_names_the_member(data_dir, tmp_path, extra):
    """A zip of the same layout under another name (no checksum to compare): the decoder names zip:member."""
    require_recipe("cifar10-softmax")
    mine = tmp_path / "my-cifar10.zip"
    with zipfile.ZipFile(data_dir / "cifar10" / "cifar10_jpeg_q75.zip") as src, zipfile.ZipFile(mine, "w") as out:
        taken: dict[tuple[str, str], int] = {}
        for name in src.namelist():
            parts = name.split("/")
            if len(parts) == 3 and parts[2] and taken.get((parts[0], parts[1]), 0) < 20:
                taken[(parts[0], parts[1])] = taken.get((parts[0], parts[1]), 0) + 1
                out.writestr(name, src.read(name))
        out.writestr("test/cat/9999.jpg", b"\xff\xd8\xff\xe0 this JPEG was cut short")
    check_fails_well(tmp_path, "cifar10-softmax", mine, f"{mine}:test/cat/9999.jpg", "remove or replace",
                     extra=extra)


# ---------------------------------------------------------------------------------------------------- MRI
def mri_subset(data_dir: Path, folder: Path, per_class: int) -> Path:
    """An extracted copy of the shared MRI zip with ``per_class`` images per class and split (real JPEGs)."""
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


@pytest.mark.data
def test_mri_cnn_on_a_folder_with_an_unreadable_image_names_the_image(data_dir, tmp_path):
    require_recipe("mri-cnn")
    folder = mri_subset(data_dir, tmp_path / "mri", per_class=3)
    bad = folder / "Training" / "glioma" / "Tr-gl-broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this JPEG was cut short")
    check_fails_well(tmp_path, "mri-cnn", folder, "Tr-gl-broken.jpg", "remove or replace it")


def test_mri_cnn_on_an_empty_folder_names_it(tmp_path):
    require_recipe("mri-cnn")
    empty = tmp_path / "mri"
    empty.mkdir()
    check_fails_well(tmp_path, "mri-cnn", empty, str(empty))


@pytest.mark.data
def test_mri_cnn_on_a_truncated_zip_names_it(data_dir, tmp_path):
    require_recipe("mri-cnn")
    source = data_dir / "brain_tumor_mri" / "brain_tumor_mri_224.zip"
    copy = tmp_path / "mri" / source.name
    copy.parent.mkdir()
    with open(source, "rb") as f:
        copy.write_bytes(f.read(4 << 20))
    check_fails_well(tmp_path, "mri-cnn", copy, str(copy))
