"""Reproducible experiments: one module per recipe, registered by name for ``nnlab train <name>``.

A recipe is a function ``run(run_dir: Path, quick: bool = False, **overrides) -> dict`` that trains (or fits)
something, writes its artifacts (config, metrics JSON, plots, weights) under ``run_dir`` and returns the
metrics dict. Register it with ``@register("name", summary="...", expected="...")`` in a module listed in
``_RECIPE_MODULES``; this package and ``cli`` are the only places that wire data, models and Solver together.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Recipe", "register", "get_recipe", "list_recipes", "DEFAULT_RECIPE"]

DEFAULT_RECIPE = "digits-mlp"

# Modules that define recipes; imported lazily on first lookup so `import nnlab` stays light.
_RECIPE_MODULES = [
    "nnlab.recipes.digits",
    "nnlab.recipes.svm_kernels",
    "nnlab.recipes.macbeth",
    "nnlab.recipes.studies",
    "nnlab.recipes.mnist",
    "nnlab.recipes.housing",
    "nnlab.recipes.convnets",
    "nnlab.recipes.cifar10",
    "nnlab.recipes.cifar10_two_layer",
    "nnlab.recipes.cifar10_fc",
]


@dataclass
class Recipe:
    name: str
    run: Callable[..., dict[str, Any]]
    summary: str = ""
    expected: str = ""
    tags: list[str] = field(default_factory=list)


_REGISTRY: dict[str, Recipe] = {}


def register(name: str, summary: str = "", expected: str = "") -> Callable:
    """Decorator that registers ``fn(run_dir: Path, quick: bool=False, **overrides) -> dict`` as a recipe."""

    def deco(fn: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        _REGISTRY[name] = Recipe(name=name, run=fn, summary=summary, expected=expected)
        return fn

    return deco


def _load_all() -> None:
    for mod in _RECIPE_MODULES:
        importlib.import_module(mod)


def list_recipes() -> list[Recipe]:
    """All registered recipes, sorted by name."""
    _load_all()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name``; ``KeyError`` listing the known names otherwise."""
    _load_all()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise KeyError(f"unknown recipe {name!r}; known recipes: {known}")
    return _REGISTRY[name]


def new_run_dir(name: str, root: str | Path = "runs") -> Path:
    """Create and return ``<root>/<name>-<YYYYmmdd-HHMMSS>`` (suffixing -2, -3... if it exists)."""
    import time

    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{name}-{stamp}"
    path, k = base, 2
    while path.exists():
        path = base.with_name(f"{base.name}-{k}")
        k += 1
    path.mkdir(parents=True)
    return path
