"""The accounting of records, one type for both stages, the delta and the metrics.

Every batch holds ``consumed = processed + dead_lettered + late``. A worker counts its
batches in a :class:`Counts`, hands each batch's to the merger inside its delta (the wire
form is :meth:`Counts.to_json`), and the merger adds them up for the whole group. The
Prometheus counters are incremented from the same object (``Metrics.count``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Counts"]


@dataclass(slots=True)
class Counts:
    """Records read, processed, dead-lettered (by reason) and late."""

    consumed: int = 0
    processed: int = 0
    dead_lettered: int = 0
    late: int = 0
    #: Dead letters by reason (late records are not dead letters: ``late`` counts them).
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, other: Counts) -> None:
        self.consumed += other.consumed
        self.processed += other.processed
        self.dead_lettered += other.dead_lettered
        self.late += other.late
        for reason, n in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n

    def __bool__(self) -> bool:
        return bool(self.consumed or self.processed or self.dead_lettered or self.late)

    def to_json(self) -> dict[str, Any]:
        return {
            "consumed": self.consumed,
            "processed": self.processed,
            "dead_lettered": self.dead_lettered,
            "late": self.late,
            "reasons": dict(self.reasons),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Counts:
        return cls(
            int(data.get("consumed", 0)),
            int(data.get("processed", 0)),
            int(data.get("dead_lettered", 0)),
            int(data.get("late", 0)),
            {str(k): int(v) for k, v in dict(data.get("reasons", {})).items()},
        )
