"""nnlab.io: pickle-free, atomic array files (.npz and .safetensors)."""

from __future__ import annotations

import numpy as np
import pytest

import nnlab.io as nio
from nnlab.io import atomic_write_bytes, load_arrays, save_arrays

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
