"""``datamoat produce`` to a file: byte-identical across runs and --procs, the realism
report; and the pacer's schedule, budget and can't-keep-up reporting on a fake clock."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest

from datamoat.cli import main
from ingest.firehose import Firehose, FirehoseConfig, encode_keys, encode_values
from ingest.pacer import STALL_S, Pacer, StallWatch

START = "1700000000000"
Capture = pytest.CaptureFixture[str]


def produce(path: Path, *extra: str) -> str:
    args = ["produce", "--seed", "7", "--start", START, "--rate", "4000", "--quiet"]
    assert main([*args, "--output", str(path), *extra]) == 0
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_output_is_the_same_bytes_for_any_run_and_any_procs(tmp_path: Path) -> None:
    one = produce(tmp_path / "one.ndjson", "--posts", "30000")
    assert produce(tmp_path / "again.ndjson", "--posts", "30000") == one
    assert produce(tmp_path / "three.ndjson", "--posts", "30000", "--procs", "3") == one
    lines = (tmp_path / "one.ndjson").read_bytes().splitlines()
    assert len(lines) == 30_000
    assert json.loads(lines[0])["created_at"] >= int(START)
    timed = produce(tmp_path / "timed.ndjson", "--duration", "3")
    assert produce(tmp_path / "timed2.ndjson", "--duration", "3", "--procs", "2") == timed
    assert produce(tmp_path / "other.ndjson", "--posts", "30000", "--seed", "8") != one


def test_report_prints_the_references_and_writes_json(tmp_path: Path, capsys: Capture) -> None:
    report = tmp_path / "realism.json"
    produce(tmp_path / "r.ndjson", "--posts", "20000", "--day-in", "60", "--report")
    out = capsys.readouterr().out
    assert "statistic" in out and "reference" in out and "zero_repost_share" in out
    produce(tmp_path / "r.ndjson", "--posts", "20000", "--report-json", str(report))
    figures = json.loads(report.read_text())
    assert figures["posts"] == 20_000 and "delay_share_1h" in figures
    assert "zero_repost_share" not in capsys.readouterr().out  # JSON only: no table


# --- the pacer on a fake clock --------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class SlowWriter:
    """Each post takes ``cost_s`` of (fake) time to send."""

    def __init__(self, clock: FakeClock, cost_s: float) -> None:
        self.clock, self.cost_s, self.sent = clock, cost_s, 0

    def write(
        self, partitions: Sequence[int], keys: Sequence[bytes | None], values: Sequence[bytes]
    ) -> None:
        self.clock.now += self.cost_s * len(values)
        self.sent += len(values)

    def flush(self) -> None:
        pass


FLAT = FirehoseConfig(rate=2000.0, diurnal_swing=1.0, random_bursts_per_day=0.0, authors=20_000)


def pacer(clock: FakeClock, writer: SlowWriter) -> Pacer:
    return Pacer(
        Firehose(FLAT, 1, 0), writer, encode_values, encode_keys, 0, 6, FLAT.rate,
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip


def test_paced_run_follows_event_time_and_keeps_up() -> None:
    clock = FakeClock()
    stats = pacer(clock, SlowWriter(clock, 1e-6)).run(duration_s=5.0)
    assert stats.kept_up and not stats.behind
    assert stats.elapsed_s == pytest.approx(5.0, abs=0.06)
    assert stats.rate == pytest.approx(FLAT.rate, rel=0.05)


def test_a_slow_writer_is_reported_behind() -> None:
    clock = FakeClock()
    stats = pacer(clock, SlowWriter(clock, 1.0 / 1000.0)).run(duration_s=5.0)  # half speed
    assert stats.behind and not stats.kept_up
    assert stats.max_behind_s > 3.0
    assert stats.recent_rate() == pytest.approx(1000.0, rel=0.1)


def test_budget_and_quota_stop_exactly() -> None:
    clock = FakeClock()
    writer = SlowWriter(clock, 0.0)
    assert pacer(clock, writer).run(posts=1234).produced == writer.sent == 1234

    calls: list[int] = []

    def quota(frame: pl.DataFrame) -> tuple[int, bool]:
        calls.append(frame.height)
        return min(frame.height, 7), len(calls) == 3

    stats = pacer(clock, writer).run(duration_s=10.0, quota=quota)
    assert stats.produced == 21  # 7 per step until the quota says it was the last
    assert min(calls) > 7


# --- stalls: sends accepted but not acknowledged --------------------------------------------
class StuckWriter(SlowWriter):
    """Accepts posts at once, but Kafka acknowledges nothing sent in ``[down, up)`` (fake
    time) until ``up``; outside that, a send is acknowledged 10 ms after it is made."""

    def __init__(self, clock: FakeClock, down: float, up: float) -> None:
        super().__init__(clock, 0.0)
        self.down, self.up = down, up
        self.oldest: float | None = None  # the oldest send not yet acknowledged

    def write(
        self, partitions: Sequence[int], keys: Sequence[bytes | None], values: Sequence[bytes]
    ) -> None:
        super().write(partitions, keys, values)
        if not self._stuck():
            self.oldest = self.clock.now  # everything sent before was acknowledged

    def _stuck(self) -> bool:
        old = self.oldest
        return old is not None and self.down <= old < self.up and self.clock.now < self.up

    def pending_age(self) -> float:
        if self.oldest is None:
            return 0.0
        age = self.clock.now - self.oldest
        return age if self._stuck() else min(age, 0.01)


def test_a_stall_is_said_live_and_counted_and_the_run_did_not_keep_up() -> None:
    clock, lines = FakeClock(), list[str]()
    writer = StuckWriter(clock, down=clock.now + 1.0, up=clock.now + 8.0)
    paced = pacer(clock, writer)
    paced.log, paced.watch_interval_s = lines.append, 0.0
    stats = paced.run(duration_s=10.0)
    assert stats.max_behind_s <= 1.0  # the schedule was kept: only acknowledgements stopped
    assert stats.stalls == 1 and not stats.kept_up
    assert stats.stalled_s == pytest.approx(7.0, abs=0.2)
    assert len(lines) == 2
    assert lines[0].startswith("STALLED: no send acknowledged for 5.0 s")
    assert lines[1].startswith("recovered: sends are acknowledged again after a 7.0 s stall")


def test_no_stall_when_acknowledgements_flow() -> None:
    clock, lines = FakeClock(), list[str]()
    writer = StuckWriter(clock, down=1e9, up=1e9)
    paced = pacer(clock, writer)
    paced.log, paced.watch_interval_s = lines.append, 0.0
    stats = paced.run(duration_s=3.0)
    assert stats.kept_up and stats.stalls == 0 and stats.stalled_s == 0.0 and lines == []


def test_stall_watch_counts_each_stall_and_the_ongoing_one() -> None:
    clock, lines = FakeClock(), list[str]()
    age = [0.0]
    watch = StallWatch(lambda: age[0], lines.append, clock=clock)
    for seconds, stalled in [(1, False), (STALL_S, True), (6, True), (0, False), (8, True)]:
        clock.now += 1.0
        age[0] = float(seconds)
        assert watch.check() is stalled
    assert watch.stalls == 2
    # first: began 5 s before the second look, ended at the fourth; second: began 8 s ago
    assert watch.ended_s == pytest.approx(7.0)
    assert watch.stalled_s() == pytest.approx(15.0)
    assert [line.split(":")[0] for line in lines] == ["STALLED", "recovered", "STALLED"]


def test_stall_thread_sees_a_blocked_writer() -> None:
    """The thread looks while the pacer is stuck inside ``write`` (real time, short)."""
    lines: list[str] = []
    age = [10.0]
    watch = StallWatch(lambda: age[0], lines.append, after_s=1.0)
    stop = watch.start(0.01)
    deadline = time.monotonic() + 10
    while not lines and time.monotonic() < deadline:
        time.sleep(0.01)
    age[0] = 0.0
    stop()
    assert watch.stalls == 1 and not watch.stalled and len(lines) == 2
