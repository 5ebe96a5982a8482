"""CharTransformer: parameter names and shapes, float64 numerical gradients of every parameter (tied and untied,
batch 1), causality, parity of the whole model with a torch twin built from torch modules (loss and every
gradient), training on a toy language, sampling with generate(), and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nnlab.generate import generate
from nnlab.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error
from nnlab.models.transformer import CharTransformer

_WIDE = np.longdouble if np.finfo(np.longdouble).eps < 1e-18 else np.float64
_H = 1e-6 if _WIDE is not np.float64 else 1e-5


def _small(tie: bool = False, **kwargs) -> CharTransformer:
    args = {"d_model": 6, "nhead": 2, "num_layers": 2, "dim_feedforward": 7, "max_len": 6, "dropout": 0.0,
            "tie_weights": tie, "seed": 0, "dtype": np.float64}
    args.update(kwargs)
    model = CharTransformer(9, **args)
    rng = np.random.default_rng(1)
    for _, p in model.named_parameters():  # off the init: unit norms, zero biases and 0.02 embeddings
        p += 0.2 * rng.standard_normal(p.shape)
    return model


def test_char_transformer_names_shapes_and_scores(rng):
    model = CharTransformer(11, d_model=8, nhead=2, num_layers=2, dim_feedforward=16, max_len=10, seed=0)
    names = list(model.params)
    assert names[:2] == ["embedding.weight", "pos_embedding.weight"]
    assert names[2:6] == ["layers.0.self_attn.in_proj_weight", "layers.0.self_attn.in_proj_bias",
                          "layers.0.self_attn.out_proj.weight", "layers.0.self_attn.out_proj.bias"]
    assert names[-4:] == ["norm.weight", "norm.bias", "head.weight", "head.bias"]
    assert model.num_parameters() == sum(p.size for p in model.params.values())
    X = rng.integers(0, 11, (3, 7))
    scores = model.loss(X)
    assert scores.shape == (3, 11) and scores.dtype == np.float32
    assert model.forward(X).shape == (3, 7, 11) and model.training  # loss(X) leaves the mode as it was
    tied = CharTransformer(11, d_model=8, nhead=2, num_layers=1, dim_feedforward=16, max_len=10, tie_weights=True)
    assert "head.weight" not in tied.params and "head.bias" in tied.params


@pytest.mark.parametrize(("tie", "N", "T"), [(False, 2, 5), (True, 2, 5), (False, 1, 1), (True, 1, 6)])
def test_char_transformer_backward_matches_numerical_gradients(rng, tie, N, T):
    model = _small(tie)
    X = rng.integers(0, 9, (N, T))
    dscores = rng.standard_normal((N, T, 9))
    model.forward(X)
    model.backward(dscores)
    grads = dict(model.grads)
    assert sorted(grads) == sorted(model.params)
    model.to(_WIDE)  # numerical references in extended precision (see tests/nn/test_attention_modules.py)
    dwide = dscores.astype(_WIDE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, p in model.named_parameters():
            num = eval_numerical_gradient_array(lambda _: model.forward(X), p, dwide, h=_H).astype(np.float64)
            grad = grads[name]
            if name.endswith("self_attn.in_proj_bias"):  # the key bias cannot move a softmax: gradient exactly 0
                E = grad.shape[0] // 3
                assert np.abs(grad[E:2 * E]).max() < 1e-12
                grad, num = np.delete(grad, np.s_[E:2 * E]), np.delete(num, np.s_[E:2 * E])
            if name == "pos_embedding.weight":  # rows beyond T are unused: exactly 0 on both sides
                assert not grad[T:].any() and not num[T:].any()
                grad, num = grad[:T], num[:T]
            assert rel_error(grad, num) < 1e-7, name


def test_char_transformer_loss_gradient_matches_numerical(rng):
    model = _small()
    X, y = rng.integers(0, 9, (3, 4)), rng.integers(0, 9, (3, 4))
    loss, grads = model.loss(X, y)
    assert 1.0 < loss < 5.0
    for name in ("embedding.weight", "layers.1.linear1.weight", "head.bias"):
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False)
        assert np.abs(num - grads[name]).max() / np.abs(grads[name]).max() < 1e-7, name


def test_char_transformer_is_causal(rng):
    model = _small()
    X = rng.integers(0, 9, (2, 6))
    base = model.forward(X)
    X2 = X.copy()
    X2[:, 3] = (X2[:, 3] + 1) % 9
    changed = model.forward(X2)
    np.testing.assert_array_equal(changed[:, :3], base[:, :3])
    assert not np.allclose(changed[:, 3:], base[:, 3:])


@pytest.mark.parametrize("tie", [False, True])
def test_char_transformer_matches_torch_twin_loss_and_gradients(rng, tie):
    torch = pytest.importorskip("torch")
    from tests.parity.conftest import assert_close

    V, d, heads, ff, L, T = 9, 8, 2, 12, 2, 6
    model = CharTransformer(V, d, heads, L, ff, max_len=T, dropout=0.0, tie_weights=tie, seed=3, dtype=np.float64)
    twin = torch.nn.Module()
    twin.embedding = torch.nn.Embedding(V, d)
    twin.pos_embedding = torch.nn.Module()
    twin.pos_embedding.weight = torch.nn.Parameter(torch.zeros(T, d))
    twin.layers = torch.nn.Sequential(*[torch.nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation="gelu",
                                                                         batch_first=True, norm_first=True)
                                        for _ in range(L)])
    twin.norm = torch.nn.LayerNorm(d)
    twin.head = torch.nn.Linear(d, V)
    twin.double()
    state = {k: torch.from_numpy(v) for k, v in model.state_dict().items()}
    if tie:
        twin.head.weight = twin.embedding.weight
        state["head.weight"] = state["embedding.weight"]
    twin.load_state_dict(state)
    X, y = rng.integers(0, V, (3, T)), rng.integers(0, V, (3, T))
    loss, grads = model.loss(X, y)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    h = twin.embedding(torch.from_numpy(X)) + twin.pos_embedding.weight[:T]
    for layer in twin.layers:
        h = layer(h, src_mask=mask, is_causal=True)
    scores = twin.head(twin.norm(h))
    loss_t = torch.nn.functional.cross_entropy(scores.reshape(-1, V), torch.from_numpy(y).reshape(-1))
    loss_t.backward()
    assert abs(loss - loss_t.item()) < 1e-12
    for name, p in twin.named_parameters():
        assert_close(name, grads[name], p.grad, np.float64)
    assert sorted(grads) == sorted(n for n, _ in twin.named_parameters())


def test_char_transformer_learns_a_toy_language_and_samples(rng):
    from nnlab.optim import adam

    vocab = "abcde"
    V = len(vocab)
    model = CharTransformer(V, d_model=16, nhead=2, num_layers=1, dim_feedforward=32, max_len=8, dropout=0.0,
                            seed=0, vocab=vocab)
    configs = {k: {"learning_rate": 1e-2} for k in model.params}
    losses = []
    for _ in range(60):  # the next id is (id + 1) mod V
        start = rng.integers(0, V, (32, 1))
        seq = (start + np.arange(9)) % V
        loss, grads = model.loss(seq[:, :-1], seq[:, 1:])
        losses.append(loss)
        for k in list(model.params):
            model.params[k], configs[k] = adam(model.params[k], grads[k], configs[k])
    assert losses[0] > np.log(V) - 0.5 and losses[-1] < 0.1
    assert generate(model, "abcdeabc", length=10, temperature=0.05, seed=0, sequence_len=8) == "deabcdeabc"
    with pytest.raises(ValueError, match="generate: sequence_len=30 is longer than the model's max_len=8"):
        generate(model, "abc", length=3, seed=0)


def test_char_transformer_dropout_is_off_for_scores_and_on_for_training(rng):
    model = CharTransformer(7, d_model=8, nhead=2, num_layers=1, dim_feedforward=8, max_len=5, dropout=0.5, seed=0,
                            dtype=np.float64)
    X, y = rng.integers(0, 7, (4, 5)), rng.integers(0, 7, (4, 5))
    np.testing.assert_array_equal(model.loss(X), model.loss(X))
    assert model.loss(X, y)[0] != model.loss(X, y)[0]
    model.eval()
    assert model.loss(X, y)[0] == model.loss(X, y)[0]


def test_char_transformer_rejects_bad_input(rng):
    with pytest.raises(ValueError, match=r"CharTransformer: d_model \(10\) must be divisible by nhead \(4\)"):
        CharTransformer(5, d_model=10, nhead=4)
    with pytest.raises(ValueError, match="CharTransformer: max_len must be an integer >= 1, got 0"):
        CharTransformer(5, max_len=0)
    with pytest.raises(ValueError, match="vocab has 3 characters but vocab_size=5"):
        CharTransformer(5, vocab="abc")
    model = CharTransformer(5, d_model=8, nhead=2, num_layers=1, dim_feedforward=8, max_len=4, seed=0)
    with pytest.raises(ValueError, match="X has windows of T=5 characters but max_len=4"):
        model.loss(rng.integers(0, 5, (2, 5)))
    with pytest.raises(ValueError, match=r"X must hold token ids in \[0, 5\)"):
        model.loss(np.array([[0, 5]]))
    with pytest.raises(TypeError, match="X must hold integer token ids"):
        model.loss(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"y must have the shape of X \(N, T\) = \(2, 3\), got \(2, 4\)"):
        model.loss(rng.integers(0, 5, (2, 3)), np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(ValueError, match=r"CharTransformer.loss: y must be 2-D \(N, T\), got shape \(2,\)"):
        model.loss(rng.integers(0, 5, (2, 3)), np.zeros(2, dtype=np.int64))
