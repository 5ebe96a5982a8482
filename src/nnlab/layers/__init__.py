"""Functional kernels: ``name_forward(x, *params, param_dict) -> (out, cache)`` and
``name_backward(dout, cache) -> dx or (dx, dparam1, ...)``.

Pure functions on any array namespace (NumPy or CuPy, via ``nnlab.backend.xp_of``) that keep the input's
dtype. Nothing in this package imports ``nnlab.nn``, ``nnlab.models`` or ``nnlab.solver``.

Modules: ``affine``, ``activations``, ``losses``, ``dropout``, ``normalization`` (batch/layer/spatial
batch/group norm), ``composite`` (fully-connected sandwich layers), ``conv`` (naive and im2col; picks the
algorithm), ``mec`` and ``winograd`` (the other convolution algorithms), ``pooling``,
``conv_composite`` (convolutional sandwich layers), ``recurrent``, ``gru``, ``torch_convert`` (recurrent
weights to and from torch's layout).
"""

from .activations import *  # noqa: F401,F403
from .affine import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .composite import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .conv_composite import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .gru import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .mec import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403
from .torch_convert import *  # noqa: F401,F403
from .winograd import *  # noqa: F401,F403
