"""The thread policy (``nnlab.threads``): set/get, ``NNLAB_NUM_THREADS``, BLAS ownership, ``parallel_for``; and the
promise that kernels' outputs and gradients, and trained weights, are bitwise the same at 1 and 2 threads."""

from __future__ import annotations

import os

import numpy as np
import pytest

import nnlab.layers.attention as attention
import nnlab.layers.conv as conv
import nnlab.layers.normalization as norm
import nnlab.layers.pooling as pooling
import nnlab.layers.winograd as winograd
import nnlab.optim.rules as rules
import nnlab.threads as threads
from nnlab import runner
from nnlab.layers import (
    conv_backward_fast,
    conv_backward_naive,
    conv_forward_fast,
    conv_forward_naive,
    leaky_relu_backward,
    leaky_relu_forward,
    max_pool_backward_fast,
    max_pool_forward_fast,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    tanh_backward,
    tanh_forward,
)
from nnlab.threads import (
    ENV_VAR,
    blas_num_threads,
    default_num_threads,
    get_num_threads,
    parallel_for,
    set_num_threads,
    split,
)
from tests.cli_helpers import nnlab
from tests.thread_helpers import assert_same_bits, restore_threads  # noqa: F401 (autouse fixture)


def _at(n: int, fn):
    set_num_threads(n)
    return fn()




# ------------------------------------------------------------------------------------------------ policy


def test_set_num_threads_sets_nnlab_and_keeps_blas_at_one_thread():
    from threadpoolctl import threadpool_limits

    threadpool_limits(2)
    set_num_threads(3)
    assert get_num_threads() == 3
    if blas_num_threads() is not None:
        assert blas_num_threads() == 1  # BLAS's own split would change the bits with the thread count
    set_num_threads(1)
    assert get_num_threads() == 1


@pytest.mark.parametrize("bad, exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError), (True, TypeError),
                                      ("2", TypeError), (None, TypeError)])
def test_set_num_threads_rejects_what_is_not_a_positive_integer(bad, exc):
    with pytest.raises(exc, match="set_num_threads: n must be a positive integer"):
        set_num_threads(bad)


def test_set_num_threads_accepts_numpy_integers():
    set_num_threads(np.int64(2))
    assert get_num_threads() == 2 and type(get_num_threads()) is int


def test_default_is_the_env_var_else_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert default_num_threads() == len(os.sched_getaffinity(0))
    monkeypatch.setenv(ENV_VAR, "5")
    assert default_num_threads() == 5
    for bad in ("0", "two", "-1", "1.5"):
        monkeypatch.setenv(ENV_VAR, bad)
        with pytest.raises(ValueError, match=f"{ENV_VAR} must be a positive integer, got '{bad}'"):
            default_num_threads()


def test_first_use_applies_the_env_var_and_sets_blas_to_one_thread(monkeypatch):
    from threadpoolctl import threadpool_limits

    threadpool_limits(2)
    monkeypatch.setattr(threads, "_num_threads", None)
    monkeypatch.setenv(ENV_VAR, "3")
    assert get_num_threads() == 3
    if blas_num_threads() is not None:
        assert blas_num_threads() == 1


def test_cli_threads_flag_and_env_var_bad_values_exit_2(tmp_path, monkeypatch, capsys):
    from nnlab import cli

    out = tmp_path / "runs"
    assert cli.main(["train", "digits-mlp", "--quick", "--threads", "0", "--out", str(out)]) == 2
    assert "--threads must be a positive integer, got 0" in capsys.readouterr().err
    monkeypatch.setenv(ENV_VAR, "many")
    assert cli.main(["train", "digits-mlp", "--quick", "--out", str(out)]) == 2
    assert f"{ENV_VAR} must be a positive integer, got 'many'" in capsys.readouterr().err
    assert not out.exists()
    monkeypatch.delenv(ENV_VAR)
    assert cli.main(["train", "digits-mlp", "--quick", "--threads", "2", "--out", str(out), "--no-progress"]) == 0
    assert get_num_threads() == 2


@pytest.mark.parametrize("command", [["train", "digits-mlp", "--quick"], ["runs"]])
@pytest.mark.parametrize("value", ["many", "0"])
def test_a_bad_env_var_exits_2_in_one_line_from_a_fresh_process(tmp_path, command, value):
    """In a new process the kernels decide the thread count when they load: a bad NNLAB_NUM_THREADS must still be
    one line and exit 2 before anything is written (it was a traceback and exit 1 from the import of the runner)."""
    out = tmp_path / "runs"
    extra = ["--out", str(out)] if command[0] == "train" else [str(tmp_path)]
    proc = nnlab(*command, *extra, cwd=tmp_path, env={ENV_VAR: value}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"nnlab {command[0]}: {ENV_VAR} must be a positive integer, got {value!r}"
    assert not out.exists()


# ------------------------------------------------------------------------------------- split, parallel_for


def test_split_depends_on_the_shapes_only_and_covers_the_range():
    chunks = split(100, 10, 64)  # 6 items of cost 10 per chunk of 64
    assert chunks == [(i, min(100, i + 6)) for i in range(0, 100, 6)]
    assert split(11, 10, 64) == [(0, 11)]  # below two chunks' worth: one piece
    assert split(0, 10, 64) == []
    assert len(split(10_000, 1, 1, max_chunks=8)) == 8
    for n in (1, 2, 4):
        set_num_threads(n)
        assert split(100, 10, 64) == chunks


@pytest.mark.parametrize("n", [1, 2, 3])
def test_parallel_for_returns_results_in_chunk_order(n):
    set_num_threads(n)
    assert parallel_for(lambda i: i * i, 50) == [i * i for i in range(50)]
    assert parallel_for(lambda t: t[1] - t[0], [(0, 3), (3, 10)]) == [3, 7]


def test_parallel_for_raises_a_chunks_error_and_stays_usable():
    set_num_threads(2)

    def boom(i):
        if i == 7:
            raise KeyError("chunk 7")
        return i

    with pytest.raises(KeyError, match="chunk 7"):
        parallel_for(boom, 20)
    assert parallel_for(lambda i: i, 4) == [0, 1, 2, 3]


def test_blas_runs_at_one_thread_inside_a_region_and_is_restored_after():
    if blas_num_threads() is None:
        pytest.skip("threadpoolctl finds no BLAS")
    from threadpoolctl import threadpool_limits

    set_num_threads(2)
    threadpool_limits(2)  # a user's own limit outside nnlab is respected after a region
    inside = parallel_for(lambda i: blas_num_threads(), 4)
    assert inside == [1, 1, 1, 1]
    assert blas_num_threads() == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_parallel_for_works_in_a_forked_child():
    """The child of a fork has none of the parent's pool threads: it must start a pool of its own (before the
    fork hook, the child's chunks all ran on its calling thread, the parent's dead workers never starting)."""
    set_num_threads(2)
    assert parallel_for(lambda i: i, 4) == [0, 1, 2, 3]  # the parent's pool exists
    pid = os.fork()
    if pid == 0:  # child: exit 0 only if the region completes
        code = 1
        try:
            import threading
            import time

            def chunk(i):
                time.sleep(0.02)
                return threading.get_ident()

            code = 0 if len(set(parallel_for(chunk, 8))) == 2 else 1  # both threads took chunks
        finally:
            os._exit(code)
    deadline = __import__("time").monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if __import__("time").monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("parallel_for hung in a forked child")
        __import__("time").sleep(0.05)
    assert os.waitstatus_to_exitcode(status) == 0


def test_nested_parallel_for_runs_serially_in_the_chunk():
    set_num_threads(2)
    import threading

    def outer(i):
        me = threading.get_ident()
        return all(t == me for t in parallel_for(lambda j: threading.get_ident(), 6))

    assert all(parallel_for(outer, 4))


# ------------------------------------------------------------------- kernels: bitwise at 1 and 2 threads


def _conv_case(rng, dtype, C=4, F=6, N=6, H=9, K=3):
    x = rng.standard_normal((N, C, H, H)).astype(dtype)
    w = rng.standard_normal((F, C, K, K)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("algo, K", [("im2col", 3), ("im2col", 5), ("mec", 5), ("winograd2", 3), ("winograd4", 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_outputs_and_grads_are_bitwise_the_same_at_1_and_2_threads(rng, monkeypatch, algo, K, dtype):
    """Small chunk sizes, so that the batch groups (im2col, MEC) and the tile-row chunks (Winograd) are several
    on these small shapes; the split results also equal the naive convolution."""
    x, w, b = _conv_case(rng, dtype, K=K)
    monkeypatch.setattr(conv, "_GROUP_FLOPS", int(2.5 * w.size * 9 * 9))  # groups of 2 samples: 3 partial dw
    monkeypatch.setattr(winograd, "_CHUNK_BYTES", 256)
    conv_param = {"stride": 1, "pad": K // 2, "algo": algo}
    out0, _ = conv_forward_fast(x, w, b, conv_param)
    dout = rng.standard_normal(out0.shape).astype(dtype)

    def run():
        out, cache = conv_forward_fast(x, w, b, conv_param)
        assert cache[0] == algo
        return (out, *conv_backward_fast(dout, cache))

    if algo in ("im2col", "mec"):
        assert len(conv._batch_groups(x.shape, w.shape, 9, 9)) == 3
    one, two = _at(1, run), _at(2, run)
    for name, a, c in zip(("out", "dx", "dw", "db"), one, two):
        assert_same_bits(a, c, f"{algo} {name}")
    ref_out, cache_n = conv_forward_naive(x.astype(float), w.astype(float), b.astype(float), conv_param)
    refs = (ref_out, *conv_backward_naive(dout.astype(float), cache_n))
    tol = 1e-12 if dtype == np.float64 else 5e-5
    for name, a, r in zip(("out", "dx", "dw", "db"), one, refs):
        assert np.abs(a - r).max() / np.abs(r).max() < tol, f"{algo} {name}"


@pytest.mark.parametrize("m", [2, 4])
def test_winograd_position_groups_of_a_lone_chunk_keep_the_bits(rng, monkeypatch, m):
    """A problem in one chunk of tile rows runs its three batched GEMMs in groups of tile positions on the
    threads (``winograd._bmm``): several groups here, the bits those of one ``matmul`` per GEMM, at 1 and 2
    threads."""
    x, w, b = _conv_case(rng, np.float32, C=6, F=5, N=3, H=6)
    conv_param = {"stride": 1, "pad": 1}
    dout = rng.standard_normal((3, 5, 6, 6)).astype(np.float32)

    def run():
        out, cache = winograd.conv_forward_winograd(x, w, b, conv_param, m=m)
        return (out, *winograd.conv_backward_winograd(dout, cache))

    whole = _at(2, run)  # default GEMM_CHUNK_MACS: each GEMM is one matmul
    calls = []
    monkeypatch.setattr(winograd, "GEMM_CHUNK_MACS", 1)  # one position per group
    monkeypatch.setattr(winograd, "parallel_for", lambda fn, items: calls.append(len(items)) or
                        threads.parallel_for(fn, items))
    one, two = _at(1, run), _at(2, run)
    assert calls and max(calls) == (m + 2) ** 2
    for name, a, c, d in zip(("out", "dx", "dw", "db"), whole, one, two):
        assert_same_bits(a, c, name)
        assert_same_bits(a, d, name)


@pytest.mark.parametrize("m", [2, 4])
def test_winograd_filter_blocks_and_bias_blocks_are_the_same_at_1_and_2_threads(rng, monkeypatch, m):
    """The filter transform, its adjoint and db in blocks of filters / channels on the threads (one filter or
    channel per block here): the same bits at 1 and 2 threads, the values of the naive convolution."""
    monkeypatch.setattr(winograd, "_FILTER_CHUNK_BYTES", 1)
    monkeypatch.setattr(winograd, "_CHUNK_BYTES", 4)
    x, w, b = _conv_case(rng, np.float64, C=4, F=5, N=2, H=7)
    conv_param = {"stride": 1, "pad": 1}
    out_n, cache_n = conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(out_n.shape)
    refs = (out_n, *conv_backward_naive(dout, cache_n))
    calls = []
    monkeypatch.setattr(winograd, "_run", lambda fn, chunks, xp: calls.append(len(chunks)) or
                        threads.parallel_for(fn, chunks))

    def run():
        out, cache = winograd.conv_forward_winograd(x, w, b, conv_param, m=m)
        return (out, *winograd.conv_backward_winograd(dout, cache))

    one, two = _at(1, run), _at(2, run)
    assert {4, 5} <= set(calls)  # blocks of 5 filters, of 4 channels (and 5 filters for db)
    for name, a, c, r in zip(("out", "dx", "dw", "db"), one, two, refs):
        assert_same_bits(a, c, name)
        assert np.abs(a - r).max() / np.abs(r).max() < 1e-12, name


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("pad, H", [(0, 11), (2, 7), (1, 6)])
def test_winograd_tile_row_chunks_carry_rows_across_chunks(rng, monkeypatch, m, pad, H):
    """One tile row per chunk: every chunk's last two padded rows of dx are added onto the next chunk's first
    rows after the parallel part (rows inside the padding dropped); the same bits at 1 and 2 threads, the
    values of the naive convolution."""
    monkeypatch.setattr(winograd, "_CHUNK_BYTES", 64)
    x, w, b = _conv_case(rng, np.float64, C=3, F=5, N=2, H=H)
    conv_param = {"stride": 1, "pad": pad}
    out_n, cache_n = conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(out_n.shape)
    refs = (out_n, *conv_backward_naive(dout, cache_n))

    def run():
        out, cache = winograd.conv_forward_winograd(x, w, b, conv_param, m=m)
        return (out, *winograd.conv_backward_winograd(dout, cache))

    one, two = _at(1, run), _at(2, run)
    for name, a, c, r in zip(("out", "dx", "dw", "db"), one, two, refs):
        assert_same_bits(a, c, name)
        assert np.abs(a - r).max() / np.abs(r).max() < 1e-12, name


def test_conv_in_groups_skips_dx_when_asked(rng, monkeypatch):
    monkeypatch.setattr(conv, "_GROUP_FLOPS", 2000)
    x, w, b = _conv_case(rng, np.float64)
    out, cache = conv_forward_fast(x, w, b, {"stride": 1, "pad": 1, "algo": "im2col"})
    dx, dw, db = conv_backward_fast(np.ones_like(out), cache, need_dx=False)
    _, dw_all, db_all = conv_backward_fast(np.ones_like(out), cache)
    assert dx is None and np.array_equal(dw, dw_all) and np.array_equal(db, db_all)
    with pytest.raises(ValueError, match="conv_backward_fast: dout must have 6 samples"):
        conv_backward_fast(np.ones((5,) + out.shape[1:]), cache)


@pytest.mark.parametrize("pool_param", [{"pool_height": 2, "pool_width": 2, "stride": 2},
                                        {"pool_height": 3, "pool_width": 3, "stride": 2}])
def test_max_pool_is_bitwise_the_same_at_1_and_2_threads(rng, monkeypatch, pool_param):
    monkeypatch.setattr(pooling, "_BLOCK_BYTES", 600)
    x = rng.standard_normal((8, 3, 10, 10)).astype(np.float32)
    dout = rng.standard_normal(max_pool_forward_fast(x, pool_param)[0].shape).astype(np.float32)

    def run():
        out, cache = max_pool_forward_fast(x, pool_param)
        return out, cache[1], max_pool_backward_fast(dout, cache)

    assert len(pooling._sample_blocks(x)) > 1
    for name, a, c in zip(("out", "argmax", "dx"), _at(1, run), _at(2, run)):
        assert_same_bits(a, c, name)
    monkeypatch.setattr(pooling, "_BLOCK_BYTES", 1 << 40)  # one block: the same values
    for name, a, c in zip(("out", "argmax", "dx"), _at(2, run), _at(1, run)):
        assert_same_bits(a, c, name)


@pytest.mark.parametrize("shape, split_by", [((8, 6, 5, 5), "channels"), ((8, 6, 5, 5), "samples"),
                                             ((40, 12), "channels")])
@pytest.mark.parametrize("mode", ["train", "test"])
def test_batchnorm_is_bitwise_the_same_at_1_and_2_threads(rng, monkeypatch, shape, split_by, mode):
    """Channel blocks (large planes; columns of rows) and sample blocks (small planes): the same bits at 1 and
    2 threads, and the values of the unsplit computation to float64 rounding."""
    monkeypatch.setattr(norm, "_BLOCK_BYTES", 300)
    monkeypatch.setattr(norm, "_MIN_RUN_BYTES", 0 if split_by == "channels" else 1 << 40)
    x = rng.standard_normal(shape) * 3 + 1
    C = shape[1]
    gamma, beta = rng.standard_normal(C), rng.standard_normal(C)
    dout = rng.standard_normal(shape)
    fwd, bwd = ((norm.spatial_batchnorm_forward, norm.spatial_batchnorm_backward) if len(shape) == 4 else
                (norm.batchnorm_forward, norm.batchnorm_backward_alt))
    stats = {"running_mean": rng.standard_normal(C), "running_var": rng.random(C) + 0.5}

    def run():
        bn_param = {"mode": mode, **{k: v.copy() for k, v in stats.items()}}
        out, cache = fwd(x, gamma, beta, bn_param)
        return (out, *bwd(dout, cache), bn_param["running_mean"], bn_param["running_var"])

    assert len(norm._channel_blocks(x) if split_by == "channels" else norm._bn_sample_blocks(x)) > 1
    one, two = _at(1, run), _at(2, run)
    for name, a, c in zip(("out", "dx", "dgamma", "dbeta", "running_mean", "running_var"), one, two):
        assert_same_bits(a, c, name)
    monkeypatch.setattr(norm, "_BLOCK_BYTES", 1 << 40)  # one piece
    for name, a, r in zip(("out", "dx", "dgamma", "dbeta", "running_mean", "running_var"), one, run()):
        assert np.allclose(a, r, rtol=1e-12, atol=1e-12), name


@pytest.mark.parametrize("gamma_shape", [(6,), (1, 6, 1, 1)])
def test_groupnorm_samples_are_bitwise_the_same_at_1_and_2_threads(rng, monkeypatch, gamma_shape):
    x = rng.standard_normal((7, 6, 4, 5)) * 2 + 0.5
    monkeypatch.setattr(norm, "_BLOCK_BYTES", 2 * x[0].nbytes)  # 2 samples per block: 4 blocks
    gamma, beta = rng.standard_normal(gamma_shape), rng.standard_normal(gamma_shape)
    dout = rng.standard_normal(x.shape)

    def run():
        out, cache = norm.spatial_groupnorm_forward(x, gamma, beta, 3, {})
        return (out, *norm.spatial_groupnorm_backward(dout, cache))

    assert len(norm._sample_blocks(x)) == 4
    one, two = _at(1, run), _at(2, run)
    for name, a, c in zip(("out", "dx", "dgamma", "dbeta"), one, two):
        assert_same_bits(a, c, name)
    monkeypatch.setattr(norm, "_BLOCK_BYTES", 1 << 40)  # one piece
    for name, a, r in zip(("out", "dx", "dgamma", "dbeta"), one, run()):
        assert a.shape == r.shape and np.allclose(a, r, rtol=1e-12, atol=1e-12), name


@pytest.mark.parametrize("gamma_shape", [(16,), (1, 1, 16)])
def test_layernorm_rows_are_bitwise_the_same_at_1_and_2_threads(rng, monkeypatch, gamma_shape):
    monkeypatch.setattr(norm, "_BLOCK_BYTES", 16 * 8 * 3)  # 3 rows per block: 14 blocks of the 40 rows
    x = rng.standard_normal((5, 8, 16)) * 2 + 0.5
    gamma, beta = rng.standard_normal(gamma_shape), rng.standard_normal(gamma_shape)
    dout = rng.standard_normal(x.shape)

    def run():
        out, cache = norm.layernorm_forward(x, gamma, beta, {})
        return (out, *norm.layernorm_backward(dout, cache))

    assert len(norm._row_blocks(x)) == 14
    one, two = _at(1, run), _at(2, run)
    for name, a, c in zip(("out", "dx", "dgamma", "dbeta"), one, two):
        assert_same_bits(a, c, name)
    monkeypatch.setattr(norm, "_BLOCK_BYTES", 1 << 40)  # one piece
    for name, a, r in zip(("out", "dx", "dgamma", "dbeta"), one, run()):
        assert a.shape == r.shape and np.allclose(a, r, rtol=1e-12, atol=1e-12), name


@pytest.mark.parametrize("mask", ["none", "causal", "padding", "float", "dropout"])
def test_attention_in_sample_blocks_equals_one_block_bitwise(rng, monkeypatch, mask):
    """Blocks of samples (no sum across samples): the same bits at 1 and 2 threads and as one block, with
    every kind of mask, and dropout drawn once for all the scores (the RNG stream of one call)."""
    N, h, L, S, E = 7, 2, 5, 6, 4
    q, k, v = (rng.standard_normal((N, h, T, E)).astype(np.float32) for T in (L, S, S))
    dout = rng.standard_normal((N, h, L, E)).astype(np.float32)
    kwargs = {"causal": {"is_causal": True},
              "padding": {"attn_mask": np.arange(S) < rng.integers(1, S + 1, size=(N, 1, 1, 1))},  # >= 1 key
              "float": {"attn_mask": rng.standard_normal((L, S)).astype(np.float32)},
              "dropout": {"dropout_p": 0.3, "seed": 5}}.get(mask, {})

    def run():
        out, cache = attention.scaled_dot_product_attention_forward(q, k, v, **kwargs)
        return (out, cache["weights"], *attention.scaled_dot_product_attention_backward(dout, cache))

    monkeypatch.setattr(attention, "_BLOCK_BYTES", 2 * h * L * S * 4)  # 2 samples per block: 4 blocks
    assert len(attention._batch_blocks(q, (N, h, L, S), np.float32)) == 4
    one, two = _at(1, run), _at(2, run)
    monkeypatch.setattr(attention, "_BLOCK_BYTES", 1 << 40)
    whole = run()
    for name, a, c, w in zip(("out", "weights", "dq", "dk", "dv"), one, two, whole):
        assert_same_bits(a, c, name)
        assert_same_bits(a, w, name + " (one block)")
    if mask != "dropout":  # and the values of softmax(q k^T / sqrt(E) + mask) v, written out
        scores = q.astype(float) @ k.astype(float).swapaxes(-1, -2) / np.sqrt(E)
        if mask == "causal":
            scores = np.where(np.tril(np.ones((L, S), bool)), scores, -np.inf)
        elif mask == "padding":
            scores = np.where(kwargs["attn_mask"], scores, -np.inf)
        elif mask == "float":
            scores = scores + kwargs["attn_mask"]
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        ref = (e / e.sum(axis=-1, keepdims=True)) @ v.astype(float)
        assert np.abs(one[0] - ref).max() < 1e-5


@pytest.mark.parametrize("fwd, bwd", [(relu_forward, relu_backward), (sigmoid_forward, sigmoid_backward),
                                      (tanh_forward, tanh_backward), (leaky_relu_forward, leaky_relu_backward)])
def test_activations_in_chunks_equal_the_whole_array_bitwise(rng, monkeypatch, fwd, bwd):
    x = (rng.standard_normal((7, 5, 33)) * 4).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    whole = fwd(x)[0], bwd(dout, fwd(x)[1])
    monkeypatch.setattr(threads, "ELEMENTWISE_CHUNK_BYTES", 256)
    for n in (1, 2):
        set_num_threads(n)
        out, cache = fwd(x)
        assert_same_bits(out, whole[0], f"{fwd.__name__} at {n}")
        assert_same_bits(bwd(dout, cache), whole[1], f"{bwd.__name__} at {n}")


@pytest.mark.parametrize("shape", [(37, 11, 5), (5, 11, 37)])  # row chunks (M >= N), column chunks (M < N)
@pytest.mark.parametrize("layout", ["plain", "transposed"])
def test_matmul_in_chunks_is_the_same_at_1_and_2_threads(rng, monkeypatch, shape, layout):
    M, K, N = shape
    a, b = rng.standard_normal((M, K)), rng.standard_normal((K, N))
    if layout == "transposed":  # views, as affine_backward passes w.T and x.T
        a, b = np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T
    assert threads.matmul(a, b).tobytes() == (a @ b).tobytes()  # below two chunks: one a @ b
    monkeypatch.setattr(threads, "GEMM_CHUNK_MACS", 1)
    monkeypatch.setattr(threads, "GEMM_MIN_ROWS", 4)  # 4 rows (columns) a chunk: 10 chunks, the last short
    calls = []
    monkeypatch.setattr(threads, "parallel_for", lambda fn, chunks: calls.append(chunks) or parallel_for(fn, chunks))
    one, two = _at(1, lambda: threads.matmul(a, b)), _at(2, lambda: threads.matmul(a, b))
    assert calls[0] == [(i, min(37, i + 4)) for i in range(0, 37, 4)] == calls[1]
    assert_same_bits(one, two, "matmul")
    assert one.flags.c_contiguous and np.abs(one - a @ b).max() < 1e-12 * np.abs(a @ b).max()


def test_matmul_falls_back_to_one_product(rng, monkeypatch):
    monkeypatch.setattr(threads, "GEMM_CHUNK_MACS", 1)
    monkeypatch.setattr(threads, "GEMM_MIN_ROWS", 1)
    a32, b64 = rng.standard_normal((9, 3)).astype(np.float32), rng.standard_normal((3, 9))
    out = threads.matmul(a32, b64)  # mixed dtypes: NumPy's promotion, one call
    assert out.dtype == np.float64 and out.tobytes() == (a32 @ b64).tobytes()
    ints = np.arange(12).reshape(4, 3)
    assert threads.matmul(ints, ints.T).tobytes() == (ints @ ints.T).tobytes()
    v = rng.standard_normal(3)
    assert threads.matmul(b64.T, v).tobytes() == (b64.T @ v).tobytes()  # not 2-D


def test_affine_gemms_in_chunks_are_the_same_at_1_and_2_threads(rng, monkeypatch):
    from nnlab.layers import affine_backward, affine_forward

    x, w, b = rng.standard_normal((20, 3, 4)), rng.standard_normal((12, 9)), rng.standard_normal(9)
    dout = rng.standard_normal((20, 9))
    monkeypatch.setattr(threads, "GEMM_CHUNK_MACS", 1)
    monkeypatch.setattr(threads, "GEMM_MIN_ROWS", 3)
    runs = [_at(n, lambda: (affine_forward(x, w, b)[0], *affine_backward(dout, (x, w, b)))) for n in (1, 2)]
    for name, one, two in zip(("out", "dx", "dw", "db"), *runs):
        assert_same_bits(one, two, name)
    x2 = x.reshape(20, 12)
    for got, ref in zip(runs[0], (x2 @ w + b, (dout @ w.T).reshape(x.shape), x2.T @ dout, dout.sum(0))):
        assert np.abs(got - ref).max() < 1e-12 * np.abs(ref).max()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dropout_in_chunks_equals_the_whole_array_expression_bitwise(rng, monkeypatch, dtype):
    from nnlab.layers import dropout_backward, dropout_forward

    x = rng.standard_normal((7, 5, 33)).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    u = np.random.RandomState(3).rand(*x.shape)  # the draw dropout_param['seed'] = 3 makes
    mask = ((u < 0.7) / 0.7).astype(dtype)  # the documented formula, whole array
    monkeypatch.setattr(threads, "ELEMENTWISE_CHUNK_BYTES", 256)
    for n in (1, 2):
        set_num_threads(n)
        out, cache = dropout_forward(x, {"mode": "train", "p": 0.3, "seed": 3})
        assert_same_bits(cache[1], mask, f"mask at {n}")
        assert_same_bits(out, x * mask, f"out at {n}")
        assert_same_bits(dropout_backward(dout, cache), dout * mask, f"dx at {n}")
    assert 0.5 < (mask > 0).mean() < 0.9 and set(np.unique(mask)) == {0, dtype(1 / 0.7)}


@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("rule", ["adam", "adamw", "sgd_momentum"])
def test_update_rules_in_chunks_equal_the_whole_array_bitwise(rng, monkeypatch, rule, layout):
    update = getattr(rules, rule)
    w0 = rng.standard_normal((13, 77)).astype(np.float32)  # 1001 values: the last chunk is short
    # "F": gradients as a layer's X^T @ dY gives them (transposed), chunked by rows (13 chunks), else flat (16)
    grads = [np.asarray(rng.standard_normal(w0.shape).astype(np.float32), order=layout) for _ in range(3)]

    def three_steps():
        w, config = w0, {"learning_rate": 1e-2}
        for dw in grads:
            w, config = update(w, dw, config)
        return w, config

    whole, whole_config = three_steps()
    assert not rules._chunkable(w0)  # 4 KB: one piece at the real chunk size
    monkeypatch.setattr(rules, "_UPDATE_CHUNK_BYTES", 256)  # 64 values a chunk: 16 chunks
    calls = []
    monkeypatch.setattr(rules, "parallel_for", lambda fn, chunks: calls.append(len(chunks)) or parallel_for(fn, chunks))
    for n in (1, 2):
        set_num_threads(n)
        w, config = three_steps()
        assert_same_bits(w, whole, f"{rule} at {n} threads")
        for key in ("m", "v", "velocity"):
            if key in whole_config:
                assert_same_bits(config[key], whole_config[key], f"{rule} state {key} at {n} threads")
    assert calls == [16 if layout == "C" else 13] * 6
    # and the values are the rule's formula (float64 reference)
    w, m, v = w0.astype(float), 0.0, 0.0
    for t, dw in enumerate(grads, 1):
        dw = dw.astype(float)
        if rule == "sgd_momentum":
            v = 0.9 * v - 1e-2 * dw
            w = w + v
            continue
        m, v = 0.9 * m + 0.1 * dw, 0.999 * v + 0.001 * dw * dw
        decay = 1 - 1e-2 * 1e-2 if rule == "adamw" else 1.0
        w = w * decay - 1e-2 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(whole, w, rtol=0, atol=1e-6)


def test_update_rules_with_mixed_dtypes_go_in_one_piece(rng, monkeypatch):
    monkeypatch.setattr(rules, "_UPDATE_CHUNK_BYTES", 256)
    w = rng.standard_normal((40, 40)).astype(np.float32)
    dw = rng.standard_normal(w.shape)  # float64 gradient: not chunked, still w's dtype out
    velocity = rng.standard_normal(w.shape)  # a float64 state (a checkpoint's, say)
    out, config = rules.sgd_momentum(w, dw, {"velocity": velocity, "learning_rate": 0.1})
    expected_v = (0.9 * velocity - 0.1 * dw).astype(np.float32)
    assert_same_bits(config["velocity"], expected_v, "velocity")
    assert_same_bits(out, w + expected_v, "w")
    out, _ = rules.adam(w, dw, {})
    assert out.dtype == np.float32 and np.abs(out - w).max() <= 1e-3 + 1e-7


# ------------------------------------------------------------------- training: bitwise at 1 and 2 threads


def _trained_params(name: str, n: int, tmp_path, overrides: dict) -> dict:
    from tests.recipes.recipe_helpers import KeepModel

    set_num_threads(n)
    recipe, cfg = runner.prepare(name, overrides, quick=True)
    keep = KeepModel()
    runner.train(recipe, cfg, quick=True, out=tmp_path / f"t{n}", progress=False, callbacks=[keep])
    return {k: np.array(v) for k, v in keep.model.params.items()}


def _assert_same_weights(one: dict, two: dict) -> None:
    assert one.keys() == two.keys()
    for k in one:
        assert_same_bits(one[k], two[k], k)


def test_digits_mlp_trains_to_the_same_weights_at_1_and_2_threads(tmp_path):
    _assert_same_weights(_trained_params("digits-mlp", 1, tmp_path, {}), _trained_params("digits-mlp", 2, tmp_path, {}))


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.parametrize("name, overrides", [("cifar10-convnet", {"num_epochs": 1}), ("mri-cnn", {"num_epochs": 1})])
def test_convnets_train_to_the_same_weights_at_1_and_2_threads(tmp_path, data_dir, monkeypatch, name, overrides):
    """A short ``--quick``-like run (one epoch) of the conv-net recipes: every parallel kernel (conv groups,
    batch norm blocks, pooling blocks, activation chunks) in the loop, the same weights at 1 and 2 threads."""
    monkeypatch.setenv("NNLAB_DATA", str(data_dir))
    _assert_same_weights(_trained_params(name, 1, tmp_path, overrides), _trained_params(name, 2, tmp_path, overrides))
