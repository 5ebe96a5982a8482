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
# # 6. A kernel SVM, from scratch
#
# Seed 003's kernel section: points that no line separates become separable after a feature map $\phi$, and a
# kernel $k(x, z) = \phi(x)\cdot\phi(z)$ does the same without computing $\phi$. `nnlab.kernels.KernelSVM` is a
# soft-margin SVM trained by SMO (LIBSVM's algorithm), checked against scikit-learn's `SVC`. It solves
#
# $$\min_\alpha \tfrac12 \sum_{i,j} \alpha_i\alpha_j y_i y_j k(x_i, x_j) - \sum_i \alpha_i
# \quad\text{s.t.}\quad 0 \le \alpha_i \le C,\ \sum_i \alpha_i y_i = 0,$$
#
# and predicts $\text{sign}\bigl(\sum_i \alpha_i y_i k(x_i, x) + b\bigr)$.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits, make_circles
from sklearn.svm import SVC

from nnlab.kernels import KernelSVM, example_a, phi_degree2, rbf_kernel

FULL = os.environ.get("NNLAB_TUTORIAL_FULL") == "1"
N_POINTS = 2000 if FULL else 300

# %% [markdown]
# ## A feature map makes a ring separable
#
# The degree-2 map $\phi(x_1, x_2) = (x_1^2, \sqrt2\,x_1x_2, x_2^2)$ on the spec's example A: in the plane one
# class surrounds the other; in $\phi$-space the first coordinate plus the third (the squared radius) separates them.

# %%
Xa, ya = example_a()
Z = np.array([phi_degree2(p) for p in Xa])
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.scatter(Xa[:, 0], Xa[:, 1], c=ya, cmap="coolwarm", edgecolors="k")
ax1.set_title("example A in the plane")
ax2.scatter(Z[:, 0] + Z[:, 2], np.zeros(len(Z)), c=ya, cmap="coolwarm", edgecolors="k")
ax2.set_title(r"$x_1^2 + x_2^2$ from $\phi(x)$: one number separates them")
ax2.set_yticks([])
plt.show()

# %% [markdown]
# ## An RBF kernel SVM, against scikit-learn
#
# $k(x, z) = \exp(-\gamma \lVert x - z \rVert^2)$ on two noisy circles. Same $C$, $\gamma$ and tolerance as
# `SVC`: the support vectors and predictions agree.

# %%
X, y = make_circles(n_samples=N_POINTS, noise=0.1, factor=0.4, random_state=0)
svm = KernelSVM(C=1.0, kernel="rbf", gamma=2.0).fit(X, y)
ref = SVC(C=1.0, kernel="rbf", gamma=2.0).fit(X, y)
agree = np.mean(svm.predict(X) == ref.predict(X))
print(f"support vectors: nnlab {len(svm.support_)}, sklearn {len(ref.support_)}; predictions agree on {agree:.1%}")
print(f"training accuracy {svm.score(X, y):.3f}; intercept nnlab {svm.intercept_[0]:+.4f}, "
      f"sklearn {ref.intercept_[0]:+.4f}")
assert agree > 0.99

# %%
g1, g2 = np.meshgrid(np.linspace(-1.5, 1.5, 200), np.linspace(-1.5, 1.5, 200))
f = svm.decision_function(np.c_[g1.ravel(), g2.ravel()]).reshape(g1.shape)
fig, ax = plt.subplots(figsize=(5.5, 5))
ax.contourf(g1, g2, np.sign(f), alpha=0.2, cmap="coolwarm")
ax.contour(g1, g2, f, levels=[-1, 0, 1], colors="k", linestyles=["--", "-", "--"], linewidths=1)
ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=12)
ax.scatter(*svm.support_vectors_.T, s=60, facecolors="none", edgecolors="k", lw=0.8, label="support vectors")
ax.set_title("RBF kernel SVM: boundary f = 0, margins f = +-1")
ax.legend(loc="lower right")
plt.show()

# %% [markdown]
# ## Digits, one-vs-rest
#
# With more than two classes `KernelSVM` trains one binary problem per class. Trained here on 600 of the 8x8
# digits it lands within a couple of points of `SVC` (which combines its classes one-vs-one); `nnlab train
# svm-kernels` reproduces every figure of the spec's section (one-vs-rest digits 0.993 against SVC's 0.997).

# %%
digits = load_digits()
Xd, yd = digits.data / 16.0, digits.target
n_train = len(yd) if FULL else 600
Xtr, ytr, Xte, yte = Xd[:n_train], yd[:n_train], Xd[1200:], yd[1200:]
K = rbf_kernel(Xtr[:5], Xtr[:5], gamma=0.05)
print("a 5x5 block of the Gram matrix:\n", np.round(K, 3))
digit_svm = KernelSVM(C=10.0, kernel="rbf", gamma=0.05).fit(Xtr, ytr)
ref_digits = SVC(C=10.0, kernel="rbf", gamma=0.05).fit(Xtr, ytr)
print(f"test accuracy: nnlab {digit_svm.score(Xte, yte):.3f}, sklearn {ref_digits.score(Xte, yte):.3f}")
