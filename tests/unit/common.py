"""Shared by the unit tests: ``from common import START``.

(A plain module beside ``cascade_fixtures.py`` rather than a ``conftest.py``: a second
``conftest`` module would clash with ``tests/integration/conftest.py`` under mypy, which
sees both as top-level ``conftest``; and pytest advises against importing from conftest.)
"""

from __future__ import annotations

__all__ = ["START"]

#: 2026-01-01T00:00:00Z in epoch milliseconds: where the unit tests' generated streams start.
START = 1_767_225_600_000
