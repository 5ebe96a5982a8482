"""Image-folder/zip loading with pillow, the npz cache, and the brain-tumor MRI set."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from PIL import Image

from nnlab.data.images import MRI_CLASSES, load_brain_mri, load_image_folder
from nnlab.data.paths import DataFormatError, DataNotFoundError


def _write_tree(root, counts: dict, size=16) -> None:
    """Solid-colour PNGs: class c, image i has value 10 * c + i in every pixel."""
    for split, per_class in counts.items():
        for c, (name, n) in enumerate(per_class.items()):
            (root / split / name).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                img = np.full((size, size, 3), 10 * c + i, dtype=np.uint8)
                Image.fromarray(img).save(root / split / name / f"img_{i:02d}.png")


def test_load_image_folder_reads_labels_in_class_order_resizes_and_caches(tmp_path):
    _write_tree(tmp_path / "set", {"Training": {"a": 3, "b": 2}, "Testing": {"a": 1, "b": 1}})
    parts, classes = load_image_folder(tmp_path / "set", size=8, grayscale=True, cache_dir=tmp_path / "c")
    X, y = parts["Training"]
    assert classes == ("a", "b") and X.shape == (5, 1, 8, 8) and X.dtype == np.uint8
    np.testing.assert_array_equal(y, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(X[:, 0, 4, 4], [0, 1, 2, 10, 11])  # solid colours survive gray + resize
    assert len(list((tmp_path / "c").glob("set.*.npz"))) == 1
    cached, _ = load_image_folder(tmp_path / "set", size=8, grayscale=True, cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(cached["Training"][0], X)
    rgb, _ = load_image_folder(tmp_path / "set", max_per_class=1, cache=False)
    assert rgb["Training"][0].shape == (2, 3, 16, 16)


def test_load_image_folder_from_a_zip_with_a_top_folder(tmp_path):
    _write_tree(tmp_path / "set", {"Training": {"x": 2}, "Testing": {"x": 1}})
    with zipfile.ZipFile(tmp_path / "set.zip", "w") as zf:
        for p in (tmp_path / "set").rglob("*.png"):
            zf.write(p, "top/" + p.relative_to(tmp_path / "set").as_posix())
    parts, classes = load_image_folder(tmp_path / "set.zip", cache=False)
    assert classes == ("x",) and parts["Training"][0].shape == (2, 3, 16, 16)


def test_corrupt_image_missing_class_and_missing_source_are_refused(tmp_path):
    _write_tree(tmp_path / "set", {"Training": {"a": 1, "b": 1}, "Testing": {"a": 1}})
    with pytest.raises(DataFormatError, match=r"no Testing/ folder for classes \['b'\]"):
        load_image_folder(tmp_path / "set", cache=False)
    (tmp_path / "set" / "Testing" / "b").mkdir()
    (tmp_path / "set" / "Testing" / "b" / "bad.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    with pytest.raises(DataFormatError, match="cannot decode .*bad.jpg"):
        load_image_folder(tmp_path / "set", cache=False)
    with pytest.raises(DataNotFoundError, match="nothing does not exist"):
        load_image_folder(tmp_path / "nothing")
    with pytest.raises(DataNotFoundError, match="kaggle.com/datasets/masoudnickparvar/brain-tumor-mri-dataset"):
        load_brain_mri(tmp_path / "nothing")  # not downloadable by nnlab (Kaggle login): the message says where


def test_load_brain_mri_reads_an_extracted_folder(tmp_path):
    _write_tree(tmp_path / "mri", {"Training": {c: 2 for c in MRI_CLASSES}, "Testing": {c: 1 for c in MRI_CLASSES}})
    data = load_brain_mri(tmp_path / "mri", size=8)
    assert data["X_train"].shape == (8, 1, 8, 8) and data["X_test"].shape == (4, 1, 8, 8)
    np.testing.assert_array_equal(data["y_train"], [0, 0, 1, 1, 2, 2, 3, 3])


@pytest.mark.data
def test_brain_mri_subset_is_84x84_gray_in_unit_range_and_val_is_test_by_default(data_dir, tmp_path):
    data = load_brain_mri(data_dir / "brain_tumor_mri", max_per_class=5, cache_dir=tmp_path)
    assert data["X_train"].shape == (20, 1, 84, 84) and data["X_train"].dtype == np.float32
    assert 0.0 <= data["X_train"].min() and data["X_train"].max() <= 1.0 and data["X_train"].max() > 0.5
    np.testing.assert_array_equal(data["y_train"], np.repeat(np.arange(4), 5))
    assert data["X_val"] is data["X_test"]
    split = load_brain_mri(data_dir / "brain_tumor_mri", max_per_class=5, val_fraction=0.2, cache_dir=tmp_path)
    assert len(split["y_train"]) == 16 and np.bincount(split["y_val"]).tolist() == [1, 1, 1, 1]


@pytest.mark.slow
@pytest.mark.data
def test_full_brain_mri_counts_match_the_provenance(data_dir, tmp_path):
    data = load_brain_mri(data_dir / "brain_tumor_mri", cache_dir=tmp_path)
    assert data["X_train"].shape == (5708, 1, 84, 84) and data["X_test"].shape == (1311, 1, 84, 84)
    assert np.bincount(data["y_train"]).tolist() == [1321, 1339, 1591, 1457]
    assert np.bincount(data["y_test"]).tolist() == [300, 306, 405, 300]
