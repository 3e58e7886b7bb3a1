"""``datamoat produce`` to a file: byte-identical across runs and --procs, the realism
report; and the pacer's schedule, budget and can't-keep-up reporting on a fake clock."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest

from datamoat.cli import main
from ingest.firehose import Firehose, FirehoseConfig, encode_keys, encode_values
from ingest.pacer import Pacer

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
