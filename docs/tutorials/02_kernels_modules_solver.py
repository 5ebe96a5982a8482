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
# # 2. Kernels and modules, and training digits with the Solver
#
# The same two-layer network written three ways (kernel calls by hand, `nn` modules, a ready model), shown to
# agree, then trained on scikit-learn's bundled 8x8 digits with `nnlab.Solver`.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import nnlab
from nnlab import nn
from nnlab.data import load_digits
from nnlab.layers import affine_backward, affine_forward, relu_backward, relu_forward, softmax_loss
from nnlab.models import Classifier, FullyConnectedNet

FULL = os.environ.get("NNLAB_TUTORIAL_FULL") == "1"
EPOCHS = 30 if FULL else 8
data = load_digits()
print({k: v.shape for k, v in data.items()})

# %% [markdown]
# ## By hand, with kernels
#
# `affine -> relu -> affine -> softmax loss`, forward then backward: each backward consumes its own cache.

# %%
np.random.seed(0)
D, H, C = 64, 50, 10
W1, b1 = np.random.randn(D, H) * 0.1, np.zeros(H)
W2, b2 = np.random.randn(H, C) * 0.1, np.zeros(C)
X, y = data["X_train"][:32].astype(np.float64), data["y_train"][:32]

h, c1 = affine_forward(X, W1, b1)
a, c2 = relu_forward(h)
scores, c3 = affine_forward(a, W2, b2)
loss, dscores = softmax_loss(scores, y)
da, dW2, db2 = affine_backward(dscores, c3)
dW1, db1 = affine_backward(relu_backward(da, c2), c1)[1:]
print(f"loss by hand {loss:.6f}")

# %% [markdown]
# ## With modules
#
# `nn.Linear` stores its weight as torch does, `(out_features, in_features)`; `Classifier` puts any module under
# the model contract (`params`, `loss(X, y)`), with the same softmax loss.

# %%
net = nn.Sequential(nn.Linear(D, H), nn.ReLU(), nn.Linear(H, C)).to(np.float64)
state = {"0.weight": W1.T, "0.bias": b1, "2.weight": W2.T, "2.bias": b2}
net.load_state_dict(state)
model = Classifier(net)
loss_mod, grads = model.loss(X, y)
print(f"loss with modules {loss_mod:.6f}")
print("max |dW1 difference|:", np.abs(grads["0.weight"].T - dW1).max())
assert abs(loss_mod - loss) < 1e-12 and np.allclose(grads["0.weight"].T, dW1, atol=1e-12)

# %% [markdown]
# ## Training with the Solver
#
# The Solver needs only `model.params` and `model.loss`. `FullyConnectedNet` is the CS231n model; here with
# batch norm and Adam.

# %%
np.random.seed(0)
model = FullyConnectedNet([128, 64], input_dim=64, num_classes=10, normalization="batchnorm",
                          dtype=np.float32)
solver = nnlab.Solver(model, data, update_rule="adam", optim_config={"learning_rate": 2e-3},
                      lr_decay=0.95, num_epochs=EPOCHS, batch_size=64, verbose=False, progress=False)
solver.train()
test_acc = solver.check_accuracy(data["X_test"], data["y_test"])
print(f"best val {solver.best_val_acc:.3f}, test {test_acc:.3f}")
assert test_acc > 0.9

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.plot(solver.loss_history, lw=0.8)
ax1.set_xlabel("iteration")
ax1.set_ylabel("training loss")
ax2.plot(solver.train_acc_history, marker="o", label="train")
ax2.plot(solver.val_acc_history, marker="o", label="val")
ax2.set_xlabel("epoch")
ax2.set_ylabel("accuracy")
ax2.legend()
fig.suptitle("FullyConnectedNet on the 8x8 digits")
plt.show()
