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
# # 7. Autograd from scratch, and the picture of the graph
#
# `nnlab.autograd` records a tape: each operation on `Tensor`s adds a node whose backward is a hand-written kernel
# (the same `*_backward` functions the layers use), and `backward()` walks the tape in reverse topological order,
# accumulating $\bar x \mathrel{+}= \bar y\,\partial y/\partial x$. This page builds a function, checks its gradient,
# looks at the tape, writes an operation with its own backward, and trains a module that defines only `forward`.

# %%
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import nnlab.functional as F
from nnlab import nn, optim
from nnlab.autograd import Function, gradcheck, no_grad, summary, tensor
from nnlab.data import load_digits
from nnlab.viz import draw_graph

FULL = os.environ.get("NNLAB_TUTORIAL_FULL") == "1"
STEPS = 300 if FULL else 60
rng = np.random.default_rng(0)

# %% [markdown]
# ## A tensor, a function, its gradient
#
# $f(x, w) = \sum \tanh(x w)^2$: `backward()` fills `.grad` of every leaf that requires it.

# %%
x = tensor(rng.normal(size=(4, 3)), requires_grad=True)
w = tensor(rng.normal(size=(3, 2)), requires_grad=True)
f = (F.tanh(x @ w) ** 2).sum()
f.backward()
analytic = 2 * np.tanh(x.data @ w.data) * (1 - np.tanh(x.data @ w.data) ** 2)
print("dL/dw from the tape:\n", w.grad)
print("by hand:\n", x.data.T @ analytic)
assert np.allclose(w.grad, x.data.T @ analytic)

# %% [markdown]
# `gradcheck` compares the tape's Jacobian with central differences, entry by entry (float64):

# %%
print(gradcheck(lambda a, b: (F.tanh(a @ b) ** 2).sum(), (x, w)))

# %% [markdown]
# ## The tape, as a table and as a picture
#
# `summary` lists each node with the kernel its backward calls and the bytes its cache keeps alive for the
# backward; `draw_graph` draws the same graph (Graphviz where installed, matplotlib otherwise).

# %%
h = F.relu(x @ w)
loss = F.cross_entropy(h, np.array([0, 1, 1, 0]))
table = summary(loss)
path = draw_graph(loss, os.path.join(tempfile.mkdtemp(), "graph.png"))
img = plt.imread(path)
fig, ax = plt.subplots(figsize=(7, 7 * img.shape[0] / img.shape[1]))
ax.imshow(img)
ax.axis("off")
plt.show()

# %% [markdown]
# ## An operation with its own backward: `Function`
#
# Subclass `Function` with static `forward(ctx, ...)` and `backward(ctx, grad)`, both on arrays; `ctx` carries
# what the backward needs. Here the softsign $y = x / (1 + |x|)$, $\;dy/dx = 1/(1+|x|)^2$.

# %%
class Softsign(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a / (1 + np.abs(a))

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad / (1 + np.abs(a)) ** 2


z = tensor(rng.normal(size=(5,)), requires_grad=True)
print("gradcheck of Softsign:", gradcheck(lambda t: Softsign.apply(t).sum(), (z,)))

# %% [markdown]
# ## A module that defines only `forward`, trained with an optimizer object
#
# `nn.Parameter`s register by assignment; `forward` uses `nnlab.functional`; no backward is written. The
# optimizer (`nnlab.optim.Adam`, torch's interface over nnlab's update rules) steps `parameter_tensors()`.

# %%
class TinyNet(nn.Module):
    def __init__(self, d_in, hidden, classes):
        super().__init__()
        self.w1 = nn.Parameter(rng.normal(size=(d_in, hidden)) * np.sqrt(2 / d_in))
        self.b1 = nn.Parameter(np.zeros(hidden))
        self.w2 = nn.Parameter(rng.normal(size=(hidden, classes)) * np.sqrt(1 / hidden))
        self.b2 = nn.Parameter(np.zeros(classes))

    def forward(self, inputs):
        return Softsign.apply(inputs @ self.w1 + self.b1) @ self.w2 + self.b2


data = load_digits()
net = TinyNet(64, 64, 10)
opt = optim.Adam(net.parameter_tensors(), lr=1e-2)
Xtr, ytr = tensor(data["X_train"].astype(np.float64)), data["y_train"]
losses = []
for _ in range(STEPS):
    loss = F.cross_entropy(net(Xtr), ytr)
    opt.zero_grad()
    loss.backward()
    opt.step()
    losses.append(loss.item())
with no_grad():
    test_pred = np.argmax(net(tensor(data["X_test"].astype(np.float64))).data, axis=1)
test_acc = float(np.mean(test_pred == data["y_test"]))
print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; test accuracy {test_acc:.3f}")
assert test_acc > 0.85

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(losses)
ax.set_xlabel("step (full batch)")
ax.set_ylabel("cross-entropy")
ax.set_title("A forward-only module trained through the tape")
plt.show()
