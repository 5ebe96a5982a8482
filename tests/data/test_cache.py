"""Decoded-array caches: in $NNLAB_CACHE (never the data folder), rebuilt when stale, corrupt or truncated."""

from __future__ import annotations

import os
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nnlab.data.cache as cache_mod
from nnlab.data.cache import CACHE_FORMAT, cache_file_for, cache_root, cached_arrays
from nnlab.data.cifar10 import CIFAR10_CLASSES, load_cifar10
from nnlab.data.images import load_image_folder


def _write_tree(root: Path, counts: dict, size: int = 12) -> None:
    """Solid-colour PNGs: class c, image i has value 10 * c + i + 1 in every pixel."""
    for split, per_class in counts.items():
        for c, (name, n) in enumerate(per_class.items()):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = Image.fromarray(np.full((size, size, 3), 10 * c + i + 1, np.uint8))
                img.save(root / split / name / f"{i}.png")


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder`` (hidden ones included) with its size and mtime."""
    return {p.relative_to(folder).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("NNLAB_CACHE", str(folder))
    return folder


@pytest.fixture
def image_set(tmp_path) -> Path:
    root = tmp_path / "data" / "set"
    _write_tree(root, {"Training": {"a": 3, "b": 2}, "Testing": {"a": 1, "b": 2}})
    return root


def test_the_test_session_caches_into_a_temporary_folder_not_the_data_folder():
    folder = Path(os.environ["NNLAB_CACHE"])  # set by tests/conftest.py unless the user set it
    assert folder.is_dir() and "shared" not in folder.parts


def test_cache_root_is_the_argument_then_nnlab_cache_then_the_user_cache_folder(tmp_path, monkeypatch):
    from platformdirs import user_cache_dir

    monkeypatch.setenv("NNLAB_CACHE", str(tmp_path / "env"))
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"
    assert cache_root() == tmp_path / "env"
    monkeypatch.delenv("NNLAB_CACHE")
    assert cache_root() == Path(user_cache_dir("nnlab", appauthor=False))


def test_image_folder_is_cached_in_nnlab_cache_and_nothing_is_added_to_the_data_folder(image_set, cache):
    before = _listing(image_set.parent)
    parts, classes = load_image_folder(image_set, size=6)
    assert _listing(image_set.parent) == before
    files = list(cache.iterdir())
    assert [f.name for f in files] == [cache_file_for(image_set, _params(6)).name]
    assert files[0].name.startswith("set.") and files[0].suffix == ".npz"
    assert oct(files[0].stat().st_mode & 0o777) == oct(0o644 & ~_umask())
    again, classes_again = load_image_folder(image_set, size=6)
    assert classes == classes_again == ("a", "b")
    for split in ("Training", "Testing"):
        np.testing.assert_array_equal(again[split][0], parts[split][0])
        np.testing.assert_array_equal(again[split][1], parts[split][1])
    np.testing.assert_array_equal(parts["Testing"][0][:, 0, 3, 3], [1, 11, 12])
    assert _listing(image_set.parent) == before


def _params(size: int) -> tuple:
    return ("image-folder", "pixels-by-value-range", ("Training", "Testing"), None, size, False, 0.0, None)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("damage", ["truncate", "zero_bytes", "garbage", "foreign_npz", "flipped_bytes"])
def test_a_damaged_cache_is_removed_and_rebuilt_with_a_warning_never_raised(image_set, cache, damage):
    parts, _ = load_image_folder(image_set, size=6)
    (file,) = cache.iterdir()
    raw = file.read_bytes()
    if damage == "truncate":
        file.write_bytes(raw[: len(raw) // 2])
    elif damage == "zero_bytes":
        file.write_bytes(b"")
    elif damage == "garbage":
        file.write_bytes(b"not a zip file at all" * 50)
    elif damage == "foreign_npz":
        np.savez(file, X_0=np.zeros(3))  # a valid .npz without the cache's metadata
    else:  # the arrays' bytes damaged in place: the zip CRC check catches it
        mid = len(raw) // 3
        file.write_bytes(raw[:mid] + bytes(b ^ 0xFF for b in raw[mid:mid + 64]) + raw[mid + 64:])
    with pytest.warns(RuntimeWarning, match=rf"load_image_folder: the cache {file} is unreadable .*rebuilding"):
        again, _ = load_image_folder(image_set, size=6)
    np.testing.assert_array_equal(again["Training"][0], parts["Training"][0])
    np.testing.assert_array_equal(again["Testing"][1], parts["Testing"][1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the rebuilt cache is whole: no warning the third time
        third, _ = load_image_folder(image_set, size=6)
    np.testing.assert_array_equal(third["Training"][0], parts["Training"][0])
    assert [f.name for f in cache.iterdir()] == [file.name]


def test_a_stale_cache_is_rebuilt_in_place_when_a_source_file_changes(image_set, cache):
    parts, _ = load_image_folder(image_set, size=6, max_per_class=1)
    (file,) = cache.iterdir()
    target = image_set / "Testing" / "b" / "0.png"
    Image.fromarray(np.full((12, 12, 3), 200, np.uint8)).save(target)
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stale is normal: rebuilt silently
        again, _ = load_image_folder(image_set, size=6, max_per_class=1)
    assert parts["Testing"][0][1, 0, 3, 3] == 11 and again["Testing"][0][1, 0, 3, 3] == 200
    assert [f.name for f in cache.iterdir()] == [file.name]
    (image_set / "Training" / "a" / "9.png").write_bytes(target.read_bytes())  # a new file also changes the key
    old = file.stat().st_mtime_ns
    load_image_folder(image_set, size=6, max_per_class=1)
    assert file.stat().st_mtime_ns != old


def test_a_cache_of_an_older_format_is_rebuilt_in_place(image_set, cache, monkeypatch):
    load_image_folder(image_set, size=6)
    (file,) = cache.iterdir()
    calls = []
    monkeypatch.setattr(cache_mod, "CACHE_FORMAT", CACHE_FORMAT + 1)
    out = cached_arrays("t", image_set, _params(6), lambda: calls.append(1) or {"x": np.arange(3)})
    assert calls == [1] and out["x"].tolist() == [0, 1, 2]
    assert [f.name for f in cache.iterdir()] == [file.name]
    with np.load(file, allow_pickle=False) as z:
        assert sorted(z.files) == ["__nnlab_cache__", "x"]
        assert f'"format": {CACHE_FORMAT + 1}' in z["__nnlab_cache__"].item()


def test_an_interrupted_cache_write_leaves_no_file_behind(image_set, cache, monkeypatch):
    def broken_savez(f, **arrays):
        f.write(b"PK\x03\x04 half")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(cache_mod.np, "savez", broken_savez)
    with pytest.warns(RuntimeWarning, match="cannot write the cache .*disk full"):
        parts, _ = load_image_folder(image_set, size=6)
    assert parts["Training"][0].shape == (5, 3, 6, 6)
    assert list(cache.iterdir()) == []  # neither the final name nor the temporary file


def test_an_unwritable_cache_folder_warns_and_still_returns_the_arrays(image_set, tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("x")
    monkeypatch.setenv("NNLAB_CACHE", str(tmp_path / "a_file" / "cache"))
    with pytest.warns(RuntimeWarning, match="cannot write the cache .*set NNLAB_CACHE to a writable folder"):
        parts, classes = load_image_folder(image_set, size=6)
    assert classes == ("a", "b") and parts["Testing"][0].shape == (3, 3, 6, 6)


def test_cache_false_and_cache_dir_are_respected(image_set, cache, tmp_path):
    load_image_folder(image_set, size=6, cache=False)
    assert not cache.exists()
    load_image_folder(image_set, size=6, cache_dir=tmp_path / "mine")
    assert len(list((tmp_path / "mine").glob("set.*.npz"))) == 1 and not cache.exists()


def test_cifar10_image_zip_cache_is_keyed_by_limit_and_rebuilt_when_truncated(tmp_path, cache, rng):
    zpath = tmp_path / "data" / "imgs.zip"
    zpath.parent.mkdir()
    with zipfile.ZipFile(zpath, "w") as zf:
        for split in ("train", "test"):
            for name in CIFAR10_CLASSES:
                for i in range(2):
                    img = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
                    with zf.open(f"{split}/{name}/{i:04d}.png", "w") as f:
                        img.save(f, format="PNG")
    before = _listing(zpath.parent)
    full = load_cifar10(zpath, num_training=15, num_validation=5, num_test=20, subtract_mean=False)
    one = load_cifar10(zpath, num_training=8, num_validation=2, num_test=10, subtract_mean=False, limit=1)
    assert len(list(cache.glob("imgs.zip.*.npz"))) == 2 and _listing(zpath.parent) == before
    np.testing.assert_array_equal(one["X_train"], full["X_train"][:8])  # limit=1: the 0000 image of each class
    for f in cache.glob("imgs.zip.*.npz"):
        f.write_bytes(f.read_bytes()[:100])
    with pytest.warns(RuntimeWarning, match="load_cifar10: the cache .* is unreadable"):
        again = load_cifar10(zpath, num_training=15, num_validation=5, num_test=20, subtract_mean=False)
    for k, v in full.items():
        np.testing.assert_array_equal(again[k], v)


@pytest.mark.data
def test_a_copy_of_the_shared_cifar10_loads_without_adding_a_file_to_its_folder(data_dir, tmp_path, cache,
                                                                                 monkeypatch):
    root = tmp_path / "datasets"
    (root / "cifar10").mkdir(parents=True)
    shutil.copy(data_dir / "cifar10" / "cifar10_jpeg_q75.zip", root / "cifar10")
    os.chmod(root / "cifar10" / "cifar10_jpeg_q75.zip", 0o644)  # read-write, as a user's own copy
    monkeypatch.setenv("NNLAB_DATA", str(root))
    before = _listing(root)
    data = load_cifar10(num_training=40, num_validation=10, num_test=30, limit=5)  # the public loader, default path
    assert data["X_train"].shape == (40, 3, 32, 32) and data["X_test"].shape == (30, 3, 32, 32)
    assert _listing(root) == before
    (file,) = cache.glob("cifar10_jpeg_q75.zip.*.npz")
    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])  # truncated, as a killed writer would leave it
    with pytest.warns(RuntimeWarning, match="unreadable"):
        again = load_cifar10(num_training=40, num_validation=10, num_test=30, limit=5)
    for k, v in data.items():
        np.testing.assert_array_equal(again[k], v)
    assert _listing(root) == before
    with np.load(file, allow_pickle=False) as z:  # rebuilt whole
        assert z["X_train"].shape == (50, 32, 32, 3)
