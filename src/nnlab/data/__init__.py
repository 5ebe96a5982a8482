"""Data: loaders returning the DESIGN.md dict of splits, preprocessing, augmentation, downloads."""

from .datasets import *  # noqa: F401,F403
