"""Kernel methods: kernel matrices, the feature maps of spec seed 003 §6, and a from-scratch kernel SVM.

- ``matrices``: ``linear_kernel``, ``polynomial_kernel``, ``rbf_kernel``, ``kernel_matrix`` (vectorized) and
  ``kernel_construction`` (element by element from a feature map).
- ``features``: the spec's data, candidate maps ``f1..f5`` and their separability check,
  ``feature_construction``, ``phi_degree2``.
- ``svm``: ``KernelSVM``, a C-SVC solved by SMO (LIBSVM's formulation and working-set selection).
"""

from nnlab.kernels.features import (
    CANDIDATE_FUNCTIONS,
    artificial_data,
    example_a,
    example_b,
    f1,
    f2,
    f3,
    f4,
    f5,
    feature_construction,
    is_separable_1d,
    phi_degree2,
    picking_data,
    separable_candidates,
)
from nnlab.kernels.matrices import (
    KERNELS,
    kernel_construction,
    kernel_matrix,
    linear_kernel,
    polynomial_kernel,
    rbf_kernel,
    squared_distances,
)
from nnlab.kernels.svm import KernelSVM, smo_solve

__all__ = [
    "CANDIDATE_FUNCTIONS",
    "KERNELS",
    "KernelSVM",
    "artificial_data",
    "example_a",
    "example_b",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "feature_construction",
    "is_separable_1d",
    "kernel_construction",
    "kernel_matrix",
    "linear_kernel",
    "phi_degree2",
    "picking_data",
    "polynomial_kernel",
    "rbf_kernel",
    "separable_candidates",
    "smo_solve",
    "squared_distances",
]
