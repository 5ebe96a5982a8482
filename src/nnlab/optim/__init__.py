"""``nnlab.optim``: first-order update rules and the optimizer objects built over them.

- :mod:`nnlab.optim.rules`: the CS231n update rules ``rule(w, dw, config) -> (next_w, config)`` (sgd,
  sgd_momentum, sgd_nesterov_momentum, rmsprop, adam, adamw, adamax, adagrad), their key declarations,
  ``check_optim_config``, ``clip_grad_norm``, ``minimize`` and ``gradient_descent``.
- :mod:`nnlab.optim.optimizers`: torch-style objects (``SGD``, ``Adam``, ``AdamW``, ``RMSprop``, ``Adagrad``,
  ``Adamax``) that step :class:`nnlab.autograd.Tensor` parameters by calling those rules.

Every name importable from ``nnlab.optim`` before it became a package still is (including the private checks
that :mod:`nnlab.schedules` reuses).
"""

from .optimizers import SGD, Adagrad, Adam, Adamax, AdamW, Optimizer, RMSprop
from .rules import GD_METHODS as GD_METHODS
from .rules import (
    RULE_KEYS,
    UPDATE_RULES,
    adagrad,
    adam,
    adamax,
    adamw,
    check_optim_config,
    clip_grad_norm,
    get_update_rule,
    gradient_descent,
    minimize,
    rmsprop,
    sgd,
    sgd_momentum,
    sgd_nesterov_momentum,
)
from .rules import UpdateRule as UpdateRule

__all__ = [
    "sgd",
    "sgd_momentum",
    "sgd_nesterov_momentum",
    "rmsprop",
    "adam",
    "adamax",
    "adagrad",
    "adamw",
    "UPDATE_RULES",
    "RULE_KEYS",
    "check_optim_config",
    "get_update_rule",
    "clip_grad_norm",
    "minimize",
    "gradient_descent",
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adamax",
]
