"""The error tree: one module defines it, and its docstring draws it as it is, with each
class's exit status."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import ingest.errors as errors_module
from ingest.errors import DatamoatError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("datamoat", "ingest", "process", "sinks")


def error_classes() -> dict[str, type[DatamoatError]]:
    """The classes the module exports (it exports the ``EXIT_*`` constants too)."""
    found = {}
    for name in errors_module.__all__:
        value = getattr(errors_module, name)
        if isinstance(value, type):
            found[name] = value
    return found


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


def drawn_statuses() -> dict[str, int]:
    """Class name -> the exit status at the end of its line of the drawing."""
    statuses = {}
    for line in (errors_module.__doc__ or "").splitlines():
        match = re.match(r"^ +(?:[│ ]*[├└]── )?([A-Z][A-Za-z]+) {2,}\S.*?(\d+)$", line)
        if match:
            statuses[match.group(1)] = int(match.group(2))
    return statuses


def test_the_drawing_is_the_class_tree() -> None:
    actual: dict[str, str | None] = {"DatamoatError": None}
    for name, cls in error_classes().items():
        assert issubclass(cls, DatamoatError), name
        if cls is not DatamoatError:
            (base,) = cls.__bases__
            actual[name] = base.__name__
    assert drawn_tree() == actual


def test_the_drawing_gives_each_class_its_exit_status() -> None:
    classes = error_classes()
    assert drawn_statuses() == {name: cls.exit_status for name, cls in classes.items()}
    e = errors_module
    assert classes["ConfigError"].exit_status == e.EXIT_USAGE == 2
    assert classes["BrokerUnreachable"].exit_status == e.EXIT_UNAVAILABLE == 69
    assert classes["AccessDenied"].exit_status == e.EXIT_NOPERM == 77
    assert classes["BrokerError"].exit_status == e.EXIT_FAILURE == 1
    assert (e.EXIT_OK, e.EXIT_INTERRUPTED) == (0, 130)
    others = set(classes) - {"ConfigError", "BrokerUnreachable", "AccessDenied"}
    assert {classes[name].exit_status for name in others} == {e.EXIT_FAILURE}


def _nodes_elsewhere() -> Iterator[tuple[Path, ast.AST]]:
    """Every syntax node of every module of the packages but ``ingest/errors.py``."""
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path != ROOT / "ingest" / "errors.py":
                for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                    yield path, node


def test_the_exit_statuses_are_defined_once() -> None:
    """Only ``ingest/errors.py`` assigns an ``EXIT_*`` name (the rest import it)."""
    elsewhere = []
    for path, node in _nodes_elsewhere():
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if any(n.startswith("EXIT_") and n != "EXIT_STATUSES" for n in names):
                elsewhere.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert elsewhere == []


def test_no_other_module_defines_a_datamoat_error() -> None:
    names = set(error_classes())
    elsewhere = []
    for path, node in _nodes_elsewhere():
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
