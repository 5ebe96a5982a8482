"""Memory on the tape (issue 20, the memory acceptance bullet), measured with tracemalloc (NumPy reports its
array buffers to it).

50 training steps of a small MLP written with Tensor operations keep the peak flat and free every node of the
step's graph (a weakref to the loss's ``grad_fn`` dies, with the cycle collector off, so no reference cycle
hides); a backward frees the saved values even while the loss is still referenced; under ``no_grad()`` no
cache is kept.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

from nnlab.autograd import no_grad, tensor

MiB = 2**20


@pytest.fixture
def traced():
    """tracemalloc on and the cycle collector off for the test (a graph kept alive only by a cycle would then
    show as growth)."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()
        if was_enabled:
            gc.enable()


def _mlp(rng: np.random.Generator, n: int = 128, d: int = 64, h: int = 128, c: int = 10):
    X = rng.standard_normal((n, d))
    y = rng.integers(0, c, n)
    params = [tensor(a, requires_grad=True) for a in (rng.standard_normal((d, h)) / np.sqrt(d), np.zeros(h),
                                                      rng.standard_normal((h, c)) / np.sqrt(h), np.zeros(c))]
    rows = np.arange(n)

    def step(lr: float = 0.1):
        """One SGD step; returns weakrefs to the first and last nodes of its graph, and the loss."""
        w1, b1, w2, b2 = params
        hidden = (X @ w1 + b1).relu()
        z = hidden @ w2 + b2
        zs = z - z.data.max(axis=1, keepdims=True)
        logp = zs - zs.exp().sum(dim=1, keepdim=True).log()
        loss = -logp[rows, y].mean()
        refs = (weakref.ref(loss.grad_fn), weakref.ref(hidden.grad_fn))
        loss.backward()
        for p in params:  # the update happens outside the graph
            p.data -= lr * p.grad
            p.grad = None
        return refs, loss.item()

    return step


def test_fifty_training_steps_keep_peak_memory_flat_and_free_each_graph(traced, rng):
    n, h = 256, 256
    step = _mlp(rng, n=n, h=h)
    peaks, extra, currents, losses = [], [], [], []
    for _ in range(50):
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        refs, loss = step()
        current, peak = tracemalloc.get_traced_memory()
        assert all(r() is None for r in refs), "a node of the step's graph survived the step"
        peaks.append(peak)
        extra.append(peak - start)  # what the step's graph and temporaries took on top of what was held
        currents.append(current)
        losses.append(loss)
    assert losses[-1] < 0.8 * losses[0]  # it trains
    activation = n * h * 8
    assert min(extra) > 4 * activation  # the measurement sees the step's NumPy buffers
    early, late = max(peaks[10:20]), max(peaks[40:50])
    assert late <= early * 1.05, f"peak grew from {early} B (steps 10-20) to {late} B (steps 40-50)"
    early, late = max(extra[10:20]), max(extra[40:50])
    assert late <= early * 1.01 + 4096, f"a step's peak grew from {early} B (steps 10-20) to {late} B (40-50)"
    # What stays between steps may grow only by interpreter free lists (tens of bytes per node, they fill up
    # and stop; ~80 KB here): a graph surviving each step, even with its caches freed, adds ~300 KB.
    grown = currents[-1] - currents[10]
    assert grown < activation / 2, f"{grown} B more held after step 50 than after step 11"


def test_backward_frees_the_saved_values_while_the_loss_is_still_referenced(traced, rng):
    x = tensor(rng.standard_normal(MiB // 8), requires_grad=True)  # 1 MiB
    base = tracemalloc.get_traced_memory()[0]
    y = x
    for _ in range(20):
        y = (y * 1.01).tanh()  # mul keeps its input, which is the previous tanh's output: 1 MiB per iteration
    loss = y.sum()
    held = tracemalloc.get_traced_memory()[0] - base
    assert held > 19 * MiB
    loss.backward()
    after = tracemalloc.get_traced_memory()[0] - base
    # left: x.grad and y's output (1 MiB each) and small bookkeeping; the caches are gone
    assert after < 3 * MiB, f"{after / MiB:.1f} MiB still held after backward (was {held / MiB:.1f} MiB)"
    assert loss.grad_fn is not None and loss.grad_fn.cache is None


def test_no_grad_keeps_no_cache(traced, rng):
    x = tensor(rng.standard_normal(MiB // 8), requires_grad=True)
    base = tracemalloc.get_traced_memory()[0]
    with no_grad():
        y = x
        for _ in range(20):
            y = (y * 1.01).tanh().exp().sqrt()
    held = tracemalloc.get_traced_memory()[0] - base
    assert y.grad_fn is None and not y.requires_grad
    assert held < 1.5 * MiB, f"{held / MiB:.1f} MiB held after 80 operations under no_grad (the output is 1 MiB)"


def test_fifty_steps_of_a_functional_convnet_keep_peak_memory_flat(traced, rng):
    """The same check through nnlab.functional nodes (conv, batch norm with running statistics, pooling, linear,
    cross-entropy): no node's cache outlives its step."""
    F = pytest.importorskip("nnlab.functional")
    X = rng.standard_normal((16, 3, 12, 12))
    y = rng.integers(0, 10, 16)
    params = [tensor(a, requires_grad=True) for a in (0.3 * rng.standard_normal((8, 3, 3, 3)), np.ones(8),
                                                      np.zeros(8), 0.3 * rng.standard_normal((10, 8 * 36)),
                                                      np.zeros(10))]
    running = (np.zeros(8), np.ones(8))
    peaks, losses = [], []
    for _ in range(50):
        w, g, b, wfc, bfc = params
        tracemalloc.reset_peak()
        h = F.max_pool2d(F.relu(F.batch_norm(F.conv2d(X, w, padding=1), *running, g, b, training=True)), 2)
        loss = F.cross_entropy(F.linear(h.flatten(1), wfc, bfc), y)
        ref = weakref.ref(loss.grad_fn)
        loss.backward()
        for p in params:
            p.data -= 0.05 * p.grad
            p.grad = None
        losses.append(loss.item())
        del h, loss
        assert ref() is None, "a node of the step's graph survived the step"
        peaks.append(tracemalloc.get_traced_memory()[1])
    assert losses[-1] < losses[0]
    early, late = max(peaks[10:20]), max(peaks[40:50])
    assert late <= early * 1.05, f"peak grew from {early} B (steps 10-20) to {late} B (steps 40-50)"
