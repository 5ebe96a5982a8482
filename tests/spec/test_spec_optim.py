"""Values printed in the spec for the update rules (seed 004 §6.4, seed 002.D), seed 000's adam_optimizer and
gradient_descent, and seed 001's inverse-time learning-rate decay."""

from __future__ import annotations

import numpy as np
import pytest

from nnlab.gradcheck import rel_error
from nnlab.optim import adam, gradient_descent, minimize, rmsprop, sgd_momentum, sgd_nesterov_momentum
from nnlab.schedules import inverse_time_decay

N, D = 4, 5


@pytest.fixture
def w_dw_v():
    """The shared CS231n fixture: ``w``, ``dw`` and a state array from ``np.linspace``."""
    w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
    dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
    v = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
    return w, dw, v


EXPECTED_MOMENTUM_VELOCITY = np.asarray([
    [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
    [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
    [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
    [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096]])


def test_sgd_momentum_next_w_and_velocity_match_spec(w_dw_v):
    w, dw, v = w_dw_v
    config = {"learning_rate": 1e-3, "velocity": v}
    next_w, _ = sgd_momentum(w, dw, config=config)
    expected_next_w = np.asarray([
        [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
        [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
        [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
        [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096]])
    assert rel_error(next_w, expected_next_w) < 1e-8
    assert rel_error(EXPECTED_MOMENTUM_VELOCITY, config["velocity"]) < 1e-8
    # the printed errors of the notebook, reproduced to 3 digits
    assert rel_error(next_w, expected_next_w) == pytest.approx(8.882347033505819e-09, rel=1e-3)
    assert rel_error(EXPECTED_MOMENTUM_VELOCITY, config["velocity"]) == pytest.approx(4.269287743278663e-09,
                                                                                       rel=1e-3)


def test_sgd_nesterov_momentum_next_w_and_velocity_match_spec(w_dw_v):
    w, dw, v = w_dw_v
    config = {"learning_rate": 1e-3, "velocity": v}
    next_w, _ = sgd_nesterov_momentum(w, dw, config=config)
    expected_next_w = np.asarray([
        [0.08714, 0.15246105, 0.21778211, 0.28310316, 0.34842421],
        [0.41374526, 0.47906632, 0.54438737, 0.60970842, 0.67502947],
        [0.74035053, 0.80567158, 0.87099263, 0.93631368, 1.00163474],
        [1.06695579, 1.13227684, 1.19759789, 1.26291895, 1.32824]])
    assert rel_error(next_w, expected_next_w) == pytest.approx(1.0875186845081027e-08, rel=1e-3)
    assert rel_error(EXPECTED_MOMENTUM_VELOCITY, config["velocity"]) < 1e-8


def test_rmsprop_next_w_and_cache_match_spec(w_dw_v):
    w, dw, cache = w_dw_v
    config = {"learning_rate": 1e-2, "cache": cache}
    next_w, _ = rmsprop(w, dw, config=config)
    expected_next_w = np.asarray([
        [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
        [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
        [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
        [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619]])
    expected_cache = np.asarray([
        [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
        [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
        [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
        [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926]])
    assert rel_error(next_w, expected_next_w) < 1e-6
    assert rel_error(expected_cache, config["cache"]) < 1e-8
    assert rel_error(next_w, expected_next_w) == pytest.approx(9.524687511038133e-08, rel=1e-3)
    assert rel_error(expected_cache, config["cache"]) == pytest.approx(2.6477955807156126e-09, rel=1e-3)


def test_adam_next_w_moments_and_step_count_match_spec(w_dw_v):
    w, dw, m = w_dw_v
    v = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)
    config = {"learning_rate": 1e-2, "m": m, "v": v, "t": 5}
    next_w, _ = adam(w, dw, config=config)
    expected_next_w = np.asarray([
        [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
        [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
        [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
        [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459]])
    expected_v = np.asarray([
        [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
        [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
        [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
        [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966]])
    expected_m = np.asarray([
        [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
        [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
        [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
        [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85]])
    assert rel_error(next_w, expected_next_w) < 1e-6
    assert rel_error(expected_v, config["v"]) < 1e-8
    assert rel_error(expected_m, config["m"]) < 1e-8
    assert config["t"] == 6
    assert rel_error(next_w, expected_next_w) == pytest.approx(1.1395691798535431e-07, rel=1e-3)
    assert rel_error(expected_v, config["v"]) == pytest.approx(4.208314038113071e-09, rel=1e-3)
    assert rel_error(expected_m, config["m"]) == pytest.approx(4.214963193114416e-09, rel=1e-3)


def test_adam_without_incrementing_t_first_would_miss_spec(w_dw_v):
    """The spec's remark: bias-correcting with the incoming t=5 instead of 6 gives an error of about 1.5e-3."""
    w, dw, m = w_dw_v
    v = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)
    ours, _ = adam(w, dw, {"learning_rate": 1e-2, "m": m.copy(), "v": v.copy(), "t": 5})
    late, _ = adam(w, dw, {"learning_rate": 1e-2, "m": m.copy(), "v": v.copy(), "t": 4})
    assert rel_error(ours, late) == pytest.approx(1.5e-3, rel=0.1)


def _quadratic_grad(x):
    return 2 * x


@pytest.mark.parametrize(("num_iterations", "expected"), [(10, 0.99000325), (1000, 0.25766503)])
def test_minimize_adam_matches_seed000_adam_optimizer(num_iterations, expected):
    x = minimize(lambda x: x[0] ** 2 + x[1] ** 2, _quadratic_grad, np.array([1.0, 1.0]),
                 num_iterations=num_iterations)
    np.testing.assert_allclose(x, [expected, expected], rtol=0, atol=5e-9)


SEED000_X = np.array([[1, 1], [2, 1], [3, 1], [4, 1]])
SEED000_Y = np.array([2, 3, 4, 5])


@pytest.mark.parametrize(("method", "expected"), [
    ("batch", [1.01003164, 0.97050576]),
    ("stochastic", [1.00000058, 0.99999813]),
    ("mini_batch", [1.0003804, 0.99883421]),
])
def test_gradient_descent_variants_match_seed000(method, expected):
    w = gradient_descent(SEED000_X, SEED000_Y, np.zeros(2), 0.01, 1000, batch_size=2, method=method)
    np.testing.assert_allclose(w, expected, rtol=0, atol=5e-9)


@pytest.mark.parametrize(("lr0", "decay_rate", "expected"), [
    (1e-2, 1.0, [0.01, 0.005, 0.0033333333]),
    (1e-3, 0.1, [1e-3, 9.0909091e-4, 8.3333333e-4]),
])
def test_inverse_time_decay_matches_seed001(lr0, decay_rate, expected):
    schedule = inverse_time_decay(lr0, decay_rate)
    np.testing.assert_allclose([schedule(epoch) for epoch in range(3)], expected, rtol=1e-7)
