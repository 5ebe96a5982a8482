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
# # 5. A character model of Macbeth, and sampling from it
#
# Seed 003's next-character model: windows of 30 characters of the play, an embedding of 256, an LSTM of 128
# units, a softmax over the 37 characters, RMSprop. `nnlab train macbeth-lstm` trains it for 10 epochs on all
# 102,077 windows (final loss 1.4078 against the seed's 1.4117, see the results page); here a slice of the text
# and two epochs of a smaller model (embedding and LSTM of 64) keep the page quick. `FULL = True` (or
# `NNLAB_TUTORIAL_FULL=1`) trains the seed's model on every window.

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

import nnlab
from nnlab.data.text import load_macbeth
from nnlab.generate import generate
from nnlab.models import CharRNN

FULL = os.environ.get("NNLAB_TUTORIAL_FULL") == "1"
text = load_macbeth(sequence_len=30)
X, y = text["x"], text["y"][:, 0]
n = len(X) if FULL else 2500
data = {"X_train": X[:n], "y_train": y[:n], "X_val": X[n:n + 500], "y_val": y[n:n + 500]}
print(f"{len(X)} windows, vocabulary of {text['vocab_size']}: {''.join(text['vocab'])!r}")
print("a window:", repr("".join(text["indices_char"][i] for i in X[100])), "->", repr(text["indices_char"][y[100]]))

# %% [markdown]
# ## Training
#
# The loss starts near $\log 37 = 3.61$ (a uniform guess) and falls as the model learns which characters follow
# which.

# %%
model = CharRNN(text["vocab_size"], embedding_dim=256 if FULL else 64, hidden_size=128 if FULL else 64,
                cell="lstm", seed=1, vocab="".join(text["vocab"]))
solver = nnlab.Solver(model, data, update_rule="rmsprop",
                      optim_config={"learning_rate": 1e-3, "decay_rate": 0.99, "epsilon": 1e-8},
                      num_epochs=10 if FULL else 2, batch_size=64, batch_order="shuffle",
                      num_train_samples=1000, verbose=False, progress=False)
solver.train()
print(f"first loss {solver.loss_history[0]:.3f}, last {np.mean(solver.loss_history[-20:]):.3f} "
      f"(uniform {np.log(text['vocab_size']):.3f})")
assert np.mean(solver.loss_history[-20:]) < np.log(text["vocab_size"])

# %%
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(solver.loss_history, lw=0.6)
ax.axhline(np.log(text["vocab_size"]), color="grey", ls="--", lw=1, label="uniform guess")
ax.set_xlabel("iteration")
ax.set_ylabel("cross-entropy (nats per character)")
ax.legend()
plt.show()

# %% [markdown]
# ## Sampling
#
# `generate` feeds the last 30 characters, draws the next one from $\text{softmax}(s / T)$ and slides the window.
# Lower temperatures are more conservative; after this short training the words are still half-formed.

# %%
for temperature in (0.5, 1.0):
    out = generate(model, "and tartars lips, finger of bi", length=120, temperature=temperature, seed=0)
    print(f"T={temperature}: {out!r}\n")
