"""Printed checks of the spec for the convnets: seed_004.md §9.7 (ThreeLayerConvNet) and seed_003.md §5.3
(the MRI CNN's printed architecture)."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from nnlab.gradcheck import eval_numerical_gradient, rel_error
from nnlab.models.cnn import ThreeLayerConvNet, mri_cnn


def test_three_layer_convnet_initial_loss_matches_spec():
    """§9.7.1: ``Initial loss (no regularization): 2.302586071243987`` and ``(with regularization):
    2.508255638232932`` (model.reg = 0.5). The spec draws X and y without a seed; 231 is used here. Expected:
    log(10) = 2.302585, plus 0.5 * 0.5 * E[sum W^2] = 0.25 * 0.825 = 0.206 with reg."""
    np.random.seed(231)
    model = ThreeLayerConvNet()
    X = np.random.randn(50, 3, 32, 32)
    y = np.random.randint(10, size=50)
    loss, _ = model.loss(X, y)
    assert abs(loss - 2.302586071243987) < 1e-4
    model.reg = 0.5
    loss_reg, _ = model.loss(X, y)
    assert abs(loss_reg - 2.508255638232932) < 3e-3  # std of the reg term over draws: ~3e-4
    w_sq = sum(float((model.params[w].astype(np.float64) ** 2).sum()) for w in ("W1", "W2", "W3"))
    assert abs(loss_reg - loss - 0.25 * w_sq) < 1e-5


def test_three_layer_convnet_gradient_check_matches_spec():
    """§9.7.2 (seed 231, float64, h=1e-6): printed W1 3.05e-04, W2 1.822723e-02, W3 3.42e-04, b1 3.40e-06,
    b2 2.52e-03, b3 9.7e-10; "correct implementations may still have relative errors up to the order of e-2"
    (ReLU kinks at weight_scale 1e-3). W2's error reproduces to the printed digits (same init draws)."""
    np.random.seed(231)
    X = np.random.randn(2, 3, 16, 16)
    y = np.random.randint(10, size=2)
    model = ThreeLayerConvNet(num_filters=3, filter_size=3, input_dim=(3, 16, 16), hidden_dim=7, dtype=np.float64)
    _, grads = model.loss(X, y)
    errors = {}
    for name in sorted(grads):
        num = eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=1e-6)
        errors[name] = rel_error(num, grads[name])
    assert all(err < 5e-2 for err in errors.values()), errors
    assert abs(errors["W2"] - 1.822723e-02) < 1e-7
    assert errors["b3"] < 1e-8 and errors["W3"] < 1e-3 and errors["W1"] < 1e-3


SPEC_MRI_PRINTOUT = """CNN(
  (feature_extractor): Sequential(
    (0): Conv2d(1, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    (1): LeakyReLU(negative_slope=0.01)
    (2): Conv2d(8, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    (3): LeakyReLU(negative_slope=0.01)
    (4): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    (5): Dropout(p=0.2, inplace=False)
    (6): Conv2d(32, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    (7): LeakyReLU(negative_slope=0.01)
    (8): Conv2d(32, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    (9): LeakyReLU(negative_slope=0.01)
    (10): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    (11): Dropout(p=0.2, inplace=False)
  )
  (avg_pooling): AdaptiveAvgPool2d(output_size=(7, 7))
  (classifier): Sequential(
    (0): Linear(in_features=3136, out_features=256, bias=True)
    (1): LeakyReLU(negative_slope=0.01)
    (2): Dropout(p=0.2, inplace=False)
    (3): Linear(in_features=256, out_features=128, bias=True)
    (4): LeakyReLU(negative_slope=0.01)
    (5): Dropout(p=0.2, inplace=False)
    (6): Linear(in_features=128, out_features=4, bias=True)
  )
)"""


def test_mri_cnn_repr_reads_like_the_spec_printout():
    """seed_003.md §5.3 reference printout, verbatim. Ours is a Sequential (first line) whose flatten, done in
    the reference's ``forward``, is an explicit child; every other line is identical."""
    ours = repr(mri_cnn(seed=0)).split("\n")
    spec = SPEC_MRI_PRINTOUT.split("\n")
    assert ours[0] == "Sequential(" and spec[0] == "CNN("
    assert ours.pop(16) == "  (flatten): Flatten(start_dim=1, end_dim=-1)"
    assert ours[1:] == spec[1:]


CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _cifar_subset(data_dir, split: str, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` JPEGs of each class of ``split`` (NCHW float32 in [0, 255]) and their labels."""
    from PIL import Image

    images, labels = [], []
    with zipfile.ZipFile(data_dir / "cifar10" / "cifar10_jpeg_q75.zip") as z:
        for label, name in enumerate(CLASSES):
            for i in range(per_class):
                with Image.open(io.BytesIO(z.read(f"{split}/{name}/{i:04d}.jpg"))) as im:
                    images.append(np.asarray(im.convert("RGB"), dtype=np.float32).transpose(2, 0, 1))
                labels.append(label)
    return np.stack(images), np.array(labels, dtype=np.int64)


@pytest.mark.data
@pytest.mark.slow
def test_three_layer_convnet_overfits_100_cifar10_images(data_dir):
    """§9.7.3: ThreeLayerConvNet(weight_scale=1e-2), 100 training images, Adam lr 1e-3, 15 epochs of batch 50:
    training accuracy climbs to 0.99 at epoch 15 (printed) while validation stays near 0.2 ("clear overfitting").
    Here: the JPEG copy of CIFAR-10 from ../shared/data, 10 images per class, mean image subtracted."""
    from nnlab.solver import Solver

    X_train, y_train = _cifar_subset(data_dir, "train", 10)
    X_val, y_val = _cifar_subset(data_dir, "test", 10)
    mean = X_train.mean(axis=0)
    data = {"X_train": X_train - mean, "y_train": y_train, "X_val": X_val - mean, "y_val": y_val}
    np.random.seed(231)
    model = ThreeLayerConvNet(weight_scale=1e-2)
    solver = Solver(model, data, num_epochs=15, batch_size=50, update_rule="adam",
                    optim_config={"learning_rate": 1e-3}, verbose=False, progress=False)
    solver.train()
    assert len(solver.loss_history) == 30
    assert solver.loss_history[-1] < 0.5 * solver.loss_history[0]
    assert solver.train_acc_history[-1] >= 0.9, solver.train_acc_history
    assert solver.train_acc_history[-1] - solver.val_acc_history[-1] >= 0.5
