"""``datamoat_consumer_lag_records`` against Kafka's own consumer-group tool.

Kafka defines a group's lag on a partition as the log-end offset minus the group's committed
offset. A worker drains a pre-filled topic while its merger exports the group's lag (read
from the group's commits and the log ends once a second, ingest/kafka/lag.py); part of the
way through (once it has committed on every partition) the worker is stopped (SIGTERM) and
30,000 more posts arrive, so the commits and the log ends hold still with a lag of at least
those, and Kafka's ``ConsumerGroupCommand --describe`` (from the ``kafka-tools`` artifact,
fetched by Maven into ``.kafka/tools`` from ``configs/kafka/tools/pom.xml``, apart from the
broker's jars) must report exactly the metric's figure, which is neither 0 nor the whole topic.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from datamoat.broker import find_java, free_port
from tests.support.kafka_tools import tools_classpath
from tests.support.live import fetch, wait_for

pytestmark = pytest.mark.kafka

TOOL = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
DATAMOAT = [sys.executable, "-m", "datamoat.cli"]


def group_tool(java: str, cp: str, bootstrap: str, *args: str) -> str:
    cmd = [java, "-Xmx256m", "-cp", cp, TOOL, "--bootstrap-server", bootstrap, *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


def describe_lags(java: str, cp: str, bootstrap: str, group: str) -> tuple[str, list[int]]:
    """``kafka-consumer-groups --describe``: its text and the lag of each partition. While the
    group rebalances (its frozen member's session running out) the tool lists no partitions:
    asked again, bounded."""
    text = ""
    for _ in range(20):
        text = group_tool(java, cp, bootstrap, "--describe", "--group", group)
        # PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG; a partition the group has not yet
        # committed shows "-" for both, and lags by its whole log (as the metric counts it)
        rows = re.finditer(r"^\S+\s+\S+\s+(\d+)\s+(\S+)\s+(\d+)\s+(\S+)\s", text, re.M)
        lags = [int(m.group(3)) if m.group(4) == "-" else int(m.group(4)) for m in rows]
        if lags:
            return text, lags
        time.sleep(2)
    return text, []


def committed(java: str, cp: str, bootstrap: str, group: str) -> list[int]:
    """The partitions the group has committed offsets for (``--describe``)."""
    text = group_tool(java, cp, bootstrap, "--describe", "--group", group)
    rows = re.finditer(r"^\S+\s+\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s", text, re.M)
    return [int(m.group(1)) for m in rows]


def metric_lag(url: str) -> float:
    text = fetch(url + "metrics").decode()
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "datamoat_consumer_lag_records"
    )


@pytest.mark.timeout(600)
def test_consumer_lag_metric_agrees_with_kafka_consumer_group_command(
    datamoat_env: dict[str, str], tmp_path: Path
) -> None:
    env, java, cp = datamoat_env, find_java(), tools_classpath()
    bootstrap, group = env["KAFKA_BOOTSTRAP"], env["DATAMOAT_KAFKA_GROUP"]
    posts = 120_000
    seeded = ["--seed", "3", "--start", "2026-01-01T00:00:00Z", "--posts", str(posts)]
    for args in (["topics"], ["produce", *seeded, "--unpaced", "--quiet"]):
        done = subprocess.run([*DATAMOAT, *args], env=env, capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    worker = subprocess.Popen([*DATAMOAT, "process", "--quiet", "--http-port", "0"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    merger = subprocess.Popen(
        [*DATAMOAT, "merge", "--quiet", "--http-port", str(port), "--output-dir",
         str(tmp_path / "out")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Part of the way through, stop the worker (SIGTERM: it commits its batch and leaves
        # the group): its commits stop, the log's end is fixed, so the lag holds still and
        # both figures must be the same number. (Frozen with SIGSTOP instead, a worker could
        # hold a transaction open with its offsets pending, and the tool lists none.)
        wait_for("the worker to commit some", lambda: 0 <= _lag(url) < posts, 120)
        # ... on every partition: a group without members lists only committed partitions
        wait_for("a commit on every partition",
                 lambda: len(committed(java, cp, bootstrap, group)) == 6, 120)  # fmt: skip
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        more = ["--seed", "4", "--start", "2026-01-02T00:00:00Z", "--posts", "30000"]
        done = subprocess.run([*DATAMOAT, "produce", *more, "--unpaced", "--quiet"], env=env,
                              capture_output=True, timeout=300)  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]  # the lag is now at least 30,000
        time.sleep(3)  # the merger refreshes the figure once a second
        text, lags = describe_lags(java, cp, bootstrap, group)
        assert len(lags) == 6, text
        assert sum(lags) >= 30_000, text
        assert metric_lag(url) == sum(lags), (metric_lag(url), text)
    finally:
        for proc in (worker, merger):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def _lag(url: str) -> float:
    try:
        return metric_lag(url)
    except OSError:
        return -1.0
