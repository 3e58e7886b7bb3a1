"""Quix Streams on datamoat's drain workload (see :mod:`datamoat.bench.peers`).

Written as Quix's documentation shows: a JSON topic with an event-time extractor, ``apply``
(with ``expand``) to one row per key, ``group_by`` the key (Quix repartitions through a topic
of its own), a tumbling window with ``agg(posts=Count(), sentiment_mean=Mean(...))``, and
``app.run(timeout=...)`` to stop once the input is drained. Processing guarantee: Quix's
default, at least once (datamoat's drain is exactly once).
"""

from __future__ import annotations

import time
from typing import Any


def main(argv: list[str] | None = None) -> int:
    from quixstreams import Application
    from quixstreams.dataframe.windows import Count, Mean

    from datamoat.bench.peers.common import keys_of, peer_args, scorer, write_rows

    args = peer_args("quix", argv)
    started = time.monotonic()
    score = scorer()
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=str(args.state_dir),
        loglevel="WARNING",
    )
    posts = app.topic(
        args.topic,
        value_deserializer="json",
        timestamp_extractor=lambda value, headers, timestamp, kind: int(value["created_at"]),
    )

    def rows(post: dict[str, Any]) -> list[dict[str, Any]]:
        compound = score(post)
        return [{"key": key, "compound": compound} for key in keys_of(post)]

    sdf = app.dataframe(posts).apply(rows, expand=True).group_by("key")
    sdf = (
        sdf.tumbling_window(duration_ms=args.window_ms, grace_ms=args.grace_ms)
        .agg(posts=Count(), sentiment_mean=Mean("compound"))
        .current()
    )
    newest: dict[tuple[int, str], dict[str, Any]] = {}

    def keep(value: dict[str, Any], key: Any, timestamp: int, headers: Any) -> None:
        newest[(value["start"], key)] = value

    sdf.update(keep, metadata=True)
    app.run(timeout=args.idle_s)
    write_rows(
        args.out,
        (
            {
                "window_start": start,
                "key": key,
                "posts": v["posts"],
                "sentiment_mean": v["sentiment_mean"],
            }
            for (start, key), v in newest.items()
        ),
        started,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
