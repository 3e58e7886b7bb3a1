"""Shared by the unit tests: ``from common import START, memory_worker``.

(A plain module beside ``cascade_fixtures.py`` rather than a ``conftest.py``: a second
``conftest`` module would clash with ``tests/integration/conftest.py`` under mypy, which
sees both as top-level ``conftest``; and pytest advises against importing from conftest.)
"""

from __future__ import annotations

from typing import Any

from datamoat.pipeline import score
from datamoat.worker import Worker
from ingest.memory import MemorySource, MemoryTopic
from process.engine import WindowEngine
from process.windows import WindowSpec
from sinks.memory import ListDeadLetterSink, ListSink
from sinks.prometheus import Metrics

__all__ = ["START", "memory_worker"]

#: 2026-01-01T00:00:00Z in epoch milliseconds: where the unit tests' generated streams start.
START = 1_767_225_600_000


def memory_worker(
    topic: MemoryTopic,
    sink: ListSink,
    dead: ListDeadLetterSink,
    spec: WindowSpec,
    **overrides: Any,
) -> Worker:
    """A worker reading ``topic`` into in-memory sinks, in small quick micro-batches."""
    settings: dict[str, Any] = {"max_records": 3_000, "max_wait_ms": 20, "scorer": score}
    return Worker(
        source=MemorySource(topic),
        engine=WindowEngine(spec),
        sinks=[sink],
        dead_letters=dead,
        metrics=Metrics(),
        **(settings | overrides),
    )
