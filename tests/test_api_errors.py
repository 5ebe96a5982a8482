"""Every public entry point refuses a clearly wrong first argument with an error that names it (issue 22, item 9).

The test walks the public names of the public modules (``__all__`` where a module has one, else every name
not starting with ``_`` that nnlab defines), and for each callable makes one bad call: a string array where
an array is expected, a string where a number or a callable is expected, a number where a path or a name is
expected, zero or a negative number where a size is expected, ``None`` where a value is required. The call
must raise ``TypeError``/``ValueError`` (or one of nnlab's documented error classes) whose message names
the function or class and the argument, as :mod:`nnlab.validation`'s checks do::

    relu_forward: x must have a numeric dtype, got <U1

Backward kernels get a real cache from their forward kernel and a ``dout`` that is not an array. Where a
generic rule does not fit, :data:`OVERRIDES` spells the bad call out; :data:`EXCLUDED` lists, with the
reason, the few callables that have no argument to get wrong.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nnlab.data import DataError

MODULES = ["nnlab.layers", "nnlab.functional", "nnlab.autograd", "nnlab.nn", "nnlab.optim", "nnlab.schedules",
           "nnlab.models", "nnlab.data", "nnlab.kernels", "nnlab.gradcheck", "nnlab.viz", "nnlab.io", "nnlab"]

# The documented error classes a bad argument may raise besides TypeError/ValueError.
ERRORS = (TypeError, ValueError, DataError)

# name -> why it is not walked. Only callables with nothing a caller could get wrong.
EXCLUDED = {
    # no parameters at all: nothing to pass wrongly
    **{n: "takes no arguments" for n in (
        "nnlab.autograd.no_grad", "nnlab.autograd.enable_grad", "nnlab.autograd.is_grad_enabled",
        "nnlab.autograd.Function", "nnlab.nn.Hardsigmoid", "nnlab.nn.Hardswish", "nnlab.nn.Identity",
        "nnlab.nn.Mish", "nnlab.nn.Module", "nnlab.nn.ParamsAttribute", "nnlab.nn.ReLU", "nnlab.nn.SELU",
        "nnlab.nn.SiLU", "nnlab.nn.Sigmoid", "nnlab.nn.Softsign", "nnlab.nn.Tanh", "nnlab.schedules.Schedule",
        "nnlab.data.default_data_dir", "nnlab.kernels.artificial_data", "nnlab.kernels.example_a",
        "nnlab.kernels.example_b", "nnlab.viz.plots_disabled", "nnlab.viz.plots_enabled",
        "nnlab.get_num_threads")},
    # exception classes: any message is a valid message
    "nnlab.autograd.GradcheckError": "an exception class",
    "nnlab.data.DataError": "an exception class",
    "nnlab.data.DataFormatError": "an exception class",
    "nnlab.data.DataNotFoundError": "an exception class",
    # predicates and converters defined for every value
    "nnlab.nn.is_array": "a predicate: answers False for a non-array",
    "nnlab.io.jsonable": "converts any value (a non-JSON one becomes its repr)",
    # plain records (dataclasses / named tuples) that the kernels and the tape build, never a user
    "nnlab.layers.GRUCache": "a record gru_forward builds",
    "nnlab.layers.LSTMCache": "a record lstm_forward builds",
    "nnlab.layers.TokenCache": "a record lstm_forward_tokens / rnn_forward_tokens build",
    "nnlab.nn.IncompatibleKeys": "a record load_state_dict returns",
    "nnlab.autograd.Node": "a record of the tape that record() builds",
    "nnlab.Run": "a record load_run and train build",
}


def _public() -> dict[str, Callable]:
    """``"module.name" -> callable`` for every public callable nnlab defines, first module that lists it."""
    found: dict[str, Callable] = {}
    seen: set[int] = set()
    for modname in MODULES:
        mod = importlib.import_module(modname)
        names = getattr(mod, "__all__", None) or [n for n in dir(mod) if not n.startswith("_")]
        for name in names:
            obj = getattr(mod, name)
            if isinstance(obj, types.ModuleType) or not callable(obj) or id(obj) in seen:
                continue
            if not getattr(obj, "__module__", "").startswith("nnlab"):
                continue  # a re-export of NumPy/typing (e.g. ``Any``): not nnlab's entry point
            seen.add(id(obj))
            found[f"{modname}.{name}"] = obj
    return found


PUBLIC = _public()
R = np.random.default_rng(0)


def r(*shape: int) -> np.ndarray:
    return R.standard_normal(shape)


def s(x: np.ndarray) -> np.ndarray:
    """The same shape as ``x``, holding strings: the wrong dtype at the right shape."""
    return np.full(np.shape(x), "a")


# ---- layers: valid arguments for every forward kernel (the bad call swaps the first for strings) ----------------
N, D, M, C, H, T = 2, 3, 4, 2, 5, 3
CONV = {"stride": 1, "pad": 1}
POOL = {"pool_height": 2, "pool_width": 2, "stride": 2}
FORWARD_ARGS: dict[str, Callable[[], tuple]] = {
    "affine_forward": lambda: (r(N, D), r(D, M), r(M)),
    "affine_relu_forward": lambda: (r(N, D), r(D, M), r(M)),
    "affine_norm_relu_forward": lambda: (r(N, D), r(D, M), r(M), np.ones(M), np.zeros(M), {"mode": "train"}),
    "temporal_affine_forward": lambda: (r(N, T, D), r(D, M), r(M)),
    "batchnorm_forward": lambda: (r(N, D), np.ones(D), np.zeros(D), {"mode": "train"}),
    "layernorm_forward": lambda: (r(N, D), np.ones(D), np.zeros(D), {}),
    "spatial_batchnorm_forward": lambda: (r(N, C, H, H), np.ones(C), np.zeros(C), {"mode": "train"}),
    "spatial_groupnorm_forward": lambda: (r(N, 4, H, H), np.ones((1, 4, 1, 1)), np.zeros((1, 4, 1, 1)), 2, {}),
    "dropout_forward": lambda: (r(N, D), {"mode": "train", "p": 0.5, "seed": 0}),
    "conv_forward_naive": lambda: (r(N, C, H, H), r(3, C, 3, 3), r(3), CONV),
    "conv_forward_fast": lambda: (r(N, C, H, H), r(3, C, 3, 3), r(3), CONV),
    "conv_forward_mec": lambda: (r(N, C, H, H), r(3, C, 3, 3), r(3), CONV),
    "conv_forward_winograd": lambda: (r(N, C, H, H), r(3, C, 3, 3), r(3), CONV),
    "conv_relu_forward": lambda: (r(N, C, H, H), r(3, C, 3, 3), r(3), CONV),
    "conv_relu_pool_forward": lambda: (r(N, C, 4, 4), r(3, C, 3, 3), r(3), CONV, POOL),
    "conv_bn_relu_forward": lambda: (r(N, C, H, H), r(3, C, 3, 3), r(3), np.ones(3), np.zeros(3), CONV,
                                     {"mode": "train"}),
    "max_pool_forward_naive": lambda: (r(N, C, 4, 4), POOL),
    "max_pool_forward_fast": lambda: (r(N, C, 4, 4), POOL),
    "avg_pool_forward": lambda: (r(N, C, 4, 4), POOL),
    "adaptive_avg_pool_forward": lambda: (r(N, C, 4, 4), 2),
    "rnn_step_forward": lambda: (r(N, D), r(N, M), r(D, M), r(M, M), r(M)),
    "rnn_forward": lambda: (r(N, T, D), r(N, M), r(D, M), r(M, M), r(M)),
    "lstm_step_forward": lambda: (r(N, D), r(N, M), r(N, M), r(D, 4 * M), r(M, 4 * M), r(4 * M)),
    "lstm_forward": lambda: (r(N, T, D), r(N, M), r(D, 4 * M), r(M, 4 * M), r(4 * M)),
    "gru_step_forward": lambda: (r(N, D), r(N, M), r(D, 3 * M), r(M, 3 * M), r(3 * M), r(3 * M)),
    "gru_forward": lambda: (r(N, T, D), r(N, M), r(D, 3 * M), r(M, 3 * M), r(3 * M), r(3 * M)),
    "word_embedding_forward": lambda: (np.array([[0, 1], [2, 0]]), r(3, D)),
    # (their own names end in _tokens: the entries give lstm/rnn_backward_tokens their caches)
    "rnn_forward_tokens": lambda: (np.array([[0, 1], [2, 0]]), r(3, D), r(N, M), r(D, M), r(M, M), r(M)),
    "lstm_forward_tokens": lambda: (np.array([[0, 1], [2, 0]]), r(3, D), r(N, M), r(D, 4 * M), r(M, 4 * M),
                                    r(4 * M)),
    "scaled_dot_product_attention_forward": lambda: (r(N, T, D), r(N, T, D), r(N, T, D)),
    "softmax_cross_entropy_forward": lambda: (r(N, D), np.array([0, 2])),
    "nll_loss_forward": lambda: (r(N, D), np.array([0, 2])),
    "mse_loss_forward": lambda: (r(N, D), r(N, D)),
    "prelu_forward": lambda: (r(N, D), np.full(1, 0.25)),
}
# a backward kernel whose forward is not ``name.replace("backward", "forward")``
BACKWARD_OF = {"batchnorm_backward_alt": "batchnorm_forward", "max_pool_backward_naive": "max_pool_forward_naive",
               "max_pool_backward_fast": "max_pool_forward_fast", "lstm_backward_with_state": "lstm_forward",
               "conv_backward_fast": "conv_forward_fast"}


def _layer_case(name: str, fn: Callable) -> tuple[Callable[[], Any], str, str] | None:
    import nnlab.layers as L

    if name.endswith("_forward") or name == "erf":
        args = FORWARD_ARGS.get(name, lambda: (r(N, D),))()
        first = inspect.signature(fn).parameters
        return (lambda: fn(s(args[0]), *args[1:])), name, next(iter(first))
    if "_backward" in name:
        fwd_name = BACKWARD_OF.get(name, name.replace("_backward", "_forward"))
        fwd = getattr(L, fwd_name)
        args = FORWARD_ARGS.get(fwd_name, lambda: (r(N, D),))()
        res = fwd(*args)
        cache = res[-1]
        params = list(inspect.signature(fn).parameters)
        if name == "lstm_step_backward":  # (dnext_h, dnext_c, cache)
            return (lambda: fn("a", res[1], cache)), name, params[0]
        return (lambda: fn("a", cache)), name, params[0]
    return None


def _default_case(qual: str, fn: Callable) -> tuple[Callable[[], Any], str, str]:
    """A bad first argument chosen from the first parameter's annotation; later required ones get ``None``."""
    short = qual.rsplit(".", 1)[1]
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]
    first = params[0]
    ann = str(first.annotation)
    if "PathLike" in ann or "Path" in ann:
        bad: Any = 123
    elif ann.startswith("int") or ann.startswith("Seed") or ann == "float" or ann.startswith("float |") or \
            ann.startswith("float,") or ann.startswith("tuple[float"):
        bad = "a"
    elif ann.startswith("str"):
        bad = 123
    elif "Callable" in ann:
        bad = "a"
    elif ann.startswith("Mapping") or ann.startswith("dict") or ann.startswith("Sequence"):
        bad = 123
    elif ann == "bool":
        bad = "yes"
    else:
        bad = np.array([["a"]])
    rest = [None for p in params[1:] if p.default is p.empty and p.kind != p.VAR_POSITIONAL]
    return (lambda: fn(bad, *rest)), short, first.name


def _functional(name: str, x: np.ndarray, *rest: Any) -> tuple[Callable[[], Any], str, str]:
    """``nnlab.functional.<name>(strings shaped like x, *valid rest)``."""
    import nnlab.functional as F

    return (lambda: getattr(F, name)(s(x), *rest)), name, "input"


def _overrides() -> dict[str, tuple[Callable[[], Any], str, str]]:
    import nnlab.functional as F
    from nnlab import kernels, nn, optim, schedules
    from nnlab.autograd import sum_to, tensor

    return {
        # the other required arguments valid, so that only the first is wrong
        "nnlab.functional.prelu": _functional("prelu", r(N, D), np.full(1, 0.25)),
        "nnlab.functional.linear": _functional("linear", r(N, D), r(M, D)),
        "nnlab.functional.scaled_dot_product_attention": (
            (lambda: F.scaled_dot_product_attention(s(r(N, T, D)), r(N, T, D), r(N, T, D))),
            "scaled_dot_product_attention", "query"),
        "nnlab.functional.batch_norm": _functional("batch_norm", r(N, D), np.zeros(D), np.ones(D)),
        "nnlab.functional.layer_norm": _functional("layer_norm", r(N, D), (D,)),
        "nnlab.functional.group_norm": _functional("group_norm", r(N, 4, 3, 3), 2),
        "nnlab.functional.cross_entropy": _functional("cross_entropy", r(N, D), np.array([0, 2])),
        "nnlab.functional.nll_loss": _functional("nll_loss", r(N, D), np.array([0, 2])),
        "nnlab.functional.mse_loss": _functional("mse_loss", r(N, D), r(N, D)),
        # tensor() is Tensor's factory: the message names the class the user gets, as torch's does
        "nnlab.autograd.tensor": ((lambda: tensor(np.array([["a"]]))), "Tensor", "data"),
        "nnlab.autograd.sum_to": ((lambda: sum_to("a", (1,))), "sum_to", "grad"),
        # variadic containers name the position: "Add: branch '0' must be a Module, got ndarray"
        "nnlab.nn.Add": ((lambda: nn.Add(np.array([["a"]]))), "Add", "branch"),
        "nnlab.nn.Sequential": ((lambda: nn.Sequential(np.array([["a"]]))), "Sequential", "element"),
        "nnlab.optim.clip_grad_norm": ((lambda: optim.clip_grad_norm(np.array([["a"]]), 1.0)), "clip_grad_norm",
                                       "grads"),
        "nnlab.optim.minimize": ((lambda: optim.minimize("a", lambda x: x, np.ones(2))), "minimize", "f"),
        "nnlab.optim.gradient_descent": ((lambda: optim.gradient_descent(s(r(4, 2)), r(4), r(2), 0.1, 1)),
                                         "gradient_descent", "X"),
        "nnlab.optim.Optimizer": ((lambda: optim.Optimizer(np.array([["a"]]), {})), "Optimizer", "params"),
        # check_optim_config reports as the caller it is given (fn="Solver" by default), with the Solver's name
        # for the argument
        "nnlab.optim.check_optim_config": ((lambda: optim.check_optim_config(123, {})), "Solver", "update_rule"),
        "nnlab.kernels.kernel_construction": ((lambda: kernels.kernel_construction(np.array([["a"]]),
                                                                                  kernels.phi_degree2)),
                                              "kernel_construction", "X"),
        "nnlab.schedules.LRScheduler": ((lambda: schedules.LRScheduler("a", False)), "LRScheduler", "base_lr"),
    }


# "module.name" -> (bad call, the function/class name the message must hold, the argument name it must hold)
OVERRIDES: dict[str, tuple[Callable[[], Any], str, str]] = _overrides()


def _cases() -> list[tuple[str, Callable[[], Any], str, str]]:
    cases = []
    for qual, fn in PUBLIC.items():
        if qual in EXCLUDED:
            continue
        if qual in OVERRIDES:
            case = OVERRIDES[qual]
        elif qual.startswith("nnlab.layers."):
            case = _layer_case(qual.rsplit(".", 1)[1], fn) or _default_case(qual, fn)
        else:
            case = _default_case(qual, fn)
        cases.append((qual, *case))
    return cases


def _names(message: str, word: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(word)}(?!\w)", message) is not None


CASES = _cases()


@pytest.mark.parametrize(("qual", "call", "fn_name", "arg"), CASES, ids=[c[0] for c in CASES])
def test_a_wrong_first_argument_is_refused_naming_the_function_and_the_argument(qual, call, fn_name, arg):
    with pytest.raises(ERRORS) as info:
        call()
    message = str(info.value)
    assert _names(message, fn_name) and _names(message, arg), f"{qual}: {type(info.value).__name__}: {message}"
    # Python's own complaint about the call, not a check of nnlab's
    assert "positional argument" not in message and "unexpected keyword" not in message, message


# int-sized first arguments where a negative value is valid
NEGATIVE_OK = {"nnlab.nn.Flatten": "start_dim=-1 counts from the last axis, as torch's"}


def _size_cases() -> list[tuple[str, Callable, str]]:
    cases = []
    for qual, fn in PUBLIC.items():
        if qual in EXCLUDED or qual in NEGATIVE_OK:
            continue
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if params and str(params[0].annotation).startswith("int"):
            cases.append((qual, fn, params[0].name))
    return cases


SIZE_CASES = _size_cases()


@pytest.mark.parametrize("value", [-1, 0])
@pytest.mark.parametrize(("qual", "fn", "arg"), SIZE_CASES, ids=[c[0] for c in SIZE_CASES])
def test_a_negative_or_zero_size_is_refused_naming_the_argument(qual, fn, arg, value):
    """A size (the first parameter typed ``int``) of -1 or 0, the other required arguments valid where a
    later check could get there first (``num_classes=3``)."""
    short = qual.rsplit(".", 1)[1]
    required = [p for p in list(inspect.signature(fn).parameters.values())[1:]
                if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if value == 0 and qual in ("nnlab.data.split_indices",):
        return  # n = 0 rows is a valid (empty) split
    others = {"num_classes": 3} if "num_classes" in inspect.signature(fn).parameters and arg != "num_classes" \
        and not required else {}
    with pytest.raises(ValueError) as info:
        fn(value, *[3] * len(required), **others)
    message = str(info.value)
    assert _names(message, short) and _names(message, arg), f"{qual}: {message}"


def test_the_issue_probes_get_the_named_messages():
    """The calls issue 22 lists, with the exact messages."""
    from nnlab import Solver
    from nnlab.data import load_mnist
    from nnlab.layers import relu_forward
    from nnlab.models import TwoLayerNet

    with pytest.raises(TypeError, match=r"^relu_forward: x must have a numeric dtype, got <U1$"):
        relu_forward(np.array(["a"]))
    with pytest.raises(TypeError, match=r"^load_mnist: path must be a file or folder path \(str or os.PathLike\), "
                                        r"got int 123$"):
        load_mnist(123)
    model = TwoLayerNet(input_dim=4, hidden_dim=3, num_classes=2)
    data = {"X_train": np.zeros((4, 4)), "y_train": np.zeros(4, int), "X_val": np.zeros((2, 4)),
            "y_val": np.zeros(2, int)}
    with pytest.raises(ValueError, match=r'^Solver: Unrecognized arguments "bogus_kw"'):
        Solver(model, data, bogus_kw=1)


def test_numeric_arrays_of_every_kind_still_pass_the_dtype_check():
    """The entry check refuses strings and objects only: bool, int, float and complex arrays reach the kernel."""
    from nnlab.layers import relu_forward
    from nnlab.validation import check_array, check_numeric

    for dtype in (bool, np.int8, np.int64, np.uint8, np.float16, np.float32, np.float64, np.complex128):
        check_array("f", "x", np.zeros(2, dtype), numeric=True)
        check_numeric("f", "x", np.zeros(2, dtype))
    np.testing.assert_array_equal(relu_forward(np.array([-2, 3]))[0], [0, 3])
    for bad in (np.array([b"a"]), np.array([None]), np.array(["1.0"])):
        with pytest.raises(TypeError, match=f"f: x must have a numeric dtype, got {bad.dtype}"):
            check_array("f", "x", bad, numeric=True)
    for bad in ("1.0", None, b"1"):
        with pytest.raises(TypeError, match="f: x must be numbers"):
            check_numeric("f", "x", bad)


def test_the_walk_covers_every_module_and_the_exclusions_are_real_names():
    walked = {q.rsplit(".", 1)[0] for q in PUBLIC}
    assert walked == set(MODULES)
    assert set(EXCLUDED) <= set(PUBLIC), set(EXCLUDED) - set(PUBLIC)
    assert set(OVERRIDES) <= set(PUBLIC), set(OVERRIDES) - set(PUBLIC)
    assert len(PUBLIC) > 300 and len(EXCLUDED) < 0.12 * len(PUBLIC)
