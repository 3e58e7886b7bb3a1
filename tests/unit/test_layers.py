"""The import direction: ``datamoat`` -> ``sinks`` -> ``process`` -> ``ingest``.

Read from the source (every ``import`` and ``from ... import`` statement, including those
inside functions and ``TYPE_CHECKING`` blocks), not from what happens to be loaded."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Each layer may import only the layers after it.
LAYERS = ("datamoat", "sinks", "process", "ingest")


def imported_packages(path: Path) -> set[str]:
    """The top-level packages of this project that ``path`` imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {name.split(".")[0] for name in names} & set(LAYERS)
    return found


def violations(layer: str) -> list[str]:
    forbidden = set(LAYERS[: LAYERS.index(layer)])
    bad = []
    for path in sorted((ROOT / layer).rglob("*.py")):
        for package in sorted(imported_packages(path) & forbidden):
            bad.append(f"{path.relative_to(ROOT)} imports {package}")
    return bad


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_point_down_the_layers(layer: str) -> None:
    assert violations(layer) == []


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "import os\nimport ingest.schema\n"
        "def f():\n    from sinks.base import SignalSink\n    from .x import y\n"
    )
    assert imported_packages(module) == {"ingest", "sinks"}


def test_relative_imports_stay_inside_their_package() -> None:
    for layer in LAYERS:
        for path in (ROOT / layer).rglob("*.py"):
            tree = ast.parse(path.read_text("utf-8"))
            relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
            # A relative import could climb out of its layer unseen; the code uses none.
            assert relative == [], path
