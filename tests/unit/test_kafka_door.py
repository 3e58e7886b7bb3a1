"""One door to Kafka: only ``ingest/kafka/`` imports kafka-python, and every use of its
private members sits in one module of it, ``ingest/kafka/private.py``.

Read from the source of every module of the tree (tests and benchmarks included). Ruff's
SLF rule catches ``obj._name``; this also catches what it can't see: ``getattr``,
``setattr``, ``hasattr`` and ``delattr`` of a private name, ``vars()`` and ``__dict__``.
"""

from __future__ import annotations

import ast
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TREE = ("datamoat", "ingest", "process", "sinks", "tests")
DOOR = ROOT / "ingest" / "kafka"
PRIVATE = DOOR / "private.py"


def modules() -> list[Path]:
    return sorted(p for top in TREE for p in (ROOT / top).rglob("*.py"))


def imports_kafka(tree: ast.AST) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name == "kafka" or name.startswith("kafka.") for name in names):
            return True
    return False


def private_reaches(tree: ast.AST) -> list[str]:
    """``getattr(x, "_y")`` and its kin, ``vars(x)`` and ``x.__dict__``, by line."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name, args = node.func.id, node.args
            if name == "vars":
                found.append(f"{node.lineno}: vars()")
            elif name in ("getattr", "setattr", "hasattr", "delattr") and len(args) >= 2:
                what = args[1]
                if (
                    isinstance(what, ast.Constant)
                    and isinstance(what.value, str)
                    and re.fullmatch(r"_(?!_).*", what.value)
                ):
                    found.append(f"{node.lineno}: {name}(..., {what.value!r})")
        elif isinstance(node, ast.Attribute) and node.attr == "__dict__":
            found.append(f"{node.lineno}: .__dict__")
    return found


def test_only_the_door_imports_kafka() -> None:
    outside = [
        str(path.relative_to(ROOT))
        for path in modules()
        if not path.is_relative_to(DOOR) and imports_kafka(ast.parse(path.read_text("utf-8")))
    ]
    assert outside == []


def test_private_reaches_are_in_the_private_module_only() -> None:
    found = {
        str(path.relative_to(ROOT)): reaches
        for path in modules()
        if path != PRIVATE and (reaches := private_reaches(ast.parse(path.read_text("utf-8"))))
    }
    assert found == {}


def exemptions(path: Path) -> list[tuple[int, str]]:
    """The comments of ``path`` that exempt a line from SLF001: (line, comment)."""
    with path.open("rb") as f:
        comments = [t for t in tokenize.tokenize(f.readline) if t.type == tokenize.COMMENT]
    return [(t.start[0], t.string) for t in comments if "noqa: SLF001" in t.string]


def test_every_slf_exemption_is_in_the_door_with_a_reason() -> None:
    found = 0
    for path in modules():
        for n, comment in exemptions(path):
            where = f"{path.relative_to(ROOT)}:{n}"
            assert path == PRIVATE, f"{where}: a private access outside ingest/kafka/private"
            assert re.search(r"noqa: SLF001 - \S", comment), f"{where}: no reason given"
            found += 1
    assert found > 0  # the private module's own, each with its reason


def test_ruff_checks_private_access() -> None:
    config = (ROOT / "pyproject.toml").read_text("utf-8")
    select = re.search(r"^select = \[(.*)\]$", config, re.M)
    assert select is not None and '"SLF"' in select.group(1)


def test_the_checks_see_what_they_look_for() -> None:
    code = (
        "import kafka.errors\nfrom os import path\n"
        "def f(p):\n    from kafka import KafkaProducer\n"
        "    getattr(p, '_sender')\n    setattr(p, '_x', 1)\n    getattr(p, '__len__')\n"
        "    hasattr(p, 'config')\n    vars(p)\n    return p.__dict__\n"
    )
    tree = ast.parse(code)
    assert imports_kafka(tree)
    assert private_reaches(tree) == [
        "5: getattr(..., '_sender')",
        "6: setattr(..., '_x')",
        "9: vars()",
        "10: .__dict__",
    ]
    assert not imports_kafka(ast.parse("import kafkaesque\nfrom ingest.kafka import admin\n"))
