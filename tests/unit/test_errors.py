"""The error tree: one module defines it, and its docstring draws it as it is."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import ingest.errors as errors_module
from ingest.errors import DatamoatError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("datamoat", "ingest", "process", "sinks")


def drawn_tree() -> dict[str, str | None]:
    """Class name -> parent name, read from the drawing in the module docstring."""
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []  # (column of the name, name)
    for line in (errors_module.__doc__ or "").splitlines():
        # An indented class name, after its branch if any, then two spaces and its gloss.
        match = re.match(r"^( +(?:[│ ]*[├└]── )?)([A-Z][A-Za-z]+) {2,}\S", line)
        if not match:
            continue
        column = len(match.group(1))
        while stack and stack[-1][0] >= column:
            stack.pop()
        parents[match.group(2)] = stack[-1][1] if stack else None
        stack.append((column, match.group(2)))
    return parents


def test_the_drawing_is_the_class_tree() -> None:
    actual: dict[str, str | None] = {"DatamoatError": None}
    for name in errors_module.__all__:
        cls = getattr(errors_module, name)
        assert issubclass(cls, DatamoatError), name
        if cls is not DatamoatError:
            (base,) = cls.__bases__
            actual[name] = base.__name__
    assert drawn_tree() == actual


def test_no_other_module_defines_a_datamoat_error() -> None:
    names = set(errors_module.__all__)
    elsewhere = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "ingest" / "errors.py":
                continue
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.ClassDef):
                    bases = {ast.unparse(b).split(".")[-1] for b in node.bases}
                    if bases & names:
                        elsewhere.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert elsewhere == []


def test_the_application_module_re_exports_the_same_classes() -> None:
    import datamoat.errors as app

    assert set(app.__all__) == set(errors_module.__all__)
    for name in app.__all__:
        assert getattr(app, name) is getattr(errors_module, name)
