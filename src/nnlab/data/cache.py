"""Decoded-array caches: ``.npz`` files (no pickle) that make the second load of an image dataset fast.

Where they go (first that applies): an explicit ``cache_dir`` argument > ``$NNLAB_CACHE`` > the platform's user
cache folder (``platformdirs.user_cache_dir("nnlab")``, e.g. ``~/.cache/nnlab`` on Linux). A data folder is
never written to unless it is passed as ``cache_dir``.

A cache file is named ``<source name>.<key>.npz`` where ``key`` hashes the source's absolute path and the
loader's parameters; inside it, ``__nnlab_cache__`` holds :data:`CACHE_FORMAT` and a fingerprint of the source
(size and mtime of the file, or of every file under a folder). A cache whose format or fingerprint differs (nnlab
or the source changed) is rebuilt in place; one that cannot be read (truncated, corrupted, foreign) is removed and
rebuilt with a warning. Writes are atomic (temporary file in the cache folder, then ``os.replace``), so a
killed process leaves no half-written cache under the final name.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

__all__ = ["CACHE_FORMAT", "cache_file_for", "cache_root", "cached_arrays", "source_fingerprint"]

#: Version of the cache layout; bump it when what a loader stores changes, and every old cache is rebuilt.
CACHE_FORMAT = 2
_META = "__nnlab_cache__"


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache folder: ``cache_dir`` if given, else ``$NNLAB_CACHE``, else the user cache folder (not created)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("NNLAB_CACHE")
    if env:
        return Path(env).expanduser()
    try:
        from platformdirs import user_cache_dir
    except ImportError:  # platformdirs is a dependency; this keeps a stripped install working
        return Path.home() / ".cache" / "nnlab"
    return Path(user_cache_dir("nnlab", appauthor=False))


def source_fingerprint(source: str | os.PathLike) -> str:
    """sha256 (hex) of the size and mtime (ns) of ``source``, or of every file under it when it is a folder
    (relative path, size, mtime each), so that changing, adding or removing any file changes it."""
    source = Path(source)
    h = hashlib.sha256(f"format {CACHE_FORMAT}\n".encode())
    if source.is_dir():
        entries = sorted((p.relative_to(source).as_posix(), p.stat()) for p in source.rglob("*") if p.is_file())
    else:
        entries = [(source.name, source.stat())]
    for rel, st in entries:
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def cache_file_for(source: str | os.PathLike, params: object, cache_dir: str | os.PathLike | None = None) -> Path:
    """The cache file of ``source`` decoded with ``params`` (any value with a stable ``repr``)."""
    source = Path(source).expanduser().resolve()
    key = hashlib.sha256(repr((str(source), params)).encode()).hexdigest()[:16]
    return cache_root(cache_dir) / f"{source.name}.{key}.npz"


def _read(file: Path, fingerprint: str) -> dict[str, np.ndarray] | None:
    """The arrays of a valid, current cache file; None when it is stale. Raises when it cannot be read."""
    with np.load(file, allow_pickle=False) as z:
        meta = json.loads(z[_META].item())
        if meta.get("format") != CACHE_FORMAT or meta.get("fingerprint") != fingerprint:
            return None
        return {name: z[name] for name in z.files if name != _META}  # reads (and CRC-checks) every array


def _write(file: Path, arrays: dict[str, np.ndarray], meta: dict) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays, **{_META: np.array(json.dumps(meta))})
        os.replace(tmp, file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def cached_arrays(fn: str, source: str | os.PathLike, params: object, build: Callable[[], dict[str, np.ndarray]],
                  cache_dir: str | os.PathLike | None = None, enabled: bool = True) -> dict[str, np.ndarray]:
    """``build()``'s arrays for ``source`` decoded with ``params``, from the cache when it is current.

    ``build`` returns a dict name -> array (no object dtypes). A stale cache is rebuilt; an unreadable one is
    removed and rebuilt with a ``RuntimeWarning`` naming it; a cache folder that cannot be written is reported
    with a ``RuntimeWarning`` and the arrays are returned uncached. ``enabled=False`` just calls ``build()``.
    """
    if not enabled:
        return build()
    source = Path(source).expanduser()
    file = cache_file_for(source, params, cache_dir)
    fingerprint = source_fingerprint(source)
    if file.is_file():
        try:
            arrays = _read(file, fingerprint)
        except Exception as exc:  # noqa: BLE001 - BadZipFile, EOFError, ValueError, KeyError, zlib.error, OSError...
            warnings.warn(f"{fn}: the cache {file} is unreadable ({type(exc).__name__}: {exc}); removing and "
                          "rebuilding it", RuntimeWarning, stacklevel=3)
            file.unlink(missing_ok=True)
            arrays = None
        if arrays is not None:
            return arrays
    arrays = build()
    try:
        _write(file, arrays, {"format": CACHE_FORMAT, "fingerprint": fingerprint, "source": str(source.resolve()),
                              "params": repr(params)})
    except OSError as exc:
        warnings.warn(f"{fn}: cannot write the cache {file} ({exc}); continuing without it (set NNLAB_CACHE to a "
                      "writable folder)", RuntimeWarning, stacklevel=3)
    return arrays
