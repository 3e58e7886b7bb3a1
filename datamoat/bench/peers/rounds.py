"""``datamoat bench --mode drain --peers``: datamoat, Quix Streams and Bytewax drain the same
pre-filled topic in interleaved rounds; throughput as ratios, outputs checked to agree.

Each round runs every system once, in an order that rotates from round to round (so none
always runs first on a cold page cache or last on a warm one), with a consumer group and
outputs of its own. A system's figure is its posts/s from start to exit, start-up
included, and its median over the rounds is compared. Each stops once it has read the whole
topic: datamoat's worker with ``--until-idle --idle-s 0`` (at the end offsets), Bytewax's
source at the end of each partition, and Quix with ``app.run(timeout=1)``, whose idle second
is taken off its time. datamoat runs as its two stages
(``process --until-idle`` and ``merge --until-ended``, concurrently, exactly once); the peers
as :mod:`datamoat.bench.peers` describes.
"""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from datamoat.bench.peers.common import late_path
from datamoat.bench.peers.compare import Agreement, agree, read_ndjson_rows, read_signal_rows
from datamoat.bench.runner import datamoat, run_env
from datamoat.bench.sampler import wait_rusage
from datamoat.errors import BrokerError, ConfigError

__all__ = ["INPUT", "PEERS", "Measured", "check_peers_installed", "run_rounds"]

#: Peer name -> the module that runs it.
PEERS = {"quix": "datamoat.bench.peers.quix", "bytewax": "datamoat.bench.peers.bytewax_flow"}
_PACKAGES = {"quix": "quixstreams", "bytewax": "bytewax"}
#: The idle wait of each peer's stop condition (s): Quix's ``run(timeout=...)``; Bytewax's
#: source stops at the end offsets without one.
_PEER_IDLE_S = {"quix": 1.0, "bytewax": 0.0}


def check_peers_installed() -> None:
    missing = [pkg for pkg in _PACKAGES.values() if importlib.util.find_spec(pkg) is None]
    if missing:
        raise ConfigError(
            f"--peers needs {', '.join(missing)}: install the extra with "
            "pip install -e '.[peers]' (or make peers)"
        )


@dataclass
class Measured:
    """One system's run: wall time and, per process, CPU seconds and peak RSS."""

    wall_s: float
    cpu_s: dict[str, float]
    peak_rss_bytes: dict[str, int]
    #: A stop condition's idle wait at the end, not counted.
    idle_s: float = 0.0

    def rate(self, posts: int) -> float:
        return posts / max(self.wall_s - self.idle_s, 1e-9)


@dataclass
class _System:
    name: str
    runs: list[Measured] = field(default_factory=list)
    agreements: list[Agreement] = field(default_factory=list)
    #: Per round, the records and posts the peer dropped as late (its own report).
    late: list[tuple[int, int]] = field(default_factory=list)

    def median_rate(self, posts: int) -> float:
        return statistics.median(m.rate(posts) for m in self.runs)


def keep_forever(bootstrap: str, topic: str) -> None:
    """``retention.ms=-1`` on the filled topic. Its event times are in the past (a fixed
    start), and Quix stamps the records of its repartition topic with them and gives that
    topic its source's retention: with a time-based one the broker deletes them under Quix
    (offsets out of range, posts lost)."""
    from ingest.kafka.admin import alter_topic_configs

    alter_topic_configs(bootstrap, topic, {"retention.ms": "-1"})


def _together(cmds: dict[str, list[str]], env: dict[str, str], work: Path,
              timeout_s: float) -> Measured:  # fmt: skip
    """Start ``cmds`` at once; wait for all; fail with a stderr tail if one fails."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    t0 = time.monotonic()
    for name, cmd in cmds.items():
        with (work / f"{name}.stderr").open("wb") as err:
            procs[name] = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
    exits = {name: wait_rusage(p, timeout_s) for name, p in procs.items()}
    wall = time.monotonic() - t0
    for name, ended in exits.items():
        if ended.returncode != 0:
            tail = (work / f"{name}.stderr").read_text(errors="replace").strip()
            raise BrokerError(f"{name} exited with {ended.returncode}: "
                              + " | ".join(tail.splitlines()[-5:]))  # fmt: skip
    return Measured(
        wall, {n: e.cpu_s for n, e in exits.items()},
        {n: e.peak_rss_bytes for n, e in exits.items()},
    )  # fmt: skip


def _datamoat_cmds(common: list[str], out: Path) -> dict[str, list[str]]:
    return {
        "process": datamoat(
            "process", "--until-idle", "--idle-s", "0", "--http-port", "0", *common
        ),
        "merge": datamoat(
            "merge", "--until-ended", "--http-port", "0", "--output-dir", str(out), *common
        ),
    }


def _peer_cmd(
    name: str, bootstrap: str, topic: str, group: str, out: Path, work: Path
) -> list[str]:
    return [sys.executable, "-m", PEERS[name], "--bootstrap", bootstrap, "--topic", topic,
            "--group", group, "--out", str(out), "--state-dir", str(work / "state"),
            "--idle-s", f"{_PEER_IDLE_S[name]:g}"]  # fmt: skip


def _late(rows: Path, name: str) -> tuple[int, int]:
    """The late drops ``name`` reported beside ``rows``: (records, posts)."""
    path = late_path(rows)
    if not path.is_file():
        raise BrokerError(f"{name} did not report its late drops ({path} is missing)")
    got = orjson.loads(path.read_bytes())
    return int(got["late_records"]), int(got["late_posts"])


#: The reference system of the rounds: the same posts through ``process --input`` (both
#: stages in one process, no Kafka), as the non-peer drain compares with.
INPUT = "process --input"


def run_rounds(
    *,
    bootstrap: str,
    topic: str,
    posts: int,
    rounds: int,
    work: Path,
    common: list[str],
    log: Callable[[str], None],
    timeout_s: float = 3600.0,
    input_file: Path | None = None,
) -> dict[str, Any]:
    """Run the rounds; return datamoat's figures and the ``peers`` summary object.

    With ``input_file`` (the topic's posts as NDJSON) each round also runs ``process
    --input`` on it: the drain's ratio to the in-process path, per round, and that path's own
    multiple of each peer (what the drain could reach with Kafka's costs at zero)."""
    keep_forever(bootstrap, topic)
    systems = [_System("datamoat"), *(_System(n) for n in PEERS)]
    if input_file is not None:
        systems.append(_System(INPUT))
    for r in range(rounds):
        order = systems[r % len(systems) :] + systems[: r % len(systems)]
        outputs = {}
        for system in order:
            tag = f"peers-{uuid.uuid4().hex[:8]}"
            where = work / f"round{r + 1}-{system.name.replace(' --', '-')}"
            where.mkdir(parents=True, exist_ok=True)
            env = {**run_env(tag), "DATAMOAT_KAFKA_POSTS_TOPIC": topic}
            if system.name == "datamoat":
                topics = datamoat("topics", *(a for a in common if a != "--quiet"))
                made = subprocess.run(topics, env=env, capture_output=True, text=True)
                if made.returncode != 0:
                    raise BrokerError(f"datamoat topics: {made.stderr.strip()}")
                cmds = _datamoat_cmds(common, where / "out")
                measured = _together(cmds, env, where, timeout_s)
                outputs[system.name] = read_signal_rows(where / "out")
            elif system.name == INPUT:
                assert input_file is not None
                cmd = datamoat("process", "--input", str(input_file), "--output-dir",
                               str(where / "out"), "--quiet")  # fmt: skip
                measured = _together({"process-input": cmd}, env, where, timeout_s)
                outputs[system.name] = read_signal_rows(where / "out")
            else:
                cmd = _peer_cmd(system.name, bootstrap, topic, f"{tag}-group",
                                where / "rows.ndjson", where)  # fmt: skip
                measured = _together({system.name: cmd}, env, where, timeout_s)
                measured.idle_s = _PEER_IDLE_S[system.name]
                outputs[system.name] = read_ndjson_rows(where / "rows.ndjson")
                system.late.append(_late(where / "rows.ndjson", system.name))
                log(f"round {r + 1}/{rounds}: {system.name} dropped {system.late[-1][0]:,} "
                    f"records ({system.late[-1][1]:,} posts) as late")  # fmt: skip
            system.runs.append(measured)
            log(f"round {r + 1}/{rounds}: {system.name} {posts:,} posts in "
                f"{measured.wall_s:.1f} s ({measured.rate(posts):,.0f}/s)")  # fmt: skip
        for system in systems[1:]:
            system.agreements.append(agree(outputs["datamoat"], outputs[system.name]))
            log(f"round {r + 1}/{rounds}: {system.name} and datamoat "
                f"{system.agreements[-1].describe()}")  # fmt: skip
    ours = systems[0]
    base = ours.median_rate(posts)
    peers: dict[str, Any] = {}
    for system in systems[1 : 1 + len(PEERS)]:
        rate = system.median_rate(posts)
        worst = max(system.agreements, key=lambda a: (not a.ok, a.max_sentiment_diff))
        peers[system.name] = {
            "posts_per_s": round(rate, 1),
            "ratio": round(base / rate, 2),
            "rounds_posts_per_s": [round(m.rate(posts), 1) for m in system.runs],
            "cpu_s": round(statistics.median(sum(m.cpu_s.values()) for m in system.runs), 2),
            "peak_rss_bytes": max(max(m.peak_rss_bytes.values()) for m in system.runs),
            "late_records": max(n for n, _ in system.late),
            "late_posts": max(n for _, n in system.late),
            "agrees": all(a.ok for a in system.agreements) and not any(n for n, _ in system.late),
            "agreement": worst.describe(),
        }
    last = ours.runs[-1]
    got = {
        "processed_per_s": base,
        "rounds_posts_per_s": [round(m.rate(posts), 1) for m in ours.runs],
        "cpu": {n: statistics.median(m.cpu_s[n] for m in ours.runs) for n in last.cpu_s},
        "rss": {n: max(m.peak_rss_bytes[n] for m in ours.runs) for n in last.peak_rss_bytes},
        "peers": peers,
    }
    if input_file is not None:
        got["process_input"] = _reference(systems[-1], ours, systems[1:-1], posts)
    return got


def _reference(ref: _System, ours: _System, peers: list[_System], posts: int) -> dict[str, Any]:
    """``process --input`` in the rounds: its rate, the drain's ratio to it (the median of
    the rounds' own ratios, each round's two runs minutes apart at most) and its own
    multiple of each peer."""
    rate = ref.median_rate(posts)
    worst = max(ref.agreements, key=lambda a: (not a.ok, a.max_sentiment_diff))
    return {
        "posts_per_s": round(rate, 1),
        "rounds_posts_per_s": [round(m.rate(posts), 1) for m in ref.runs],
        "drain_ratio": round(
            statistics.median(
                d.rate(posts) / i.rate(posts) for d, i in zip(ours.runs, ref.runs, strict=True)
            ),
            3,
        ),
        "ratio_to_peers": {p.name: round(rate / p.median_rate(posts), 2) for p in peers},
        "cpu_s": round(statistics.median(sum(m.cpu_s.values()) for m in ref.runs), 2),
        "agrees": all(a.ok for a in ref.agreements),
        "agreement": worst.describe(),
    }
