"""Randomised chaos against the truth, on a three-broker cluster.

A paced, seeded firehose runs while, at random moments drawn from ``--seed``, the driver
SIGKILLs a worker and starts another, adds a worker, stops one (SIGTERM), SIGKILLs the merger
and restarts it, and SIGKILLs a broker and restarts it. Each of these is one round. Then the
firehose is stopped (SIGINT), the workers are stopped (SIGTERM), and one last worker reads to
the end of every partition and ends the input (``--until-idle``: only now, when no post can
come any more, may a partition's end be declared), so the merger closes every window and
exits (``--until-ended``). The check: the Parquet signals and a ``read_committed`` read of the
``signals`` topic both equal ``datamoat truth`` of the posts produced, one record per window
and key, and nothing was dead-lettered.

``tests/integration/test_chaos.py`` runs a short schedule in ``make test``; a long one:

    python -m tests.support.chaos --rounds 60 --seed 7 --out out/chaos

A soak (``tests/support/soak.py``) is the same driver on a fixed schedule: a steady rate, a
fixed number of workers, one kind of fault every ``--every`` seconds for ``--soak-minutes``,
and a sampler recording each process's RSS and the groups' lag every 10 s:

    python -m tests.support.chaos --soak-minutes 30 --every 300 --workers 2 \
        --kinds kill_broker --rate 5000 --seed 7 --out out/soak

Every process is started and stopped here by its own pid; their logs stay in ``--out``.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from datamoat.broker import LocalCluster
from datamoat.stage_two.merge_loop import merge_group
from ingest.kafka.testing import KafkaAdminClient, KafkaError
from tests.support.pipelines import (
    DATAMOAT,
    START,
    assert_same_signals,
    dead_letters,
    parquet_signals,
    topic_signals,
    truth,
)

__all__ = ["Chaos", "ChaosResult", "main"]

GROUP = "chaos"
#: Workers alive at once during the rounds (a stop never goes below the least).
LEAST_WORKERS, MOST_WORKERS = 1, 4
#: What a round does, and how often (out of the sum).
ROUNDS = {"kill_worker": 3, "add_worker": 2, "stop_worker": 2, "kill_merger": 2, "kill_broker": 2}


@dataclass
class ChaosResult:
    seed: int
    rounds: list[str]
    produced: int
    rows: int
    seconds: float
    #: Mergers that restored from a snapshot (and the deltas after it).
    snapshot_restores: int = 0


@dataclass
class Chaos:
    """One chaos run: ``rounds`` faults, one every ``every_s`` (uniform) seconds."""

    out: Path
    seed: int = 7
    rounds: int = 8
    rate: float = 400.0
    every_s: tuple[float, float] = (3.0, 7.0)
    #: Workers started with the merger, before the first round.
    start_workers: int = 2
    #: The firehose's ``--posts``: it stops on SIGINT long before (a soak raises it).
    posts: int = 10_000_000
    #: ``merge.snapshot_interval_s`` (None: the config's): a few seconds here, so a restarted
    #: merger loads one snapshot taken under traffic (or passes over one half written).
    snapshot_interval_s: float | None = 3.0
    log: Callable[[str], None] = lambda line: print(f"chaos: {line}", file=sys.stderr)
    cluster: LocalCluster | None = None
    env: dict[str, str] = field(default_factory=dict)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    merger: subprocess.Popen[bytes] | None = None
    producer: subprocess.Popen[bytes] | None = None
    done: list[str] = field(default_factory=list)
    _started: int = 0
    _everything: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _logs: dict[int, Path] = field(default_factory=dict)

    @property
    def seeded(self) -> list[str]:
        return ["--seed", str(self.seed), "--start", START, "--rate", f"{self.rate:g}"]

    # --- processes ------------------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        self._started += 1
        path = self.out / "logs" / f"{self._started:03d}-{name}.err"
        err = path.open("wb")
        proc = subprocess.Popen([*DATAMOAT, *args], env=self.env,
                                stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        err.close()
        self._logs[proc.pid] = path
        self._everything.append(proc)
        return proc

    def _worker(self, *extra: str) -> subprocess.Popen[bytes]:
        proc = self._spawn("worker", ["process", "--http-port", "0", "--quiet", *extra])
        self.workers.append(proc)
        return proc

    def _merge(self) -> subprocess.Popen[bytes]:
        self.merger = self._spawn("merger", [
            "merge", "--until-ended", "--http-port", "0", "--quiet", "--output-dir",
            str(self.out / "signals-out"), "--summary-json", str(self.out / "merger.json"),
        ])  # fmt: skip
        return self.merger

    def _alive(self) -> list[subprocess.Popen[bytes]]:
        self.workers = [w for w in self.workers if w.poll() is None]
        return self.workers

    # --- the faults -----------------------------------------------------------------------

    def kill_worker(self, rng: random.Random) -> str:
        alive = self._alive()
        if not alive:
            self._worker()
            return "add_worker (none alive)"
        victim = rng.choice(alive)
        victim.kill()
        victim.wait()
        time.sleep(rng.uniform(0.0, 2.0))
        self._worker()
        return f"kill_worker pid {victim.pid}, started another"

    def add_worker(self, rng: random.Random) -> str:
        if len(self._alive()) >= MOST_WORKERS:
            return self.stop_worker(rng)
        proc = self._worker()
        return f"add_worker pid {proc.pid}"

    def stop_worker(self, rng: random.Random) -> str:
        alive = self._alive()
        if len(alive) <= LEAST_WORKERS:
            return self.add_worker(rng)
        victim = rng.choice(alive)
        self._terminate([victim])
        return f"stop_worker pid {victim.pid}"

    def kill_merger(self, rng: random.Random) -> str:
        assert self.merger is not None
        if self.merger.poll() is not None:
            raise AssertionError(f"the merger exited {self.merger.returncode} during the run")
        # The kill comes once a snapshot is committed, so its successor has one to load (a
        # merger killed before its first would replay, which test_crash covers).
        wait_until("a committed merger snapshot",
                   lambda: snapshot_committed(self.env["KAFKA_BOOTSTRAP"]), 60)  # fmt: skip
        victim = self.merger
        victim.kill()
        victim.wait()
        time.sleep(rng.uniform(0.0, 2.0))
        self._merge()
        return f"kill_merger pid {victim.pid}, restarted"

    def kill_broker(self, rng: random.Random) -> str:
        """SIGKILL a broker node, restart it 2-6 s later."""
        if not all_in_sync(self.env["KAFKA_BOOTSTRAP"]):  # one node away at a time: RF 3,
            return self.kill_worker(rng)  # min.insync 2
        return self._bounce_broker(rng, graceful=False)

    def restart_broker(self, rng: random.Random) -> str:
        """Stop a broker node gracefully (SIGTERM: a controlled shutdown, its leaderships
        moved first), start it again 2-6 s later. Not in :data:`ROUNDS`: a soak's kind."""
        if not all_in_sync(self.env["KAFKA_BOOTSTRAP"]):
            return self.kill_worker(rng)
        return self._bounce_broker(rng, graceful=True)

    def _bounce_broker(self, rng: random.Random, *, graceful: bool) -> str:
        assert self.cluster is not None
        node = rng.choice(self.cluster.status().nodes)
        assert node.pid is not None
        if graceful:
            self.cluster.stop_node(node.node_id, timeout_s=60)
        else:
            os.kill(node.pid, signal.SIGKILL)
        wait_until(f"node {node.node_id} gone",
                   lambda: not self.cluster_node_running(node.node_id), 30)  # fmt: skip
        time.sleep(rng.uniform(2.0, 6.0))
        self.cluster.start_node(node.node_id)
        return f"{'restart' if graceful else 'kill'}_broker node {node.node_id}, restarted"

    def cluster_node_running(self, node_id: int) -> bool:
        assert self.cluster is not None
        return self.cluster.status().nodes[node_id - 1].running

    def _terminate(self, workers: list[subprocess.Popen[bytes]]) -> None:
        """SIGTERM, and wait: a graceful stop (exit 0); for a worker still starting up
        (before its handlers are installed), the signal's own end, as harmless as a kill;
        or exit 1 from a worker whose commit was still failing (a broker just killed): it
        says so, commits nothing more, and the batch is read again by the next owner."""
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            code = worker.wait(timeout=120)
            if code in (0, -signal.SIGTERM):
                continue
            said = self._logs[worker.pid].read_text(errors="replace")
            if code == 1 and "commit still failing at shutdown" in said:
                self.log(f"worker pid {worker.pid} stopped with its commit still failing (exit 1)")
                continue
            raise AssertionError(f"a worker stopped by SIGTERM exited {code}: {said[-500:]}")

    # --- the run --------------------------------------------------------------------------

    def run(self) -> ChaosResult:
        began = time.monotonic()
        rng = random.Random(self.seed)
        (self.out / "logs").mkdir(parents=True, exist_ok=True)
        self.cluster = LocalCluster(self.out / "kafka", brokers=3, port=0, heap="384m")
        try:
            self._start_pipeline()
            self._rounds(rng, began)
            produced = self._finish()
            rows = self._check(produced)
        finally:
            for proc in self._everything:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            self.cluster.stop()
        restores = sum(
            "merger restored from snapshot" in log.read_text(errors="replace")
            for log in (self.out / "logs").glob("*merger*.err")
        )
        return ChaosResult(self.seed, self.done, produced, rows, time.monotonic() - began, restores)

    def _start_pipeline(self) -> None:
        """The topics, the firehose, ``start_workers`` workers and the merger."""
        assert self.cluster is not None
        bootstrap = self.cluster.start().bootstrap
        assert bootstrap is not None
        self.env = {
            **os.environ, "KAFKA_BOOTSTRAP": bootstrap, "DATAMOAT_KAFKA_GROUP": GROUP,
            "DATAMOAT_KAFKA_SIGNALS_TOPIC": "signals", "DATAMOAT_KAFKA_DLQ_TOPIC": "posts.dlq",
        }  # fmt: skip
        if self.snapshot_interval_s is not None:
            self.env["DATAMOAT_MERGE_SNAPSHOT_INTERVAL_S"] = f"{self.snapshot_interval_s:g}"
        made = subprocess.run([*DATAMOAT, "topics"], env=self.env, capture_output=True,
                              text=True, timeout=180)  # fmt: skip
        assert made.returncode == 0, made.stderr
        wait_until("the topics on every node", lambda: all_in_sync(bootstrap), 90)
        self.producer = self._spawn("produce", [
            "produce", *self.seeded, "--posts", str(self.posts), "--quiet",
            "--summary-json", str(self.out / "produce.json"),
        ])  # fmt: skip
        for _ in range(self.start_workers):
            self._worker()
        self._merge()

    def _rounds(self, rng: random.Random, began: float) -> None:
        """``rounds`` faults drawn by :func:`schedule`, one every ``every_s`` (uniform)."""
        assert self.producer is not None
        for i, fault in enumerate(schedule(rng, self.rounds)):
            time.sleep(rng.uniform(*self.every_s))
            if self.producer.poll() is not None:
                raise AssertionError(f"the firehose exited {self.producer.returncode}")
            what = getattr(self, fault)(rng)
            self.done.append(what)
            self.log(f"round {i + 1}/{self.rounds} at {time.monotonic() - began:.0f} s: "
                     f"{what}")  # fmt: skip

    def _finish(self) -> int:
        """Stop the firehose, then the workers; one last worker ends the input."""
        assert self.producer is not None and self.merger is not None
        self.producer.send_signal(signal.SIGINT)
        if self.producer.wait(timeout=120) != 0:
            raise AssertionError(f"the firehose exited {self.producer.returncode}")
        produced = int(orjson.loads((self.out / "produce.json").read_bytes())["produced"])
        self.log(f"firehose stopped after {produced:,} posts")
        self._terminate(self._alive())
        last = self._worker("--until-idle", "--idle-s", "3")
        if last.wait(timeout=300) != 0:
            raise AssertionError(f"the last worker exited {last.returncode}")
        if self.merger.wait(timeout=300) != 0:
            raise AssertionError(f"the merger exited {self.merger.returncode}")
        return produced

    def _check(self, produced: int) -> int:
        """The Parquet signals and the signals topic equal the truth; no dead letters."""
        want = truth(self.seeded, produced, self.out / "truth", self.env)
        assert_same_signals(parquet_signals(self.out / "signals-out"), want)
        assert_same_signals(topic_signals(self.env), want)
        letters = dead_letters(self.env)
        assert letters == [], f"{len(letters)} dead letters, the first: {letters[:1]}"
        return want.height


def schedule(rng: random.Random, rounds: int) -> list[str]:
    """The faults, in order: every kind once (shuffled) first, then drawn by weight."""
    kinds = list(ROUNDS)
    first = rng.sample(kinds, len(kinds))
    rest = rng.choices(kinds, [ROUNDS[k] for k in kinds], k=max(rounds - len(kinds), 0))
    return (first + rest)[:rounds]


def all_in_sync(bootstrap: str) -> bool:
    """Every partition of every topic has a leader and all its replicas in sync."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=5000)
    except KafkaError:
        return False
    try:
        described = admin.describe_topics()
    except KafkaError:
        return False
    finally:
        admin.close()
    parts = [p for t in described for p in t["partitions"]]
    return bool(parts) and all(
        p["leader_id"] >= 0 and set(p["isr_nodes"]) == set(p["replica_nodes"]) for p in parts
    )


def snapshot_committed(bootstrap: str) -> bool:
    """The merger's committed offset names a snapshot (``datamoat.stage_two.snapshots``)."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=5000)
    except KafkaError:
        return False
    try:
        group = merge_group(GROUP)
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    except KafkaError:
        return False
    finally:
        admin.close()
    return any('"snapshot"' in (o.metadata or "") for o in offsets.values())


def wait_until(what: str, ok: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=60, help="chaos: faults (not in a soak)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--rate", type=float, default=400.0, help="the firehose's posts/s")
    p.add_argument("--out", type=Path, default=Path("out/chaos"))
    p.add_argument("--workers", type=int, default=2, help="workers started with the merger")
    soak = p.add_argument_group("soak (tests/support/soak.py)")
    soak.add_argument("--soak-minutes", type=float, default=None,
                      help="soak this long, on a fixed schedule, not random rounds")  # fmt: skip
    soak.add_argument("--every", type=float, default=300.0, help="seconds between faults")
    soak.add_argument("--kinds", default="kill_broker",
                      help="faults taken in turn, comma-separated: kill_broker (SIGKILL a "
                      "node, restart it), restart_broker (SIGTERM, start it)")  # fmt: skip
    soak.add_argument("--sample-s", type=float, default=10.0, help="seconds between samples")
    args = p.parse_args(argv)
    if args.soak_minutes is not None:
        from tests.support.soak import Soak, quiet_kafka_logs

        quiet_kafka_logs()
        kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
        result = Soak(args.out, seed=args.seed, rate=args.rate, start_workers=args.workers,
                      minutes=args.soak_minutes, period_s=args.every, kinds=kinds,
                      sample_s=args.sample_s).run()  # fmt: skip
    else:
        result = Chaos(args.out, seed=args.seed, rounds=args.rounds, rate=args.rate,
                       start_workers=args.workers).run()  # fmt: skip
    summary: dict[str, Any] = asdict(result)
    (args.out / "summary.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
