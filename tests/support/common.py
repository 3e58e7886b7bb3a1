"""Constants the unit tests share."""

from __future__ import annotations

__all__ = ["START"]

#: 2026-01-01T00:00:00Z in epoch milliseconds: where the unit tests' generated streams start.
START = 1_767_225_600_000
