"""MNIST IDX decoding, checks of the real files, and clear errors for missing or damaged files."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest

from nnlab.data.mnist import load_mnist, read_idx
from nnlab.data.paths import DataFormatError, DataNotFoundError


def _write_idx(path, arr: np.ndarray, magic_type: int = 0x08) -> None:
    header = bytes([0, 0, magic_type, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    with gzip.open(path, "wb") as f:
        f.write(header + arr.astype(np.uint8).tobytes())


def test_read_idx_decodes_images_and_labels_the_test_wrote(tmp_path, rng):
    images = rng.integers(0, 256, size=(7, 28, 28))
    labels = rng.integers(0, 10, size=7)
    _write_idx(tmp_path / "img.gz", images)
    _write_idx(tmp_path / "lab.gz", labels)
    np.testing.assert_array_equal(read_idx(tmp_path / "img.gz"), images)
    np.testing.assert_array_equal(read_idx(tmp_path / "lab.gz"), labels)
    assert read_idx(tmp_path / "img.gz").dtype == np.uint8


def test_read_idx_rejects_truncated_foreign_and_wrongly_sized_files(tmp_path, rng):
    _write_idx(tmp_path / "ok.gz", rng.integers(0, 256, size=(5, 28, 28)))
    raw = (tmp_path / "ok.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFormatError, match="cut.gz"):
        read_idx(tmp_path / "cut.gz")
    (tmp_path / "text.gz").write_bytes(b"this is not gzip")
    with pytest.raises(DataFormatError, match="not a readable IDX"):
        read_idx(tmp_path / "text.gz")
    _write_idx(tmp_path / "float.gz", np.zeros((2, 3)), magic_type=0x0D)
    with pytest.raises(DataFormatError, match="magic"):
        read_idx(tmp_path / "float.gz")
    with gzip.open(tmp_path / "short.gz", "wb") as f:  # header promises 10 labels, 4 present
        f.write(bytes([0, 0, 8, 1]) + np.array([10], ">u4").tobytes() + bytes(4))
    with pytest.raises(DataFormatError, match="truncated"):
        read_idx(tmp_path / "short.gz")


def test_load_mnist_missing_folder_names_the_path_and_the_download_command(tmp_path):
    with pytest.raises(DataNotFoundError, match="nnlab data download mnist") as info:
        load_mnist(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)


def test_load_mnist_rejects_num_validation_outside_the_training_set(tmp_path):
    with pytest.raises(ValueError, match="num_validation"):
        load_mnist(tmp_path, num_validation=60000)


@pytest.mark.data
def test_load_mnist_symmetric_scaling_shapes_and_labels_match_seed_001(data_dir):
    data = load_mnist(data_dir / "mnist", num_validation=0, scale="symmetric")
    assert data["X_train"].shape == (60000, 1, 28, 28) and data["X_test"].shape == (10000, 1, 28, 28)
    assert data["X_train"].dtype == np.float32 and data["y_train"].dtype == np.int64
    assert data["X_val"].shape == (0, 1, 28, 28)
    # seed 001: "Train max: value = 1.0, Train min: value = -1.0", same for test
    for split in ("train", "test"):
        assert data[f"X_{split}"].max() == 1.0 and data[f"X_{split}"].min() == -1.0
    # seed 001's printed label grid: the first 50 train labels, then the first 50 test labels
    grid = np.concatenate([data["y_train"][:50], data["y_test"][:50]]).reshape(10, 10)
    np.testing.assert_array_equal(grid[0], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    np.testing.assert_array_equal(grid[4], [1, 8, 7, 9, 3, 9, 8, 5, 9, 3])
    np.testing.assert_array_equal(grid[5], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    np.testing.assert_array_equal(grid[9], [1, 7, 4, 2, 3, 5, 1, 2, 4, 4])
    assert np.bincount(data["y_train"]).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(data["y_test"]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    # the well-known [0, 1] pixel mean 0.1307 and std 0.3081
    unit = (data["X_train"].astype(np.float64) + 1) / 2
    assert abs(unit.mean() - 0.13066) < 5e-5 and abs(unit.std() - 0.30811) < 5e-5


@pytest.mark.data
def test_load_mnist_refuses_a_file_whose_checksum_differs(data_dir, tmp_path):
    for f in (data_dir / "mnist").glob("*.gz"):
        shutil.copy(f, tmp_path / f.name)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(labels.read_bytes())
    raw[-20] ^= 0xFF  # one flipped byte inside the deflate stream
    labels.write_bytes(bytes(raw))
    with pytest.raises(DataFormatError, match="sha256 of .*t10k-labels"):
        load_mnist(tmp_path)
    with pytest.raises(DataFormatError, match="t10k-labels"):  # without the checksum, gzip's CRC still catches it
        load_mnist(tmp_path, verify=False)
