"""Tape semantics as torch's (issue 20, Build 4 and the bad-use acceptance bullet), with the values written out.

Accumulation across backward calls, a tensor used several times, a 10,000-op chain without recursion, caches
freed after backward (and a second backward refused by name), ``retain_graph``, non-scalar roots, grad mode,
integer tensors, ``create_graph``, ``@`` shape errors, dtype rules, arrays and numbers as constants on either
side, ``nnlab.autograd.grad`` and user ``Function``s.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from nnlab.autograd import Function, enable_grad, grad, is_grad_enabled, no_grad, tensor


def leaf(values, dtype=np.float64):
    return tensor(np.array(values, dtype=dtype), requires_grad=True)


# ---- accumulation ---------------------------------------------------------------------------------------------
def test_leaf_grad_accumulates_across_backward_calls_until_zeroed():
    x = leaf([1.0, -2.0, 3.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, -4.0, 6.0])
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, -1.0, 9.0])
    x.grad = None  # zeroing, as optimizers do
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0, 3.0])


def test_a_tensor_used_three_times_gets_the_sum():
    x = leaf([1.0, 2.0])
    (x * 2.0 + x * 3.0 + x * 4.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [9.0, 9.0])
    y = leaf([1.0, 2.0])
    (y * y * y).sum().backward()  # 3 y^2
    np.testing.assert_array_equal(y.grad, [3.0, 12.0])


def test_two_leaves_fed_the_same_gradient_array_do_not_share_it():
    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()  # add's backward hands the same array to both
    a.grad[0] = 100.0
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def test_getitem_with_repeated_indices_scatter_adds():
    x = leaf([10.0, 20.0, 30.0])
    x[np.array([0, 2, 2, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 0.0, 3.0])
    m = leaf([[1.0, -1.0], [-2.0, 2.0]])
    (m[m.data > 0] * np.array([5.0, 7.0])).sum().backward()
    np.testing.assert_array_equal(m.grad, [[5.0, 0.0], [0.0, 7.0]])


# ---- the backward pass ----------------------------------------------------------------------------------------
def test_a_chain_of_10000_operations_backpropagates_without_recursion():
    assert sys.getrecursionlimit() < 10_000  # a recursive topological sort would fail here
    x = leaf([1.0])
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001 ** 10_000], rtol=1e-12)


def test_caches_are_released_after_backward_and_a_second_backward_names_the_node():
    x = leaf([1.0, 2.0])
    h = x.exp()
    loss = (h * x).sum()
    nodes = [loss.grad_fn, h.grad_fn]
    assert all(n.cache is not None for n in nodes[1:])
    loss.backward()
    assert all(n.cache is None and n.released for n in nodes)
    with pytest.raises(RuntimeError, match=r"backward through the graph a second time.*'sum'.*retain_graph=True"):
        loss.backward()


def test_retain_graph_keeps_the_caches_for_a_second_backward():
    x = leaf([1.0, 2.0])
    loss = (x.exp() * x).sum()
    loss.backward(retain_graph=True)
    first = x.grad.copy()
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-15)
    np.testing.assert_allclose(first, np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0])), rtol=1e-15)


def test_backward_of_a_non_scalar_needs_a_gradient():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    y = x * 2.0
    with pytest.raises(RuntimeError, match=r"only for one-element outputs.*\(2, 2\).*gradient="):
        y.backward()
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\) but the tensor has shape \(2, 2\)"):
        y.backward(np.ones(3))
    y.backward(np.array([[1.0, 0.0], [0.5, -1.0]]))
    np.testing.assert_array_equal(x.grad, [[2.0, 0.0], [1.0, -2.0]])


def test_backward_of_a_tensor_that_does_not_require_grad_is_refused():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tensor([1.0, 2.0]).sum().backward()


def test_create_graph_is_not_implemented():
    x = leaf([1.0, 2.0])
    loss = (x * x).sum()
    with pytest.raises(NotImplementedError, match="create_graph=True"):
        loss.backward(create_graph=True)
    with pytest.raises(NotImplementedError, match="create_graph=True"):
        grad(loss, x, create_graph=True)


# ---- grad mode ------------------------------------------------------------------------------------------------
def test_nothing_is_recorded_under_no_grad():
    x = leaf([1.0, 2.0])
    with no_grad():
        assert not is_grad_enabled()
        y = (x * x).exp().sum()
    assert is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad and y.is_leaf
    assert y.item() == pytest.approx(np.exp(1.0) + np.exp(4.0))


def test_enable_grad_inside_no_grad_records_again():
    x = leaf([3.0])
    with no_grad():
        with enable_grad():
            y = x * x
        z = y * 2.0
    assert y.grad_fn is not None and z.grad_fn is None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [6.0])


def test_grad_mode_is_per_thread_and_on_in_a_new_thread():
    import threading

    seen = []

    def worker():
        seen.append(is_grad_enabled())
        with no_grad():
            seen.append(is_grad_enabled())

    with no_grad():
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        assert not is_grad_enabled()
    assert seen == [True, False] and is_grad_enabled()


def test_no_grad_as_a_decorator_restores_the_mode_after_an_exception():
    @no_grad()
    def fails(t):
        assert (t * 2.0).grad_fn is None
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        fails(leaf([1.0]))
    assert is_grad_enabled()


@pytest.mark.parametrize("values, dtype", [([1, 2], np.int64), ([1, 2], np.int32), ([True, False], np.bool_)])
def test_integer_and_bool_tensors_cannot_require_grad(values, dtype):
    with pytest.raises(RuntimeError, match=f"only floating-point tensors can require gradients, got dtype "
                                           f"{np.dtype(dtype)}"):
        tensor(np.array(values, dtype=dtype), requires_grad=True)
    t = tensor(np.array(values, dtype=dtype))
    with pytest.raises(RuntimeError, match="requires_grad_: only floating-point"):
        t.requires_grad_()
    assert not t.requires_grad


def test_comparisons_give_bool_tensors_without_gradient():
    x = leaf([-1.0, 0.0, 2.0])
    mask = x > 0
    assert mask.dtype == np.bool_ and not mask.requires_grad and mask.grad_fn is None
    (x * mask).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 1.0])


# ---- bad use: one message naming the operation and the shapes -----------------------------------------------------
def test_mismatched_matmul_names_both_shapes():
    a = leaf(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(4, 5\) do not align"):
        a @ np.ones((4, 5))
    with pytest.raises(ValueError, match=r"matmul: shapes \(4, 5\) and \(2, 3\) do not align"):
        np.ones((4, 5)) @ a


def test_bad_reshape_permute_and_cat_name_the_operation_and_shapes():
    a = leaf(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into "
                                         r"shape \(4, 2\)"):
        a.reshape(4, 2)
    with pytest.raises(ValueError, match=r"permute: dims \(0, 0\) are not a permutation .* shape \(2, 3\)"):
        a.permute(0, 0)
    import nnlab.autograd as ag

    with pytest.raises(ValueError, match=r"nnlab.cat: cannot concatenate shapes \[\(2, 3\), \(2, 4\)\] along dim 0"):
        ag.cat([a, np.ones((2, 4))], dim=0)
    with pytest.raises(ValueError, match=r"sum: dim 2 is out of range for a tensor of shape \(2, 3\)"):
        a.sum(dim=2)


# ---- dtypes and constants -------------------------------------------------------------------------------------
def test_float32_stays_float32_and_float32_leaves_get_float32_grads():
    x = leaf([[0.5, -1.0], [2.0, 0.25]], dtype=np.float32)
    w = leaf([[1.0], [-2.0]], dtype=np.float32)
    y = ((x * 2.0 - 1) / 3.0) ** 2
    z = (y.exp() @ w).tanh().mean() + x.sigmoid().sum(dim=0).sqrt().sum()
    assert y.dtype == np.float32 and z.dtype == np.float32
    z.backward()
    assert x.grad.dtype == np.float32 and w.grad.dtype == np.float32
    # a float32 leaf mixed with a float64 array: NumPy promotes the result, the leaf's grad stays float32
    u = leaf([1.0, 2.0], dtype=np.float32)
    v = u * np.array([3.0, 4.0])
    assert v.dtype == np.float64
    v.sum().backward()
    assert u.grad.dtype == np.float32
    np.testing.assert_array_equal(u.grad, [3.0, 4.0])


def test_arrays_and_numbers_are_constants_on_both_sides():
    c = np.array([2.0, -1.0, 0.5])
    for expr, value, dvalue in [
        (lambda t: c * t, c * [1.0, 2.0, 4.0], c),
        (lambda t: t * c, c * [1.0, 2.0, 4.0], c),
        (lambda t: c + t, c + [1.0, 2.0, 4.0], np.ones(3)),
        (lambda t: c - t, c - [1.0, 2.0, 4.0], -np.ones(3)),
        (lambda t: t - c, [1.0, 2.0, 4.0] - c, np.ones(3)),
        (lambda t: c / t, c / [1.0, 2.0, 4.0], -c / np.array([1.0, 4.0, 16.0])),
        (lambda t: t / c, np.array([1.0, 2.0, 4.0]) / c, 1 / c),
        (lambda t: 2 - t, [1.0, 0.0, -2.0], -np.ones(3)),
        (lambda t: t - 2, [-1.0, 0.0, 2.0], np.ones(3)),
        (lambda t: 2 * t, [2.0, 4.0, 8.0], 2 * np.ones(3)),
        (lambda t: 1 / t, [1.0, 0.5, 0.25], [-1.0, -0.25, -1 / 16]),
        (lambda t: 2 ** t, [2.0, 4.0, 16.0], np.log(2) * np.array([2.0, 4.0, 16.0])),
        (lambda t: t ** 2, [1.0, 4.0, 16.0], [2.0, 4.0, 8.0]),
        (lambda t: c @ t, [2.0 - 2.0 + 2.0], c),
        (lambda t: t @ c, [2.0 - 2.0 + 2.0], c),
        (lambda t: -t, [-1.0, -2.0, -4.0], -np.ones(3)),
    ]:
        t = leaf([1.0, 2.0, 4.0])
        out = expr(t)
        assert type(out).__name__ == "Tensor"
        np.testing.assert_allclose(out.data, np.ravel(value), rtol=1e-15)
        out.sum().backward()
        np.testing.assert_allclose(t.grad, dvalue, rtol=1e-15)


# ---- nnlab.autograd.grad -----------------------------------------------------------------------------------------
def test_grad_returns_gradients_without_touching_dot_grad():
    x, y = leaf([1.0, 2.0]), leaf([3.0])
    out = (x * x * y).sum()
    gx, gy = grad(out, [x, y], retain_graph=True)
    np.testing.assert_array_equal(gx, [6.0, 12.0])
    np.testing.assert_array_equal(gy, [5.0])
    assert x.grad is None and y.grad is None
    (gx2,) = grad(out, [x])
    np.testing.assert_array_equal(gx2, gx)
    with pytest.raises(RuntimeError, match="second time"):
        grad(out, [x])


def test_grad_of_an_unused_input_needs_allow_unused_and_of_an_intermediate_works():
    x, z = leaf([1.0, 2.0]), leaf([5.0])
    h = x * 3.0
    out = (h * h).sum()
    with pytest.raises(RuntimeError, match="input 1 is not used"):
        grad(out, [x, z], retain_graph=True)
    gx, gz, gh = grad(out, [x, z, h], allow_unused=True)
    assert gz is None
    np.testing.assert_array_equal(gh, [6.0, 12.0])
    np.testing.assert_array_equal(gx, [18.0, 36.0])


def test_grad_with_grad_outputs_for_a_non_scalar_output():
    x = leaf([1.0, 2.0, 3.0])
    y = x * x
    with pytest.raises(RuntimeError, match=r"output 0 has shape \(3,\): pass grad_outputs"):
        grad(y, x, retain_graph=True)
    (gx,) = grad(y, x, grad_outputs=np.array([1.0, 0.0, -1.0]))
    np.testing.assert_array_equal(gx, [2.0, 0.0, -6.0])


# ---- Function ---------------------------------------------------------------------------------------------------
class ScaledCube(Function):
    """``s * x**3``; records what the tape passed to ctx for the test to inspect."""

    seen_needs: tuple = ()

    @staticmethod
    def forward(ctx, x, s):
        ScaledCube.seen_needs = ctx.needs_input_grad
        ctx.save_for_backward(x, s)
        return s * x ** 3

    @staticmethod
    def backward(ctx, g):
        x, s = ctx.saved_tensors
        gx = 3 * s * x ** 2 * g if ctx.needs_input_grad[0] else None
        gs = (x ** 3 * g) if ctx.needs_input_grad[1] else None
        return gx, gs


def test_function_apply_needs_input_grad_and_saved_tensors():
    x = leaf([1.0, 2.0])
    s = leaf([0.5, 0.5])
    y = ScaledCube.apply(x, s)
    assert ScaledCube.seen_needs == (True, True)
    assert y.grad_fn.name == "ScaledCube"
    np.testing.assert_array_equal(y.data, [0.5, 4.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.5, 6.0])
    np.testing.assert_array_equal(s.grad, [1.0, 8.0])
    x2 = leaf([2.0])
    ScaledCube.apply(x2, np.array([2.0])).sum().backward()  # an array is a constant
    assert ScaledCube.seen_needs == (True, False)
    np.testing.assert_array_equal(x2.grad, [24.0])


def test_function_backward_broadcast_gradient_is_summed_to_the_input_shape():
    class AddRow(Function):
        @staticmethod
        def forward(ctx, x, b):
            return x + b

        @staticmethod
        def backward(ctx, g):
            return g, g  # g is (2, 3); b is (3,): the tape sums it back

    x, b = leaf(np.ones((2, 3))), leaf([1.0, 2.0, 3.0])
    AddRow.apply(x, b).sum().backward()
    np.testing.assert_array_equal(b.grad, [2.0, 2.0, 2.0])


def test_function_returning_the_wrong_number_of_gradients_names_the_function():
    class Halves(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    out = Halves.apply(leaf([1.0]), leaf([2.0]))
    with pytest.raises(RuntimeError, match=r"Halves.backward returned 1 gradient\(s\) but forward took 2 input"):
        out.sum().backward()


def test_function_returning_a_wrong_shape_names_the_function_and_shapes():
    class BadShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return np.ones((4,))

    out = BadShape.apply(leaf([1.0, 2.0, 3.0]))
    with pytest.raises(RuntimeError, match=r"BadShape.backward returned a gradient of shape \(4,\) for input 0, "
                                           r"which has shape \(3,\)"):
        out.sum().backward()


def test_function_forward_must_return_arrays():
    class ReturnsList(Function):
        @staticmethod
        def forward(ctx, x):
            return [1.0]

    with pytest.raises(TypeError, match="ReturnsList.forward must return an array"):
        ReturnsList.apply(leaf([1.0]))


def test_leaf_gradients_never_alias_each_other_or_the_callers_gradient():
    import numpy as np

    from nnlab import autograd as ag

    a = ag.tensor(np.ones(3), requires_grad=True)
    b = ag.tensor(np.ones(3), requires_grad=True)
    ((a + b) * 2.0).sum().backward()  # add's backward hands one (fresh, writeable) array to both leaves
    a.grad[0] = 5.0
    np.testing.assert_array_equal(b.grad, [2.0, 2.0, 2.0])
    g = np.ones(3)
    x = ag.tensor(np.ones(3), requires_grad=True)
    (x + 0.0).backward(g)
    assert x.grad is not g
    g[0] = 7.0
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0])


def test_unbind_and_chunk_match_torch_and_pass_gradcheck():
    import numpy as np
    import torch

    from nnlab import autograd as ag

    x = np.random.default_rng(0).standard_normal((3, 4, 6))
    t = ag.tensor(x, requires_grad=True)
    tt = torch.tensor(x, requires_grad=True)
    a, _, c, _ = t.unbind(1)  # two slices unused: their gradient is zero
    ta, _, tc, _ = tt.unbind(1)
    p, q = t.chunk(2, dim=-1)
    tp, tq = tt.chunk(2, dim=-1)
    ((a * 2 + c).sum() + (p * q).sum()).backward()
    ((ta * 2 + tc).sum() + (tp * tq).sum()).backward()
    np.testing.assert_allclose(t.grad, tt.grad.numpy(), rtol=1e-12, atol=1e-12)
    (only,) = ag.tensor(x, requires_grad=True).chunk(1, dim=0)  # a one-output node still gets an array back
    assert only.shape == (3, 4, 6)
    assert ag.gradcheck(lambda z: z.chunk(1, 2)[0] * 1.5, ag.tensor(x[:2, :2, :2].copy(), requires_grad=True))
    assert ag.gradcheck(lambda z: z.unbind(-1)[1].exp(), ag.tensor(x[:2, :3, :3].copy(), requires_grad=True))
    import pytest

    with pytest.raises(ValueError, match="chunk: chunks must be a positive integer dividing dim 2 of length 6"):
        t.chunk(4, dim=2)
