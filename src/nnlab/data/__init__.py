"""Data: loaders returning the DESIGN.md dict of splits, preprocessing, augmentation, downloads."""

from .augment import Compose, RandomCrop, RandomHorizontalFlip, RandomRotation, augment_batches  # noqa: F401
from .cifar10 import CIFAR10_CLASSES, get_CIFAR10_data, load_CIFAR10, load_cifar10, load_cifar10_raw  # noqa: F401
from .datasets import *  # noqa: F401,F403
from .download import download  # noqa: F401
from .housing import (  # noqa: F401
    HOUSING_CLASSES,
    load_california_housing,
    load_housing_3class,
    read_california_housing,
)
from .images import MRI_CLASSES, load_brain_mri, load_image_folder  # noqa: F401
from .mnist import load_mnist, read_idx  # noqa: F401
from .paths import DataError, DataFormatError, DataNotFoundError  # noqa: F401
from .preprocessing import min_max_scale, one_hot, standardize, subtract_mean_image, train_val_test_split  # noqa: F401
from .text import *  # noqa: F401,F403
