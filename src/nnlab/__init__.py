"""nnlab: a deep-learning library written from scratch on NumPy, with verified hand-written gradients.

Layers of the package (each depends only on those above it): ``backend`` -> ``layers`` (functional kernels)
-> ``optim`` / ``schedules`` -> ``nn`` (modules) -> ``models`` -> ``solver`` -> ``data`` / ``kernels`` / ``viz`` /
``onnx`` / ``tracking`` -> ``recipes`` -> ``runs`` / ``runner`` -> ``tune`` / ``sweep`` -> ``cli``.

``nnlab.load_run(path)`` reloads a trained run; ``nnlab.Solver`` is the training loop.
"""

__version__ = "0.2.0"


def __getattr__(name: str):
    # `nnlab.Solver` / `nnlab.load_run` without importing them (and tqdm, the recipes) on `import nnlab`.
    if name == "Solver":
        from .solver import Solver

        return Solver
    if name == "load_run":
        from .runs import load_run

        return load_run
    raise AttributeError(f"module 'nnlab' has no attribute {name!r}")
