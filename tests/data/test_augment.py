"""Augmentation: exact geometry (flip, 90-degree rotation, crop windows), probabilities, dtype, seeding, and the
Solver's batch_transform applying it to training minibatches only."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.data.augment import Compose, RandomCrop, RandomHorizontalFlip, RandomRotation, augment_batches, rotate


def test_horizontal_flip_with_p_one_zero_and_a_half(rng):
    X = rng.normal(size=(400, 2, 3, 5)).astype(np.float32)
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(X, rng), X[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(X, rng), X)
    out = RandomHorizontalFlip(0.5)(X, rng)
    flipped = np.all(out == X[..., ::-1], axis=(1, 2, 3))
    assert out.dtype == np.float32 and np.all(flipped | np.all(out == X, axis=(1, 2, 3)))
    assert 160 < flipped.sum() < 240
    with pytest.raises(ValueError, match="p must be a probability"):
        RandomHorizontalFlip(1.5)


def test_rotation_by_90_and_180_degrees_is_exact_and_0_is_identity(rng):
    X = rng.normal(size=(3, 2, 6, 6))
    np.testing.assert_allclose(rotate(X, [90, 90, 90]), np.rot90(X, 1, axes=(2, 3)), atol=1e-12)
    np.testing.assert_allclose(rotate(X, [180] * 3), X[:, :, ::-1, ::-1], atol=1e-12)
    np.testing.assert_allclose(rotate(X, [0] * 3, interpolation="nearest"), X)
    fixed = RandomRotation((90, 90))(X.astype(np.float32), rng)
    assert fixed.dtype == np.float32
    np.testing.assert_allclose(fixed, np.rot90(X, 1, axes=(2, 3)), atol=1e-5)


def test_rotation_by_45_degrees_fills_corners_and_keeps_the_centre(rng):
    X = np.ones((1, 1, 9, 9))
    X[0, 0, 4, 4] = 5.0
    out = RandomRotation((45, 45), fill=-1.0)(X, rng)
    assert out[0, 0, 0, 0] == -1.0 and out[0, 0, 4, 4] == pytest.approx(5.0)
    np.testing.assert_array_equal(RandomRotation(30, p=0.0)(X, rng), X)


def test_random_crop_with_padding_returns_windows_of_the_padded_images(rng):
    X = rng.normal(size=(50, 3, 8, 8))
    np.testing.assert_array_equal(RandomCrop(8)(X, rng), X)
    out = RandomCrop(8, padding=2)(X, rng)
    padded = np.pad(X, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = set()
    for i in range(len(X)):  # test-side loop: which window of the padded image is this sample?
        hits = [(a, b) for a in range(5) for b in range(5) if np.array_equal(out[i], padded[i, :, a:a + 8, b:b + 8])]
        assert hits
        offsets.update(hits)
    assert len(offsets) > 10  # offsets really vary
    with pytest.raises(ValueError, match="larger than the padded images"):
        RandomCrop(12, padding=1)(X, rng)
    with pytest.raises(ValueError, match="X must be 4-D"):
        RandomCrop(4)(X[0], rng)


def test_compose_is_reproducible_for_a_seed_and_differs_across_seeds(rng):
    X = rng.normal(size=(16, 1, 8, 8))
    aug = Compose([RandomHorizontalFlip(), RandomRotation(20), RandomCrop(8, padding=1)])
    a = aug(X, np.random.RandomState(3))
    np.testing.assert_array_equal(a, aug(X, np.random.RandomState(3)))
    assert not np.array_equal(a, aug(X, np.random.RandomState(4)))
    np.random.seed(5)  # rng=None draws from NumPy's global RNG, so np.random.seed reproduces it
    b = aug(X)
    np.random.seed(5)
    np.testing.assert_array_equal(b, aug(X))


def test_augment_batches_plugs_into_the_solver_for_training_minibatches_only():
    from nnlab.models import FullyConnectedNet
    from nnlab.solver import Solver

    r = np.random.RandomState(0)
    data = {"X_train": r.normal(size=(40, 1, 4, 4)), "y_train": r.randint(0, 3, 40),
            "X_val": r.normal(size=(7, 1, 4, 4)), "y_val": r.randint(0, 3, 7)}
    seen = []

    def spy(X, rng):
        seen.append(len(X))
        return RandomHorizontalFlip(1.0)(X, rng)

    model = FullyConnectedNet([8], input_dim=16, num_classes=3, dtype=np.float64, seed=0)
    solver = Solver(model, data, batch_size=10, num_epochs=2, verbose=False, progress=False,
                    batch_transform=augment_batches(spy, seed=0), seed=0)
    solver.train()
    assert seen == [10] * solver.num_iterations  # never called on the 7 validation rows or 40-row checks
    X, y = data["X_train"][:3], data["y_train"][:3]
    Xt, yt = augment_batches(RandomHorizontalFlip(1.0))(X, y)
    np.testing.assert_array_equal(Xt, X[..., ::-1])
    assert yt is y
