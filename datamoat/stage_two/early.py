"""Early signals around the merger: increments in, provisional signals and alerts out.

:class:`EarlyStage` owns the merger-side :class:`process.early.EarlySignals`. Increments
come from the workers (in one process straight from the worker's output, over Kafka from
the ``<group>.early`` channel, :class:`ingest.kafka.early.EarlyReader`); after every step
of the merger, :meth:`EarlyStage.after` takes the final signals just emitted (retracting
alerts they did not confirm), updates the provisional signals of what changed, and sends
them: to the metrics and the live page (``/status``), and with Kafka to
``kafka.early_topic`` (one record per window and key, keyed ``<key>@<window_start>``, so
compaction keeps the latest) and ``kafka.alerts_topic`` (alerts and retractions, keyed by
the hashtag), outside the merger's transaction: at least once, and never in the way of the
final signals.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl

from datamoat.metrics import Metrics
from ingest.kafka.early import EarlyReader, PlainWriter
from process.early import EarlySignals, decode_increments

__all__ = ["EarlyStage"]

log = logging.getLogger("datamoat.early")


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class EarlyStage:
    signals: EarlySignals
    metrics: Metrics
    #: Where increments come from over Kafka (None: handed in by :meth:`increments`).
    reader: EarlyReader | None = None
    #: Where provisional signals and alerts go over Kafka (None: metrics and page only).
    writer: PlainWriter | None = None
    early_topic: str = "signals.early"
    alerts_topic: str = "alerts"
    wall_ms: Callable[[], int] = _wall_ms
    #: Provisional signals at most this often (ms of wall time; finals and alerts are
    #: never held back by it): a merger steps much faster than that while it catches up,
    #: and each update writes every window and key touched since the last one.
    interval_ms: int = 100
    _last_update: int = 0
    #: Channel records that were not increments (skipped and counted).
    bad: int = 0
    updates: int = 0
    _said_bad: bool = field(default=False)

    def increments(self, rows: pl.DataFrame) -> None:
        self.signals.add(rows)

    def poll(self) -> None:
        """Take what the early channel has (no wait)."""
        if self.reader is None:
            return
        for value in self.reader.poll():
            try:
                self.signals.add(decode_increments(value))
            except ValueError as exc:
                self.bad += 1
                if not self._said_bad:
                    self._said_bad = True
                    log.warning("early channel: skipping a record: %s", exc)

    def after(self, signals: pl.DataFrame, through: int | None) -> None:
        """After a merger step: ``signals`` just became final (windows to ``through``)."""
        now = self.wall_ms()
        retracted = self.signals.finalise(signals, through, now)
        if now - self._last_update < self.interval_ms and not retracted:
            return
        self._last_update = now
        provisional, alerts = self.signals.update(now)
        out = [*retracted, *alerts]
        if provisional.is_empty() and not out:
            return
        self.updates += 1
        self.metrics.observe_early(provisional, out, now)
        if self.writer is not None:
            self._send(provisional, out)

    def _send(self, provisional: pl.DataFrame, alerts: list[dict[str, Any]]) -> None:
        assert self.writer is not None
        if provisional.height:
            encoded = provisional.select(
                (pl.col("key") + "@" + pl.col("window_start").cast(pl.String)).alias("k"),
                pl.struct(pl.all(), pl.lit(True).alias("provisional")).struct.json_encode()
                .alias("v"),
            )  # fmt: skip
            keys = [k.encode() for k in encoded["k"].to_list()]
            values = [v.encode() for v in encoded["v"].to_list()]
            self.writer.send_many(self.early_topic, keys, values)
        for alert in alerts:
            self.writer.send(self.alerts_topic, orjson.dumps(alert), alert["key"].encode())

    def summary(self) -> dict[str, Any]:
        s = self.signals
        return {
            "alerts": s.alerts,
            "retractions": s.retractions,
            "confirmed": s.confirmed,
            "updates": self.updates,
            "bad_increments": self.bad,
            "send_failures": self.writer.failed if self.writer is not None else 0,
        }

    def close(self) -> None:
        for part in (self.reader, self.writer):
            if part is not None:
                part.close()
