"""Executable documentation (issue 24): every Python block of the README and of docs/*.md runs, every tutorial
runs as a script, every public name has a docstring and an API entry, and the docs' own helpers do what the pages
say (CS231n docstrings become parameter fields; the benchmark charts come from the CSV).

A block runs in a fresh namespace shared by the blocks of the same file (pages build on their earlier blocks), in
a temporary working directory, so ``runs/`` and exported files land there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCS = REPO_ROOT / "docs"
TUTORIALS = DOCS / "tutorials"
sys.path.insert(0, str(DOCS / "_ext"))

import nnlab_api  # noqa: E402  (docs/_ext, not a package)
import nnlab_bench  # noqa: E402

BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
# Tutorials that read the real datasets in ../shared/data ($NNLAB_DATA).
DATA_TUTORIALS = {"03_mnist.py", "04_cifar10_convnet.py", "05_macbeth.py"}


def markdown_files() -> list[Path]:
    """README.md and every Markdown page of the docs (the build folder excluded)."""
    pages = [p for p in DOCS.rglob("*.md") if "_build" not in p.parts]
    return [REPO_ROOT / "README.md", *sorted(pages)]


def python_blocks(path: Path) -> list[tuple[int, str]]:
    """``(line, code)`` of every fenced ```python block of a Markdown file."""
    text = path.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 2, m.group(1)) for m in BLOCK.finditer(text)]


def test_block_extraction_finds_blocks_and_their_lines(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# t\n\n```python\nx = 1\n```\n\ntext\n\n```bash\nls\n```\n```python\ny = x + 1\n```\n")
    assert python_blocks(page) == [(4, "x = 1\n"), (13, "y = x + 1\n")]


def test_readme_fits_on_two_screens():
    lines = (REPO_ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 150, f"README.md has {lines} lines; the long material belongs in docs/"


def test_every_page_with_code_is_found():
    files_with_code = {p.relative_to(REPO_ROOT).as_posix() for p in markdown_files() if python_blocks(p)}
    # the pages whose examples the README and the docs promise; a page that loses its blocks fails here
    for page in ("README.md", "docs/index.md", "docs/getting-started.md", "docs/concepts/kernel-contract.md",
                 "docs/concepts/autograd.md", "docs/howto/new-layer.md", "docs/howto/onnx.md"):
        assert page in files_with_code


@pytest.mark.parametrize("path", [p for p in markdown_files() if python_blocks(p)],
                         ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_python_blocks_run(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": "__main__"}
    for line, code in python_blocks(path):
        try:
            exec(compile(code, f"{path.name}:{line}", "exec"), namespace)  # noqa: S102 (the point of the test)
        except Exception as err:
            pytest.fail(f"{path.relative_to(REPO_ROOT)}, the Python block at line {line} fails: "
                        f"{type(err).__name__}: {err}")


def tutorial_params():
    for path in sorted(TUTORIALS.glob("[0-9]*.py")):
        marks = [pytest.mark.data] if path.name in DATA_TUTORIALS else []
        yield pytest.param(path, marks=marks, id=path.stem)


def test_seven_tutorials_as_py_percent_and_no_notebooks():
    tutorials = sorted(p.name for p in TUTORIALS.glob("[0-9]*.py"))
    assert len(tutorials) == 7, tutorials
    for name in tutorials:
        text = (TUTORIALS / name).read_text(encoding="utf-8")
        assert "format_name: percent" in text and "# %% [markdown]" in text, name
        assert "NNLAB_TUTORIAL_FULL" in text, f"{name}: no full-data setting"
    committed = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert committed.stdout.strip() == "", f"notebooks are generated, never committed: {committed.stdout}"


@pytest.mark.parametrize("path", list(tutorial_params()))
def test_tutorial_runs_as_a_script(path, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("NNLAB_TUTORIAL_FULL", None)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 0, f"{path.name} failed after {elapsed:.0f} s:\n{proc.stderr[-3000:]}"
    assert list(tmp_path.iterdir()) == [], f"{path.name} wrote into its working directory"
    print(f"{path.name}: {elapsed:.1f} s")


def test_every_public_name_has_a_docstring():
    # interrogate's measure: modules, classes and functions in __all__ of every public module and submodule
    assert nnlab_api.undocumented_names() == []


def test_every_public_name_has_an_api_entry():
    pages = nnlab_api.collect()
    listed = {(page, name) for page, sections in pages for _, entries in sections for name, *_ in entries}
    home = [target for _, sections in pages for _, entries in sections for _, target, _, is_home in entries
            if is_home]
    assert len(home) == len(set(home)), "an object documented twice"
    for page in nnlab_api.public_modules():
        mod = nnlab_api._import(page)
        assert mod is not None, f"{page} does not import"
        for name in nnlab_api.public_names(mod):
            assert (page, name) in listed, f"{page}.{name} has no API entry"
    # and the reST names them with a directive or a link
    rst = nnlab_api.render(pages)
    assert ".. autoclass:: nnlab.layers.__missing__" not in rst["nnlab.layers.rst"]
    assert ".. autofunction:: nnlab.layers.affine_forward" in rst["nnlab.layers.rst"]
    assert "index.rst" in rst and all(f"   {p}" in rst["index.rst"] for p in nnlab_api.public_modules())


@pytest.mark.parametrize("module", ["nnlab.gradcheck", "nnlab.kernels.svm", "nnlab.kernels.matrices",
                                    "nnlab.data.datasets"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0, result


def test_cs231n_docstrings_become_fields():
    lines = ["Affine layer forward pass.", "", "Inputs:", "- x: (N, D) input; each sample", "  is a row.",
             "- w: (D, M) weights.", "", "Returns ``(out, cache)`` of shape", "(N, M)."]
    assert nnlab_api.cs231n_to_fields(lines) == [
        "Affine layer forward pass.", "", ":param x: (N, D) input; each sample is a row.",
        ":param w: (D, M) weights.", "", ":returns: ``(out, cache)`` of shape (N, M).", ""]
    numpy_style = ["Sum.", "", "Parameters", "----------", "x : int", "    A number.", "", "Returns", "-------",
                   "int", "    Twice x."]
    assert nnlab_api.cs231n_to_fields(numpy_style) == numpy_style


def test_numpy_sections_with_prose_are_made_parseable():
    lines = ["Do it.", "", "Parameters", "----------", "logdir : folder of the event files; created if missing.",
             "bins : int", "    How many.", "", "Read the result with ``tensorboard``.", "", "Returns the folder",
             "as a Path."]
    assert nnlab_api.numpy_prose_entries(lines) == [
        "Do it.", "", "Parameters", "----------", "logdir", "    folder of the event files; created if missing.",
        "bins : int", "    How many.", "", "Notes", "-----", "Read the result with ``tensorboard``.", "",
        "Returns", "-------", "The folder as a Path.", ""]


def test_api_summaries_keep_markup_and_escape_plain_text():
    def documented():
        """Clip ``|g|`` to max_norm as a :class:`Sequential` does, |g| and plot_*.

        Second paragraph, not in the summary."""

    assert nnlab_api._summary(documented) == (
        "Clip ``|g|`` to max\\_norm as a :class:`Sequential` does, \\|g\\| and plot\\_\\*.")


def test_benchmark_charts_come_from_the_csv(tmp_path):
    groups = nnlab_bench.read_rows(DOCS / "data" / "benchmarks.csv")
    assert set(groups) == {"training steps", "conv float32", "conv float64", "tools"}
    fc = next(r for r in groups["training steps"] if r["case"].startswith("FC net"))
    assert (float(fc["ratio"]), float(fc["goal"])) == (0.75, 1.0)  # bench_fc.py at 1 thread, issue 21's goal
    written = nnlab_bench.draw(groups, tmp_path)
    assert sorted(p.name for p in written) == ["bench-conv-float32.png", "bench-conv-float64.png", "bench-tools.png",
                                               "bench-training-steps.png"]
    page = (DOCS / "benchmarks.md").read_text(encoding="utf-8")
    for path in written:
        assert f"_generated/{path.name}" in page
