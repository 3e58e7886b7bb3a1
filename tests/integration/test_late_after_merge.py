"""Nothing counted and lost: partial rows that reach the merger after their window is final
go whole to the dead-letter topic, in the merger's transaction, with the input partition and
the offset range of the posts they sum.

The deltas are written here, as a worker would write them: one closes a window, the next
brings rows of that window again (as a partition that was idle would) and ends the input.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import orjson
import polars as pl
import pytest

from datamoat.config import Config
from ingest.firehose import FirehoseConfig, generate
from ingest.kafka.admin import ensure_topics
from ingest.kafka.testing import KafkaProducer
from process.delta import END, Delta, Mark, Origin, encode_delta
from process.stage_one.partitions import PartitionStage
from tests.support.common import START
from tests.support.pipelines import DATAMOAT, cli, dead_letters, topic_signals

pytestmark = pytest.mark.kafka


def _posts() -> pl.DataFrame:
    frame = generate(FirehoseConfig(rate=100.0), 11, START, 3_000)
    return frame.with_columns(
        pl.lit(0, dtype=pl.Int32).alias("partition"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("_idx"),
    )


def test_rows_after_their_window_is_final_are_dead_lettered_whole(
    datamoat_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**datamoat_env, "DATAMOAT_KAFKA_PARTITIONS": "1"}
    bootstrap, group, posts = env["KAFKA_BOOTSTRAP"], env["DATAMOAT_KAFKA_GROUP"], env[
        "DATAMOAT_KAFKA_POSTS_TOPIC"]  # fmt: skip
    cli(["topics"], env)
    partials = f"{group}.partials"
    ensure_topics(bootstrap, {partials: 1})
    stage = PartitionStage(Config().window.spec())
    stage.add(_posts(), now_ms=0)
    closed = stage.advance(now_ms=0)
    assert closed.partials.height and closed.marks[0].closed_through is not None
    late = Delta(partials=closed.partials, marks={0: Mark(END)}, ranges={0: (3, 99)})
    origin = Origin(group, posts)
    producer = KafkaProducer(bootstrap_servers=bootstrap)

    def send(delta: Delta) -> None:
        producer.send(partials, encode_delta(delta, origin), b"worker-1")
        producer.flush()

    merger = subprocess.Popen(
        [*DATAMOAT, "merge", "--until-ended", "--http-port", "0", "--quiet", "--output-dir",
         str(tmp_path / "out"), "--summary-json", str(tmp_path / "merge.json")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        send(closed)
        deadline = time.monotonic() + 120
        while topic_signals(env).is_empty():  # the window is final once its signals are out
            assert time.monotonic() < deadline, "the merger emitted nothing"
            assert merger.poll() is None, merger.communicate()[1].decode()[-3000:]
        send(late)
        _, err = merger.communicate(timeout=120)
        assert merger.returncode == 0, err.decode()[-3000:]
    finally:
        producer.close()
        if merger.poll() is None:
            merger.kill()
            merger.wait()
    summary = orjson.loads((tmp_path / "merge.json").read_bytes())

    star = closed.partials.filter(pl.col("key") == "*")["posts"].sum()
    assert summary["late_after_merge"] == star > 0
    [letter] = [x for x in dead_letters(env) if x["reason"] == "late_after_merge"]
    assert letter["group"] == f"{group}-merge" and letter["source_topic"] == partials
    assert letter["source_offset"] == "1"  # the partials record that brought them
    value = orjson.loads(letter["value"])
    assert value["input_topic"] == posts and value["input_ranges"] == {"0": [3, 99]}
    rows = pl.DataFrame(value["rows"])
    assert rows.height == closed.partials.height
    assert rows.filter(pl.col("key") == "*")["posts"].sum() == star
