"""California housing (1990 census, Pace & Barry 1997): 20,640 block groups, 8 features, median house value.

Read from the StatLib file ``cal_housing.data`` (or scikit-learn's ``cal_housing.tgz`` holding it) or from the
"Hands-On ML" ``housing.csv`` (or ``housing.tgz``); the default location is ``$NNLAB_DATA/california_housing``
(``nnlab data download california_housing``). Features are scikit-learn's ``fetch_california_housing`` ones:
MedInc, HouseAge, AveRooms, AveBedrms, Population, AveOccup, Latitude, Longitude; the target is the median
house value in units of 100,000 USD.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import numpy as np

from ..validation import check_path
from .paths import DataFormatError, find_data_file, verify_sha256
from .preprocessing import min_max_scale, standardize, train_val_test_split

__all__ = [
    "HOUSING_CLASSES",
    "HOUSING_FEATURES",
    "HOUSING_SHA256",
    "load_california_housing",
    "load_housing_3class",
    "read_california_housing",
]

HOUSING_FEATURES = ("MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude", "Longitude")
HOUSING_CLASSES = ("low", "med", "high")
HOUSING_SHA256 = {
    "cal_housing.tgz": "aaa5c9a6afe2225cc2aed2723682ae403280c4a3695a2ddda4ffb5d8215ea681",
    "cal_housing.data": "d3d8a1a722ae78f91134862727d27a70b1415e7d512a89140406248687f4b902",
    "housing.tgz": "d4cd501af90475f09b814c7447c7701f59bf28e8cf1180205ae5ace9737a0109",
    "housing.csv": "8a3727f4cf54ac1a327f69b1d5b4db54c5834ea81c6e4efc0d163300022a685e",
}
_NAMES = ("cal_housing.data", "cal_housing.tgz", "housing.csv", "housing.tgz")
_CSV_HEADER = ("longitude,latitude,housing_median_age,total_rooms,total_bedrooms,population,households,"
               "median_income,median_house_value")


def _read_text(file: Path) -> tuple[str, str]:
    """(text, kind) where kind is 'statlib' or 'csv'; .tgz archives are opened in memory."""
    name = file.name
    if name.endswith((".tgz", ".tar.gz")):
        try:
            with tarfile.open(file, "r:gz") as tar:
                member = next((m for m in tar.getmembers() if m.name.endswith(("cal_housing.data", "housing.csv"))),
                              None)
                if member is None:
                    raise DataFormatError(f"read_california_housing: {file} holds no cal_housing.data or housing.csv")
                name, raw = Path(member.name).name, tar.extractfile(member).read()
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DataFormatError(
                f"read_california_housing: {file} is a damaged archive ({exc}); delete it and download it again "
                "(`nnlab data download california_housing`)"
            ) from exc
    else:
        raw = file.read_bytes()
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"read_california_housing: {file} is not a text table ({exc})") from exc
    return text, ("csv" if text.startswith("longitude,") else "statlib")


def _parse(text: str, kind: str, file: Path, missing: str) -> np.ndarray:
    """Raw columns (N, 9): longitude, latitude, age, rooms, bedrooms, population, households, income, value."""
    try:
        if kind == "csv":
            if not text.startswith(_CSV_HEADER):
                raise DataFormatError(f"read_california_housing: {file} has an unexpected header {text[:80]!r}")
            raw = np.genfromtxt(io.StringIO(text), delimiter=",", skip_header=1, usecols=range(9))
        else:
            raw = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2)
    except ValueError as exc:
        raise DataFormatError(f"read_california_housing: {file} is not a California housing table ({exc})") from exc
    if raw.ndim != 2 or raw.shape[1] != 9 or len(raw) == 0:
        raise DataFormatError(f"read_california_housing: {file} gives a {raw.shape} table, expected (N, 9) columns")
    bad = np.isnan(raw).any(axis=1)
    if bad.any():
        if missing == "drop":
            raw = raw[~bad]
        elif missing == "median":
            med = np.nanmedian(raw, axis=0)
            raw = np.where(np.isnan(raw), med, raw)
        else:
            raise ValueError(f"read_california_housing: missing must be 'drop' or 'median', got {missing!r}")
    return raw


def read_california_housing(path: str | os.PathLike | None = None, missing: str = "drop",
                            verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Read the whole table; returns ``X`` (N, 8) float64 with :data:`HOUSING_FEATURES` and ``y`` (N,) float64 (100k
    USD).

    ``path``: one of the four files or a folder holding one (default ``$NNLAB_DATA/california_housing``; the
    StatLib file is preferred). ``missing``: what to do with the 207 rows of ``housing.csv`` lacking
    total_bedrooms: ``"drop"`` them (N = 20433) or fill with the column ``"median"``. ``verify``: sha256 check of
    files with the known names (:data:`HOUSING_SHA256`).
    """
    file = find_data_file("read_california_housing", path, "california_housing", _NAMES, "california_housing")
    if verify and file.name in HOUSING_SHA256:
        verify_sha256("read_california_housing", file, HOUSING_SHA256[file.name], "california_housing")
    raw = _parse(*_read_text(file), file, missing)
    lon, lat, age, rooms, bedrooms, population, households, income, value = raw.T
    if (households <= 0).any():
        raise DataFormatError(f"read_california_housing: {file} has rows with households <= 0")
    X = np.stack([income, age, rooms / households, bedrooms / households, population, population / households,
                  lat, lon], axis=1)
    return X, value / 1e5


def load_california_housing(path: str | os.PathLike | None = None, val_fraction: float = 0.1,
                            test_fraction: float = 0.2, seed: int | None = 0, scale: str | None = "standardize",
                            dtype: np.dtype | type = np.float64, **read_kw) -> dict[str, np.ndarray]:
    """The regression dataset as the DESIGN.md dict: shuffled split (seeded), features scaled with statistics of
    the training split (``scale``: ``"standardize"``, ``"minmax"`` or None). ``y_*`` are float targets (100k USD).
    ``read_kw`` go to :func:`read_california_housing`."""
    check_path("load_california_housing", "path", path, allow_none=True)
    X, y = read_california_housing(path, **read_kw)
    data = train_val_test_split(X.astype(dtype), y.astype(dtype), val_fraction, test_fraction, seed=seed,
                                stratify=False)
    return _scale(data, scale, "load_california_housing")


def _scale(data: dict, scale: str | None, fn: str) -> dict:
    if scale == "standardize":
        return standardize(data)[0]
    if scale == "minmax":
        return min_max_scale(data)[0]
    if scale is None:
        return data
    raise ValueError(f"{fn}: scale must be 'standardize', 'minmax' or None, got {scale!r}")


def _tertile_labels(y_sorted: np.ndarray) -> np.ndarray:
    """Labels 0/1/2 for ascending targets cut in thirds of ``len // 3`` (the last third takes the remainder);
    a target value present in two thirds gets the LATER label, as the seed's dict mapping does."""
    n = len(y_sorted)
    k = n // 3
    by_position = np.minimum(np.arange(n) // k, 2)
    last_equal = np.searchsorted(y_sorted, y_sorted, side="right") - 1
    return by_position[last_equal]


def load_housing_3class(path: str | os.PathLike | None = None, n_samples: int | None = 500, subsample_seed: int = 3,
                        split_seed: int = 1, test_fraction: float = 0.25, scale: str | None = "minmax",
                        dtype: np.dtype | type = np.float64, **read_kw) -> dict[str, np.ndarray]:
    """Seed 003's three-class housing data (low / med / high price), as the DESIGN.md dict.

    The seed does not show its construction; this follows the earlier semester's ``get_housing_dataset``
    (spec/seed_003.md §4): rows ``RandomState(subsample_seed).permutation(N)[:n_samples]``; sort by target;
    label the thirds 0/1/2 (ties go to the later third); shuffle-split with ``RandomState(split_seed)``
    (scikit-learn ``train_test_split(random_state=1)``: ``ceil(test_fraction * n)`` test rows first in the
    permutation); min-max scale with the training split's range. Defaults give 375 training and 125 test rows
    of 8 features. Seed 003 has no validation split: ``X_val``/``y_val`` are the test split (its "val" curves
    are test curves). Labels are int64; use :func:`nnlab.data.preprocessing.one_hot` for the seed's one-hot y.
    """
    check_path("load_housing_3class", "path", path, allow_none=True)
    X, y = read_california_housing(path, **read_kw)
    if n_samples is not None:
        if not 3 <= n_samples <= len(y):
            raise ValueError(f"load_housing_3class: n_samples must be in [3, {len(y)}], got {n_samples}")
        keep = np.random.RandomState(subsample_seed).permutation(len(y))[:n_samples]
        X, y = X[keep], y[keep]
    order = np.argsort(y)  # default (quicksort) kind, as the seed's np.argsort
    X, y = X[order], y[order]
    labels = _tertile_labels(y)
    if not 0 < test_fraction < 1:
        raise ValueError(f"load_housing_3class: test_fraction must be in (0, 1), got {test_fraction}")
    n_test = int(np.ceil(test_fraction * len(y)))
    perm = np.random.RandomState(split_seed).permutation(len(y))
    te, tr = perm[:n_test], perm[n_test:]
    data = {"X_train": X[tr].astype(dtype), "y_train": labels[tr].astype(np.int64),
            "X_test": X[te].astype(dtype), "y_test": labels[te].astype(np.int64)}
    data = _scale(data, scale, "load_housing_3class")
    return {"X_train": data["X_train"], "y_train": data["y_train"], "X_val": data["X_test"],
            "y_val": data["y_test"], "X_test": data["X_test"], "y_test": data["y_test"]}
