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
# # 3. MNIST, as in the course notebook 001
#
# The seed-001 network: pixels scaled to $[-1, 1]$, fully-connected layers `[784, 100, 100, 10]` with batch norm
# and ReLU, Adam ($\beta_1 = 0.9$, $\beta_2 = 0.99$), batch 64, three epochs. The course reaches 96.64 % test
# accuracy on the full 55,000 training images (`nnlab train mnist-mlp` reproduces it: 96.79 %). Here a subset
# keeps the page quick; set `FULL = True` (or `NNLAB_TUTORIAL_FULL=1`) for the whole set.
#
# The data is read from `$NNLAB_DATA/mnist` (the four official `*-ubyte.gz` files; `nnlab data download mnist`
# fetches them with sha256 checks).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import nnlab
from nnlab.data import load_mnist
from nnlab.models import FullyConnectedNet
from nnlab.recipes.mnist import kaiming_init
from nnlab.schedules import inverse_time_decay
from nnlab.viz import confusion_matrix

FULL = os.environ.get("NNLAB_TUTORIAL_FULL") == "1"
NUM_TRAIN = None if FULL else 6000

data = load_mnist(scale="symmetric", flatten=True, num_validation=5000)
if NUM_TRAIN is not None:
    data["X_train"], data["y_train"] = data["X_train"][:NUM_TRAIN], data["y_train"][:NUM_TRAIN]
    data["X_val"], data["y_val"] = data["X_val"][:1000], data["y_val"][:1000]
for k, v in data.items():
    print(f"{k:8s} {v.shape} {v.dtype}")

# %%
fig, axes = plt.subplots(2, 10, figsize=(10, 2.2))
for ax, img, label in zip(axes.ravel(), data["X_train"][:20], data["y_train"][:20]):
    ax.imshow(img.reshape(28, 28), cmap="gray")
    ax.set_title(str(label), fontsize=9)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## The network and the training loop
#
# `FullyConnectedNet` puts batch norm before each ReLU. The weights are the notebook's
# $W \sim \mathcal{N}(0, 1) \cdot 2/\sqrt{\text{fan\_in}}$ (`kaiming_init`), and the learning rate follows its
# inverse-time decay $\text{lr}_e = \text{lr}_0 / (1 + 0.1\,e)$ at epoch $e$.

# %%
np.random.seed(1)
model = FullyConnectedNet([100, 100], input_dim=784, num_classes=10, normalization="batchnorm", dtype=np.float32)
model.params.update(kaiming_init([784, 100, 100, 10]))
solver = nnlab.Solver(model, data, update_rule="adam",
                      optim_config={"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.99},
                      lr_schedule=inverse_time_decay(1e-3, 0.1), num_epochs=3, batch_size=64,
                      verbose=False, progress=False)
solver.train()
test_acc = solver.check_accuracy(data["X_test"], data["y_test"])
print(f"train {solver.train_acc_history[-1]:.4f}  val {solver.best_val_acc:.4f}  test {test_acc:.4f}")
assert test_acc > (0.96 if FULL else 0.9)

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax1.plot(solver.loss_history, lw=0.6)
ax1.set_xlabel("iteration")
ax1.set_ylabel("loss")
ax2.plot(solver.train_acc_history, marker="o", label="train")
ax2.plot(solver.val_acc_history, marker="o", label="val")
ax2.set_xlabel("epoch (0 = before training)")
ax2.set_ylabel("accuracy")
ax2.legend()
plt.show()

# %% [markdown]
# ## What it gets wrong
#
# The confusion matrix of the test set (rows: true digit, columns: predicted), and a few mistakes.

# %%
pred = np.argmax(model.loss(data["X_test"]), axis=1)
cm = confusion_matrix(data["y_test"], pred, num_classes=10)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [1, 1.2]})
ax1.imshow(cm, cmap="Blues")
ax1.set_xlabel("predicted")
ax1.set_ylabel("true")
ax1.set_xticks(range(10))
ax1.set_yticks(range(10))
wrong = np.flatnonzero(pred != data["y_test"])[:8]
ax2.axis("off")
for i, idx in enumerate(wrong):
    sub = ax2.inset_axes([(i % 4) * 0.25, 0.5 - (i // 4) * 0.5, 0.23, 0.45])
    sub.imshow(data["X_test"][idx].reshape(28, 28), cmap="gray")
    sub.set_title(f"{data['y_test'][idx]} -> {pred[idx]}", fontsize=9)
    sub.axis("off")
plt.show()
print(f"{len(np.flatnonzero(pred != data['y_test']))} of {len(pred)} test digits misclassified")
