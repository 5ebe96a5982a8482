"""Files nnlab writes: pickle-free array files (``save_arrays`` / ``load_arrays`` for ``.npz`` and
``.safetensors``), atomic bytes/text/JSON writes, and race-free run folders (``make_run_dir``).

A file holds named arrays plus a JSON-able ``metadata`` dict. Writes are atomic: the bytes go to a temporary
file in the destination directory, which is flushed, fsynced and then renamed over the destination with
``os.replace``, so a process killed mid-write leaves either the old file or the new one, never half of one.
Written files get mode ``0o644`` minus the process umask (as ``open(path, "w")`` would give), not the ``0o600``
of ``tempfile.mkstemp``.

- ``.npz``: written with ``np.savez``; the metadata is a JSON string stored as the 0-d unicode array
  ``__metadata__``; read back with ``allow_pickle=False`` (object arrays are refused on both sides).
- ``.safetensors``: written with ``safetensors.numpy``; the metadata is the JSON string under the key
  ``"nnlab"`` of the file's string metadata.
"""

from __future__ import annotations

import io as _io
import json
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .backend import to_numpy
from .validation import check_path

__all__ = [
    "SUFFIXES",
    "atomic_write_bytes",
    "atomic_write_text",
    "jsonable",
    "load_arrays",
    "make_run_dir",
    "save_arrays",
    "write_json_atomic",
]

SUFFIXES = (".npz", ".safetensors")
_META_KEY = "__metadata__"
_SAFETENSORS_META_KEY = "nnlab"


def _suffix(fn: str, path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"{fn}: path must end with .npz or .safetensors, got {str(path)!r}")
    return suffix


def _create_temp(directory: Path, name: str) -> tuple[int, str]:
    """Create ``<directory>/.<name>.<random>.tmp`` exclusively with mode 0o644 (the kernel applies the umask)."""
    for _ in range(100):
        tmp = str(directory / f".{name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"atomic_write_bytes: could not create a temporary file in {str(directory)!r}")


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, ``os.replace``).

    The file gets mode ``0o644 & ~umask``. On any failure the temporary file is removed and an existing file at
    ``path`` is left untouched.
    """
    check_path("atomic_write_bytes", "path", path)
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = _create_temp(directory, path.name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)
    return path


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """:func:`atomic_write_bytes` of ``text`` encoded with ``encoding``."""
    check_path("atomic_write_text", "path", path)
    if not isinstance(text, str):
        raise TypeError(f"atomic_write_text: text must be a str, got {type(text).__name__}")
    return atomic_write_bytes(path, text.encode(encoding))


def jsonable(value: Any) -> Any:
    """``value`` with NumPy scalars -> Python numbers, arrays -> nested lists, tuples -> lists, paths -> str,
    mapping keys -> str; anything else JSON cannot hold becomes its ``repr``."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)


def write_json_atomic(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Write ``obj`` as JSON (through :func:`jsonable`, then ``json.dumps(indent=indent)`` plus a newline)
    atomically to ``path``; returns the path. Non-finite floats are written as ``NaN``/``Infinity``, which
    Python's ``json`` reads back."""
    check_path("write_json_atomic", "path", path)
    return atomic_write_text(path, json.dumps(jsonable(obj), indent=indent) + "\n")


def make_run_dir(root: str | os.PathLike, name: str) -> Path:
    """Create and return a new folder ``<root>/<name>-<YYYYmmdd-HHMMSS>``, or ``...-<k>`` (k = 2, 3, ...) when
    that exists; ``root`` and its parents are created as needed.

    Race-free: each candidate is claimed with ``mkdir(exist_ok=False)``, so processes creating folders at the same
    instant each get their own, and none raises ``FileExistsError``.
    """
    check_path("make_run_dir", "root", root)
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or os.sep in name:
        raise ValueError(f"make_run_dir: name must be a non-empty folder name without separators, got {name!r}")
    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    base = f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    for k in range(1, 100_000):
        path = root / (base if k == 1 else f"{base}-{k}")
        try:
            path.mkdir(exist_ok=False)
        except FileExistsError:
            continue
        return path
    raise FileExistsError(f"make_run_dir: every name {base}-<k> in {str(root)!r} is taken")


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not supported on every platform, hence best effort.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _checked_arrays(fn: str, arrays: dict[str, Any]) -> dict[str, np.ndarray]:
    if not isinstance(arrays, dict):
        raise TypeError(f"{fn}: arrays must be a dict of name -> array, got {type(arrays).__name__}")
    out = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name:
            raise TypeError(f"{fn}: array names must be non-empty strings, got {name!r}")
        if name == _META_KEY:
            raise ValueError(f"{fn}: the array name {_META_KEY!r} is reserved for the metadata")
        arr = to_numpy(value)
        if not arr.flags.c_contiguous:  # (np.ascontiguousarray would turn a 0-d array into shape (1,))
            arr = arr.copy(order="C")
        if arr.dtype.hasobject:
            raise TypeError(f"{fn}: array {name!r} has dtype object, which cannot be stored without pickle")
        out[name] = arr
    return out


def _metadata_json(fn: str, metadata: dict | None) -> str:
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise TypeError(f"{fn}: metadata must be a dict or None, got {type(metadata).__name__}")
    try:
        return json.dumps(metadata)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{fn}: metadata must be JSON-serializable ({e})") from None


def save_arrays(path: str | os.PathLike, arrays: dict[str, Any], metadata: dict | None = None) -> Path:
    """Atomically write named arrays and JSON metadata to ``path`` (``.npz`` or ``.safetensors``).

    Parameters
    ----------
    path : destination; its suffix chooses the format.
    arrays : dict name -> array of any shape and a non-object dtype (CuPy arrays are copied to the host).
    metadata : JSON-serializable dict (numbers, strings, lists, dicts) or None.

    Returns
    -------
    The destination as a ``Path``.
    """
    check_path("save_arrays", "path", path)
    fn = "save_arrays"
    path = Path(path)
    suffix = _suffix(fn, path)
    arrays = _checked_arrays(fn, arrays)
    meta = _metadata_json(fn, metadata)
    if suffix == ".npz":
        buf = _io.BytesIO()
        np.savez(buf, **arrays, **{_META_KEY: np.array(meta)})
        data = buf.getvalue()
    else:
        from safetensors.numpy import save

        data = save(arrays, metadata={_SAFETENSORS_META_KEY: meta})
    return atomic_write_bytes(path, data)


def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`save_arrays`.

    Returns
    -------
    arrays : dict name -> ndarray, with the dtypes and shapes that were saved.
    metadata : the metadata dict ({} when none was stored).

    Raises ``FileNotFoundError`` for a missing file, ``PermissionError`` for one that cannot be read, and
    ``ValueError`` for a truncated, corrupt or foreign one (including an ``.npz`` that would need pickle: the
    message never suggests loading it anyway).
    """
    check_path("load_arrays", "path", path)
    fn = "load_arrays"
    path = Path(path)
    suffix = _suffix(fn, path)
    if not path.is_file():
        raise FileNotFoundError(f"{fn}: no such file {str(path)!r}")
    try:
        if suffix == ".npz":
            return _load_npz(path)
        return _load_safetensors(path)
    except (PermissionError, IsADirectoryError):
        raise  # says what it is: not a damaged file
    except Exception as e:
        why = f"{type(e).__name__}: {e}"
        if "pickle" in str(e).lower():  # NumPy's hint to load it "unsafely" is never nnlab's advice
            why = "it holds Python objects, which could run code when loaded; nnlab never loads pickled data"
        raise ValueError(
            f"{fn}: {str(path)!r} is truncated, corrupt or not an array file written by save_arrays ({why})"
        ) from e


def _load_npz(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    z = np.load(path, allow_pickle=False)
    if not isinstance(z, np.lib.npyio.NpzFile):  # a bare .npy file renamed to .npz
        raise ValueError("expected an .npz archive, found a single array")
    with z:
        arrays = {name: z[name] for name in z.files}
    meta = arrays.pop(_META_KEY, None)
    return arrays, (json.loads(meta.item()) if meta is not None else {})


def _load_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        arrays = {name: f.get_tensor(name) for name in f.keys()}
        raw = (f.metadata() or {}).get(_SAFETENSORS_META_KEY)
    return arrays, (json.loads(raw) if raw else {})
