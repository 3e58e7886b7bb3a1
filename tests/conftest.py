"""Suite-wide: the shared fixtures and hooks (``tests/support``, registered as plugins, so that
pytest rewrites their asserts too) and the order of a parallel run.

Under pytest-xdist (``make test``: ``-n 4 --dist loadfile``: each file in one process, so a
module's fixtures run once) the longest tests are handed out first, so that a parallel run
does not end waiting on one of them; a serial run keeps the files' order (the quick unit
tests first)."""

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
    """0 for the compose cluster, 1 for the broker tests, 2 for the rest."""
    if item.get_closest_marker("compose") is not None:
        return 0
    if item.get_closest_marker("kafka") is not None:
        return 1
    return 2


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if getattr(config.option, "dist", "no") != "no":
        items.sort(key=_weight)  # stable: each file's own order is kept
