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
# # 4. A conv net on CIFAR-10, and the filters it learns
#
# CS231n's `ThreeLayerConvNet`: conv 7x7 (32 filters) - ReLU - 2x2 max pool - affine 100 - ReLU - affine 10, on
# CIFAR-10 images (here the JPEG re-encoding in `$NNLAB_DATA/cifar10`). A small subset and two epochs keep the
# page quick; set `FULL = True` (or `NNLAB_TUTORIAL_FULL=1`) for 49,000 training images (`nnlab train
# cifar10-convnet` reaches about 0.47 validation accuracy after one epoch).

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import nnlab
from nnlab.data import CIFAR10_CLASSES, load_cifar10
from nnlab.models import ThreeLayerConvNet
from nnlab.viz import visualize_grid

FULL = os.environ.get("NNLAB_TUTORIAL_FULL") == "1"
if FULL:
    data = load_cifar10(num_training=49000, num_validation=1000, num_test=1000)
else:  # at most 300 images per class and split, decoded once and cached outside the data folder
    data = load_cifar10(limit=300, num_training=2500, num_validation=500, num_test=1000)
print({k: v.shape for k, v in data.items()})

# %%
pixels = load_cifar10(limit=300, num_training=16, num_validation=0, num_test=0, subtract_mean=False)
fig, axes = plt.subplots(2, 8, figsize=(10, 3))
for ax, img, label in zip(axes.ravel(), pixels["X_train"], pixels["y_train"]):
    ax.imshow(img.transpose(1, 2, 0).astype("uint8"))
    ax.set_title(CIFAR10_CLASSES[label], fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Training
#
# The convolution picks its algorithm per shape (`choose_conv_algo`): a 7x7 layer on 3 channels runs as MEC, a
# lowered input 7x smaller than im2col's matrix.

# %%
np.random.seed(0)
model = ThreeLayerConvNet(num_filters=32, filter_size=7, hidden_dim=100, weight_scale=1e-3, reg=1e-3,
                          dtype=np.float32)
solver = nnlab.Solver(model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                      num_epochs=5 if FULL else 2, batch_size=50, verbose=False, progress=False)
solver.train()
test_acc = solver.check_accuracy(data["X_test"], data["y_test"])
print(f"best val {solver.best_val_acc:.3f}, test {test_acc:.3f} (chance 0.100)")
assert test_acc > 0.2

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(solver.loss_history, lw=0.6)
ax.set_xlabel("iteration")
ax.set_ylabel("loss")
plt.show()

# %% [markdown]
# ## The learned first-layer filters
#
# `visualize_grid` tiles the 32 filters of shape 3x7x7; after a little training they are colour blobs and
# oriented edges, as in the CS231n notebook.

# %%
W1 = model.params["W1"].transpose(0, 2, 3, 1)  # (F, C, HH, WW) -> (F, HH, WW, C)
grid = visualize_grid(W1)
fig, ax = plt.subplots(figsize=(5, 5))
ax.imshow(grid.astype("uint8"))
ax.axis("off")
ax.set_title("conv1 filters")
plt.show()
