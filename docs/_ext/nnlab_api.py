"""Sphinx extension: nnlab's API reference, generated at build time from ``__all__`` of every public module.

Public modules are ``nnlab`` and every first-level module or package of it whose name does not start with an
underscore (so a renamed or new module appears without editing the docs). A module's public names are its
``__all__`` (for a module without one: the names it defines that do not start with an underscore). Each object is
documented once, on the page of the first public module that exports it (``nnlab`` first, then alphabetical
order); other pages link to it. Names in ``__all__`` of a deeper submodule that its package does not re-export get
a section on the package's page. ``tests/test_docs.py`` checks with :func:`undocumented_names` that every one of
them has a docstring (docstring coverage 100%).

The docstrings of the course-derived kernels use the CS231n layout (``Inputs:`` followed by ``- name: text``
items, and a ``Returns ...`` sentence); :func:`cs231n_to_fields` turns that layout into Sphinx fields before
napoleon reads the NumPy-style ones, so both render as parameter tables.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = "nnlab"

# Where each module's worked examples are (every page links to one: "an example or a link to one").
EXAMPLES = {
    "layers": "tutorials/01_layer_backward",
    "gradcheck": "tutorials/01_layer_backward",
    "autograd": "tutorials/07_autograd",
    "functional": "tutorials/07_autograd",
    "viz_tape": "tutorials/07_autograd",
    "nn": "tutorials/02_kernels_modules_solver",
    "optim": "tutorials/07_autograd",
    "solver": "tutorials/02_kernels_modules_solver",
    "models": "tutorials/03_mnist",
    "data": "tutorials/03_mnist",
    "viz": "tutorials/04_cifar10_convnet",
    "generate": "tutorials/05_macbeth",
    "kernels": "tutorials/06_kernel_svm",
    "onnx": "howto/onnx",
    "tracking": "howto/tracking",
    "tune": "howto/tune-postgres",
    "recipes": "howto/new-recipe",
    "runs": "howto/resume",
    "runner": "howto/new-recipe",
    "cli": "getting-started",
}
DEFAULT_EXAMPLE = "getting-started"


def public_modules() -> list[str]:
    """``nnlab``, the modules ``nnlab.__all__`` names (the public API, in its order), then every other first-level
    module or package whose name does not start with ``_`` (alphabetical)."""
    pkg = importlib.import_module(ROOT)
    found = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_"))
    declared = [n for n in getattr(pkg, "__all__", ()) if n in found]
    return [ROOT] + [f"{ROOT}.{n}" for n in declared] + [f"{ROOT}.{n}" for n in found if n not in declared]


def api_modules() -> list[str]:
    """The modules ``nnlab.__all__`` names (all of them when it names none): the first part of the API index."""
    pkg = importlib.import_module(ROOT)
    declared = [f"{ROOT}.{n}" for n in getattr(pkg, "__all__", ()) if isinstance(getattr(pkg, n, None), ModuleType)]
    return declared or public_modules()[1:]


def all_submodules() -> list[str]:
    """Every importable module below ``nnlab`` with no ``_``-prefixed component (for the deeper ``__all__``)."""
    pkg = importlib.import_module(ROOT)
    out = []
    for m in pkgutil.walk_packages(pkg.__path__, prefix=f"{ROOT}."):
        if any(part.startswith("_") for part in m.name.split(".")):
            continue
        out.append(m.name)
    return sorted(out)


def public_names(mod: ModuleType) -> list[str]:
    """``mod.__all__``, or the public names ``mod`` defines itself (submodules and ``__future__`` excluded)."""
    declared = getattr(mod, "__all__", None)
    if declared is not None:
        return [n for n in declared if not isinstance(getattr(mod, n, None), ModuleType)]
    names = []
    for n in dir(mod):
        if n.startswith("_"):
            continue
        obj = getattr(mod, n)
        if isinstance(obj, ModuleType) or getattr(obj, "__module__", "") is None:
            continue
        if (getattr(obj, "__module__", None) or "").startswith(mod.__name__):
            names.append(n)
    return names


def _is_code(obj: Any) -> bool:
    """A class or a function (what interrogate counts and autodoc documents as code); type aliases such as
    ``Callable[...]`` and other values are data."""
    return inspect.isclass(obj) or inspect.isroutine(obj) or isinstance(obj, functools.partial)


def _key(modname: str, name: str, obj: Any) -> Any:
    """One key per documented object: the object itself for functions/classes, the place for plain values."""
    if _is_code(obj):
        return ("obj", id(obj))
    return ("data", modname, name)


def attribute_docs(modname: str) -> dict[str, list[str]]:
    """``#:`` doc comments of a module's attributes (as Sphinx's ``autodata`` reads them)."""
    from sphinx.pycode import ModuleAnalyzer, PycodeError

    try:
        docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
    except PycodeError:
        return {}
    return {name: lines for (scope, name), lines in docs.items() if scope == ""}


def _has_doc(owner: ModuleType, name: str, obj: Any) -> bool:
    if inspect.isclass(obj):
        return bool((obj.__dict__.get("__doc__") or "").strip())
    if _is_code(obj):
        return bool((getattr(obj, "__doc__", None) or "").strip())
    # a plain value (a constant): not counted, as interrogate counts only modules, classes and functions; its
    # API entry shows the value and its ``#:`` comment where it has one
    return True


_IMPORTED: dict[str, ModuleType | None] = {}


def _import(modname: str) -> ModuleType | None:
    if modname not in _IMPORTED:
        try:
            _IMPORTED[modname] = importlib.import_module(modname)
        except Exception:  # an optional dependency missing: the module is skipped, and the test says so
            _IMPORTED[modname] = None
    return _IMPORTED[modname]


def collect() -> list[tuple[str, list[tuple[str, list[tuple[str, str, Any, bool]]]]]]:
    """The API as pages: ``[(page_module, [(section_module, [(name, canonical_target, obj, is_home)])])]``.

    ``canonical_target`` is the dotted path where the object is documented; ``is_home`` is True on that page.
    """
    seen: dict[Any, str] = {}
    pages = []
    subs = all_submodules()
    for page in public_modules():
        mod = _import(page)
        if mod is None:
            continue
        sections = []
        entries = []
        for name in public_names(mod):
            obj = getattr(mod, name)
            key = _key(page, name, obj)
            home = key not in seen
            seen.setdefault(key, f"{page}.{name}")
            entries.append((name, seen[key], obj, home))
        sections.append((page, entries))
        if page != ROOT:
            for sub in subs:
                if not sub.startswith(page + "."):
                    continue
                smod = _import(sub)
                if smod is None or getattr(smod, "__all__", None) is None:
                    continue
                extra = []
                for name in public_names(smod):
                    obj = getattr(smod, name)
                    key = _key(sub, name, obj)
                    if key in seen:
                        continue
                    seen[key] = f"{sub}.{name}"
                    extra.append((name, seen[key], obj, True))
                if extra:
                    sections.append((sub, extra))
        pages.append((page, sections))
    return pages


def undocumented_names() -> list[str]:
    """Dotted paths of public names (``__all__`` of every public module and submodule) without a docstring."""
    missing = []
    for page in public_modules():
        mod = _import(page)
        if mod is None:
            continue
        if not (mod.__doc__ or "").strip():
            missing.append(page)
    for sub in all_submodules():
        smod = _import(sub)
        if smod is None:
            continue
        names = public_names(smod) if (getattr(smod, "__all__", None) is not None or sub in public_modules()) else []
        for name in names:
            if not _has_doc(smod, name, getattr(smod, name)):
                missing.append(f"{sub}.{name}")
    mod = _import(ROOT)
    for name in public_names(mod):
        if not _has_doc(mod, name, getattr(mod, name)):
            missing.append(f"{ROOT}.{name}")
    return sorted(set(missing))


def _directive(target: str, obj: Any) -> str:
    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return f".. autoexception:: {target}\n"
        return f".. autoclass:: {target}\n   :members:\n   :show-inheritance:\n"
    if _is_code(obj):
        return f".. autofunction:: {target}\n"
    return f".. autodata:: {target}\n   :annotation:\n"


def _title(text: str, ch: str) -> str:
    return f"{text}\n{ch * len(text)}\n"


def render(pages) -> dict[str, str]:
    """The reST text of every API page, keyed by file name."""
    files = {}
    index = [_title("API reference", "="), "",
             "Every public name of nnlab, generated from ``__all__`` of each public module and from the "
             "docstrings (parameters and returns as tables). Each object is documented once, where the first "
             "module that exports it is listed; the other modules link to it. The top-level names "
             "(``nnlab.train``, ``nnlab.Solver``, ``nnlab.Tensor``, ...) are on the ``nnlab`` page.", ""]
    public = [ROOT, *api_modules()]
    others = [page for page, _ in pages if page not in public]
    index += [".. toctree::", "   :maxdepth: 1", "   :caption: The public API", ""]
    index += [f"   {page}" for page, _ in pages if page in public]
    index += ["", ".. toctree::", "   :maxdepth: 1", "   :caption: Other modules (used by the above; importable)", ""]
    index += [f"   {page}" for page in others]
    for page, sections in pages:
        short = page.split(".", 1)[1] if "." in page else ""
        example = EXAMPLES.get(short, DEFAULT_EXAMPLE)
        lines = [_title(f"``{page}``", "="), "", f".. automodule:: {page}", "   :no-members:", "",
                 f"Examples: :doc:`/{example}`.", ""]
        for section, entries in sections:
            if section != page:
                lines += [_title(f"``{section}``", "-"), "", f".. automodule:: {section}", "   :no-members:",
                          "   :no-index:", ""]
            if not entries:
                lines += ["(no public names)", ""]
                continue
            lines += [".. list-table::", "   :widths: 35 65", ""]
            for name, target, obj, home in entries:
                role = "py:obj"
                summary = _summary(obj)
                where = "" if home else f" (documented in ``{target.rsplit('.', 1)[0]}``)"
                lines += [f"   * - :{role}:`{name} <{target}>`", f"     - {summary}{where}"]
            lines.append("")
            for _name, target, obj, home in entries:
                if home:
                    lines += [_directive(target, obj)]
        files[f"{page}.rst"] = "\n".join(lines) + "\n"
    files["index.rst"] = "\n".join(index) + "\n"
    return files


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) if _is_code(obj) else ""
    first = (doc or "").strip().split("\n\n", 1)[0].replace("\n", " ")
    first = re.sub(r"\s+", " ", first)
    if len(first) > 160:
        first = first[:157].rsplit(" ", 1)[0] + " ..."
    # keep inline markup balanced after truncation, and plain text plain (``|x|``, ``plot_*`` outside literals)
    if first.count("``") % 2:
        first = first.replace("``", "")
    parts = re.split(r"(``.+?``|:[\w:]+:`[^`]+`)", first)  # literals and roles stay as they are
    for i in range(0, len(parts), 2):
        text = parts[i].replace("\\", "\\\\")
        parts[i] = re.sub(r"([|*_`])", r"\\\1", text)
    first = "".join(parts)
    return first or "\\ "


def generate(app) -> None:
    out = Path(app.srcdir) / "api"
    out.mkdir(exist_ok=True)
    files = render(collect())
    for name, text in files.items():
        path = out / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    for stale in out.glob("*.rst"):
        if stale.name not in files:
            stale.unlink()


_ITEM = re.compile(r"^(\s*)- (\*{0,2}[A-Za-z_][\w, ]*?\*{0,2}): ?(.*)$")
_HEAD = re.compile(r"^(\s*)(Inputs?(?: of the constructor)?|Arguments|Attributes|Outputs?|Returns a tuple of|Returns)"
                   r"\s*:\s*$")


def cs231n_to_fields(lines: list[str]) -> list[str]:
    """Rewrite the CS231n docstring layout in place-independent form: ``Inputs:`` + ``- name: text`` items become
    ``:param name: text`` fields, ``Returns a tuple of:``/``Outputs:`` items become one ``:returns:`` list, and a
    paragraph starting with ``Returns `` becomes a ``:returns:`` field. NumPy-style docstrings pass unchanged."""
    out: list[str] = []
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        head = _HEAD.match(line)
        if head:
            kind = ("param" if head.group(2).startswith(("Input", "Argument")) else
                    "ivar" if head.group(2) == "Attributes" else "returns")
            i += 1
            items: list[tuple[str, list[str]]] = []
            while i < n:
                m = _ITEM.match(lines[i])
                if m:
                    items.append((m.group(2).strip("*"), [m.group(3)]))
                    i += 1
                    continue
                if items and lines[i].strip() and lines[i].startswith((" ", "\t")) and not _HEAD.match(lines[i]):
                    items[-1][1].append(lines[i].strip())
                    i += 1
                    continue
                break
            if not items:
                out.append(line)
                continue
            if out and out[-1].strip():
                out.append("")
            if kind in ("param", "ivar"):
                for name, text in items:
                    names = [p.strip() for p in name.split(",")]
                    for p in names:
                        out.append(f":{kind} {p}: " + " ".join(text))
                out.append("")
            else:
                out.append(":returns:")
                out.append("")
                for name, text in items:
                    out.append(f"   - **{name}**: " + " ".join(text))
                out.append("")
            while i < n and not lines[i].strip():
                i += 1
            continue
        if (line.startswith("Returns ") and (i == 0 or not lines[i - 1].strip())
                and not (i + 1 < n and set(lines[i + 1].strip()) == {"-"})):
            para = [line[len("Returns "):]]
            i += 1
            while i < n and lines[i].strip():
                para.append(lines[i].strip())
                i += 1
            text = " ".join(para)
            out.append(":returns: " + text[0].upper() + text[1:] if text else ":returns:")
            out.append("")
            continue
        out.append(line)
        i += 1
    return out


_SECTION = re.compile(r"^(Parameters|Other Parameters|Attributes|Returns|Yields|Raises|Warns|Keyword Arguments)$")
_ENTRY_SECTIONS = ("Parameters", "Other Parameters", "Attributes", "Raises", "Keyword Arguments")
_ENTRY = re.compile(r"^\*{0,2}[A-Za-z_][\w.]*(?:, *\*{0,2}[A-Za-z_][\w.]*)*(?: : .*)?$")
_PROSE_ENTRY = re.compile(r"^(\*{0,2}[A-Za-z_][\w.]*(?:, *\*{0,2}[A-Za-z_][\w.]*)*) : (.+)$")


def _is_prose(text: str) -> bool:
    """Whether the part after ``name : `` is a description rather than a type (``int``, ``ndarray of shape``)."""
    return len(text) > 40 or text.rstrip().endswith(".") or ";" in text or "``" in text or ":" in text


def numpy_prose_entries(lines: list[str]) -> list[str]:
    """In NumPy sections, turn ``name : description`` (the description where the type belongs) into ``name`` and
    an indented description, and a ``Returns ...`` paragraph of a NumPy-style docstring into a Returns section,
    so napoleon renders descriptions as descriptions."""
    if not any(i + 1 < len(lines) and _SECTION.match(lines[i].strip()) and set(lines[i + 1].strip()) == {"-"}
               for i in range(len(lines))):
        return lines
    out: list[str] = []
    in_section = False
    section = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if _SECTION.match(line.strip()) and i + 1 < len(lines) and set(lines[i + 1].strip()) == {"-"}:
            in_section = True
            section = line.strip()
            out += [line, lines[i + 1]]
            i += 2
            continue
        if in_section and line and not line[0].isspace():
            m = _PROSE_ENTRY.match(line)
            if m and _is_prose(m.group(2)):
                out += [m.group(1), "    " + m.group(2)]
                i += 1
                continue
        if line.startswith("Returns ") and (i == 0 or not lines[i - 1].strip()):
            para = [line[len("Returns "):]]
            i += 1
            while i < len(lines) and lines[i].strip():
                para.append(lines[i].strip())
                i += 1
            text = " ".join(para)
            out += ["Returns", "-------", text[0].upper() + text[1:], ""]
            in_section = True
            continue
        if (in_section and not line.strip() and i + 1 < len(lines) and lines[i + 1]
                and not lines[i + 1][0].isspace() and section in _ENTRY_SECTIONS
                and not _ENTRY.match(lines[i + 1]) and not _SECTION.match(lines[i + 1].strip())):
            # a paragraph after an entry section: napoleon would read it as one more entry; make it a Notes
            out += [line, "Notes", "-----"]
            in_section = False
            i += 1
            continue
        out.append(line)
        i += 1
    return out


def _process_docstring(app, what, name, obj, options, lines) -> None:
    if what in ("data", "attribute") and not _is_code(obj):
        # a value without a ``#:`` comment gets its type's docstring (dict's, str's): drop that
        type_doc = inspect.cleandoc(type(obj).__doc__ or "")
        if type_doc and "\n".join(lines).strip() == type_doc.strip():
            lines[:] = []
            return
    new = cs231n_to_fields(numpy_prose_entries(list(lines)))
    if new != lines:
        lines[:] = new


def setup(app):
    app.connect("builder-inited", generate)
    app.connect("autodoc-process-docstring", _process_docstring, priority=400)  # before napoleon (500)
    return {"parallel_read_safe": True, "version": "1"}
