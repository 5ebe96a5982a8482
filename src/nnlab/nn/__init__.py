"""Object API over the functional kernels (torch.nn-like): ``Module``, layer modules and ``Sequential``.

Modules keep torch's names and parameter shapes (``Linear.weight`` is (out, in), ``Conv2d.weight`` is
(out, in, kh, kw), batch norm has ``running_mean``/``running_var`` buffers), so a ``state_dict`` maps 1:1 onto
the torch twin's. Each module's ``forward`` calls a kernel of :mod:`nnlab.layers`; ``backward(dout)`` returns
``dx`` and stores the parameter gradients (``module.grads``). Wrap a module in
:class:`nnlab.models.classifier.Classifier` to train it with the Solver.
"""

from .activations import *  # noqa: F401,F403
from .attention import *  # noqa: F401,F403
from .containers import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .flatten import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .module import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .parameter import *  # noqa: F401,F403
from .parameter_view import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403
