"""Reproducible experiments, declared on one contract (:mod:`nnlab.recipes.contract`) and run by :mod:`nnlab.runner`.

Each module listed in ``_RECIPE_MODULES`` defines ``RECIPES``: a list of :class:`~nnlab.recipes.contract.Recipe`
declarations (typed settings, data, model, and what only that recipe knows). ``nnlab train <name>`` looks them up
here; the runner does the rest (seed, Solver, run folder, weights, plots) once for every recipe.
"""

from __future__ import annotations

import importlib

from .contract import Recipe, Setting, SettingError, UnknownRecipeError, resolve_settings, standard_solver_settings

__all__ = ["Recipe", "Setting", "SettingError", "UnknownRecipeError", "resolve_settings", "standard_solver_settings",
           "get_recipe", "list_recipes", "DEFAULT_RECIPE"]

DEFAULT_RECIPE = "digits-mlp"

# Modules that declare recipes; imported on first lookup so `import nnlab` stays light.
_RECIPE_MODULES = [
    "nnlab.recipes.digits",
    "nnlab.recipes.svm_kernels",
    "nnlab.recipes.macbeth",
    "nnlab.recipes.char_transformer",
    "nnlab.recipes.studies",
    "nnlab.recipes.mnist",
    "nnlab.recipes.housing",
    "nnlab.recipes.convnets",
    "nnlab.recipes.cifar10",
    "nnlab.recipes.cifar10_two_layer",
    "nnlab.recipes.cifar10_fc",
    "nnlab.recipes.resnet",
]

_REGISTRY: dict[str, Recipe] = {}


def _load_all() -> None:
    if _REGISTRY:
        return
    found: dict[str, Recipe] = {}
    for name in _RECIPE_MODULES:
        module = importlib.import_module(name)
        for recipe in getattr(module, "RECIPES", []):
            if recipe.name in found:
                raise RuntimeError(f"recipe {recipe.name!r} declared twice (again in {name})")
            found[recipe.name] = recipe
    _REGISTRY.update(found)


def list_recipes() -> list[Recipe]:
    """All recipes, sorted by name."""
    _load_all()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; ``KeyError`` listing the known names (with a "did you mean") otherwise."""
    import difflib

    _load_all()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownRecipeError(f"unknown recipe {name!r}{hint}; known recipes: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]
