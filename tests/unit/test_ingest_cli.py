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
