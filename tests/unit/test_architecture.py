"""docs/ARCHITECTURE.md draws the plan the code has, both ways: every path it names exists,
and every folder of the four packages and every ``datamoat`` command is named in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from datamoat.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGES = ("datamoat", "ingest", "process", "sinks")
#: Where a path the document names may start: the repository, or any folder of the tree.
FOLDERS = sorted(
    d
    for top in (*PACKAGES, "tests", "configs", "docs")
    for d in [ROOT / top, *(ROOT / top).rglob("*")]
    if d.is_dir() and d.name != "__pycache__"
)
BASES = [ROOT, *FOLDERS]
PATH = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.*-]*)*$")
FILE_SUFFIXES = (".py", ".md", ".toml", ".yml", ".json", ".properties", ".html", ".js")


def named() -> set[str]:
    """The backticked words of the document."""
    return set(re.findall(r"`([^`\n]+)`", DOC.read_text("utf-8")))


def paths(words: set[str]) -> set[str]:
    return {
        w
        for w in words
        if PATH.match(w) and ("/" in w or w.endswith(FILE_SUFFIXES)) and "*" not in w
    }


def test_every_path_the_document_names_exists() -> None:
    missing = sorted(p for p in paths(named()) if not any((b / p).exists() for b in BASES))
    assert missing == []


def test_every_folder_of_the_packages_is_named() -> None:
    words = named()
    folders = sorted(
        d.relative_to(ROOT)
        for top in PACKAGES
        for d in [ROOT / top, *(ROOT / top).rglob("*")]
        if d.is_dir() and d.name != "__pycache__" and not d.name.endswith(".egg-info")
    )
    unnamed = [
        str(f)
        for f in folders
        if not any("/".join(f.parts[i:]) + "/" in words for i in range(len(f.parts)))
    ]
    assert unnamed == []


def test_every_command_is_named() -> None:
    words = named()
    assert sorted(c for c in COMMANDS if c not in words) == []


def test_the_checks_see_a_stale_path() -> None:
    assert paths({"sinks/prometheus.py", "ingest/kafka/", "not a path", "x.py"}) == {
        "sinks/prometheus.py",
        "ingest/kafka/",
        "x.py",
    }
    assert not any((b / "sinks/prometheus.py").exists() for b in BASES)


def _bare_sibling_imports(path: Path) -> list[str]:
    """Imports in ``path`` of a module that is only importable because pytest put the test's
    own folder on ``sys.path`` (``from live import ...``): helpers live in ``tests.support``."""
    siblings = {p.stem for p in path.parent.glob("*.py")} - {"__init__"}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [n for n in names if n.split(".")[0] in siblings]
    return found


def test_tests_import_their_helpers_from_the_support_package() -> None:
    suite = [p for d in ("unit", "integration", "compose", "support") for p in
             (ROOT / "tests" / d).glob("*.py")]  # fmt: skip
    assert len(suite) > 40
    bare = {str(p.relative_to(ROOT)): _bare_sibling_imports(p) for p in suite}
    assert {p: names for p, names in bare.items() if names} == {}


def test_the_import_check_sees_a_bare_helper_import(tmp_path: Path) -> None:
    (tmp_path / "live.py").write_text("X = 1\n", encoding="utf-8")
    test = tmp_path / "test_x.py"
    test.write_text("from live import X\nimport os\n", encoding="utf-8")
    assert _bare_sibling_imports(test) == ["live"]
