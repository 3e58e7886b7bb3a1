"""``datamoat ingest``: a dump file and a Jetstream replay, through the command, to NDJSON
that ``datamoat process --input`` replays (the Kafka side of ingest is not built yet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

from datamoat.cli import main
from tests.support.jetstream_server import RECORDED, JetstreamReplay, recorded_frames

DUMPS = Path(__file__).resolve().parents[1] / "data" / "dumps"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def test_ingest_file_writes_the_presets_posts(tmp_path: Path) -> None:
    out, summary = tmp_path / "posts.ndjson", tmp_path / "summary.json"
    rc = main(["ingest", "file", str(DUMPS / "x_v2.json"), "--preset", "x-v2", "--sort",
               "--output", str(out), "--summary-json", str(summary), "--quiet"])  # fmt: skip
    assert rc == 0
    expected = sorted(
        _lines(DUMPS / "x_v2.expected.ndjson"), key=lambda p: (p["created_at"], p["post_id"])
    )
    assert _lines(out) == expected
    s = orjson.loads(summary.read_bytes())
    assert s["posts"] == len(expected) and s["rejected"] == 0 and s["sorted"] is True


def test_ingest_file_reports_disorder_and_dead_letters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dump = tmp_path / "dump.ndjson"
    rows = [
        {"post_id": 1, "author_id": 7, "created_at": 1_767_225_660_000, "text": "b #Late"},
        {"post_id": 2, "author_id": 7, "created_at": 1_767_225_600_000, "text": "a"},
        {"post_id": 1, "author_id": 7, "created_at": 1_767_225_660_000, "text": "b again"},
        {"post_id": 3, "author_id": 8, "created_at": "yesterday", "text": "c"},
    ]
    dump.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    out, dead = tmp_path / "posts.ndjson", tmp_path / "dead.jsonl"
    rc = main(["ingest", "file", str(dump), "--output", str(out), "--dead-letters", str(dead),
               "--quiet"])  # fmt: skip
    assert rc == 0
    err = capsys.readouterr().err
    assert "1 duplicate post ids dropped" in err and "1 rejected" in err
    assert "pass --sort" in err  # 60 s behind the newest: reported before anything is sent
    assert [p["post_id"] for p in _lines(out)] == [1, 2]
    (letter,) = _lines(dead)
    assert letter["reason"] == "bad_time" and "yesterday" in str(letter["raw"])


def test_ingest_jetstream_writes_the_recorded_posts(tmp_path: Path) -> None:
    out, summary = tmp_path / "posts.ndjson", tmp_path / "summary.json"
    frames = recorded_frames()
    with JetstreamReplay(frames, drop_after=[9]).threaded() as server:
        rc = main(["ingest", "jetstream", "--url", server.url, "--output", str(out),
                   "--max-events", str(len(frames)), "--summary-json", str(summary),
                   "--quiet"])  # fmt: skip
    assert rc == 0
    want = _lines(RECORDED / "expected_posts.ndjson")
    assert _lines(out) == want  # once each, in order, across the dropped connection
    s = orjson.loads(summary.read_bytes())
    assert s["posts"] == len(want) and s["reconnects"] == 1
    # what process --input replays
    assert pl.read_ndjson(out).height == len(want)


def test_ingest_jetstream_refuses_a_url_that_is_not_a_websocket(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["ingest", "jetstream", "--url", "http://example.invalid", "--output", "x"]) == 2
    assert "is not a WebSocket address" in capsys.readouterr().err


def test_the_adapters_metrics_are_its_stream_counters() -> None:
    from prometheus_client import generate_latest

    from datamoat.ingest_metrics import ingest_registry
    from ingest.jetstream import StreamStats

    stats = StreamStats(events=12, dead=2, reconnects=1, gaps=1, cursor_us=1_000_000_000)
    stats.dropped.update({"app.bsky.feed.like:create": 5, "identity": 1})
    text = generate_latest(ingest_registry(stats, lambda: 4, clock=lambda: 1_030.5)).decode()
    for line in (
        "datamoat_posts_produced_total 4.0",
        "datamoat_ingest_events_total 12.0",
        "datamoat_ingest_dead_lettered_total 2.0",
        "datamoat_ingest_reconnects_total 1.0",
        "datamoat_ingest_gaps_total 1.0",
        'datamoat_ingest_dropped_total{kind="app.bsky.feed.like:create"} 5.0',
        'datamoat_ingest_dropped_total{kind="identity"} 1.0',
        "datamoat_ingest_cursor_lag_seconds 30.5",
    ):
        assert line in text.splitlines(), line
    assert "datamoat_build_info{" in text and "process_cpu_seconds_total" in text


def test_ingest_jetstream_serves_its_metrics_while_it_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = recorded_frames()
    with JetstreamReplay(frames).threaded() as server:
        rc = main(["ingest", "jetstream", "--url", server.url, "--output",
                   str(tmp_path / "p.ndjson"), "--max-events", str(len(frames)),
                   "--http-port", "0", "--quiet"])  # fmt: skip
    assert rc == 0
    assert "metrics at http://127.0.0.1:" in capsys.readouterr().err


def test_the_live_line_says_rate_kept_dropped_dead_reconnects_and_lag(tmp_path: Path) -> None:
    from datamoat.commands.ingest import _Jetstream
    from ingest.jetstream import StreamStats

    counters = StreamStats(events=40, dead=3, reconnects=2, cursor_us=1)
    counters.dropped.update({"app.bsky.feed.like:create": 7})
    hook = _Jetstream(None, 1, None, False, counters=counters)
    hook.posts = 30
    line = hook.says()
    for part in ("40 events (", "/s)", "kept 30", "dropped 7", "dead 3", "reconnects 2",
                 "cursor lag "):  # fmt: skip
        assert part in line, line
    hook.close()
