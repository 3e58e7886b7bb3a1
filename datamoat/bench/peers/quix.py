"""Quix Streams on datamoat's drain workload (see :mod:`datamoat.bench.peers`).

Written as Quix's documentation shows (3.28), each setting from the page named: a JSON
topic (the default deserializer, orjson inside) with an event-time extractor
(windowing, "Extracting timestamps from messages"), ``apply`` (with ``expand``) to one row
per key, ``group_by`` the key (Quix repartitions through a topic of its own), a tumbling
window with ``agg(posts=Count(), sentiment_mean=Mean(...))`` and ``current()`` (``final()``
would keep the last windows of a bounded input open), late records counted with
``on_late`` (windowing, "Reacting on late events"), and ``app.run(timeout=...,
collect=False)`` to stop once the input is drained without keeping every update in memory
(debugging, "Stopping the application early and collecting the outputs": a timeout with the
default ``collect=True`` "may cause out-of-memory errors"). Processing guarantee: Quix's
default, at least once (datamoat's drain is exactly once; the docs put exactly once at most
10 % slower), and its other defaults (commit interval, changelog topics) as they are.
"""

from __future__ import annotations

import time
from typing import Any


def main(argv: list[str] | None = None) -> int:
    from quixstreams import Application
    from quixstreams.dataframe.windows import Count, Mean

    from datamoat.bench.peers.common import keys_of, peer_args, scorer, write_late, write_rows

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
    late: list[str] = []

    def on_late(value: Any, key: Any, *_: Any) -> bool:
        late.append(key.decode() if isinstance(key, bytes) else str(key))
        return True  # Quix logs it as well

    sdf = (
        sdf.tumbling_window(duration_ms=args.window_ms, grace_ms=args.grace_ms, on_late=on_late)
        .agg(posts=Count(), sentiment_mean=Mean("compound"))
        .current()
    )
    newest: dict[tuple[int, str], dict[str, Any]] = {}

    def keep(value: dict[str, Any], key: Any, timestamp: int, headers: Any) -> None:
        newest[(value["start"], key)] = value

    sdf.update(keep, metadata=True)
    app.run(timeout=args.idle_s, collect=False)
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
    write_late(args.out, late)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
