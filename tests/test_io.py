"""nnlab.io: pickle-free, atomic array files (.npz and .safetensors), file modes, JSON, run folders."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

import nnlab.io as nio
from nnlab.io import (
    atomic_write_bytes,
    atomic_write_text,
    jsonable,
    load_arrays,
    make_run_dir,
    save_arrays,
    write_json_atomic,
)

ARRAYS = {
    "params/W1": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
    "params/b1": np.array([1e-300, -2.5, np.pi]),
    "optim/W1/t": np.array(17, dtype=np.int64),
    "mask": np.array([True, False, True]),
    "pixels": np.arange(6, dtype=np.uint8).reshape(1, 2, 3),
    "empty": np.zeros((0, 4), dtype=np.float64),
    "transposed": np.arange(6, dtype=np.int32).reshape(2, 3).T,  # not C-contiguous
}
META = {"epoch": 3, "lr": 0.1 * 0.95**3, "name": "run-α", "nested": {"list": [1, 2.5, None]}}


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_save_load_round_trip_preserves_dtype_shape_values_and_metadata(tmp_path, suffix):
    path = save_arrays(tmp_path / f"a{suffix}", ARRAYS, META)
    arrays, meta = load_arrays(path)
    assert set(arrays) == set(ARRAYS)
    for k, v in ARRAYS.items():
        assert arrays[k].dtype == v.dtype and arrays[k].shape == v.shape, k
        np.testing.assert_array_equal(arrays[k], v)
    assert meta == META
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_load_without_metadata_gives_empty_dict(tmp_path, suffix):
    arrays, meta = load_arrays(save_arrays(tmp_path / f"b{suffix}", {"x": np.ones(2)}))
    assert meta == {} and arrays["x"].tolist() == [1.0, 1.0]


def test_npz_file_loads_with_allow_pickle_false(tmp_path):
    path = save_arrays(tmp_path / "c.npz", ARRAYS, META)
    with np.load(path, allow_pickle=False) as z:
        assert z["params/W1"].dtype == np.float32


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_truncated_file_raises_clear_error(tmp_path, suffix):
    path = save_arrays(tmp_path / f"t{suffix}", ARRAYS, META)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"load_arrays: .* is truncated, corrupt or not an array file"):
        load_arrays(path)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_foreign_file_raises_clear_error(tmp_path, suffix):
    path = tmp_path / f"foreign{suffix}"
    path.write_text("this is not an array file\n" * 10)
    with pytest.raises(ValueError, match="truncated, corrupt or not an array file"):
        load_arrays(path)


def test_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "pickled.npz"
    np.savez(path, obj=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        load_arrays(path)


def test_missing_file_and_bad_suffix_and_object_arrays(tmp_path):
    with pytest.raises(FileNotFoundError, match="load_arrays: no such file"):
        load_arrays(tmp_path / "nope.npz")
    with pytest.raises(ValueError, match=r"path must end with .npz or .safetensors"):
        save_arrays(tmp_path / "x.pkl", {"a": np.zeros(1)})
    with pytest.raises(TypeError, match="array 'o' has dtype object"):
        save_arrays(tmp_path / "x.npz", {"o": np.array([None], dtype=object)})
    with pytest.raises(ValueError, match="reserved"):
        save_arrays(tmp_path / "x.npz", {"__metadata__": np.zeros(1)})
    with pytest.raises(TypeError, match="metadata must be JSON-serializable"):
        save_arrays(tmp_path / "x.npz", {"a": np.zeros(1)}, {"arr": np.zeros(2)})
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_failing_write_leaves_the_old_file_intact(tmp_path, monkeypatch, suffix):
    path = save_arrays(tmp_path / f"keep{suffix}", {"a": np.arange(3.0)}, {"v": 1})
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(nio.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_arrays(path, {"a": np.arange(1000.0)}, {"v": 2})
    monkeypatch.undo()
    assert path.read_bytes() == before
    arrays, meta = load_arrays(path)
    assert arrays["a"].tolist() == [0.0, 1.0, 2.0] and meta == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # temp file removed


def test_atomic_write_bytes_replaces_whole_file(tmp_path):
    p = tmp_path / "f.bin"
    atomic_write_bytes(p, b"first version, long")
    atomic_write_bytes(p, b"second")
    assert p.read_bytes() == b"second"


# ------------------------------------------------------------------------------------------------- file modes
@pytest.fixture
def umask():
    """``umask(mask)`` sets the process umask for one test; the old one is restored after."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002])
def test_written_files_get_0644_minus_the_umask(tmp_path, umask, mask):
    umask(mask)
    paths = [
        save_arrays(tmp_path / "a.npz", {"x": np.ones(2)}),
        save_arrays(tmp_path / "a.safetensors", {"x": np.ones(2)}),
        atomic_write_bytes(tmp_path / "b.bin", b"1"),
        atomic_write_text(tmp_path / "c.txt", "1"),
        write_json_atomic(tmp_path / "d.json", {"a": 1}),
    ]
    for p in paths:
        assert oct(p.stat().st_mode & 0o777) == oct(0o644 & ~mask), p.name
    atomic_write_bytes(tmp_path / "b.bin", b"2")  # replacing keeps the rule
    assert oct((tmp_path / "b.bin").stat().st_mode & 0o777) == oct(0o644 & ~mask)


# ------------------------------------------------------------------------------------------------- JSON
def test_write_json_atomic_converts_numpy_values_and_reads_back(tmp_path):
    obj = {
        "acc": np.float32(0.5), "n": np.int64(7), "ok": np.bool_(True), "hist": np.array([1.5, 2.5]),
        "grid": np.arange(4).reshape(2, 2), "tuple": (1, np.float64(2.0)), "path": tmp_path / "x",
        3: "int key", "nested": {"loss": [np.float64(np.nan), np.inf]}, "none": None, "obj": object,
    }
    path = write_json_atomic(tmp_path / "m.json", obj)
    text = path.read_text()
    assert text.endswith("}\n") and text.startswith("{\n  ")  # indent=2 and a final newline, as write_json did
    back = json.loads(text)
    assert back["acc"] == 0.5 and back["n"] == 7 and back["ok"] is True and back["hist"] == [1.5, 2.5]
    assert back["grid"] == [[0, 1], [2, 3]] and back["tuple"] == [1, 2.0] and back["path"] == str(tmp_path / "x")
    assert back["3"] == "int key" and back["none"] is None and back["obj"] == "<class 'object'>"
    assert np.isnan(back["nested"]["loss"][0]) and back["nested"]["loss"][1] == float("inf")
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_jsonable_matches_the_recipes_write_json_on_plain_values():
    value = {"a": [np.int32(1), (2, 3)], "b": np.array([[1.0]]), "c": "s"}
    assert jsonable(value) == {"a": [1, [2, 3]], "b": [[1.0]], "c": "s"}


def test_atomic_write_text_rejects_bytes(tmp_path):
    with pytest.raises(TypeError, match="atomic_write_text: text must be a str, got bytes"):
        atomic_write_text(tmp_path / "x", b"bytes")


# ------------------------------------------------------------------------------------------------- run folders
def test_make_run_dir_names_the_folder_with_a_timestamp_and_suffixes_repeats(tmp_path):
    root = tmp_path / "deep" / "runs"  # parents created
    first = make_run_dir(root, "mnist-mlp")
    assert first.is_dir() and first.parent == root
    assert re.fullmatch(r"mnist-mlp-\d{8}-\d{6}", first.name), first.name
    more = [make_run_dir(root, "mnist-mlp") for _ in range(3)]
    names = [first.name, *(p.name for p in more)]
    assert len(set(names)) == 4 and all(p.is_dir() for p in more)
    stamps = {n[len("mnist-mlp-"):len("mnist-mlp-") + 15] for n in names}
    for n in names:  # within one second: <stamp>, <stamp>-2, <stamp>-3, ...
        assert re.fullmatch(r"mnist-mlp-\d{8}-\d{6}(-[2-9])?", n), n
    assert len(stamps) <= 2


def test_make_run_dir_skips_an_existing_file_of_the_same_name(tmp_path, monkeypatch):
    monkeypatch.setattr(nio.time, "strftime", lambda fmt: "20260101-000000")
    (tmp_path / "r-20260101-000000").write_text("a file, not a run")
    (tmp_path / "r-20260101-000000-2").mkdir()
    assert make_run_dir(tmp_path, "r").name == "r-20260101-000000-3"


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", 3])
def test_make_run_dir_rejects_names_that_are_not_one_folder(tmp_path, name):
    with pytest.raises(ValueError, match="make_run_dir: name must be a non-empty folder name"):
        make_run_dir(tmp_path, name)
    assert list(tmp_path.iterdir()) == []
