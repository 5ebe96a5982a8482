"""Autograd: ``Tensor``, the tape, ``Function``, ``grad``, ``gradcheck`` and ``summary``.

Define-by-run, as torch: operations on Tensors that require grad are recorded as they run, and
``loss.backward()`` walks the record backwards. What is nnlab's own: **every node's backward is a hand-written
kernel of** :mod:`nnlab.layers` (``*_backward(dout, cache)`` on the cache its ``*_forward`` returned), the same
function the layer API and the models call, verified numerically and against torch; the tape adds no math.

Semantics as torch's: leaf gradients accumulate until zeroed; a tensor used twice gets the sum; the backward
runs in topological order without recursion; each node's cache is freed after its backward unless
``retain_graph=True``; nothing is recorded under :class:`no_grad`; first-order only.
"""

from .engine import Node, enable_grad, is_grad_enabled, no_grad, set_grad_enabled, sum_to
from .function import Function, FunctionCtx
from .functions import GradcheckError, grad, gradcheck, summary
from .tensor import Tensor, cat, maximum, minimum, record, stack, tensor, where

__all__ = ["Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled", "Function",
           "FunctionCtx", "grad", "gradcheck", "GradcheckError", "summary", "record", "sum_to", "Node", "cat",
           "stack", "where", "maximum", "minimum"]
