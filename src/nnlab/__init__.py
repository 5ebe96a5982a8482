"""nnlab: a deep-learning library written from scratch on NumPy, with verified hand-written gradients.

Layers of the package (each depends only on those above it): ``backend`` -> ``layers`` (functional kernels)
-> ``optim`` -> ``nn`` (modules) -> ``models`` -> ``solver`` -> ``gradcheck`` / ``data`` / ``kernels`` /
``viz`` -> ``recipes`` -> ``cli``.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # `nnlab.Solver` without importing the Solver (and tqdm) on `import nnlab`.
    if name == "Solver":
        from .solver import Solver

        return Solver
    raise AttributeError(f"module 'nnlab' has no attribute {name!r}")
