"""Ready models with the CS231n contract: ``model.params`` (dict of arrays) and ``model.loss(X, y=None)``.

``loss(X)`` returns class scores (N, C); ``loss(X, y)`` returns ``(loss, grads)`` with ``grads`` keyed like
``params``. That is all the Solver needs.
"""

from .fc_net import *  # noqa: F401,F403
from .linear import *  # noqa: F401,F403
