"""Thread policy: how many threads nnlab uses, for BLAS and for its own pool, and ``parallel_for``.

One number, :func:`get_num_threads`, rules nnlab's persistent pool (the calling thread plus ``n - 1``
workers). Default: the ``NNLAB_NUM_THREADS`` environment variable, else the cores this process may use
(``os.sched_getaffinity``, as torch). :func:`set_num_threads` changes it at any time.

Results do not depend on the thread count. A kernel splits its work with :func:`split`, whose chunks are a
function of the SHAPES only (never of the number of threads); :func:`parallel_for` runs the chunks on the
pool and returns their results in chunk order, so any reduction over them is done in a fixed order. At 1 thread
the same chunks run one after another on the calling thread: the arithmetic is the same, so outputs and
gradients are bitwise identical at 1 and N threads.

BLAS is owned by the policy and runs at ONE thread (threadpoolctl), set when the thread count is first decided
and by every :func:`set_num_threads`: OpenBLAS's own split of a GEMM depends on its thread count and changes
the last bits (measured: ``digits-mlp`` trained at OpenBLAS 2 threads ends with weights 2.7e-6 away from those
at 1 thread) and it splits the small batched GEMMs of the conv kernels badly. nnlab splits the work itself, by
shape, one GEMM per task (:func:`matmul` for one large product). On the 2-vCPU machine a GEMM split over two
threads measured no faster while other jobs kept the second CPU busy (one float32 GEMM 97-99 GFLOP/s, two at
once 48-49 each; row chunks at load 1.7: 0.98-0.99x), and 1.6-2.0x with the second CPU free (load 0.7-1.1; see
GEMM_CHUNK_MACS). A ``parallel_for`` called from inside a chunk runs serially.

What limits the speed-up is the GIL, not the cores. NumPy releases it inside each call and takes it back after, so
two threads making calls of a few microseconds spend their time handing the lock over. Measured on the idle 2-vCPU
machine (``benchmarks/bench_threads.py --kernels gil``: a stream of float32 ``multiply``/``add`` calls, one thread
doing two streams vs two threads one each, medians of 7 pairs, two runs): 16 KiB per call 0.69-0.74x, 64 KiB
0.66-0.83x, 256 KiB 1.46-1.71x, 1 MiB 1.69x, 4 MiB 1.35-1.42x. Two PROCESSES running the same Winograd convolution
at once each take their one-process time (33.6 vs 32.8 ms), while inside the MRI network's training step its
Winograd chunks (calls of ~90 KiB, one per row of tiles) took twice as long on two threads as on one: 61 ms of chunk
time became 117, and the layer gained nothing (one call over all the rows since: 1.4x). So a split pays where each
task's calls are large (GEMMs of a millisecond, passes over MiBs: the 32x32 convolutions of batch 128 reach
1.5-1.6x), not where a kernel works in many small calls.

This module sits at the backend layer: it imports nothing else from nnlab.
"""

from __future__ import annotations

import itertools
import operator
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["set_num_threads", "get_num_threads", "default_num_threads", "parallel_for", "split", "elementwise",
           "matmul", "blas_num_threads", "ENV_VAR", "ELEMENTWISE_CHUNK_BYTES", "GEMM_CHUNK_MACS"]

# Bytes of the first operand per chunk of :func:`elementwise`. Measured on the 2-vCPU machine (idle), a float32
# ReLU over 1M values (4 MB): 4 chunks of 1 MiB on 2 threads 1.57x faster than 1 thread, 16 chunks of 256 KiB
# 0.93x, 62 chunks of 64 KiB 0.5x at 256K values (the hand-off costs more than the pass); 4M values in 1 MiB
# chunks 1.86x. A problem below two chunks runs in one call on the calling thread.
ELEMENTWISE_CHUNK_BYTES = 1 << 20

# Multiply-adds per chunk of :func:`matmul` (and at least GEMM_MIN_ROWS rows or columns a chunk, so that each
# BLAS call still works on a panel it can block well). Measured on the 2-vCPU machine at load 0.7-1.1, float32,
# one GEMM -> chunks at 1 thread -> at 2 threads (ms): (4096,512)x(512,2048) 67.7 -> 67.4 -> 42.8;
# (2048,3136)x(3136,256) 25.8 -> 26.0 -> 13.2; (256,3136)x(3136,2048) (column chunks) 25.1 -> 25.9 -> 14.2;
# (1920,256)x(256,512) 3.86 -> 3.95 -> 2.24. With 2^24 a chunk, the FC net's (3072,200)x(200,100) (4 chunks of
# ~0.25 ms) measured no faster at 2 threads (0.96x): hence 2^25, as the conv batch groups.
GEMM_CHUNK_MACS = 1 << 25
GEMM_MIN_ROWS = 256

ENV_VAR = "NNLAB_NUM_THREADS"
_BLAS_THREADS = 1  # BLAS's threads under the policy (see the module docstring)

_lock = threading.RLock()
_num_threads: int | None = None  # None: not decided yet (the default applies on first use)
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_local = threading.local()  # .inside: this thread is running a chunk of a parallel region
_blas: list | None = None  # threadpoolctl's BLAS library controllers, found once
_region_depth = 0  # parallel regions running now (several Python threads may run one each)
_blas_saved: list[int] = []  # BLAS thread counts to restore when the last region ends


def _check_count(fn: str, name: str, n: Any) -> int:
    try:
        if isinstance(n, bool):
            raise TypeError
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"{fn}: {name} must be a positive integer, got {n!r}") from None
    if n < 1:
        raise ValueError(f"{fn}: {name} must be a positive integer, got {n}")
    return n


def _cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS reports it, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS / Windows
        return max(1, os.cpu_count() or 1)


def default_num_threads() -> int:
    """The thread count nnlab starts with: ``NNLAB_NUM_THREADS`` when set (a positive integer, else
    ``ValueError`` naming the variable), else the cores this process may use."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return _cores()
    try:
        n = int(raw)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{ENV_VAR} must be a positive integer, got {raw!r}")
    return n


def _blas_controllers() -> list:
    """threadpoolctl's controllers of the BLAS libraries loaded in this process ([] without threadpoolctl)."""
    global _blas
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController

            _blas = list(ThreadpoolController().select(user_api="blas").lib_controllers)
        except Exception:  # pragma: no cover - threadpoolctl missing or a BLAS it cannot drive
            _blas = []
    return _blas


def blas_num_threads() -> int | None:
    """Threads the (first) BLAS library uses now, or None where threadpoolctl finds none."""
    libs = _blas_controllers()
    return int(libs[0].get_num_threads()) if libs else None


def _set_blas(counts: int | list[int]) -> None:
    for i, lib in enumerate(_blas_controllers()):
        lib.set_num_threads(counts if isinstance(counts, int) else counts[i])


def set_num_threads(n: int) -> None:
    """Use ``n`` threads from now on in nnlab's pool (and BLAS at 1 thread, see the module docstring).

    Callable at any time (between two training steps, say); results do not change with ``n`` (see the module
    docstring), only the time. Raises ``TypeError``/``ValueError`` unless ``n`` is a positive integer.
    """
    global _num_threads
    n = _check_count("set_num_threads", "n", n)
    with _lock:
        _num_threads = n
        if _region_depth == 0:
            _set_blas(_BLAS_THREADS)
        else:  # a region is running: it restores BLAS when it ends
            _blas_saved[:] = [_BLAS_THREADS] * len(_blas_controllers())


def get_num_threads() -> int:
    """Threads nnlab uses (see the module docstring for the default). The first call (any kernel that splits
    its work makes it) also sets BLAS to its one thread."""
    global _num_threads
    if _num_threads is None:
        with _lock:
            if _num_threads is None:
                n = default_num_threads()
                _set_blas(_BLAS_THREADS)
                _num_threads = n
    return _num_threads


def _after_fork_in_child() -> None:
    """A forked child has none of the parent's pool threads: start afresh (a new pool on first use)."""
    global _lock, _pool, _pool_size, _region_depth, _local
    _lock = threading.RLock()
    _pool, _pool_size, _region_depth = None, 0, 0
    _local = threading.local()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _get_pool(workers: int) -> ThreadPoolExecutor:
    """The persistent pool, replaced by a larger one when a region needs more workers. The old one is not shut
    down (another thread may be submitting to it): its idle workers exit once it is garbage-collected."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nnlab")
            _pool_size = workers
        return _pool


def split(n_items: int, item_cost: float, chunk_cost: float, max_chunks: int = 64) -> list[tuple[int, int]]:
    """Split ``range(n_items)`` into consecutive ``(start, stop)`` chunks of about ``chunk_cost`` each.

    ``item_cost`` is the cost of one item (bytes moved, say) and ``chunk_cost`` the least worth a chunk of
    its own (so a problem smaller than two chunks stays in one piece, on one thread). At most ``max_chunks``
    chunks. A function of its arguments only — never of the thread count — so that results are the same at
    any thread count.
    """
    n_items = int(n_items)
    if n_items <= 0:
        return []
    per = max(1, int(chunk_cost // max(item_cost, 1e-300)))
    per = max(per, -(-n_items // max_chunks))
    if per >= n_items or n_items < 2 * per:
        return [(0, n_items)]
    return [(i, min(n_items, i + per)) for i in range(0, n_items, per)]


def parallel_for(fn: Callable[[int], Any], n_chunks: int | Sequence) -> list:
    """``[fn(0), fn(1), ..., fn(n_chunks - 1)]``, the calls spread over nnlab's threads.

    ``n_chunks`` may also be a sequence (``fn`` then gets each element, and the results come in its order).
    The calling thread takes part; BLAS runs at 1 thread while the chunks run (restored after); a call from
    inside a chunk, or with 1 thread or 1 chunk, runs the chunks one after another here. The results are
    returned in chunk order whatever thread ran each, so reductions over them have a fixed order. The first
    exception raised by a chunk is raised again here, after every chunk has finished or been skipped.
    """
    items = range(n_chunks) if isinstance(n_chunks, int) else n_chunks
    n = len(items)
    threads = min(get_num_threads(), n)
    if threads <= 1 or getattr(_local, "inside", False):
        return [fn(item) for item in items]
    global _region_depth
    results: list = [None] * n
    errors: list[BaseException] = []
    counter = itertools.count()  # next() on it is atomic under the GIL

    def work() -> None:
        was_inside = getattr(_local, "inside", False)
        _local.inside = True
        try:
            while not errors:
                i = next(counter)
                if i >= n:
                    return
                results[i] = fn(items[i])
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)
        finally:
            _local.inside = was_inside

    with _lock:
        if _region_depth == 0:
            _blas_saved[:] = [int(lib.get_num_threads()) for lib in _blas_controllers()]
            _set_blas(1)
        _region_depth += 1
    try:
        pool = _get_pool(threads - 1)
        futures = [pool.submit(work) for _ in range(threads - 1)]
        work()
        for f in futures:  # a helper that has not started by now finds no chunk left: cancel it, do not wait
            if not f.cancel():
                f.result()
    finally:
        with _lock:
            _region_depth -= 1
            if _region_depth == 0:
                _set_blas(_blas_saved)
    if errors:
        raise errors[0]
    return results


def elementwise(fn: Callable[..., Any], *arrays: Any) -> Any:
    """``fn(*arrays)`` for an elementwise ``fn`` of NumPy arrays of one shape, a chunk of the flattened arrays
    per task on nnlab's threads (chunks of ``ELEMENTWISE_CHUNK_BYTES`` of the first array).

    ``fn(*arrays, out=None)`` follows the ufunc convention: with ``out`` given it writes its result there (so a
    chunk costs no extra copy). Every output element is computed from the same input elements by the same
    operations whatever the chunking, so the result is bitwise that of ``fn(*arrays)``. Falls back to one call
    of ``fn`` for small arrays, other shapes, non-contiguous or non-NumPy arrays.
    """
    import numpy as np

    first = arrays[0]
    if (not all(isinstance(a, np.ndarray) and a.shape == first.shape and a.flags.c_contiguous for a in arrays)
            or first.nbytes < 2 * ELEMENTWISE_CHUNK_BYTES):
        return fn(*arrays)
    flat = [a.reshape(-1) for a in arrays]
    chunks = split(first.size, first.itemsize, ELEMENTWISE_CHUNK_BYTES)
    out = np.empty(first.size, dtype=fn(*(f[:1] for f in flat)).dtype)  # the same chunks at any thread count

    def chunk(bounds: tuple[int, int]) -> None:
        a, b = bounds
        fn(*(f[a:b] for f in flat), out=out[a:b])

    parallel_for(chunk, chunks)
    return out.reshape(first.shape)


def matmul(a: Any, b: Any) -> Any:
    """``a @ b`` for 2-D arrays, one BLAS call per chunk of output rows (or columns) on nnlab's threads.

    Parameters
    ----------
    a : (M, K) array
    b : (K, N) array

    Returns
    -------
    (M, N) array, ``out[i, j] = sum_k a[i, k] b[k, j]``.

    The rows of ``a`` (when M >= N, else the columns of ``b``) go in chunks of :data:`GEMM_CHUNK_MACS`
    multiply-adds and at least :data:`GEMM_MIN_ROWS` rows (columns), fixed by the shapes: every output element
    is one BLAS dot product over the whole K in every chunking, no reduction across chunks, and the same
    chunks run at any thread count, so the result does not depend on the thread count. A product below two
    chunks, or of anything but 2-D NumPy arrays of one float dtype, is one ``a @ b``.
    """
    import numpy as np

    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.ndim == 2 and b.ndim == 2
            and a.dtype == b.dtype and a.dtype.kind == "f" and a.shape[1] == b.shape[0]):
        return a @ b
    (M, K), N = a.shape, b.shape[1]
    by_rows = M >= N
    per_item = K * (N if by_rows else M)  # multiply-adds of one output row (column)
    chunks = split(M if by_rows else N, per_item, max(GEMM_CHUNK_MACS, GEMM_MIN_ROWS * per_item))
    if len(chunks) < 2:
        return a @ b
    out = np.empty((M, N), dtype=a.dtype)
    if by_rows:
        parallel_for(lambda c: np.matmul(a[c[0]:c[1]], b, out=out[c[0]:c[1]]), chunks)
    else:
        parallel_for(lambda c: np.matmul(a, b[:, c[0]:c[1]], out=out[:, c[0]:c[1]]), chunks)
    return out
