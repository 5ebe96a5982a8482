"""California housing: both file formats, the seed-003 three-class recipe, and refused foreign files."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.data.housing import load_california_housing, load_housing_3class, read_california_housing
from nnlab.data.paths import DataFormatError, DataNotFoundError

ROWS = ("-122.23,37.88,41.0,880.0,129.0,322.0,126.0,8.3252,452600.0\n"
        "-122.22,37.86,21.0,7099.0,1106.0,2401.0,1138.0,8.3014,358500.0\n")


def test_statlib_file_gives_sklearn_features_and_target_in_100k(tmp_path):
    (tmp_path / "cal_housing.data").write_text(ROWS.replace("\n", "\r\n"))  # CRLF as the shared copy
    X, y = read_california_housing(tmp_path, verify=False)
    np.testing.assert_allclose(X[0], [8.3252, 41.0, 880 / 126, 129 / 126, 322.0, 322 / 126, 37.88, -122.23])
    np.testing.assert_allclose(y, [4.526, 3.585])


def test_csv_with_a_missing_cell_drops_or_fills_it(tmp_path):
    header = ("longitude,latitude,housing_median_age,total_rooms,total_bedrooms,population,households,"
              "median_income,median_house_value,ocean_proximity\n")
    rows = ROWS.splitlines()
    text = header + f"{rows[0]},NEAR BAY\n" + rows[1].replace(",1106.0,", ",,") + ",NEAR BAY\n"
    (tmp_path / "housing.csv").write_text(text)
    X, _ = read_california_housing(tmp_path / "housing.csv", verify=False)
    assert X.shape == (1, 8)
    X, _ = read_california_housing(tmp_path / "housing.csv", verify=False, missing="median")
    assert X.shape == (2, 8) and X[1, 3] == pytest.approx(129 / 1138)


def test_foreign_or_wrongly_shaped_files_are_refused(tmp_path):
    (tmp_path / "cal_housing.data").write_bytes(bytes(range(256)))
    with pytest.raises(DataFormatError, match="not a text table"):
        read_california_housing(tmp_path, verify=False)
    (tmp_path / "cal_housing.data").write_text("1,2,3\n4,5,6\n")
    with pytest.raises(DataFormatError, match=r"\(2, 3\) table, expected \(N, 9\)"):
        read_california_housing(tmp_path, verify=False)
    with pytest.raises(DataFormatError, match="sha256"):
        read_california_housing(tmp_path)  # the official name with other bytes
    with pytest.raises(DataNotFoundError, match="nnlab data download california_housing"):
        read_california_housing(tmp_path / "none")


@pytest.mark.data
def test_real_statlib_and_csv_agree_with_the_provenance_figures(data_dir):
    X, y = read_california_housing(data_dir / "california_housing")
    assert X.shape == (20640, 8)
    assert y.mean() == pytest.approx(2.06856, abs=1e-5) and X[:, 0].mean() == pytest.approx(3.87067, abs=1e-5)
    Xc, yc = read_california_housing(data_dir / "california_housing" / "housing.csv", missing="median")
    assert Xc.shape == (20640, 8)
    # same rows, same order; only the 207 filled AveBedrms cells may differ
    np.testing.assert_array_equal(np.delete(Xc, 3, axis=1), np.delete(X, 3, axis=1))
    assert (Xc[:, 3] != X[:, 3]).sum() <= 207
    np.testing.assert_array_equal(yc, y)
    data = load_california_housing(data_dir / "california_housing")
    assert [len(data[f"y_{s}"]) for s in ("train", "val", "test")] == [14448, 2064, 4128]
    np.testing.assert_allclose(data["X_train"].mean(axis=0), 0, atol=1e-10)


@pytest.mark.data
def test_three_class_version_matches_the_earlier_semester_recipe_with_sklearn(data_dir):
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import MinMaxScaler

    data = load_housing_3class(data_dir / "california_housing")
    assert data["X_train"].shape == (375, 8) and data["X_test"].shape == (125, 8)
    assert data["y_train"].dtype == np.int64 and data["X_val"] is data["X_test"]
    # the recipe of spec/seed_003.md §4, written out with scikit-learn as the seed does
    x, y = read_california_housing(data_dir / "california_housing")
    y = y.reshape(-1, 1)
    perm = np.random.RandomState(seed=3).permutation(x.shape[0])[:500]
    x, y = x[perm], y[perm]
    order = np.argsort(y.flatten())
    x, y = x[order], y[order]
    k = len(y) // 3
    mapping = {tuple(v): label for label, vals in enumerate([y[:k], y[k:2 * k], y[2 * k:]]) for v in vals}
    labels = np.array([mapping[tuple(v)] for v in y])
    x_tr, x_te, y_tr, y_te = train_test_split(x, labels, random_state=1)
    scaler = MinMaxScaler()
    np.testing.assert_allclose(data["X_train"], scaler.fit_transform(x_tr), atol=1e-12)
    np.testing.assert_allclose(data["X_test"], scaler.transform(x_te), atol=1e-12)
    np.testing.assert_array_equal(data["y_train"], y_tr)
    np.testing.assert_array_equal(data["y_test"], y_te)
    assert np.bincount(np.concatenate([y_tr, y_te])).tolist()[0] >= 166
