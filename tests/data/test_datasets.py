"""The bundled digits loader and the split helper."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.data import load_digits, split_indices


def test_load_digits_returns_design_dict_with_stratified_70_10_20_split():
    data = load_digits()
    assert list(data) == ["X_train", "y_train", "X_val", "y_val", "X_test", "y_test"]
    n = {k: len(data[f"y_{k}"]) for k in ("train", "val", "test")}
    assert sum(n.values()) == 1797
    assert n == {"train": 1259, "val": 179, "test": 359}
    for split in ("train", "val", "test"):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        assert X.shape == (len(y), 64) and X.dtype == np.float32 and y.dtype == np.int64
        # stratified: every class present in every split in roughly the same proportion (~10% each)
        counts = np.bincount(y, minlength=10)
        assert counts.min() > 0.08 * len(y) and counts.max() < 0.12 * len(y)


def test_load_digits_standardize_subtracts_train_mean_and_splits_are_disjoint():
    raw = load_digits(standardize=False, dtype=np.float64)
    std = load_digits(standardize=True, dtype=np.float64)
    assert raw["X_train"].min() >= 0 and raw["X_train"].max() <= 1
    np.testing.assert_allclose(std["X_train"].mean(axis=0), 0, atol=1e-12)
    mean = raw["X_train"].mean(axis=0)
    np.testing.assert_allclose(std["X_test"], raw["X_test"] - mean, atol=1e-12)
    rows = {tuple(r) for r in raw["X_train"]}
    # digits has a few duplicate images, but the split itself must not reuse an index: sizes add up
    assert len(raw["X_train"]) + len(raw["X_val"]) + len(raw["X_test"]) == 1797
    assert len(rows) > 1200


def test_load_digits_is_deterministic_for_a_seed_and_differs_across_seeds():
    a, b, c = load_digits(seed=0), load_digits(seed=0), load_digits(seed=1)
    np.testing.assert_array_equal(a["y_train"], b["y_train"])
    assert not np.array_equal(a["y_train"], c["y_train"])


def test_split_indices_partitions_range_and_rejects_bad_fractions():
    tr, va, te = split_indices(100, 0.1, 0.2, seed=3)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(100))
    assert (len(tr), len(va), len(te)) == (70, 10, 20)
    with pytest.raises(ValueError, match="val_fraction"):
        split_indices(10, 0.6, 0.5)
    with pytest.raises(ValueError, match="test_fraction"):
        split_indices(10, 0.1, -0.1)


def test_bundled_digits_read_directly_equal_scikit_learns_loader():
    from sklearn.datasets import load_digits as sk_load_digits

    from nnlab.data.datasets import _bundled_digits

    pixels, labels = _bundled_digits()
    bunch = sk_load_digits()
    np.testing.assert_array_equal(pixels, bunch.data)
    np.testing.assert_array_equal(labels, bunch.target)
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == np.bincount(bunch.target).tolist()
