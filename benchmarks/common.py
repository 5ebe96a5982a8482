"""Timing helpers shared by the benchmark scripts (run them as ``python benchmarks/<name>.py``)."""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator

import numpy as np


def blas_threads() -> int:
    """Threads NumPy's BLAS uses now (threadpoolctl when available, else the CPU count)."""
    try:
        from threadpoolctl import threadpool_info

        infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if infos:
            return int(infos[0]["num_threads"])
    except Exception:
        pass
    return os.cpu_count() or 1


THREAD_COUNTS = (1, 2)  # every step benchmark reports both (``--threads``)


@contextlib.contextmanager
def at_threads(threads: int) -> Iterator[None]:
    """Both libraries at ``threads`` threads for the block: nnlab through its thread policy
    (``nnlab.set_num_threads``: its pool, BLAS kept at one thread) and torch (``torch.set_num_threads``, when
    torch is imported); both restored after. nnlab's results do not depend on the count, only its time."""
    import sys

    from nnlab.threads import get_num_threads, set_num_threads

    torch = sys.modules.get("torch")
    before = get_num_threads(), (torch.get_num_threads() if torch is not None else None)
    set_num_threads(threads)
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        set_num_threads(before[0])
        if torch is not None:
            torch.set_num_threads(before[1])


def load_line() -> str:
    """The 1-minute load average and the CPU count, for every printed figure (2-thread timings on a machine
    with more runnable jobs than CPUs mean little)."""
    return f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"


def blas_line() -> str:
    """NumPy's BLAS and the kernel family it runs (threadpoolctl's ``architecture``), and OPENBLAS_CORETYPE when
    set. Every nnlab GEMM goes through it, so every nnlab/torch ratio depends on it; torch brings its own (MKL,
    oneDNN). Measured on the 2-vCPU AMD EPYC machine, whose environment sets ``OPENBLAS_CORETYPE=Haswell``:
    1024^3 float32 GEMM 135 GFLOP/s with the Haswell (AVX2) kernels, 257 with the SkylakeX (AVX-512) kernels
    OpenBLAS picks itself once the variable is unset; bench_conv_sweep's 3x3 C16->32 x(48,16,32,32) MEC
    17.3 -> 12.3 ms fwd+bwd (issue 21, round two)."""
    try:
        from threadpoolctl import threadpool_info

        info = next(i for i in threadpool_info() if i.get("user_api") == "blas")
    except Exception:
        return "BLAS unknown"
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return (f"{info.get('internal_api')} {info.get('version')} {info.get('architecture')} kernels"
            + (f" (OPENBLAS_CORETYPE={forced})" if forced else ""))


def steady_malloc() -> bool:
    """Make glibc's malloc keep freed memory in the process (no trimming of the heap top, a 256 MiB top pad,
    a fixed 32 MiB mmap threshold), so that large temporaries are recycled instead of being returned to the
    kernel and page-faulted in again (each 4 KiB page of a fresh array costs a fault and a zeroing). Which
    of nnlab's and torch's arrays fault otherwise depends on the other library's recent allocations in the
    same process: this removes that coupling. Returns False where there is no glibc ``mallopt``."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    return all(mallopt(option, value) == 1 for option, value in (
        (m_trim_threshold, 2**31 - 1), (m_top_pad, 256 << 20), (m_mmap_threshold, 32 << 20)))


def time_fn(fn: Callable[[], object], repeats: int = 7, warmup: int = 2, min_time: float = 0.05) -> float:
    """Median wall time of ``fn()`` in seconds; each sample loops until it lasts ``min_time``."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        n, start = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_time:
                break
        samples.append(elapsed / n)
    return statistics.median(samples)


def time_pair(ours: Callable[[], object], theirs: Callable[[], object], repeats: int = 9,
              min_time: float = 0.05) -> tuple[float, float, float]:
    """Interleaved timing: alternate samples of ``ours`` and ``theirs`` so that a change in machine load hits
    both alike. Returns ``(median ours, median theirs, median of the per-pair ratios)`` in seconds."""
    for _ in range(2):
        ours()
        theirs()
    t_ours, t_theirs = [], []
    for _ in range(repeats):
        t_ours.append(time_fn(ours, repeats=1, warmup=0, min_time=min_time))
        t_theirs.append(time_fn(theirs, repeats=1, warmup=0, min_time=min_time))
    ratios = [a / b for a, b in zip(t_ours, t_theirs)]
    return statistics.median(t_ours), statistics.median(t_theirs), statistics.median(ratios)


def cpu_time_pair(ours, theirs, repeats: int) -> tuple[float, float, float]:
    """Process CPU time of interleaved steps: ``(median ours, median theirs, median per-pair ratio)`` in seconds.

    At 1 thread this is the work each step does, which other processes' load changes far less than wall time
    (the load-robust figure for an epoch estimate on an idle machine); meaningless with several threads."""
    t_ours, t_theirs = [], []
    for _ in range(repeats):
        t0 = time.process_time()
        ours()
        t1 = time.process_time()
        theirs()
        t2 = time.process_time()
        t_ours.append(t1 - t0)
        t_theirs.append(t2 - t1)
    ratios = [a / max(b, 1e-9) for a, b in zip(t_ours, t_theirs)]
    return statistics.median(t_ours), statistics.median(t_theirs), statistics.median(ratios)


def numpy_gemm_gflops(dtype=np.float32, n: int = 1024) -> float:
    """GFLOP/s of one (n x n) @ (n x n) NumPy matmul in ``dtype``: the ceiling the kernels are measured against."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    seconds = time_fn(lambda: a @ b, repeats=5)
    return 2 * n**3 / seconds / 1e9


def ratio_line(label: str, ours: float, theirs: float, width: int = 46) -> str:
    """One aligned result line: times in ms and the ratio nnlab/torch."""
    return f"{label:<{width}} nnlab {ours * 1e3:9.3f} ms   torch {theirs * 1e3:9.3f} ms   ratio {ours / theirs:5.2f}"
