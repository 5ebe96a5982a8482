"""nnlab.viz: visualize_grid (spec seed_004 §3.3), confusion matrices and PNG figures."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from nnlab.viz import (
    confusion_matrix,
    plot_confusion_matrix,
    plot_training_curves,
    plot_weight_grid,
    plots_disabled,
    plots_enabled,
    visualize_grid,
)


def _open_png(path):
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG"
        return im.size


def test_visualize_grid_shape_padding_and_scaling():
    tile = np.arange(6, dtype=np.float64).reshape(2, 3, 1)
    Xs = np.stack([10 + 2 * tile, -tile, tile * 0 + 5, tile, 3 * tile])  # N=5 -> 3x3 grid
    grid = visualize_grid(Xs, ubound=255.0, padding=1)
    assert grid.shape == (3 * 2 + 2, 3 * 3 + 2, 1)
    expected0 = np.array([[0, 51, 102], [153, 204, 255]], dtype=np.float64)
    np.testing.assert_allclose(grid[0:2, 0:3, 0], expected0)          # min-max scaled to [0, 255]
    np.testing.assert_allclose(grid[0:2, 4:7, 0], 255 - expected0)    # -tile: reversed
    np.testing.assert_array_equal(grid[0:2, 8:11, 0], 0)              # constant tile -> 0 (no NaN)
    np.testing.assert_allclose(grid[3:5, 0:3, 0], expected0)
    np.testing.assert_allclose(grid[3:5, 4:7, 0], expected0)
    np.testing.assert_array_equal(grid[2, :, 0], 0)                   # padding row
    np.testing.assert_array_equal(grid[:, 3, 0], 0)                   # padding column
    np.testing.assert_array_equal(grid[6:8], 0)                       # unused tiles


def test_visualize_grid_matches_loop_reference_with_padding_3(rng):
    Xs = rng.standard_normal((10, 4, 5, 3)).astype(np.float32)
    grid = visualize_grid(Xs, ubound=1.0, padding=3)
    assert grid.dtype == np.float32 and grid.shape == (4 * 4 + 9, 4 * 5 + 9, 3)
    for n in range(10):
        r, c = divmod(n, 4)
        img = Xs[n]
        want = (img - img.min()) / (img.max() - img.min())
        np.testing.assert_allclose(grid[r * 7:r * 7 + 4, c * 8:c * 8 + 5], want, rtol=1e-6)
    assert float(grid.min()) == 0.0 and float(grid.max()) == pytest.approx(1.0)


def test_visualize_grid_rejects_bad_input():
    with pytest.raises(ValueError, match=r"visualize_grid: Xs must be 4-D \(N, H, W, C\)"):
        visualize_grid(np.zeros((3, 4, 4)))
    with pytest.raises(ValueError, match="padding"):
        visualize_grid(np.zeros((1, 2, 2, 1)), padding=-1)


def test_confusion_matrix_counts():
    y_true = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2, 2, 0, 2])
    cm = confusion_matrix(y_true, y_pred, 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 1], [1, 0, 3]])
    assert cm.sum() == 9 and np.trace(cm) == 6
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 4)[3], [0, 0, 0, 0])
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred), cm)


def test_confusion_matrix_rejects_bad_labels():
    with pytest.raises(ValueError, match=r"y_pred must be in \[0, 2\)"):
        confusion_matrix(np.array([0, 1]), np.array([0, 2]), 2)
    with pytest.raises(ValueError, match="y_true has shape"):
        confusion_matrix(np.array([0, 1, 1]), np.array([0, 1]))
    with pytest.raises(TypeError, match="integer class labels"):
        confusion_matrix(np.array([0.0, 1.0]), np.array([0, 1]))


def test_plot_training_curves_from_histories_and_solver_like(tmp_path):
    hist = {"loss_history": list(np.linspace(2.3, 0.5, 40)), "train_acc_history": [0.1, 0.5, 0.7],
            "val_acc_history": [0.1, 0.45, 0.6]}
    out = plot_training_curves(hist, tmp_path / "curves.png", title="run")
    assert out == tmp_path / "curves.png"
    w, h = _open_png(out)
    assert w > 200 and h > 200

    class FakeSolver:
        loss_history, train_acc_history, val_acc_history = hist.values()

    _open_png(plot_training_curves(FakeSolver(), tmp_path / "sub" / "curves2.png"))
    with pytest.raises(ValueError, match="missing"):
        plot_training_curves({"loss_history": []}, tmp_path / "x.png")


def test_plot_weight_grid_for_fc_and_conv_weights(tmp_path, rng):
    W1 = rng.standard_normal((3 * 8 * 8, 10))
    _open_png(plot_weight_grid(W1, tmp_path / "fc.png", image_shape=(3, 8, 8), padding=3))
    conv = rng.standard_normal((6, 1, 5, 5))
    _open_png(plot_weight_grid(conv, tmp_path / "conv.png", layout="NCHW"))
    with pytest.raises(ValueError, match="image_shape"):
        plot_weight_grid(W1, tmp_path / "bad.png")
    with pytest.raises(ValueError, match="1 or 3 channels"):
        plot_weight_grid(rng.standard_normal((2, 4, 4, 2)), tmp_path / "bad.png")


@pytest.mark.parametrize("normalize", [None, "true"])
def test_plot_confusion_matrix_writes_png(tmp_path, normalize):
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 0])
    out = plot_confusion_matrix(y_true, y_pred, tmp_path / f"cm_{normalize}.png",
                                class_names=["cat", "dog", "ship"], normalize=normalize)
    _open_png(out)
    with pytest.raises(ValueError, match="normalize"):
        plot_confusion_matrix(y_true, y_pred, tmp_path / "x.png", normalize="all")


def test_plots_do_not_touch_pyplot_state(tmp_path):
    import sys

    plot_training_curves({"loss_history": [1.0], "train_acc_history": [0.5], "val_acc_history": [0.5]},
                         tmp_path / "a.png")
    if "matplotlib.pyplot" in sys.modules:
        import matplotlib.pyplot as plt

        assert plt.get_fignums() == []


def test_plots_disabled_skips_every_figure_and_restores_the_switch(tmp_path, rng):
    hist = {"loss_history": [1.0, 0.5], "train_acc_history": [0.5], "val_acc_history": [0.4]}
    assert plots_enabled()
    with plots_disabled():
        assert not plots_enabled()
        assert plot_training_curves(hist, tmp_path / "curves.png") is None
        assert plot_confusion_matrix([0, 1], [1, 1], tmp_path / "cm.png") is None
        assert plot_weight_grid(rng.standard_normal((6, 1, 5, 5)), tmp_path / "w.png", layout="NCHW") is None
        with plots_disabled():  # nested blocks restore the outer state
            pass
        assert not plots_enabled()
    assert plots_enabled() and list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError), plots_disabled():  # an error inside the block also restores it
        raise RuntimeError("boom")
    assert plots_enabled()
    assert plot_training_curves(hist, tmp_path / "curves.png") == tmp_path / "curves.png"
