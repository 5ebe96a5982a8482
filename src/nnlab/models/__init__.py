"""Ready models with the CS231n contract: ``model.params`` (dict of arrays) and ``model.loss(X, y=None)``.

``loss(X)`` returns class scores (N, C); ``loss(X, y)`` returns ``(loss, grads)`` with ``grads`` keyed like
``params``. That is all the Solver needs. Models with state that is not trained (batch-norm running statistics)
also expose ``buffer_arrays()`` / ``load_buffer_arrays()``.
"""

from .char_rnn import *  # noqa: F401,F403
from .classifier import *  # noqa: F401,F403
from .cnn import *  # noqa: F401,F403
from .fc_net import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
from .resnet import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403
