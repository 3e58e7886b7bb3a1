"""Suite-wide: the shared fixtures and hooks (``tests/support``, registered as plugins, so that
pytest rewrites their asserts too) and the order of a parallel run.

Under pytest-xdist (``make test``: ``-n 4 --dist loadfile --no-loadscope-reorder``: each file
in one process, so a module's fixtures run once) the longest files are handed out first, so
that a parallel run does not end waiting on one of them: the compose cluster, then the files
with a test marked ``long``, the other broker tests, the rest; the quick unit tests fill the
gaps at the end. xdist's own reordering (files with the most tests first) would undo that,
hence ``--no-loadscope-reorder``. A serial run keeps the files' order (the unit tests first).
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.support.kafka",
    "tests.support.live",
    "tests.support.pipelines",
    "tests.support.cascades",
    "tests.support.promql",
]


def _weight(item: pytest.Item) -> int:
    """0 for the compose cluster, 1 for a long test, 2 for the other broker tests, 3 for
    the rest."""
    if item.get_closest_marker("compose") is not None:
        return 0
    if item.get_closest_marker("long") is not None:
        return 1
    if item.get_closest_marker("kafka") is not None:
        return 2
    return 3


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # xdist's workers collect (and see ``--dist`` as "no"); the scheduler hands out files
    # in the order of their first item there
    if not hasattr(config, "workerinput"):
        return
    files: dict[str, int] = {}
    for item in items:
        files[item.path.as_posix()] = min(files.get(item.path.as_posix(), 3), _weight(item))
    items.sort(key=lambda item: files[item.path.as_posix()])  # stable: each file's order kept
