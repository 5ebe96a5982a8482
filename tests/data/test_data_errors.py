"""Every data problem a user can cause raises one DataError whose single line names the file or folder, what was
expected and what to do (the CLI prints it and exits with status 2)."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nnlab.data import (
    DataError,
    DataFormatError,
    DataNotFoundError,
    load_brain_mri,
    load_california_housing,
    load_cifar10,
    load_image_folder,
    load_macbeth,
    load_mnist,
    read_idx,
)
from nnlab.data.mnist import MNIST_FILES


def _idx_gz(path: Path, arr: np.ndarray, magic: bytes | None = None) -> None:
    header = (magic or bytes([0, 0, 8, arr.ndim])) + np.asarray(arr.shape, dtype=">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def _fake_mnist(folder: Path) -> None:
    """Four small IDX files under the official names (their sha256 differs from the official one)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in MNIST_FILES:
        n = 3
        _idx_gz(folder / name, np.zeros((n, 28, 28)) if "images" in name else np.arange(n))


def _check(exc: BaseException, *parts: str) -> str:
    """One line, a DataError, and every expected part in the message."""
    msg = str(exc)
    assert isinstance(exc, DataError), type(exc)
    assert "\n" not in msg and msg.count(":") >= 1, msg
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    return msg


# ------------------------------------------------------------------------------------------------- missing data
@pytest.mark.parametrize("loader, download", [
    (load_mnist, "nnlab data download mnist"),
    (load_cifar10, "nnlab data download cifar10"),
    (load_california_housing, "nnlab data download california_housing"),
    (load_macbeth, "nnlab data download macbeth"),
    (load_brain_mri, "kaggle.com/datasets/masoudnickparvar/brain-tumor-mri-dataset"),
])
def test_a_missing_data_root_says_so_and_what_to_do(tmp_path, monkeypatch, loader, download):
    root = tmp_path / "nowhere"
    monkeypatch.setenv("NNLAB_DATA", str(root))
    with pytest.raises(DataNotFoundError) as info:
        loader()
    assert isinstance(info.value, FileNotFoundError)
    _check(info.value, f"the data root {root} does not exist ($NNLAB_DATA={root})", download, "set NNLAB_DATA",
           "path=")


def test_an_explicit_missing_folder_is_named_with_the_download_command(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(tmp_path / "mnist")
    _check(info.value, f"{tmp_path / 'mnist'} does not exist", "train-images-idx3-ubyte.gz",
           f"nnlab data download mnist --dest {tmp_path / 'mnist'}")


def test_a_missing_file_in_an_existing_folder_is_named(tmp_path):
    _fake_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(tmp_path / "mnist", verify=False)
    _check(info.value, f"no t10k-labels-idx1-ubyte.gz in {tmp_path / 'mnist'}", "nnlab data download mnist")


def test_a_missing_macbeth_file_and_an_empty_image_path_are_named(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        load_macbeth(tmp_path / "macbeth.txt")
    _check(info.value, "macbeth.txt", str(tmp_path), "nnlab data download macbeth")
    with pytest.raises(DataNotFoundError) as info:
        load_image_folder(tmp_path / "images")
    _check(info.value, f"{tmp_path / 'images'} does not exist", "<split>/<class>/<image>")


# ------------------------------------------------------------------------------------------------- corrupted MNIST
def test_mnist_with_a_wrong_sha256_names_the_file_and_the_download_command(tmp_path):
    _fake_mnist(tmp_path / "mnist")
    with pytest.raises(DataFormatError) as info:
        load_mnist(tmp_path / "mnist")
    assert isinstance(info.value, ValueError)
    _check(info.value, "sha256 of", "train-images-idx3-ubyte.gz", "expected 440fcabf",
           f"nnlab data download mnist --dest {tmp_path / 'mnist'}", "verify=False")


@pytest.mark.parametrize("damage, expected", [
    ("truncated_gzip", "truncated or corrupted"),
    ("not_gzip", "not a readable IDX gzip file"),
    ("bad_magic", "magic number"),
    ("short_payload", "truncated or padded"),
    ("swapped", "expected (60000, 28, 28)"),
])
def test_a_corrupted_mnist_file_names_the_file_and_says_to_download_again(tmp_path, damage, expected):
    folder = tmp_path / "mnist"
    _fake_mnist(folder)
    bad = folder / "train-labels-idx1-ubyte.gz"
    if damage == "truncated_gzip":
        raw = bad.read_bytes()
        bad.write_bytes(raw[: len(raw) - 12])
    elif damage == "not_gzip":
        bad.write_bytes(b"<html>404 Not Found</html>")
    elif damage == "bad_magic":
        _idx_gz(bad, np.arange(3), magic=b"\x00\x00\x0d\x01")
    elif damage == "short_payload":
        with gzip.open(bad, "wb") as f:
            f.write(bytes([0, 0, 8, 1]) + np.array([10], ">u4").tobytes() + bytes(4))
    with pytest.raises(DataFormatError) as info:
        load_mnist(folder, verify=False)
    name = "train-images" if damage == "swapped" else bad.name
    _check(info.value, expected, name, "nnlab data download mnist")


def test_read_idx_errors_are_one_line_data_errors(tmp_path):
    (tmp_path / "x.gz").write_bytes(b"\x1f\x8b\x08\x00 truncated")
    with pytest.raises(DataFormatError) as info:
        read_idx(tmp_path / "x.gz")
    _check(info.value, str(tmp_path / "x.gz"), "delete it and download it again")


# ------------------------------------------------------------------------------------------------- CIFAR-10
def test_a_truncated_cifar10_archive_names_the_file(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = np.zeros(10 * 3073, np.uint8).tobytes()
        info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    (tmp_path / "cut.tar.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFormatError) as info:
        load_cifar10(tmp_path / "cut.tar.gz")
    _check(info.value, "cut.tar.gz", "nnlab data download cifar10")


def test_a_foreign_file_given_as_cifar10_says_what_is_expected(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(DataFormatError) as info:
        load_cifar10(tmp_path / "notes.txt")
    _check(info.value, "notes.txt", "cifar-10-python.tar.gz", "pass one of those as path=")


# ------------------------------------------------------------------------------------------------- image folders
def test_an_empty_image_folder_says_which_layout_is_expected(tmp_path):
    (tmp_path / "imgs" / "Training").mkdir(parents=True)
    with pytest.raises(DataFormatError) as info:
        load_image_folder(tmp_path / "imgs", cache=False)
    _check(info.value, str(tmp_path / "imgs"), "has no Training/<class>/<image> files", ".jpg",
           "<root>/Training/<class>/<image>")


def test_an_unreadable_image_is_named_and_the_fix_given(tmp_path):
    for split in ("Training", "Testing"):
        (tmp_path / "imgs" / split / "cat").mkdir(parents=True)
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "imgs" / split / "cat" / "ok.png")
    (tmp_path / "imgs" / "Testing" / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut short")
    with pytest.raises(DataFormatError) as info:
        load_image_folder(tmp_path / "imgs", cache=False)
    _check(info.value, "Testing/cat/broken.jpg", "cannot decode", "remove or replace it")


def test_a_damaged_zip_of_images_is_named(tmp_path):
    (tmp_path / "imgs.zip").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataFormatError) as info:
        load_image_folder(tmp_path / "imgs.zip", cache=False)
    _check(info.value, "imgs.zip", "neither a folder nor a readable zip")


# ------------------------------------------------------------------------------------------------- text
def test_macbeth_that_is_not_utf8_is_a_data_format_error(tmp_path):
    (tmp_path / "macbeth.txt").write_bytes("Macbeth \u2014 ".encode("utf-16"))
    with pytest.raises(DataFormatError) as info:
        load_macbeth(tmp_path / "macbeth.txt")
    _check(info.value, "macbeth.txt", "not UTF-8 text")
