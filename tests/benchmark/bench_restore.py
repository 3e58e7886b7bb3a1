"""Merger restore time against the run's length: a restart reads the newest snapshot and
the deltas after it, so it should cost the state's size, not the history's (issue 21).

The seeded firehose at 1,157 posts/s (100M posts a day) runs through stage one and the
merger in this process, a minute of event time a step, for ``--hours`` hours of event time
(not ``--day-in``: the whole day's posts, so the cascade state grows as a real day's does).
At each checkpoint hour the merger's state becomes a snapshot, and the next 60 s of input
(the snapshot interval) are cut into the deltas a live worker writes (250 ms batches). Then,
against a real broker, a fresh group gets that snapshot in its snapshots topic, those
deltas in its partials topic and the committed offset that names both, and a real
``datamoat merge`` process starts: its restore time is read from its own log line
("merger restored from snapshot ... in X s"), and the process's start to that line is
reported too. A copy of the merger restored from the same bytes shadows the uninterrupted
one for the hour after each checkpoint: their signals must be equal, row for row.

Sentiment: a deterministic stand-in score instead of VADER (the state's size and layout do
not depend on the scores; VADER would triple the build time of 100M posts).

.venv/bin/python tests/benchmark/bench_restore.py [--hours 24] [--at 1,6,24]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
from polars.testing import assert_frame_equal

from datamoat.broker import LocalCluster
from datamoat.config import Config, KafkaConfig
from datamoat.stage_two.merge_loop import merge_group
from datamoat.stage_two.snapshots import Snapshots
from datamoat.topics import internal_topics, plan_topics
from ingest.firehose import Firehose, FirehoseConfig
from ingest.kafka.admin import commit_at_end, ensure_topics
from ingest.kafka.testing import KafkaProducer
from process.delta import Delta, Origin, encode_delta
from process.stage_one.partitions import PartitionStage
from process.stage_two import snapshot
from process.stage_two.merger import Merger

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests.support, run as a script
from tests.support.common import stage_one_input

RATE = 1157.0
PARTITIONS = 6
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
MINUTE = 60_000
RESTORED = re.compile(
    r"merger restored from snapshot (\d+) \(([\d,]+) bytes\) and (\d+) deltas.* in ([\d.]+) s"
)


class Pipeline:
    """One worker's stage one over every partition, feeding the merger(s) its deltas."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.firehose = Firehose(FirehoseConfig(rate=RATE), 1, START_MS)
        self.stage = PartitionStage(config.window.spec())
        self.merger = self.fresh()
        self.clock_ms = START_MS
        self.shadows: list[tuple[int, Merger, list[pl.DataFrame], list[pl.DataFrame]]] = []

    def fresh(self) -> Merger:
        c = self.config
        return Merger(c.window.spec(), c.trends.engine(), c.cascades.engine(),
                      partitions=set(range(PARTITIONS)))  # fmt: skip

    def step(self, until_ms: int, batch_ms: int) -> list[Delta]:
        """Input up to ``until_ms`` of event time, handed on every ``batch_ms``."""
        deltas = []
        while self.clock_ms < until_ms:
            self.clock_ms = min(until_ms, self.clock_ms + batch_ms)
            posts = self.firehose.take_until(self.clock_ms)
            if posts.is_empty():
                continue
            self.stage.add(stage_one_input(posts, PARTITIONS), now_ms=self.clock_ms)
            delta = self.stage.advance(now_ms=self.clock_ms)
            deltas.append(delta)
            self.merge(delta)
        return deltas

    def merge(self, delta: Delta) -> None:
        self.merger.apply(delta)
        self.merger.take_late()
        out = self.merger.close()
        for _, shadow, mine, theirs in self.shadows:
            shadow.apply(delta)
            shadow.take_late()
            mine.append(shadow.close())
            theirs.append(out)


def scope(group: str) -> dict[str, Any]:
    """What ``datamoat merge --group GROUP`` checks a snapshot was made for."""
    return {"group": group, "topic": "posts", "partitions": list(range(PARTITIONS))}


def restore_in_kafka(bootstrap: str, config: Config, group: str, blob: bytes,
                     after: list[Delta], out: Path) -> dict[str, Any]:  # fmt: skip
    """A real ``datamoat merge`` restoring from ``blob`` plus ``after``: its figures."""
    k = config.kafka
    ensure_topics(bootstrap, {**plan_topics(config, 1, group), **internal_topics(config, group, 1)})
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                             max_request_size=16 * 2**20, compression_type="lz4")  # fmt: skip
    state_topic, mgroup = k.snapshots_topic(group), merge_group(group)
    snaps = Snapshots(_EndOf(producer, state_topic), mgroup, per_commit_bytes=2**40)
    snaps.start(blob, offset=0)
    records, ref = snaps.take()
    assert ref is not None
    for r in records:
        producer.send(r.topic, value=r.value, key=r.key)
    origin = Origin(group, k.posts_topic)
    for delta in after:
        producer.send(k.partials_topic(group), value=encode_delta(delta, origin), key=b"bench")
    producer.flush()
    producer.close()
    meta = json.dumps({"since": 0, "snapshot": ref.to_json()})
    commit_at_end(bootstrap, mgroup, k.partials_topic(group), meta)
    env = {**os.environ, "DATAMOAT_KAFKA_GROUP": group, "KAFKA_BOOTSTRAP": bootstrap}
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "datamoat.cli", "merge", "--group", group, "--output-dir",
         str(out / group), "--http-port", "0", "--quiet"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            found = RESTORED.search(line)
            if found:
                wall = time.perf_counter() - started
                break
            if "Traceback" in line or "error" in line.lower():
                raise RuntimeError(f"datamoat merge: {line.strip()}")
            if "rebuilding the state" in line:  # the snapshot was refused: not a restore figure
                raise RuntimeError(f"datamoat merge did not load the snapshot: {line.strip()}")
        else:
            raise RuntimeError("datamoat merge exited before its restore line")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {
        "snapshot_bytes": int(found.group(2).replace(",", "")),
        "deltas_after": int(found.group(3)),
        "restore_s": float(found.group(4)),
        "process_start_to_restored_s": round(wall, 2),
    }


class _EndOf:
    """The state topic as the writer sees it: its end (the chunks go after it)."""

    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self.topic = topic

    def end_offset(self) -> int:
        return 0  # a fresh topic

    def records(self, start: int) -> Iterator[tuple[bytes | None, bytes, int]]:
        return iter(())


@contextlib.contextmanager
def broker() -> Iterator[str]:
    given = os.environ.get("KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    with tempfile.TemporaryDirectory(prefix="datamoat-bench-") as tmp:
        cluster = LocalCluster(Path(tmp) / "kafka", port=0)
        status = cluster.start()
        try:
            assert status.bootstrap is not None
            yield status.bootstrap
        finally:
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--at", default="1,6,24", help="checkpoint hours")
    args = parser.parse_args()
    checkpoints = sorted({int(h) for h in args.at.split(",")})
    pipe = Pipeline(Config())
    rows: list[dict[str, Any]] = []
    began = time.perf_counter()
    with broker() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        config = Config(kafka=KafkaConfig(bootstrap=bootstrap))
        end_hour = max(max(checkpoints) + 1, args.hours)
        fed = 0  # minutes of event time fed so far
        for minute in range(1, end_hour * 60 + 1):
            if minute > fed:
                pipe.step(START_MS + minute * MINUTE, MINUTE)
                fed = minute
            for hour, shadow, mine, theirs in list(pipe.shadows):
                if minute == (hour + 1) * 60:  # the hour after a checkpoint: compare
                    got = pl.concat([f for f in mine if f.height])
                    want = pl.concat([f for f in theirs if f.height])
                    assert_frame_equal(got, want, check_exact=True)
                    row = next(r for r in rows if r["hours"] == hour)
                    row["next_hour_equal"], row["next_hour_rows"] = True, got.height
                    pipe.shadows.remove((hour, shadow, mine, theirs))
            if minute % 60 == 0:
                hour = minute // 60
                took = time.perf_counter() - began
                print(f"{hour} h of event time: {pipe.firehose.emitted:,} posts, {took:.0f} s",
                      file=sys.stderr, flush=True)  # fmt: skip
                if hour not in checkpoints:
                    continue
                group = f"restore-{hour}h-{int(time.time())}"
                t0 = time.perf_counter()
                blob = snapshot.dump(pipe.merger, scope(group))
                dump_s = time.perf_counter() - t0
                shadow = pipe.fresh()
                snapshot.load(shadow, blob, scope(group))
                pipe.shadows.append((hour, shadow, [], []))
                after = pipe.step(START_MS + minute * MINUTE + MINUTE, 250)
                fed = minute + 1
                figures = restore_in_kafka(bootstrap, config, group, blob, after, Path(tmp))
                rows.append({
                    "hours": hour, "posts": pipe.firehose.emitted,
                    "state_bytes": pipe.merger.state_bytes, "dump_s": round(dump_s, 2),
                    **figures,
                })  # fmt: skip
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print(json.dumps({
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "rate": RATE, "rows": rows, "wall_s": round(time.perf_counter() - began),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
