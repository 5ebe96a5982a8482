"""nnlab: a deep-learning library written from scratch on NumPy, with verified hand-written gradients.

Layers of the package (each depends only on those above it): ``backend`` -> ``layers`` (functional kernels)
-> ``autograd`` -> ``optim`` / ``schedules`` -> ``nn`` (modules) -> ``models`` -> ``solver`` -> ``data`` /
``kernels`` / ``viz`` / ``onnx`` / ``tracking`` -> ``recipes`` -> ``runs`` / ``runner`` -> ``tune`` / ``sweep``
-> ``api`` / ``cli``.

The public names (``dir(nnlab)``, ``nnlab.__all__``) are resolved lazily, so ``import nnlab`` imports neither
NumPy nor the recipes:

- ``nnlab.train(recipe, **settings) -> Run``: run a recipe from Python as ``nnlab train`` does.
- ``nnlab.load_run(path) -> Run``: reload a trained run; ``nnlab.Solver``: the training loop.
- ``nnlab.Tensor``, ``tensor``, ``no_grad``, ``enable_grad``, ``cat``, ``stack``, ``where``, ``maximum``,
  ``minimum`` (from :mod:`nnlab.autograd`); ``set_num_threads`` / ``get_num_threads`` (the thread policy).
- the subpackages and modules: ``layers``, ``nn``, ``models``, ``optim``, ``data``, ... (see ``__all__``).
"""

from __future__ import annotations

from .version import __version__ as __version__

#: public name -> the modules that may provide it, in order (the first that defines it wins). A module that is
#: not there yet (a name reserved for work in progress) leaves the name out of ``dir(nnlab)`` / ``__all__``
#: instead of breaking ``import nnlab``.
_LAZY_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("nnlab.api",),
    "load_run": ("nnlab.runs",),
    "Run": ("nnlab.runs",),
    "Solver": ("nnlab.solver",),
    **{name: ("nnlab.autograd",) for name in ("Tensor", "tensor", "no_grad", "enable_grad", "cat", "stack",
                                               "where", "maximum", "minimum")},
    "set_num_threads": ("nnlab.backend", "nnlab.threads"),
    "get_num_threads": ("nnlab.backend", "nnlab.threads"),
}

#: public submodules and subpackages, imported on first attribute access.
_SUBMODULES = ("autograd", "backend", "callbacks", "data", "functional", "gradcheck", "io", "kernels", "layers",
               "models", "nn", "onnx", "optim", "recipes", "runner", "runs", "schedules", "solver", "tracking",
               "tune", "viz")


def _exists(module: str) -> bool:
    """Whether ``module`` can be imported (found without importing it)."""
    import importlib.util  # here, not at the top: `import nnlab` stays a few hundred microseconds

    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _import(module: str) -> object:
    import importlib

    return importlib.import_module(module)


def _resolve(name: str) -> object:
    """The object ``nnlab.<name>`` stands for; AttributeError when it is not (or not yet) provided."""
    if name in _SUBMODULES:
        if not _exists(f"nnlab.{name}"):
            raise AttributeError(f"module 'nnlab' has no attribute {name!r} (nnlab.{name} is not part of this "
                                 "version yet)")
        return _import(f"nnlab.{name}")
    for module in _LAZY_NAMES.get(name, ()):
        if _exists(module):
            mod = _import(module)
            if hasattr(mod, name):
                return getattr(mod, name)
    if name in _LAZY_NAMES:
        where = " or ".join(_LAZY_NAMES[name])
        raise AttributeError(f"module 'nnlab' has no attribute {name!r} yet (it will come from {where})")
    raise AttributeError(f"module 'nnlab' has no attribute {name!r}")


def _available() -> list[str]:
    """The public names that resolve now (imports the providing modules, never on ``import nnlab``)."""
    names = ["__version__"]
    for name in (*_LAZY_NAMES, *_SUBMODULES):
        try:
            _resolve(name)
        except AttributeError:
            continue
        names.append(name)
    return names


def __getattr__(name: str) -> object:
    if name == "__all__":
        return _available()
    value = _resolve(name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    """The public names and the module's dunders (not the helpers of this file)."""
    return sorted(set(_available()) | {n for n in globals() if n.startswith("__") and n.endswith("__")})
