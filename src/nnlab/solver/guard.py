"""The Solver's divergence rules: when is a training run diverging?

:class:`DivergenceRules` answers two questions, from the numbers alone (the Solver does the stopping and the
restoring of the last good parameters):

- :meth:`~DivergenceRules.bad_loss`: a loss that is NaN/inf, or a **finite blow-up**: larger than
  ``factor * reference``. For classification (integer labels, C >= 2 classes) the reference is ``ln(C)``, the
  cross-entropy of a uniform guess, which every sane network starts near; so a run whose very first loss is
  already huge (``weight_scale=1e6``: 2.5e12 on the digits) is caught at iteration 1, which a reference taken from
  the run itself could not do. Without integer labels the reference is the mean loss of the first epoch.
  Measured on the digits (``FullyConnectedNet [256, 128]``): healthy runs never exceed 1.2 x ln(10); diverging
  ones reach 1e4 x ln(10) within 1-4 iterations (SGD lr 10 or 1e3, Adam lr 1e3 with batch norm, a convnet with
  lr 1e3), so the default factor 1e3 sits far from both.
- :meth:`~DivergenceRules.val_collapsed`: the validation accuracy fell back to chance (the majority-class rate,
  + 0.01) after having been well above it (at least halfway from chance to 1, and 0.1 above chance).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["DivergenceRules"]


def _host(a: Any) -> np.ndarray:
    return np.asarray(a.get() if hasattr(a, "get") else a)


class DivergenceRules:
    """The rules of the Solver's divergence guard for one data set.

    Inputs: y_train (N,), y_val (N_val,) labels; factor: the blow-up factor (> 1) or None (rule off);
    val_collapse: whether the accuracy-collapse rule is on.
    """

    def __init__(self, y_train: Any, y_val: Any, factor: float | None, val_collapse: bool) -> None:
        self.factor = factor
        self.val_collapse = val_collapse
        self.num_classes: int | None = None
        self.chance: float | None = None
        y_train, y_val = _host(y_train), _host(y_val)
        if (np.issubdtype(y_train.dtype, np.integer) and np.issubdtype(y_val.dtype, np.integer)
                and y_train.size and y_val.size and min(y_train.min(), y_val.min()) >= 0):
            self.num_classes = int(max(y_train.max(), y_val.max())) + 1
            self.chance = float(np.bincount(y_val).max() / len(y_val))

    def ceiling(self, loss_history: Sequence[float], iterations_per_epoch: int) -> tuple[float, str] | None:
        """``(ceiling, how it is made)`` of the blow-up rule, or None while it is undefined (or switched off)."""
        k = self.factor
        if k is None:
            return None
        if self.num_classes is not None and self.num_classes >= 2:
            ref = math.log(self.num_classes)
            return k * ref, f"{k:g} x ln({self.num_classes}) = {k * ref:.4g}, the loss of a uniform guess"
        if len(loss_history) < iterations_per_epoch:
            return None
        ref = float(np.mean(loss_history[:iterations_per_epoch]))
        return k * abs(ref), f"{k:g} x the first epoch's mean loss {ref:.4g}"

    def bad_loss(self, loss: float, loss_history: Sequence[float], iterations_per_epoch: int) -> str | None:
        """Why ``loss`` means divergence, or None when it passes."""
        if not math.isfinite(loss):
            return f"the loss is {'NaN' if math.isnan(loss) else loss}"
        ceiling = self.ceiling(loss_history, iterations_per_epoch)
        if ceiling is not None and loss > ceiling[0]:
            return f"the loss {loss:.4g} exceeds {ceiling[1]}"
        return None

    def val_collapsed(self, val_acc_history: Sequence[float]) -> str | None:
        """Why the last validation accuracy means divergence, or None."""
        if not self.val_collapse or self.chance is None or len(val_acc_history) < 2:
            return None
        chance, best = self.chance, max(val_acc_history[:-1])
        well_above = best - chance >= max(0.5 * (1.0 - chance), 0.1)
        if well_above and val_acc_history[-1] <= chance + 0.01:
            return (f"validation accuracy collapsed to {val_acc_history[-1]:.3f} (chance {chance:.3f}) after "
                    f"reaching {best:.3f}")
        return None
