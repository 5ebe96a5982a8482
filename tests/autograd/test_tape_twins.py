"""Forward-only twins (nnlab.models.tape_twins) give the hand-written models' loss and every gradient from the
same weights: the tape's backward runs the same kernels' backwards (float64, <= 1e-12 relative)."""

import numpy as np
import pytest

from nnlab import autograd as ag
from nnlab.models.classifier import Classifier
from nnlab.models.resnet import resnet_fast
from nnlab.models.transformer import CharTransformer

twins = pytest.importorskip("nnlab.models.tape_twins")
F = pytest.importorskip("nnlab.functional")


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _resnet_pair(**kw):
    hand = resnet_fast(widths=(8, 16), residual=(True, False), seed=3, dtype=np.float64, **kw)
    tape = twins.ResNetFastTape(widths=(8, 16), residual=(True, False), seed=3, dtype=np.float64, **kw)
    assert list(tape.state_dict()) == list(hand.state_dict())
    for k, v in hand.state_dict().items():
        np.testing.assert_array_equal(tape.state_dict()[k], v)
    return hand, tape


def test_resnet_fast_twin_matches_hand_written_loss_gradients_and_running_stats():
    hand, tape = _resnet_pair()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3, 32, 32))
    y = rng.integers(0, 10, size=6)
    loss_h, grads_h = Classifier(hand).loss(X, y)
    scores = tape(ag.tensor(X))
    loss_t = F.cross_entropy(scores, y)
    loss_t.backward()
    assert rel(loss_t.item(), loss_h) <= 1e-12
    named = dict(tape.named_parameter_tensors())
    assert sorted(named) == sorted(grads_h)
    for name, g in grads_h.items():
        assert rel(named[name].grad, g) <= 1e-12, name
    tape_buffers = dict(tape.named_buffers())
    for name, buf in hand.named_buffers():  # batch-norm running means moved the same way
        if name.endswith("running_mean"):
            assert rel(tape_buffers[name], buf) <= 1e-12, name
    # running_var: F.batch_norm follows torch (unbiased batch variance, factor n/(n-1)), nn.BatchNorm2d the
    # biased one (DESIGN.md); from running_var = 1 and momentum m: var = (hand - (1 - m)) / m
    m, n = 0.1, 6 * 32 * 32
    var = (hand.stem.bn.running_var - (1 - m)) / m
    assert rel(tape_buffers["stem.bn.running_var"], (1 - m) + m * var * n / (n - 1)) <= 1e-12


def test_resnet_fast_twin_trains_through_classifier_like_the_hand_written_model():
    hand, tape = _resnet_pair(head_pool="avg")
    rng = np.random.default_rng(1)
    X = rng.standard_normal((4, 3, 32, 32))
    y = rng.integers(0, 10, size=4)
    loss_h, grads_h = Classifier(hand, reg=1e-3).loss(X, y)
    loss_t, grads_t = Classifier(tape, reg=1e-3).loss(X, y)  # the array contract, answered by the tape
    assert rel(loss_t, loss_h) <= 1e-12
    for name, g in grads_h.items():
        assert rel(grads_t[name], g) <= 1e-12, name


@pytest.mark.parametrize("tie_weights,norm_first", [(False, True), (True, True), (False, False)])
def test_char_transformer_twin_matches_hand_written(tie_weights, norm_first):
    kw = dict(d_model=16, nhead=2, num_layers=2, dim_feedforward=24, max_len=10, dropout=0.0,
              tie_weights=tie_weights, norm_first=norm_first, seed=5, dtype=np.float64)
    hand = CharTransformer(13, **kw)
    tape = twins.CharTransformerTape(13, **kw)
    assert list(tape.state_dict()) == list(hand.state_dict())
    rng = np.random.default_rng(2)
    for _, p in hand.named_parameters():  # off the init (unit norms, zero biases) so every gradient is exercised
        p[...] = p + 0.1 * rng.standard_normal(p.shape)
    tape.load_state_dict(hand.state_dict())
    X = rng.integers(0, 13, size=(3, 7))
    y = rng.integers(0, 13, size=(3, 7))
    loss_h, grads_h = hand.loss(X, y)
    loss_t, grads_t = tape.loss(X, y)
    assert rel(loss_t, loss_h) <= 1e-12
    assert sorted(grads_t) == sorted(grads_h)
    for name, g in grads_h.items():
        assert rel(grads_t[name], g) <= 1e-12, name
    np.testing.assert_allclose(tape.loss(X), hand.loss(X), rtol=1e-12, atol=1e-12)  # last-position scores
