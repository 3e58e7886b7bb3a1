"""Two pipelines on one broker at the same time stay apart: each gives the signals of its
own ``datamoat truth``, a delta of another group in a merger's partials topic is skipped
and counted, and dead letters say which group and input topic they came from.

One pipeline runs as ``run --workers 2``, the other as ``process`` and ``merge`` (the
compose topology). Each has its own group, input topic, signals and dead-letter topics.
Their internal topics are named after their groups (``<group>.partials``); the second case
sets one ``kafka.internal_prefix`` for both, so they write one partials topic and only the
deltas' origin keeps them apart.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import orjson
import polars as pl
import pytest

from ingest.kafka.testing import KafkaProducer
from process.delta import DELTA_SCHEMA, END, Delta, Mark, Origin, encode_delta
from tests.support.kafka import TopicFactory
from tests.support.pipelines import (
    DATAMOAT,
    START,
    assert_same_signals,
    cli,
    dead_letters,
    parquet_signals,
    topic_signals,
    truth,
)

pytestmark = pytest.mark.kafka

N = 20_000


def _pipeline_env(base: dict[str, str], topics: TopicFactory, tag: str) -> dict[str, str]:
    posts = topics(6, create=False)
    group = f"{posts}-{tag}"
    topics(1, create=False, name=f"{group}.partials")
    return {
        **base,
        "DATAMOAT_KAFKA_POSTS_TOPIC": posts,
        "DATAMOAT_KAFKA_DLQ_TOPIC": topics(6, create=False),
        "DATAMOAT_KAFKA_SIGNALS_TOPIC": topics(6, create=False),
        "DATAMOAT_KAFKA_GROUP": group,
        "DATAMOAT_BATCH_MAX_RECORDS": "2000",
        "DATAMOAT_BATCH_MAX_WAIT_MS": "100",
    }


def _intruder(bootstrap: str, partials_topic: str, posts_topic: str) -> None:
    """A delta of a group that is not the merger's, on its input topic: 1,000 posts in the
    first window, and every partition ended. Merged, it would change every signal."""
    start = int(pl.Series([START]).str.to_datetime().dt.epoch("ms")[0])
    row: dict[str, object] = dict.fromkeys(DELTA_SCHEMA)
    row.update(window_start=start, key="*", posts=1_000, originals=1_000, unique_authors=1_000)
    partials = pl.DataFrame([row], schema=DELTA_SCHEMA)
    delta = Delta(partials=partials, marks={p: Mark(END) for p in range(6)})
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(partials_topic, encode_delta(delta, Origin("intruder", posts_topic)), b"x")
    producer.flush(timeout=30)
    producer.close()


def _bad_post(bootstrap: str, posts_topic: str) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(posts_topic, b"{not json", b"42", partition=0)
    producer.flush(timeout=30)
    producer.close()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    err = open(log, "wb")  # noqa: SIM115 - read when the test fails
    return subprocess.Popen([*DATAMOAT, *args], env=env, stdout=subprocess.DEVNULL, stderr=err)


def _wait(proc: subprocess.Popen[bytes], log: Path, what: str, timeout: float = 240) -> None:
    code = proc.wait(timeout=timeout)
    assert code == 0, f"{what} exited {code}:\n{log.read_bytes()[-3000:].decode(errors='replace')}"


@pytest.mark.parametrize("partials", ["own", "shared"])
def test_two_pipelines_at_once_each_give_their_own_truth(
    partials: str,
    kafka_bootstrap: str,
    topic_factory: TopicFactory,
    datamoat_env: dict[str, str],
    tmp_path: Path,
) -> None:
    a = _pipeline_env(datamoat_env, topic_factory, "a")
    b = _pipeline_env(datamoat_env, topic_factory, "b")
    if partials == "shared":
        prefix = topic_factory(1, create=False)
        topic_factory(1, create=False, name=f"{prefix}.partials")
        a["DATAMOAT_KAFKA_INTERNAL_PREFIX"] = b["DATAMOAT_KAFKA_INTERNAL_PREFIX"] = prefix
        b_partials = f"{prefix}.partials"
    else:
        b_partials = f"{b['DATAMOAT_KAFKA_GROUP']}.partials"
    seeded_a = ["--seed", "11", "--start", START, "--rate", "2000"]
    seeded_b = ["--seed", "12", "--start", START, "--rate", "2000"]

    cli(["topics"], b)  # B's topics, its partials topic named after its group
    _bad_post(kafka_bootstrap, b["DATAMOAT_KAFKA_POSTS_TOPIC"])
    _intruder(kafka_bootstrap, b_partials, b["DATAMOAT_KAFKA_POSTS_TOPIC"])

    logs = tmp_path / "logs"
    logs.mkdir()
    run_a = _spawn(
        ["run", *seeded_a, "--posts", str(N), "--workers", "2", "--unpaced", "--quiet",
         "--http-port", "0", "--output-dir", str(tmp_path / "a"),
         "--summary-json", str(tmp_path / "a.json")],
        a, logs / "run-a.log",
    )  # fmt: skip
    produce_b = _spawn(["produce", *seeded_b, "--posts", str(N), "--unpaced", "--quiet"], b,
                       logs / "produce-b.log")  # fmt: skip
    group_b = b["DATAMOAT_KAFKA_GROUP"]
    worker_b = _spawn(
        ["process", "--instance-id", "b1", "--http-port", "0", "--quiet",
         "--summary-json", str(tmp_path / "worker-b.json")],
        b, logs / "worker-b.log",
    )  # fmt: skip
    merger_b = _spawn(
        ["merge", "--group", group_b, "--until-ended", "--http-port", "0", "--quiet",
         "--output-dir", str(tmp_path / "b"), "--summary-json", str(tmp_path / "merge-b.json")],
        b, logs / "merge-b.log",
    )  # fmt: skip
    procs = [run_a, produce_b, worker_b, merger_b]
    try:
        _wait(produce_b, logs / "produce-b.log", "produce (B)")
        # B's merger is live through all of A's run: with one partials topic, it has read
        # every delta A wrote by the time B's input ends.
        _wait(run_a, logs / "run-a.log", "run --workers 2 (A)")
        time.sleep(1)
        worker_b.send_signal(signal.SIGUSR1)  # B's input is over: drain and end
        _wait(worker_b, logs / "worker-b.log", "process (B)")
        _wait(merger_b, logs / "merge-b.log", "merge (B)")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    summary_a = orjson.loads((tmp_path / "a.json").read_bytes())
    summary_b = orjson.loads((tmp_path / "merge-b.json").read_bytes())
    assert summary_a["processed"] == N and summary_a["dead_lettered"] == 0
    assert summary_b["processed"] == N and summary_b["dead_lettered"] == 1
    assert summary_b["foreign_deltas"] >= 1  # the intruder, at least
    if partials == "shared":  # B's merger skipped every delta of A's run too
        assert summary_b["foreign_deltas"] > 1
    else:
        assert summary_a["foreign_deltas"] == 0
    assert "skipping deltas of group 'intruder'" in (logs / "merge-b.log").read_text()

    assert_same_signals(parquet_signals(tmp_path / "a"), truth(seeded_a, N, tmp_path / "ta", a))
    want_b = truth(seeded_b, N, tmp_path / "tb", b)
    assert_same_signals(parquet_signals(tmp_path / "b"), want_b)
    assert_same_signals(topic_signals(b), want_b)
    assert_same_signals(topic_signals(a), parquet_signals(tmp_path / "a"))

    (letter,) = dead_letters(b)
    assert letter["value"] == "{not json" and letter["reason"] == "not_json"
    assert letter["group"] == group_b
    assert letter["source_topic"] == b["DATAMOAT_KAFKA_POSTS_TOPIC"]
    assert (letter["source_partition"], letter["source_offset"]) == ("0", "0")
    assert dead_letters(a) == []


def test_a_merger_that_read_the_old_shared_topic_says_what_to_do(
    datamoat_env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Upgrading: a merger group with offsets on the shared ``posts.partials`` of earlier
    versions but none on its own ``<group>.partials`` is told so in one line."""
    from datamoat.config import load_config
    from datamoat.metrics import Metrics
    from datamoat.pipeline import LEGACY_PARTIALS, kafka_merger
    from datamoat.stage_two.merge_loop import merge_group
    from datamoat.topics import create_internal_topics, create_topics
    from ingest.kafka.admin import commit_at_end, delete_topics, ensure_topics

    env = {k: v for k, v in datamoat_env.items() if k.startswith(("DATAMOAT_", "KAFKA_"))}
    config = load_config(env=env)
    group = config.kafka.group
    create_topics(config)
    create_internal_topics(config, group)
    bootstrap = config.kafka.bootstrap
    ensure_topics(bootstrap, {LEGACY_PARTIALS: 1})
    try:
        commit_at_end(bootstrap, merge_group(group), LEGACY_PARTIALS, '{"since": %d}')
        with caplog.at_level("WARNING", logger="datamoat.pipeline"):
            built = kafka_merger(config, group, Metrics(), tmp_path)
            built.close()
        (line,) = [r.getMessage() for r in caplog.records if LEGACY_PARTIALS in r.getMessage()]
        assert f"{group}.partials" in line and "drain the old pipeline first" in line
        assert 'kafka.internal_prefix = "posts"' in line
    finally:
        delete_topics(bootstrap, [LEGACY_PARTIALS])
