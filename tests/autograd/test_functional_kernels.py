"""No gradient written twice: every ``nnlab.functional`` node's backward is a ``*_backward`` kernel of
``nnlab.layers`` (or, for a loss kernel that returns its gradient with the loss, that gradient scaled by the
upstream one), checked on the source with ``ast`` and on the recorded graphs."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import nnlab.functional as NF
import nnlab.layers as L
from nnlab.autograd import tensor
from nnlab.autograd.engine import topological_order

from .functional_cases import CASE_IDS, CASES, flat

SRC = Path(NF.__file__).parent
MODULES = sorted(p for p in SRC.glob("*.py") if p.name != "__init__.py")
LOSS_WITH_GRADIENT = {"softmax_loss", "mse_loss"}  # kernels returning (loss, dloss/dinput) at once


def _is_backward_kernel(name: str) -> bool:
    return "_backward" in name and callable(getattr(L, name, None))


def _trees():
    return {p.name: ast.parse(p.read_text()) for p in MODULES}


def _layer_aliases(tree: ast.Module) -> set[str]:
    """Names under which a module imports ``nnlab.layers`` submodules (``from ..layers import x as y``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "layers" and node.level == 2:
            names |= {a.asname or a.name for a in node.names}
    return names


def _bwd_functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.endswith("_bwd")}


def _kernel_calls(fn: ast.FunctionDef, aliases: set[str]) -> list[str]:
    """Names of the ``nnlab.layers`` functions ``fn`` calls as ``alias.name(...)``."""
    return [c.func.attr for c in ast.walk(fn) if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
            and isinstance(c.func.value, ast.Name) and c.func.value.id in aliases]


def test_every_module_has_node_backwards():
    trees = _trees()
    assert {"activation.py", "layer.py", "loss.py", "normalization.py", "recurrent.py"} <= set(trees)
    assert sum(len(_bwd_functions(t)) for t in trees.values()) >= 12


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_node_backwards_call_kernels_and_do_no_arithmetic(path):
    tree = ast.parse(path.read_text())
    aliases = _layer_aliases(tree)
    for name, fn in _bwd_functions(tree).items():
        arithmetic = [n for n in ast.walk(fn) if isinstance(n, (ast.BinOp, ast.AugAssign))
                      or (isinstance(n, ast.UnaryOp) and not isinstance(n.op, ast.Not)
                          and not isinstance(n.operand, ast.Constant))]  # -1 in reshape(-1, ...) is no math
        if name == "_scaled_dx_bwd":  # (loss, dx) kernels: dx times the upstream gradient, nothing else
            (binop,) = arithmetic
            args = [a.arg for a in fn.args.args]
            assert isinstance(binop, ast.BinOp) and isinstance(binop.op, ast.Mult)
            assert {binop.left.id, binop.right.id} == {args[0], args[1]}
            continue
        assert not arithmetic, f"{path.name}:{name} does arithmetic on gradients (line {arithmetic[0].lineno})"
        calls = _kernel_calls(fn, aliases)
        if name == "elementwise_bwd":  # unary_backward's closure: calls the kernel it was made for
            assert any(isinstance(c.func, ast.Name) and c.func.id == "kernel" for c in ast.walk(fn)
                       if isinstance(c, ast.Call))
            continue
        kernels = [c for c in calls if _is_backward_kernel(c)]
        assert kernels, f"{path.name}:{name} calls no *_backward kernel of nnlab.layers (calls {calls})"
        others = [c for c in calls if not _is_backward_kernel(c) and not c.endswith("_weights_to_torch")]
        assert not others, f"{path.name}:{name} calls {others} besides its kernel"
        # no array math of its own either: no numpy / xp calls
        assert not [c for c in ast.walk(fn) if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
                    and isinstance(c.func.value, ast.Name) and c.func.value.id in ("np", "xp")]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_every_record_names_a_backward_kernel_and_a_node_backward(path):
    tree = ast.parse(path.read_text())
    aliases = _layer_aliases(tree)
    made = {t.id for n in ast.walk(tree) if isinstance(n, ast.Assign)
            and isinstance(n.value, (ast.Call, ast.DictComp)) and "unary_backward" in ast.unparse(n.value)
            for t in n.targets if isinstance(t, ast.Name)}
    records = [c for c in ast.walk(tree) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)
               and c.func.id == "record"]
    if path.name == "_common.py":
        assert not records
        return
    assert records
    # activation.py's _elementwise(name, fwd, bwd, ...) records with its argument bwd: check every call's
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "_elementwise":
            k = call.args[2]
            assert isinstance(k, ast.Attribute) and k.value.id in aliases and _is_backward_kernel(k.attr)
    for call in records:
        kernel, backward = call.args[1], call.args[4]
        if isinstance(kernel, ast.Name) and kernel.id == "bwd" and isinstance(backward, ast.Subscript):
            continue  # inside _elementwise, checked above
        branches = [kernel.body, kernel.orelse] if isinstance(kernel, ast.IfExp) else [kernel]
        for k in branches:
            assert isinstance(k, ast.Attribute) and k.value.id in aliases, ast.unparse(k)
            assert _is_backward_kernel(k.attr) or k.attr in LOSS_WITH_GRADIENT, ast.unparse(k)
        target = backward.value.id if isinstance(backward, ast.Subscript) else backward.id
        assert target.endswith("_bwd") or target in made, f"line {call.lineno}: backward {ast.unparse(backward)}"


def _kernel_of(node) -> tuple[str, str]:
    """(module, name) of a node's backward kernel (``Node.kernel`` is the function, or its dotted name)."""
    k = node.kernel
    if callable(k):
        assert getattr(L, k.__name__) is k, f"{k} is not a kernel of nnlab.layers"
        return k.__module__.replace("nnlab.layers.", "layers."), k.__name__
    module, _, name = k.rpartition(".")
    return module, name


def test_recorded_graphs_use_kernels_and_cover_every_functional_op():
    seen = set()
    for case in CASES:
        diff, const = case.make(np.random.default_rng(0))
        outs = flat(case.call(NF, const, *[tensor(a, requires_grad=True) for a in diff]))
        for node in topological_order([o.grad_fn for o in outs if o.grad_fn is not None]):
            seen.add(node.name)
            if node.name == "getitem":  # h_n = output[:, -1] of the recurrent ops
                continue
            assert node.name in NF.__all__, node.name
            module, kernel = _kernel_of(node)
            assert module.startswith("layers."), node.kernel
            assert _is_backward_kernel(kernel) or kernel in LOSS_WITH_GRADIENT, node.kernel
    assert set(NF.__all__) <= seen, f"ops without a case: {sorted(set(NF.__all__) - seen)}"


@pytest.mark.parametrize("case", [c for c in CASES if c.id in ("rnn", "lstm", "gru")], ids=lambda c: c.id)
def test_recurrent_ops_are_one_node_per_sequence(case):
    diff, const = case.make(np.random.default_rng(0))
    output = flat(case.call(NF, const, *[tensor(a, requires_grad=True) for a in diff]))[0]
    assert [n.name for n in topological_order([output.grad_fn])] == [case.id]


def test_conv2d_skips_the_input_gradient_when_the_input_needs_none(monkeypatch):
    from nnlab.functional import layer

    calls = []
    real = layer.cv.conv_backward_fast
    monkeypatch.setattr(layer.cv, "conv_backward_fast",
                        lambda g, c, need_dx=True: calls.append(need_dx) or real(g, c, need_dx=need_dx))
    rng = np.random.default_rng(0)
    w = tensor(rng.standard_normal((2, 3, 3, 3)), requires_grad=True)
    NF.conv2d(rng.standard_normal((2, 3, 5, 5)), w).sum().backward()
    NF.conv2d(tensor(rng.standard_normal((2, 3, 5, 5)), requires_grad=True), w).sum().backward()
    assert calls == [False, True]


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_no_node_under_no_grad(case):
    from nnlab.autograd import no_grad

    diff, const = case.make(np.random.default_rng(0))
    with no_grad():
        outs = flat(case.call(NF, const, *[tensor(a, requires_grad=True) for a in diff]))
    assert all(o.grad_fn is None and not o.requires_grad for o in outs)
