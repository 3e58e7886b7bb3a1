"""Bytewax on datamoat's drain workload (see :mod:`datamoat.bench.peers`).

Written as Bytewax's documentation shows (0.21.1), each setting from the page named:

* ``kafka.input``, not tailing: the source ends at the end of each partition, which closes
  every window at EOF; ``batch_size=5000`` ("increasing batch sizes may improve throughput",
  guide/advanced-concepts/performance, and the Kafka guide's own example), and its error
  stream raised, not dropped (guide/concepts/kafka, "Error handling").
* ``map`` to decode, ``flat_map`` to one ``(key, (event time, compound))`` per key.
* ``fold_window`` with a ``TumblingWindower`` aligned to the epoch and an ``EventClock``
  whose ``to_system_utc`` returns None: the replayed posts' windows closed long ago on the
  system clock, and "if None is returned, the runtime will not wake up to close windows and
  will depend on new items or EOF" (api/bytewax.operators.windowing, EventClock); by default
  every key's close is overdue and the runtime wakes it at every activation.
  ``ordered=False``: "there is a performance and latency penalty to ordering by timestamp"
  (fold_window), and the fold is a sum.
* Late items (``windows.late``) counted and reported: none may be dropped as late.
* One worker, run by ``bytewax.run``'s ``cli_main`` (``run_main`` "is only used for unit
  testing", guide/getting-started/execution), epochs of an hour: without recovery an epoch
  only snapshots state.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    import bytewax.operators as op
    from bytewax.connectors.kafka import operators as kop
    from bytewax.dataflow import Dataflow
    from bytewax.operators.windowing import EventClock, TumblingWindower, fold_window
    from bytewax.run import cli_main
    from bytewax.testing import TestingSink

    from datamoat.bench.peers.common import keys_of, peer_args, scorer, write_late, write_rows

    args = peer_args("bytewax_flow", argv)
    started = time.monotonic()
    score = scorer()

    flow = Dataflow("datamoat_peer")
    messages = kop.input(
        "posts",
        flow,
        brokers=args.bootstrap.split(","),
        topics=[args.topic],
        tail=False,
        batch_size=5000,
    )
    op.raises("kafka_errors", messages.errs)
    posts = op.map("decode", messages.oks, lambda m: orjson.loads(m.value))

    def keyed(post: dict[str, Any]) -> list[tuple[str, tuple[int, float | None]]]:
        value = (int(post["created_at"]), score(post))
        return [(key, value) for key in keys_of(post)]

    clock = EventClock(
        ts_getter=lambda v: EPOCH + timedelta(milliseconds=v[0]),
        wait_for_system_duration=timedelta(milliseconds=args.grace_ms),
        to_system_utc=lambda _close: None,
    )
    windower = TumblingWindower(length=timedelta(milliseconds=args.window_ms), align_to=EPOCH)

    def fold(acc: tuple[int, int, float], v: tuple[int, float | None]) -> tuple[int, int, float]:
        n, scored, total = acc
        return (n + 1, scored + 1, total + v[1]) if v[1] is not None else (n + 1, scored, total)

    def merge(a: tuple[int, int, float], b: tuple[int, int, float]) -> tuple[int, int, float]:
        return a[0] + b[0], a[1] + b[1], a[2] + b[2]

    by_key = op.flat_map("keys", posts, keyed)  # (key, value) pairs: a keyed stream
    windows = fold_window(
        "window", by_key, clock, windower, lambda: (0, 0, 0.0), fold, merge, ordered=False
    )
    out: list[tuple[str, tuple[int, tuple[int, int, float]]]] = []
    op.output("out", windows.down, TestingSink(out))
    late: list[tuple[str, Any]] = []
    op.output("late", windows.late, TestingSink(late))
    cli_main(flow, workers_per_process=1, epoch_interval=timedelta(hours=1))
    write_rows(
        args.out,
        (
            {
                "window_start": wid * args.window_ms,
                "key": key,
                "posts": n,
                "sentiment_mean": total / scored if scored else None,
            }
            for key, (wid, (n, scored, total)) in out
        ),
        started,
    )
    write_late(args.out, (key for key, _ in late))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
