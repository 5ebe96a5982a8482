"""Sphinx configuration of nnlab's documentation (Sphinx + MyST + myst-nb, furo theme).

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` from the repository root. The API pages
(``docs/api/``) are generated at build time from ``__all__`` of each public module (``_ext/nnlab_api.py``); the
tutorials (``docs/tutorials/*.py``, jupytext ``py:percent``) are executed once and cached in
``docs/_build/.jupyter_cache``; the benchmark charts are drawn from ``docs/data/benchmarks.csv``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent / "src"))
# The tutorials' kernels inherit the environment: without MPLBACKEND they use the inline backend, so plt.show()
# puts each figure on the page (CI exports MPLBACKEND=Agg for the tests, which would hide them).
os.environ.pop("MPLBACKEND", None)

project = "nnlab"
author = "the nnlab authors"
copyright = "2026, the nnlab authors"  # noqa: A001 (Sphinx's name)
try:
    from nnlab.version import __version__ as release
except ImportError:  # before issue 23's version module existed
    from nnlab import __version__ as release
version = release

extensions = [
    "myst_nb",  # MyST Markdown pages and executed notebooks (includes myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "nnlab_api",  # _ext/nnlab_api.py: API pages from __all__, docstring coverage, CS231n-style sections
    "nnlab_bench",  # _ext/nnlab_bench.py: benchmark bar charts from docs/data/benchmarks.csv
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".py": "myst-nb"}
# Tutorials are plain Python (jupytext py:percent) turned into notebooks at build time; never commit .ipynb.
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
nb_execution_mode = os.environ.get("NNLAB_DOCS_EXECUTE", "cache")  # "off" for a quick layout-only build
nb_execution_timeout = 180
nb_execution_raise_on_error = True  # a failing tutorial fails the build
nb_execution_show_tb = True
nb_merge_streams = True
nb_output_stderr = "remove"  # progress lines and warnings on stderr stay off the pages
nb_execution_cache_path = str(HERE / "_build" / ".jupyter_cache")
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

exclude_patterns = ["_build", "_ext", "conf.py", "README.md", "**/.ipynb_checkpoints", "data"]
templates_path: list[str] = []

autodoc_default_options = {"members": False}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_member_order = "bysource"
autosummary_generate = False
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False

nitpicky = False

html_theme = "furo"
html_title = f"nnlab {release}"
html_static_path: list[str] = []
# Math is rendered by MathJax 3 from its CDN. For reading the site offline, point NNLAB_DOCS_MATHJAX_DIR at a
# MathJax 3 ``es5`` folder (the one holding tex-chtml.js): it is copied into the site and used instead.
if os.environ.get("NNLAB_DOCS_MATHJAX_DIR"):
    html_static_path.append(os.environ["NNLAB_DOCS_MATHJAX_DIR"])
    mathjax_path = "tex-chtml.js"
pygments_style = "friendly"
pygments_dark_style = "monokai"
suppress_warnings = ["mystnb.unknown_mime_type"]
