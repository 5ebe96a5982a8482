"""CIFAR-10 in its three layouts (python pickles, binary records, image zip), written by the tests themselves,
plus the shared JPEG zip and the seed-004 split of get_CIFAR10_data."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from nnlab.data.cifar10 import CIFAR10_CLASSES, get_CIFAR10_data, load_cifar10, load_cifar10_raw, restricted_loads
from nnlab.data.paths import DataFormatError, DataNotFoundError

N_PER_BATCH = 4  # small official-format batches: 5 x 4 training rows, 4 test rows
NAMES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def _batches(rng) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(rng.integers(0, 256, size=(N_PER_BATCH, 3072), dtype=np.uint8),
             rng.integers(0, 10, size=N_PER_BATCH)) for _ in NAMES]


def _expected(batches):
    nhwc = [b[0].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1) for b in batches]
    return (np.concatenate(nhwc[:5]), np.concatenate([b[1] for b in batches[:5]]), nhwc[5], batches[5][1])


def _write_pickles(folder, batches) -> None:
    folder.mkdir()
    for name, (data, labels) in zip(NAMES, batches):  # as the official Python-2 batches: bytes keys, list labels
        obj = {b"batch_label": name.encode(), b"labels": labels.tolist(), b"data": data,
               b"filenames": [b"x.png"] * len(labels)}
        (folder / name).write_bytes(pickle.dumps(obj, protocol=2))


def _write_binary(folder, batches) -> None:
    folder.mkdir()
    for name, (data, labels) in zip(NAMES, batches):
        (folder / f"{name}.bin").write_bytes(np.concatenate([labels[:, None].astype(np.uint8), data], axis=1).tobytes())


def _assert_same(got, want) -> None:
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert got[0].dtype == np.uint8 and got[1].dtype == np.int64


def test_python_pickle_batches_folder_and_tar_gz_load_pixels_in_nhwc_order(tmp_path, rng):
    batches = _batches(rng)
    _write_pickles(tmp_path / "cifar-10-batches-py", batches)
    want = _expected(batches)
    _assert_same(load_cifar10_raw(tmp_path / "cifar-10-batches-py"), want)
    _assert_same(load_cifar10_raw(tmp_path), want)  # a folder holding the batches folder
    with tarfile.open(tmp_path / "mine.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    _assert_same(load_cifar10_raw(tmp_path / "mine.tar.gz"), want)
    # pixel layout: row = R plane, G plane, B plane -> X[n, h, w, c] = row[c * 1024 + h * 32 + w]
    assert want[0][0, 2, 5, 1] == batches[0][0][0, 1024 + 2 * 32 + 5]


def test_binary_batches_load_label_byte_then_planar_pixels(tmp_path, rng):
    batches = _batches(rng)
    _write_binary(tmp_path / "cifar-10-batches-bin", batches)
    _assert_same(load_cifar10_raw(tmp_path / "cifar-10-batches-bin"), _expected(batches))


def test_truncated_binary_batch_and_missing_batch_are_refused(tmp_path, rng):
    batches = _batches(rng)
    _write_binary(tmp_path / "bin", batches)
    f = tmp_path / "bin" / "data_batch_3.bin"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(DataFormatError, match="data_batch_3.bin.*whole number of 3073-byte records"):
        load_cifar10_raw(tmp_path / "bin")
    _write_pickles(tmp_path / "py", batches)
    os.remove(tmp_path / "py" / "test_batch")
    with pytest.raises(DataFormatError, match="no test_batch"):
        load_cifar10_raw(tmp_path / "py")


def test_truncated_pickle_and_truncated_tar_are_refused(tmp_path, rng):
    _write_pickles(tmp_path / "py", _batches(rng))
    f = tmp_path / "py" / "data_batch_2"
    f.write_bytes(f.read_bytes()[:500])
    with pytest.raises(DataFormatError, match="not a readable CIFAR-10 python batch"):
        load_cifar10_raw(tmp_path / "py")
    _write_pickles(tmp_path / "py2", _batches(rng))
    with tarfile.open(tmp_path / "a.tar", "w") as tar:
        tar.add(tmp_path / "py2", arcname="cifar-10-batches-py")
    raw = (tmp_path / "a.tar").read_bytes()
    (tmp_path / "cut.tar").write_bytes(raw[: len(raw) * 2 // 3])
    with pytest.raises(DataFormatError, match="cut.tar"):
        load_cifar10_raw(tmp_path / "cut.tar")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_restricted_unpickler_refuses_anything_but_numpy_arrays_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": _Evil(marker), b"labels": [1]}, protocol=2)
    with pytest.raises(DataFormatError, match="refusing to load posix.mkdir|refusing to load os.mkdir|refusing"):
        restricted_loads(payload)
    assert not marker.exists()
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    out = restricted_loads(pickle.dumps({b"data": arr, "labels": [1, 2]}, protocol=2))
    np.testing.assert_array_equal(out[b"data"], arr)


def _write_png_zip(path, n_per_class: int, rng) -> dict:
    pixels = {}
    with zipfile.ZipFile(path, "w") as zf:
        for split in ("train", "test"):
            for c, name in enumerate(CIFAR10_CLASSES):
                for i in range(n_per_class):
                    img = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                    buf = io.BytesIO()
                    Image.fromarray(img).save(buf, format="PNG")
                    zf.writestr(f"{split}/{name}/{i:04d}.png", buf.getvalue())
                    pixels[(split, c, i)] = img
    return pixels


def test_image_zip_layout_is_read_class_round_robin_and_cached(tmp_path, rng):
    pixels = _write_png_zip(tmp_path / "imgs.zip", 3, rng)
    X_train, y_train, X_test, y_test = load_cifar10_raw(tmp_path / "imgs.zip", cache_dir=tmp_path / "cache")
    assert X_train.shape == (30, 32, 32, 3) and X_test.shape == (30, 32, 32, 3)
    np.testing.assert_array_equal(y_train, np.tile(np.arange(10), 3))  # 0000 of every class, then 0001, ...
    np.testing.assert_array_equal(X_train[13], pixels[("train", 3, 1)])
    np.testing.assert_array_equal(X_test[29], pixels[("test", 9, 2)])
    assert len(list((tmp_path / "cache").glob("imgs.zip.*.npz"))) == 1
    again = load_cifar10_raw(tmp_path / "imgs.zip", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again[0], X_train)
    limited = load_cifar10_raw(tmp_path / "imgs.zip", limit=1, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(limited[1], np.arange(10))


def test_image_zip_with_a_corrupt_image_or_a_missing_class_is_refused(tmp_path, rng):
    _write_png_zip(tmp_path / "imgs.zip", 1, rng)
    with zipfile.ZipFile(tmp_path / "imgs.zip", "a") as zf:
        zf.writestr("train/cat/0001.png", b"not an image at all")
    with pytest.raises(DataFormatError, match="cannot decode .*train/cat/0001.png"):
        load_cifar10_raw(tmp_path / "imgs.zip", cache_dir=tmp_path)
    with zipfile.ZipFile(tmp_path / "few.zip", "w") as zf:
        zf.writestr("train/cat/0000.png", b"x")
    with pytest.raises(DataFormatError, match="no train/<class>/ images for classes"):
        load_cifar10_raw(tmp_path / "few.zip", cache_dir=tmp_path)
    (tmp_path / "foreign.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DataFormatError, match="not a CIFAR-10 archive"):
        load_cifar10_raw(tmp_path / "foreign.bin")


def test_missing_data_names_the_path_and_the_download_command(tmp_path):
    with pytest.raises(DataNotFoundError, match="nnlab data download cifar10") as info:
        load_cifar10(tmp_path / "empty")
    assert str(tmp_path / "empty") in str(info.value)


def test_get_cifar10_data_splits_subtracts_the_train_mean_and_returns_nchw(tmp_path, rng):
    batches = _batches(rng)
    _write_pickles(tmp_path / "cifar-10-batches-py", batches)
    X_tr, y_tr, X_te, y_te = _expected(batches)
    data = get_CIFAR10_data(num_training=15, num_validation=5, num_test=3, path=tmp_path)
    assert list(data) == ["X_train", "y_train", "X_val", "y_val", "X_test", "y_test"]
    assert data["X_train"].shape == (15, 3, 32, 32) and data["X_train"].dtype == np.float32
    mean = X_tr[:15].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(data["X_val"], (X_tr[15:20] - mean).transpose(0, 3, 1, 2), atol=1e-4)
    np.testing.assert_allclose(data["X_test"], (X_te[:3] - mean).transpose(0, 3, 1, 2), atol=1e-4)
    np.testing.assert_array_equal(data["y_val"], y_tr[15:20])
    raw = load_cifar10(tmp_path, num_training=20, num_validation=0, num_test=4, subtract_mean=False,
                       dtype=np.float64)
    np.testing.assert_array_equal(raw["X_train"], X_tr.transpose(0, 3, 1, 2))
    with pytest.raises(ValueError, match="num_training"):
        load_cifar10(tmp_path, num_training=20, num_validation=1)


@pytest.mark.data
def test_shared_jpeg_zip_subset_has_checksum_balanced_classes_and_32x32_rgb(data_dir, tmp_path):
    data = load_cifar10(data_dir / "cifar10", num_training=80, num_validation=20, num_test=50, limit=10,
                        cache_dir=tmp_path)
    assert data["X_train"].shape == (80, 3, 32, 32) and data["X_test"].shape == (50, 3, 32, 32)
    assert np.bincount(data["y_train"], minlength=10).tolist() == [8] * 10
    assert np.bincount(data["y_val"], minlength=10).tolist() == [2] * 10
    assert abs(float(data["X_train"].mean())) < 1e-3  # mean-subtracted


@pytest.mark.slow
@pytest.mark.data
def test_full_jpeg_cifar10_matches_spec_shapes_and_mean_image_within_jpeg_error(data_dir, tmp_path):
    X_train, y_train, X_test, y_test = load_cifar10_raw(data_dir / "cifar10", cache_dir=tmp_path)
    assert X_train.shape == (50000, 32, 32, 3) and X_test.shape == (10000, 32, 32, 3)  # seed 004 §2.1
    assert np.bincount(y_train).tolist() == [5000] * 10 and np.bincount(y_test).tolist() == [1000] * 10
    data = get_CIFAR10_data(path=data_dir / "cifar10", subtract_mean=False, dtype=np.float64, cache_dir=tmp_path)
    assert {k: v.shape for k, v in data.items()} == {
        "X_train": (49000, 3, 32, 32), "y_train": (49000,), "X_val": (1000, 3, 32, 32), "y_val": (1000,),
        "X_test": (1000, 3, 32, 32), "y_test": (1000,)}
    # seed 004 §2.2 prints the first 10 entries of the (HWC-flattened) mean image of the official data; the JPEG
    # re-encoding and the lost file order move them by less than 0.6 (measured: at most 0.49)
    mean = data["X_train"].transpose(0, 2, 3, 1).reshape(49000, -1).mean(axis=0)[:10]
    spec = [130.64189796, 135.98173469, 132.47391837, 130.05569388, 135.34804082,
            131.75402041, 130.96055102, 136.14328571, 132.47636735, 131.48467347]
    np.testing.assert_allclose(mean, spec, atol=0.6)
