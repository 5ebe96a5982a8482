"""``nnlab.functional``: torch's ``torch.nn.functional`` names, argument order and defaults on nnlab Tensors.

Each operation is ONE node of the tape whose forward calls an existing ``*_forward`` kernel of
:mod:`nnlab.layers` and whose backward calls its ``*_backward`` on the saved cache: no gradient is written a
second time (``tests/autograd/test_functional_kernels.py`` enforces it). The engine passes which input
gradients are needed, so e.g. ``conv2d`` on an input that needs no gradient skips dx.

Arguments may be Tensors, arrays or numbers (an array is a constant). Families:

- :mod:`.activation`: relu, leaky_relu, gelu, silu, elu, selu, softplus, sigmoid, tanh, softsign, hardswish,
  mish, prelu, softmax, log_softmax, dropout
- :mod:`.layer`: linear, conv2d, max_pool2d, avg_pool2d, adaptive_avg_pool2d, embedding,
  scaled_dot_product_attention
- :mod:`.normalization`: batch_norm, layer_norm, group_norm
- :mod:`.loss`: cross_entropy, nll_loss, mse_loss
- :mod:`.recurrent`: rnn, lstm, gru (whole sequences, one node each; layout in that module's docstring)

>>> import nnlab.functional as F
>>> loss = F.cross_entropy(F.linear(F.relu(F.linear(x, w1, b1)), w2, b2), y)
>>> loss.backward()
"""

from . import activation, layer, loss, normalization, recurrent
from .activation import *  # noqa: F401,F403
from .layer import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403

__all__ = [*activation.__all__, *layer.__all__, *normalization.__all__, *loss.__all__, *recurrent.__all__]
