"""``datamoat ingest jetstream`` into a real broker, exactly once: the posts of a paced
Jetstream replay reach the posts topic once each for a ``read_committed`` reader, although
the ingest is SIGKILLed in the middle of the stream and restarted under the same name (which
fences the dead one and resumes after its committed cursor); and their signals, through a
worker and the merger, equal those of the same posts through ``process --input``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import orjson
import polars as pl
import pytest

from ingest.jetstream import map_events
from ingest.kafka.testing import KafkaConsumer, TopicPartition
from tests.support.jetstream_server import JetstreamReplay
from tests.support.pipelines import DATAMOAT, assert_same_signals, dead_letters, parquet_signals

pytestmark = pytest.mark.kafka

T0 = 1_767_225_600_000_000  # time_us of the first event


def _frames(n: int) -> list[bytes]:
    """n events: mostly posts (some with tags, some replies), likes between them, and one
    frame that is not JSON."""
    out = []
    for i in range(n):
        did = f"did:plc:author{i % 97:03d}"
        t = T0 + i * 1_000
        if i % 5 == 4:
            liked = {"subject": {"uri": f"at://{did}/app.bsky.feed.post/p{i - 1}"}}
            commit = {"operation": "create", "collection": "app.bsky.feed.like", "rkey": f"l{i}",
                      "record": liked}  # fmt: skip
        else:
            record: dict[str, object] = {"$type": "app.bsky.feed.post", "text": f"post {i}",
                                         "createdAt": "2026-01-01T00:00:00Z", "langs": ["en"],
                                         "tags": [f"topic{i % 7}"]}  # fmt: skip
            if i % 3 == 0 and i > 10:
                parent = f"at://did:plc:author{(i - 3) % 97:03d}/app.bsky.feed.post/p{i - 3}"
                record["reply"] = {"root": {"uri": parent, "cid": "x"},
                                   "parent": {"uri": parent, "cid": "x"}}  # fmt: skip
            commit = {"operation": "create", "collection": "app.bsky.feed.post", "rkey": f"p{i}",
                      "record": record, "cid": "bafy"}  # fmt: skip
        out.append(orjson.dumps({"did": did, "time_us": t, "kind": "commit", "commit": commit}))
    out.insert(n // 2, b"{this is not json")
    return out


def _committed_posts(env: dict[str, str]) -> list[dict[str, object]]:
    consumer = KafkaConsumer(
        bootstrap_servers=env["KAFKA_BOOTSTRAP"],
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1_000,
    )
    topic = env["DATAMOAT_KAFKA_POSTS_TOPIC"]
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    if not parts:  # not created yet
        consumer.close()
        return []
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    posts = [orjson.loads(r.value) for r in consumer]
    consumer.close()
    return posts


def _committed_count(env: dict[str, str]) -> int:
    """Records below the posts topic's last stable offsets (commit markers included): a
    quick look at how far the ingest got, not a count of posts."""
    consumer = KafkaConsumer(
        bootstrap_servers=env["KAFKA_BOOTSTRAP"], isolation_level="read_committed"
    )
    topic = env["DATAMOAT_KAFKA_POSTS_TOPIC"]
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    ends = consumer.end_offsets(parts) if parts else {}
    consumer.close()
    return sum(ends.values())


def _ingest(url: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*DATAMOAT, "ingest", "jetstream", "--url", url, "--name", env["INGEST_NAME"], "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def test_killed_and_restarted_ingest_writes_every_post_once(
    datamoat_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**datamoat_env, "INGEST_NAME": f"ingest-{os.getpid()}-{time.monotonic_ns()}"}
    frames = _frames(4_000)
    expected = map_events(frames)
    want = Counter(int(p) for p in expected.posts["post_id"])
    with JetstreamReplay(frames, pace_s=0.004).threaded() as server:
        first = _ingest(server.url, env, tmp_path / "first.log")
        deadline = time.monotonic() + 60
        while _committed_count(env) < 300:  # some batches are in, most are not
            assert first.poll() is None, (tmp_path / "first.log").read_text()
            assert time.monotonic() < deadline, "no batch committed in 60 s"
            time.sleep(0.3)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert len(_committed_posts(env)) < len(want)  # killed in the middle of the stream

        second = _ingest(server.url, env, tmp_path / "second.log")
        try:
            deadline = time.monotonic() + 120
            while _committed_count(env) < len(want) and time.monotonic() < deadline:
                assert second.poll() is None, (tmp_path / "second.log").read_text()
                time.sleep(0.5)
            while len(_committed_posts(env)) < len(want) and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            second.send_signal(signal.SIGINT)
            second.wait(30)
    log = (tmp_path / "second.log").read_text()
    assert "resuming after cursor" in log
    got = Counter(int(p["post_id"]) for p in _committed_posts(env))  # type: ignore[call-overload]
    assert got == want  # every post, once
    posts = {int(p["post_id"]): p for p in _committed_posts(env)}  # type: ignore[call-overload]
    for row in expected.posts.iter_rows(named=True):
        assert posts[row["post_id"]]["parent_id"] == row["parent_id"]
    # the frame that is not JSON was dead-lettered once, with its bytes and a reason
    letters = [d for d in dead_letters(env) if d.get("reason") == "not_json"]
    assert len(letters) == 1

    # The signals of those posts through the Kafka path (a worker and the merger) equal
    # those of the same posts through `process --input`.
    assert_same_signals(_kafka_signals(env, tmp_path / "kafka"),
                        _file_signals(expected.posts, env, tmp_path))  # fmt: skip


def _kafka_signals(env: dict[str, str], out: Path) -> pl.DataFrame:
    worker = subprocess.Popen([*DATAMOAT, "process", "--until-idle", "--idle-s", "2",
                               "--http-port", "0", "--quiet"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    merged = subprocess.run([*DATAMOAT, "merge", "--until-ended", "--http-port", "0", "--quiet",
                             "--output-dir", str(out)], env=env, capture_output=True,
                            timeout=180)  # fmt: skip
    _, err = worker.communicate(timeout=60)
    assert worker.returncode == 0 and merged.returncode == 0, (err + merged.stderr)[-2000:]
    return _rows(parquet_signals(out))


def _file_signals(posts: pl.DataFrame, env: dict[str, str], tmp: Path) -> pl.DataFrame:
    path = tmp / "posts.ndjson"
    posts.write_ndjson(path)
    done = subprocess.run([*DATAMOAT, "process", "--input", str(path), "--quiet",
                           "--output-dir", str(tmp / "file")], env=env, capture_output=True,
                          timeout=180)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return _rows(parquet_signals(tmp / "file"))


def _rows(signals: pl.DataFrame) -> pl.DataFrame:
    assert signals.height > 0
    return signals
