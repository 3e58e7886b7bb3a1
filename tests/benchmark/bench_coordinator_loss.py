"""How long a transactional producer stalls when its group's coordinator is killed: from the
SIGKILL to the first transaction committed after it, as the worker and the merger commit
(each step with the worker's 30 s deadline; a producer given up on is replaced by a new
one with the same transactional id). Rounds alternate between datamoat's producer, which
keeps a transactional request whose coordinator is unreachable
(``ingest.kafka.transaction.ReadyOrNotClient``), and kafka-python's own client, with which
the sender drops it; each round on a new three-node cluster.

    .venv/bin/python tests/benchmark/bench_coordinator_loss.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from datamoat.broker import LocalCluster
from ingest.kafka.admin import TopicSpec, ensure_topics
from ingest.kafka.private import drop_producer, transaction_step
from ingest.kafka.testing import KafkaError, KafkaNetClient, OffsetAndMetadata, TopicPartition
from ingest.kafka.transaction import transactional_producer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # tests.support, run as a script
from tests.support.kafka import coordinator

GROUP = "bench-loss"
STEP_S = 30.0  # the worker's and the merger's step deadline (Transaction.step_timeout_s)


def one_round(kept: bool, work: Path) -> float:
    """Seconds from the coordinator's SIGKILL to the next committed transaction."""
    # kafka-python's own client in the rounds without the fix (transactional_producer's
    # overrides are kafka-python settings)
    own: dict[str, Any] = {} if kept else {"kafka_client": KafkaNetClient}
    cluster = LocalCluster(work / "kafka", brokers=3, port=0, heap="384m")
    bootstrap = cluster.start().bootstrap
    assert bootstrap is not None
    try:
        ensure_topics(bootstrap, {"in": TopicSpec(1, 3), "out": TopicSpec(3, 3)})
        source = TopicPartition("in", 0)
        producer = transactional_producer(bootstrap, "bench-loss-txn", **own)
        done = 0

        def commit() -> None:
            nonlocal done
            producer.begin_transaction()
            producer.send("out", key=b"k", value=b"%d" % done)
            offsets = {source: OffsetAndMetadata(done + 1, "", -1)}
            transaction_step(producer, "send_offsets_to_transaction", STEP_S, offsets, GROUP)
            transaction_step(producer, "begin_commit", STEP_S)
            done += 1

        for _ in range(3):
            commit()
        node = coordinator(bootstrap, GROUP)
        pid = cluster.status().nodes[node - 1].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        while True:
            try:
                commit()
                break
            except KafkaError as exc:  # as Transaction.renew: a new producer, same id
                print(f"  step failed after {time.monotonic() - killed:.1f} s ({exc})")
                drop_producer(producer)
                producer = transactional_producer(bootstrap, "bench-loss-txn", **own)
        stalled = time.monotonic() - killed
        producer.close(timeout=10)
        return stalled
    finally:
        cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each producer")
    args = parser.parse_args()
    got: dict[str, list[float]] = {"kept": [], "dropped": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            for name in ("kept", "dropped") if i % 2 == 0 else ("dropped", "kept"):
                stalled = one_round(name == "kept", Path(tmp) / f"{name}-{i}")
                got[name].append(stalled)
                print(f"round {i + 1} {name:8s} stalled {stalled:5.1f} s", flush=True)
    for name, values in got.items():
        print(f"{name:8s} median {statistics.median(values):5.1f} s  "
              f"({', '.join(f'{v:.1f}' for v in values)})")  # fmt: skip


if __name__ == "__main__":
    main()
