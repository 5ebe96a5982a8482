"""Time loops of the recurrent kernels on two threads (:mod:`nnlab.layers.recurrent`): pipelines over blocks of
time steps, and the rows their weight gradients are GEMMs of.

A recurrence cannot be split: step t needs step t-1, and one step's work (a (64, 128)x(128, 512) GEMM and a few
elementwise passes, ~60-90 us for CharRNN) is too short to hand half of it to another thread. What runs beside
it is the work before and behind it, block by block: the table lookup of the next block's input projections
(forward), the activation derivatives of the next blocks and the weight-gradient GEMMs of the finished ones
(backward). The second thread makes few long GIL-free calls, since short NumPy calls on both threads slow each
other down (2-vCPU machine, two threads at once: 8K-element ufuncs 8.0x the time of one, 0.5 MB ufuncs 1.75x,
(128, 1920)x(1920, 512) GEMMs 1.12x). Blocks are a function of the shape only and every stage does the same
arithmetic at any thread count, so the results are bitwise the same at 1 and 2 threads.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..backend import parallel_for, split

# A block holds at least this many values of the steps' pre-activations (N * 4H a step for the LSTM, N * H for
# the RNN), at most 8 blocks; a problem below two blocks runs in one piece on the calling thread. CharRNN (N 64,
# T 30, H 128): the LSTM 8 blocks of ~4 steps (~0.3 ms of recurrence each); 2-thread step with at most 4 / 8 / 15
# blocks 6.4 / 6.4 / 6.8 ms (more hand-offs). The RNN (8K values a step,
# ~15 us) one block: its backward in 6 blocks measured no faster at 2 threads (2.09 vs 2.06 ms) and slower at 1.
_BLOCK_VALUES = 1 << 17


def time_blocks(T: int, step_values: int, backward: bool = False) -> list[tuple[int, int]]:
    """Blocks ``(t0, t1)`` of consecutive steps, by shape only (see ``_BLOCK_VALUES``): in time order, or for a
    backward pass last block first and mirrored, so that the short block (the remainder) comes last and the
    GEMMs behind the recurrence end soon after it."""
    blocks = split(T, step_values, _BLOCK_VALUES, max_chunks=8)
    return [(T - b, T - a) for a, b in blocks] if backward else blocks


def pipeline(stages: list, blocks: list[tuple[int, int]], xp) -> None:
    """Run ``stage(t0, t1)`` for every stage (None: skipped) and block, blocks in the given order, stage s on a
    block only once stage s - 1 has finished it.

    Each stage is one task of :func:`~nnlab.threads.parallel_for`, so with two threads the stages run at the same
    time, a block apart; with one thread, one block or CuPy, one after the other. Either way each stage does the
    same arithmetic on the same blocks in the same order.
    """
    stages = [s for s in stages if s is not None]
    if len(blocks) == 1 or len(stages) == 1 or xp is not np:
        for stage in stages:
            for t0, t1 in blocks:
                stage(t0, t1)
        return
    done = [[threading.Event() for _ in blocks] for _ in stages]
    failed: list[int] = []

    def task(s: int) -> None:
        try:
            for k, (t0, t1) in enumerate(blocks):
                if s:
                    done[s - 1][k].wait()
                    if failed:
                        return
                stages[s](t0, t1)
                done[s][k].set()
        except BaseException:
            failed.append(s)  # the later stages stop; parallel_for raises the error
            raise
        finally:
            for event in done[s]:
                event.set()

    parallel_for(task, len(stages))


def backward_pipeline(local, recurrence, weight_grads, make_rows, T: int, step_values: int, xp) -> Any:
    """A backward pass through time as a :func:`pipeline` of three stages over blocks, last block first:

    1. ``local(t0, t1)``: what the steps need that does not depend on later steps (activation derivatives), for
       the first two blocks alone (so that the recurrence can start) and then for all earlier steps in one go
       (few long calls; all at once after the first block made the recurrence wait 0.13 ms, CharRNN-LSTM's
       2-thread backward 3.07 -> 2.62 ms);
    2. ``recurrence(t0, t1)`` from the block's last step down;
    3. ``weight_grads(t0, t1, Z)``, the block's weight-gradient GEMMs on the rows ``Z = make_rows()`` (made once,
       by this stage), summed in block order.

    Returns the sum of the weight gradients.
    """
    blocks = time_blocks(T, step_values, backward=True)
    spans = {b: b for b in blocks[:2]}
    if len(blocks) > 2:
        spans[blocks[2]] = (0, blocks[2][1])
    rows: list = []
    total: list = []

    def first(t0: int, t1: int) -> None:
        if (t0, t1) in spans:
            local(*spans[t0, t1])

    def gemms(t0: int, t1: int) -> None:
        if not rows:
            rows.append(make_rows())
        W = weight_grads(t0, t1, rows[0])
        if total:
            total[0] += W
        else:
            total.append(W)

    pipeline([first, recurrence, gemms], blocks, xp)
    return total[0]


def input_grads(x: Any, Wx: Any, xp) -> tuple[Any, Any]:
    """``(dx, then)``: ``then(t0, t1, d)`` writes steps t0..t1-1 of dx (N, T, D), ``d Wx^T``, from a block of
    pre-activation gradients d ((t1 - t0) * N, G), time-major rows (one GEMM a block, behind the recurrence)."""
    dx = xp.empty(x.shape, dtype=x.dtype)

    def then(t0: int, t1: int, d: Any) -> None:
        dx[:, t0:t1] = (d @ Wx.T).reshape(t1 - t0, x.shape[0], -1).transpose(1, 0, 2)

    return dx, then


def time_major(a: Any, t0: int, t1: int) -> Any:
    """Steps t0..t1-1 of a batch-first (N, T, K) array as a time-major (t1 - t0, N, K) view."""
    return a[:, t0:t1].transpose(1, 0, 2)


def gemm_rows(h0: Any, h: Any, xp, x: Any = None, ids: Any = None, V: int = 0) -> Any:
    """The rows ``Z`` (T, N, K + H + 1), time-major, that the weight gradients are GEMMs of: ``[x_t | h_{t-1} | 1]``
    (K = D), ``[one_hot(ids_t) | h_{t-1} | 1]`` (K = V) or ``[h_{t-1} | 1]``, with ``h_{-1} = h0``; then
    ``Z^T d = [dWx or G; dWh; db]`` for the pre-activation gradients ``d`` (T*N, ·), G the per-token sums. One
    GEMM a block instead of three (CharRNN-LSTM: K = 37 + 128 + 1)."""
    N, T, H = h.shape
    K = x.shape[2] if x is not None else (V if ids is not None else 0)
    Z = xp.empty((T, N, K + H + 1), dtype=h.dtype)
    if x is not None:
        Z[..., :K] = x.transpose(1, 0, 2)
    elif ids is not None:
        Z[..., :K] = 0
        Z[xp.arange(T)[:, None], xp.arange(N), ids.T] = 1
    Z[0, :, K:-1] = h0
    Z[1:, :, K:-1] = h[:, :-1].transpose(1, 0, 2)
    Z[..., -1] = 1
    return Z
