"""Preprocessing fitted on the training split: mean image, standardization, min-max, one-hot, splits."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.data.preprocessing import (
    min_max_scale,
    one_hot,
    standardize,
    subtract_mean_image,
    train_val_test_split,
)


def _images(rng, dtype=np.float64) -> dict:
    return {k: (rng.normal(size=(n, 3, 4, 4)) * 5 + 7).astype(dtype)
            for k, n in (("X_train", 20), ("X_val", 6), ("X_test", 5))} | {"y_train": np.arange(20)}


def test_subtract_mean_image_uses_the_train_mean_for_every_split_and_keeps_dtype(rng):
    data = _images(rng, np.float32)
    out, mean = subtract_mean_image(data)
    assert mean.shape == (3, 4, 4) and out["X_val"].dtype == np.float32
    np.testing.assert_allclose(out["X_train"].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out["X_test"], data["X_test"] - data["X_train"].mean(axis=0), atol=1e-5)
    assert out["y_train"] is data["y_train"] and not np.shares_memory(out["X_train"], data["X_train"])


def test_standardize_per_feature_and_per_channel(rng):
    data = _images(rng)
    out, (mu, sigma) = standardize(data)
    np.testing.assert_allclose(out["X_train"].std(axis=0), 1, atol=1e-6)
    np.testing.assert_allclose(out["X_val"], (data["X_val"] - mu) / (sigma + 1e-8))
    out, (mu, sigma) = standardize(data, per="channel")
    assert mu.shape == (3, 1, 1)
    np.testing.assert_allclose(out["X_train"].mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(out["X_train"].std(axis=(0, 2, 3)), 1, atol=1e-6)
    with pytest.raises(ValueError, match="per must be"):
        standardize(data, per="pixel")
    with pytest.raises(ValueError, match=r"per='channel' needs images"):
        standardize({"X_train": np.ones((3, 2))}, per="channel")


def test_min_max_scale_matches_sklearn_minmaxscaler_and_handles_constant_columns(rng):
    from sklearn.preprocessing import MinMaxScaler

    X = rng.normal(size=(30, 4))
    X[:, 2] = 3.0
    data = {"X_train": X[:20], "X_test": X[20:]}
    out, _ = min_max_scale(data, feature_range=(-1, 1))
    sk = MinMaxScaler(feature_range=(-1, 1)).fit(X[:20])
    np.testing.assert_allclose(out["X_train"], sk.transform(X[:20]), atol=1e-12)
    np.testing.assert_allclose(out["X_test"], sk.transform(X[20:]), atol=1e-12)
    with pytest.raises(ValueError, match="feature_range"):
        min_max_scale(data, feature_range=(1, 0))
    with pytest.raises(ValueError, match="X_train"):
        min_max_scale({"X_val": X})


def test_one_hot_rows_and_bad_labels():
    np.testing.assert_array_equal(one_hot(np.array([2, 0, 1]), 4),
                                  [[0, 0, 1, 0], [1, 0, 0, 0], [0, 1, 0, 0]])
    assert one_hot(np.array([1, 1]), dtype=np.float32).dtype == np.float32
    with pytest.raises(ValueError, match=r"y must lie in \[0, 3\)"):
        one_hot(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="1-D integer"):
        one_hot(np.array([0.5, 1.0]))


def test_train_val_test_split_is_stratified_disjoint_and_seeded(rng):
    X = rng.normal(size=(100, 3))
    y = np.repeat(np.arange(4), 25)
    data = train_val_test_split(X, y, 0.2, 0.2, seed=1)
    assert [len(data[f"y_{s}"]) for s in ("train", "val", "test")] == [60, 20, 20]
    assert np.bincount(data["y_val"]).tolist() == [5, 5, 5, 5]
    rows = np.concatenate([data["X_train"], data["X_val"], data["X_test"]])
    assert len({tuple(r) for r in rows}) == 100
    again = train_val_test_split(X, y, 0.2, 0.2, seed=1)
    np.testing.assert_array_equal(again["X_test"], data["X_test"])
    with pytest.raises(ValueError, match="X has 100 rows but y has 99"):
        train_val_test_split(X, y[:99])
