# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. A layer, its backward, and a gradient check
#
# Every layer in nnlab is a pair of functions: `*_forward(x, ...) -> (out, cache)` and
# `*_backward(dout, cache) -> grads`. Here we take the affine layer and the softmax loss, derive their
# backward passes, and check them against centered finite differences, as the CS231n assignments do.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from nnlab.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from nnlab.layers import affine_backward, affine_forward, softmax_loss

FULL = os.environ.get("NNLAB_TUTORIAL_FULL") == "1"  # nothing to scale up here: the checks are already exact
rng = np.random.default_rng(231)

# %% [markdown]
# ## The affine layer
#
# $\text{out} = x W + b$ for $x \in \mathbb{R}^{N\times D}$, $W \in \mathbb{R}^{D\times M}$. With upstream
# gradient $G = \partial L/\partial\,\text{out}$ the chain rule gives
#
# $$\frac{\partial L}{\partial x} = G W^\top,\qquad \frac{\partial L}{\partial W} = x^\top G,\qquad
# \frac{\partial L}{\partial b} = \textstyle\sum_n G_n .$$

# %%
x = rng.normal(size=(10, 6))
w = rng.normal(size=(6, 5))
b = rng.normal(size=5)
out, cache = affine_forward(x, w, b)
dout = rng.normal(size=out.shape)
dx, dw, db = affine_backward(dout, cache)

dx_num = eval_numerical_gradient_array(lambda v: affine_forward(v, w, b)[0], x, dout)
dw_num = eval_numerical_gradient_array(lambda v: affine_forward(x, v, b)[0], w, dout)
db_num = eval_numerical_gradient_array(lambda v: affine_forward(x, w, v)[0], b, dout)
errors = {"dx": rel_error(dx, dx_num), "dw": rel_error(dw, dw_num), "db": rel_error(db, db_num)}
for name, err in errors.items():
    print(f"{name}: relative error {err:.2e}")
assert max(errors.values()) < 1e-7

# %% [markdown]
# ## The softmax loss
#
# For scores $s$ and labels $y$, $L = \frac1N\sum_n \bigl(-s_{n,y_n} + \log\sum_j e^{s_{n,j}}\bigr)$ and
# $\partial L/\partial s = (\text{softmax}(s) - \text{onehot}(y))/N$. `softmax_loss` returns the loss and
# that gradient at once; the numerical gradient of the scalar loss confirms it.

# %%
scores = rng.normal(size=(8, 10))
y = rng.integers(0, 10, size=8)
loss, dscores = softmax_loss(scores, y)
dscores_num = eval_numerical_gradient(lambda s: softmax_loss(s, y)[0], scores, verbose=False)
print(f"loss {loss:.4f} (about log 10 = {np.log(10):.4f} for random scores)")
print(f"dscores relative error {rel_error(dscores, dscores_num):.2e}")
assert rel_error(dscores, dscores_num) < 1e-7

# %% [markdown]
# ## Why float64, and which step size
#
# The centered difference has truncation error $O(h^2)$ and rounding error $O(\epsilon/h)$. Sweeping $h$ shows
# the valley where both are small, and why float32 cannot check gradients to 1e-7.

# %%
hs = np.logspace(-10, -1, 19)
curves = {}
for dtype in (np.float64, np.float32):
    xs = x.astype(dtype)
    ws, bs, douts = w.astype(dtype), b.astype(dtype), dout.astype(dtype)
    exact = affine_backward(douts.astype(np.float64), (xs.astype(np.float64), ws.astype(np.float64), bs))[0]
    errs = []
    for h in hs:
        num = np.zeros_like(xs, dtype=np.float64)
        for i in np.ndindex(xs.shape):
            old = xs[i]
            xs[i] = old + dtype(h)
            plus = np.sum(affine_forward(xs, ws, bs)[0] * douts, dtype=np.float64)
            xs[i] = old - dtype(h)
            minus = np.sum(affine_forward(xs, ws, bs)[0] * douts, dtype=np.float64)
            xs[i] = old
            num[i] = (plus - minus) / (2 * h)
        errs.append(rel_error(exact, num))
    curves[np.dtype(dtype).name] = errs

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, errs in curves.items():
    ax.loglog(hs, errs, marker="o", label=name)
ax.axhline(1e-7, color="grey", ls="--", lw=1)
ax.set_xlabel("step h")
ax.set_ylabel("relative error of dx")
ax.set_title("Centered differences: float64 reaches 1e-7, float32 does not")
ax.legend()
plt.show()
print(f"best float64 error {min(curves['float64']):.1e}, best float32 error {min(curves['float32']):.1e}")
