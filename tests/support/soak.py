"""A soak: the chaos driver (``tests/support/chaos.py``) on a fixed schedule, sampled.

Three brokers, a paced firehose at one ``--rate``, a fixed number of workers and the
merger, and one broker fault every ``period_s`` seconds (``kill_broker``: SIGKILL a node and
restart it 2-6 s later; ``restart_broker``: SIGTERM it, a controlled shutdown, and start it
again) for ``minutes``; the kinds are taken in turn, each round only once every replica is
back in sync. A sampler thread records every ``sample_s`` seconds, as one NDJSON line in
``<out>/samples.ndjson``: each process's RSS (``VmRSS`` of ``/proc/<pid>/status``), peak RSS
and CPU seconds (the workers, the merger, the firehose, each broker node), the consumer lag
of the worker group on the posts topic and of the merger on the partials topic (log-end
minus committed offset, :class:`ingest.kafka.lag.GroupLag`), the posts topic's end offsets
and whether every replica is in sync. Then, as in a chaos run, the firehose stops, the
input is drained and the signals (Parquet and a ``read_committed`` read of the topic) are
compared with ``datamoat truth``. ``<out>/soak.json`` sums it up (:func:`summarise`) even
when the run failed, and ``<out>/soak.png`` draws lag and RSS over time.

Run it through the chaos driver's command line:

    python -m tests.support.chaos --soak-minutes 30 --every 300 --workers 2 \\
        --kinds kill_broker --rate 5000 --seed 7 --out out/soak

and redraw or resum a finished one with ``python -m tests.support.soak OUT [--png PATH]``.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import platform
import random
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from datamoat.stage_two.merge_loop import merge_group
from ingest.kafka.lag import GroupLag
from ingest.kafka.testing import KafkaError, TopicPartition
from tests.support.chaos import GROUP, Chaos, ChaosResult, all_in_sync, wait_until
from tests.support.pipelines import (
    assert_same_signals,
    cli,
    dead_letters,
    parquet_signals,
    topic_signals,
)

__all__ = [
    "SOAK_KINDS",
    "RenewedLag",
    "Soak",
    "fault_times",
    "load_samples",
    "main",
    "plot",
    "proc_stats",
    "quiet_kafka_logs",
    "summarise",
]

#: The faults a soak may repeat: a broker away and back (the workers and merger stay).
SOAK_KINDS = ("kill_broker", "restart_broker")
MIB = 1024 * 1024
#: A worker's RSS must stay under this (issue 21).
WORKER_RSS_LIMIT = 1024 * MIB
#: Lag is "settled" when the median of a period's last minute is below this many seconds
#: of input (the bench's ramp allows a lag of at most 5 s of input).
SETTLED_LAG_S = 5.0


def fault_times(minutes: float, period_s: float) -> list[float]:
    """Seconds into the soak of each fault: every ``period_s``, none at or after the end."""
    end = minutes * 60.0
    times, k = [], 1
    while k * period_s < end:
        times.append(k * period_s)
        k += 1
    return times


def proc_stats(pid: int) -> dict[str, float] | None:
    """RSS and peak RSS (MiB) and CPU seconds of ``pid`` from /proc; None once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    kib = {}
    for line in status.splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            kib[name] = int(value.split()[0])
    if "VmRSS" not in kib:  # a zombie: exited, not yet reaped
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    cpu_s = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14, 15)
    return {
        "rss_mib": round(kib["VmRSS"] / 1024, 1),
        "hwm_mib": round(kib.get("VmHWM", 0) / 1024, 1),
        "cpu_s": round(cpu_s, 2),
    }


@dataclass
class Soak(Chaos):
    """A soak run (module doc); ``rounds`` and ``every_s`` of :class:`Chaos` are unused."""

    minutes: float = 30.0
    period_s: float = 300.0
    kinds: tuple[str, ...] = ("kill_broker",)
    sample_s: float = 10.0
    #: How long a round waits for every replica to be back in sync before it is skipped.
    in_sync_wait_s: float = 300.0
    snapshot_interval_s: float | None = None  # the config's (60 s): no merger is killed
    posts: int = 0  # 0: more than the soak can send (it ends the firehose itself)
    samples: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    phase: str = "start"
    drain_s: float | None = None
    started_utc: str = ""
    _t0: float = 0.0
    _stop_sampling: threading.Event = field(default_factory=threading.Event)
    _sampler: threading.Thread | None = None

    def __post_init__(self) -> None:
        unknown = [k for k in self.kinds if k not in SOAK_KINDS]
        if unknown or not self.kinds:
            raise ValueError(f"soak fault kinds are {', '.join(SOAK_KINDS)}; got {unknown}")
        if not self.posts:
            self.posts = int(self.rate * (self.minutes * 60 + 900))

    # --- the run --------------------------------------------------------------------------

    def run(self) -> ChaosResult:
        if (self.out / "kafka").exists():
            raise ValueError(f"{self.out} holds a run already: pass a new --out")
        self.started_utc = _utc()
        result: ChaosResult | None = None
        error: str | None = None
        try:
            result = super().run()
        except BaseException as exc:
            error = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            self._stop_sampler()
            summary = summarise(self.describe(), self.samples, self.faults, self.checks,
                                result, error)  # fmt: skip
            (self.out / "soak.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
            try:
                plot(self.samples, self.faults, self.out / "soak.png", self.rate)
            except ImportError:
                self.log("no matplotlib: no soak.png")
        assert result is not None
        return result

    def describe(self) -> dict[str, Any]:
        return {
            "started_utc": self.started_utc, "ended_utc": _utc(), "seed": self.seed,
            "rate": self.rate, "minutes": self.minutes, "period_s": self.period_s,
            "kinds": list(self.kinds), "workers": self.start_workers,
            "sample_s": self.sample_s, "cores": os.cpu_count(), "machine": platform.machine(),
            "drain_s": self.drain_s, "out": str(self.out),
        }  # fmt: skip

    def _rounds(self, rng: random.Random, began: float) -> None:
        """One fault every ``period_s`` for ``minutes``, the processes watched meanwhile."""
        self._t0 = time.monotonic()
        self.phase = "soak"
        self._sampler = threading.Thread(target=self._sample_loop, name="soak-sampler",
                                         daemon=True)  # fmt: skip
        self._sampler.start()
        bootstrap = self.env["KAFKA_BOOTSTRAP"]
        for i, at in enumerate(fault_times(self.minutes, self.period_s)):
            self._watch_until(self._t0 + at)
            kind = self.kinds[i % len(self.kinds)]
            waited = time.monotonic()
            try:
                wait_until("every replica in sync", lambda: all_in_sync(bootstrap),
                           self.in_sync_wait_s)  # fmt: skip
            except AssertionError:
                what = f"{kind} skipped: replicas not in sync after {self.in_sync_wait_s:.0f} s"
            else:  # not kill_broker's fallback (a worker killed): the workers stay
                what = self._bounce_broker(rng, graceful=kind == "restart_broker")
            fault = {"t": round(waited - self._t0, 1), "kind": kind, "what": what,
                     "took_s": round(time.monotonic() - waited, 1)}  # fmt: skip
            self.faults.append(fault)
            self.done.append(what)
            self.log(f"fault {i + 1} at {fault['t']:.0f} s ({fault['took_s']:.0f} s): {what}")
        self._watch_until(self._t0 + self.minutes * 60)
        self.log(f"soak over after {time.monotonic() - self._t0:.0f} s; draining")

    def _watch_until(self, deadline: float) -> None:
        """Sleep until ``deadline``; the firehose, the merger and every worker must live."""
        assert self.producer is not None and self.merger is not None
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 1.0))
            for name, proc in [("firehose", self.producer), ("merger", self.merger),
                               *[("worker", w) for w in self.workers]]:  # fmt: skip
                if proc.poll() is not None:
                    raise AssertionError(
                        f"the {name} (pid {proc.pid}) exited {proc.returncode} "
                        f"{time.monotonic() - self._t0:.0f} s into the soak"
                    )

    def _finish(self) -> int:
        self.phase = "drain"
        began = time.monotonic()
        produced = super()._finish()
        self.drain_s = round(time.monotonic() - began, 1)
        return produced

    def _check(self, produced: int) -> int:
        """As :meth:`Chaos._check`, every comparison made and recorded before failing."""
        self._stop_sampler()
        self.phase = "check"
        self.checks["produced"] = produced
        began = time.monotonic()
        out = self.out / "truth"
        cli(["truth", *self.seeded, "--posts", str(produced), "--output-dir", str(out)],
            self.env, timeout=3600)  # fmt: skip
        want = parquet_signals(out)
        self.checks |= {"truth_rows": want.height, "truth_s": round(time.monotonic() - began)}
        failed = []
        for name in ("parquet", "topic"):
            if name == "parquet":
                got = parquet_signals(self.out / "signals-out")
            else:
                got = topic_signals(self.env)
            self.checks[f"{name}_rows"] = got.height
            try:
                assert_same_signals(got, want)
            except AssertionError as exc:
                self.checks[f"{name}_equal"] = False
                self.checks[f"{name}_error"] = str(exc)[:3000]
                failed.append(name)
                if name == "topic":  # kept for a look (the Parquet ones are in signals-out)
                    got.write_parquet(self.out / "topic-signals.parquet")
            else:
                self.checks[f"{name}_equal"] = True
        letters = dead_letters(self.env)
        self.checks["dead_letters"] = len(letters)
        self.checks["check_s"] = round(time.monotonic() - began)
        if failed or letters:
            raise AssertionError(f"not the truth: {failed or ''} {len(letters)} dead letters")
        return want.height

    # --- the sampler ----------------------------------------------------------------------

    def _stop_sampler(self) -> None:
        self._stop_sampling.set()
        if self._sampler is not None:
            self._sampler.join(timeout=120)

    def _sample_loop(self) -> None:
        bootstrap = self.env["KAFKA_BOOTSTRAP"]
        posts = self.env.get("DATAMOAT_KAFKA_POSTS_TOPIC", "posts")
        workers = RenewedLag(bootstrap, posts, GROUP)
        # internal topics are "<group>.partials" (kafka.internal_prefix is empty)
        merger = RenewedLag(bootstrap, f"{GROUP}.partials", merge_group(GROUP))
        due = time.monotonic()
        try:
            with (self.out / "samples.ndjson").open("ab") as fh:
                while not self._stop_sampling.wait(max(0.0, due - time.monotonic())):
                    due += self.sample_s
                    try:
                        sample = self._sample(workers, merger, posts)
                    except Exception as exc:  # a sample lost, not the sampler
                        self.log(f"sample failed: {type(exc).__name__}: {exc}")
                        continue
                    self.samples.append(sample)
                    fh.write(orjson.dumps(sample) + b"\n")
                    fh.flush()
        finally:
            workers.close()
            merger.close()

    def _sample(self, workers: RenewedLag, merger: RenewedLag, posts: str) -> dict[str, Any]:
        began = time.monotonic()
        procs: dict[str, Any] = {}
        named = [("producer", "producer", self.producer), *[
            (f"worker-{w.pid}", "worker", w) for w in list(self.workers)
        ]]  # fmt: skip
        if self.merger is not None:
            named.append((f"merger-{self.merger.pid}", "merger", self.merger))
        for name, role, proc in named:
            if proc is not None and (stats := proc_stats(proc.pid)) is not None:
                procs[name] = {"role": role, "pid": proc.pid, **stats}
        if self.cluster is not None:
            for node in self.cluster.status().nodes:
                if node.running and node.pid and (stats := proc_stats(node.pid)) is not None:
                    procs[f"broker-{node.node_id}"] = {"role": "broker", "pid": node.pid, **stats}
        lag = workers.read()
        merger_lag = merger.read()
        end = workers.end()
        return {
            "t": round(began - self._t0, 1), "utc": _utc(), "phase": self.phase,
            "load1": float(Path("/proc/loadavg").read_text().split()[0]),
            "procs": procs,
            "lag_workers": sum(lag.values()) if lag else None,
            "lag_workers_by_partition": {str(p): n for p, n in sorted(lag.items())},
            "lag_merger": sum(merger_lag.values()) if merger_lag else None,
            "posts_end": end, "in_sync": all_in_sync(self.env["KAFKA_BOOTSTRAP"]),
            "lag_renewals": workers.renewals + merger.renewals,
            "took_s": round(time.monotonic() - began, 2),
        }  # fmt: skip


class RenewedLag:
    """:class:`GroupLag` made anew after a read that failed (its consumer too, not only the
    admin client that ``GroupLag`` itself now renews: kafka-python's admin client caches a
    group's coordinator, so once a broker restart moved it every ``list_group_offsets`` of
    that client failed with ``NotCoordinatorError``)."""

    def __init__(self, bootstrap: str, topic: str, group: str) -> None:
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.reader: GroupLag | None = None
        self.renewals = 0

    def read(self) -> dict[int, int]:
        for _ in range(2):
            if self.reader is None:
                try:
                    self.reader = GroupLag(self.bootstrap, self.topic, self.group)
                except KafkaError:
                    return {}
            if lag := self.reader.read():
                return lag
            self.renewals += 1
            self.close()
        return {}

    def end(self) -> int | None:
        """The sum of the topic's end offsets (None: no answer)."""
        if self.reader is None:
            return None
        consumer = self.reader.consumer
        try:
            parts = consumer.partitions_for_topic(self.topic) or set()
            ends = consumer.end_offsets([TopicPartition(self.topic, p) for p in parts])
        except KafkaError:
            return None
        return sum(ends.values()) if ends else None

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


# --- the summary ----------------------------------------------------------------------------


def summarise(
    run: dict[str, Any],
    samples: list[dict[str, Any]],
    faults: list[dict[str, Any]],
    checks: dict[str, Any],
    result: ChaosResult | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """The soak's figures from its samples: lag (max, per period, at the end), RSS per
    process (the first sample at 60 s or later, the last, the max), posts, the check."""
    soak = [s for s in samples if s["phase"] == "soak"]
    rate = float(run.get("rate") or 0.0)
    bounds = [0.0, *[f["t"] for f in faults], float("inf")]
    periods = []
    for lo, hi in itertools.pairwise(bounds):
        inside = [s for s in soak if lo <= s["t"] < hi]
        if not inside:
            continue
        last_t = inside[-1]["t"]
        peak_t = _argmax(inside, "lag_workers")
        calm = [
            s["t"]
            for s in inside
            if peak_t is not None
            and s["t"] >= peak_t
            and s["lag_workers"] is not None
            and s["lag_workers"] <= rate * SETTLED_LAG_S
        ]
        periods.append({
            "from_s": lo, "to_s": last_t, "workers_max_at_s": peak_t,
            "workers_settled_after_s": round(calm[0] - lo, 1) if calm else None,
            **{f"{who}_max": _max(inside, f"lag_{who}") for who in ("workers", "merger")},
            **{f"{who}_last_minute_median": _median(
                [s for s in inside if s["t"] > last_t - 60], f"lag_{who}"
            ) for who in ("workers", "merger")},
        })  # fmt: skip
    settled = [p["workers_last_minute_median"] for p in periods]
    lag = {
        "workers_max": _max(soak, "lag_workers"),
        "workers_max_at_s": _argmax(soak, "lag_workers"),
        "workers_at_end": _last(soak, "lag_workers"),
        "merger_max": _max(soak, "lag_merger"),
        "merger_at_end": _last(soak, "lag_merger"),
        "unread_samples": sum(s["lag_workers"] is None for s in soak),
        "reader_renewals": _last(soak, "lag_renewals"),
        "periods": periods,
        "settled_limit": rate * SETTLED_LAG_S,
        "bounded": bool(settled)
        and all(v is not None and v <= rate * SETTLED_LAG_S for v in settled),
    }
    rss: dict[str, Any] = {}
    for name in sorted({n for s in soak for n in s["procs"]}, key=_proc_order):
        seen = [(s["t"], s["procs"][name]) for s in soak if name in s["procs"]]
        after = next(((t, p) for t, p in seen if t >= 60), seen[0])
        late = [(t, p["rss_mib"]) for t, p in seen if t >= 600]
        rss[name] = {
            "role": seen[0][1]["role"], "after_60s_mib": after[1]["rss_mib"],
            "end_mib": seen[-1][1]["rss_mib"], "max_mib": max(p["rss_mib"] for _, p in seen),
            "peak_hwm_mib": max(p["hwm_mib"] for _, p in seen),
            "growth_mib": round(seen[-1][1]["rss_mib"] - after[1]["rss_mib"], 1),
            "slope_mib_per_10min_after_10min": _slope(late, 600.0),
            "cpu_s": seen[-1][1]["cpu_s"], "samples": len(seen),
        }  # fmt: skip
    workers = [v for v in rss.values() if v["role"] == "worker"]
    span = soak[-1]["t"] - soak[0]["t"] if len(soak) > 1 else 0.0
    delivered = [s for s in soak if s["posts_end"] is not None]
    produced = checks.get("produced") or (result.produced if result else None)
    verdict = {
        "lag_bounded": lag["bounded"],
        "worker_rss_under_1gib": bool(workers)
        and all(w["max_mib"] * MIB <= WORKER_RSS_LIMIT for w in workers),
        "equal_to_truth": bool(
            checks.get("parquet_equal")
            and checks.get("topic_equal")
            and checks.get("dead_letters") == 0
        ),
    }
    return {
        **run,
        "error": error,
        "produced": produced,
        "soak_s": round(span, 1),
        "delivered_per_s": round((delivered[-1]["posts_end"] - delivered[0]["posts_end"])
                                 / (delivered[-1]["t"] - delivered[0]["t"]), 1)
        if len(delivered) > 1 and delivered[-1]["t"] > delivered[0]["t"] else None,
        "faults": faults,
        "in_sync_again_s": _in_sync_again(soak, faults),
        "load1": {"min": _min(soak, "load1"), "median": _median(soak, "load1"),
                  "max": _max(soak, "load1")},
        "lag": lag,
        "rss": rss,
        "checks": checks,
        "verdict": verdict,
    }  # fmt: skip


def _proc_order(name: str) -> tuple[int, str]:
    roles = ("worker", "merger", "producer", "broker")
    return next((i for i, r in enumerate(roles) if name.startswith(r)), len(roles)), name


def _values(samples: list[dict[str, Any]], key: str) -> list[float]:
    return [s[key] for s in samples if s.get(key) is not None]


def _max(samples: list[dict[str, Any]], key: str) -> float | None:
    values = _values(samples, key)
    return max(values) if values else None


def _min(samples: list[dict[str, Any]], key: str) -> float | None:
    values = _values(samples, key)
    return min(values) if values else None


def _median(samples: list[dict[str, Any]], key: str) -> float | None:
    values = _values(samples, key)
    return statistics.median(values) if values else None


def _last(samples: list[dict[str, Any]], key: str) -> float | None:
    values = _values(samples, key)
    return values[-1] if values else None


def _argmax(samples: list[dict[str, Any]], key: str) -> float | None:
    values = [s for s in samples if s.get(key) is not None]
    return max(values, key=lambda s: s[key])["t"] if values else None


def _slope(points: list[tuple[float, float]], per_s: float) -> float | None:
    """Least-squares slope of ``points`` (t, y), in y per ``per_s`` seconds."""
    if len(points) < 3:
        return None
    slope = statistics.linear_regression([t for t, _ in points], [y for _, y in points]).slope
    return round(slope * per_s, 2)


def _in_sync_again(samples: list[dict[str, Any]], faults: list[dict[str, Any]]) -> list[Any]:
    """Per fault, seconds from its start until a sample saw every replica in sync."""
    again = []
    for f in faults:
        after = [s for s in samples if s["t"] > f["t"] + f["took_s"] and s["in_sync"]]
        again.append(round(after[0]["t"] - f["t"], 1) if after else None)
    return again


def _utc() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the picture ----------------------------------------------------------------------------


def plot(
    samples: list[dict[str, Any]], faults: list[dict[str, Any]], png: Path, rate: float
) -> None:
    """Lag (posts, and seconds of input) and RSS per process over the soak; faults marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    soak = [s for s in samples if s["phase"] == "soak"]
    if not soak:
        return
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6.5), sharex=True)
    for key, label in (("lag_workers", "workers (posts topic)"),
                       ("lag_merger", "merger (partials topic)")):  # fmt: skip
        pts = [(s["t"] / 60, s[key]) for s in soak if s[key] is not None]
        top.plot([t for t, _ in pts], [v for _, v in pts], label=label, lw=1.2)
    top.set_ylabel("consumer lag (records)")
    top.set_title(
        f"Soak: {rate:,.0f} posts/s, three brokers, a broker restarted every "
        f"{(faults[1]['t'] - faults[0]['t']) / 60 if len(faults) > 1 else 5:.0f} min"
    )
    if rate:
        right = top.secondary_yaxis("right", functions=(lambda x: x / rate, lambda s: s * rate))
        right.set_ylabel("seconds of input")
    names = sorted({n for s in soak for n in s["procs"]}, key=_proc_order)
    for name in names:
        pts = [(s["t"] / 60, s["procs"][name]["rss_mib"]) for s in soak if name in s["procs"]]
        style = "--" if name.startswith("broker") else "-"
        bottom.plot([t for t, _ in pts], [v for _, v in pts], style, label=name, lw=1.2)
    bottom.set_ylabel("RSS (MiB)")
    bottom.set_xlabel("minutes into the soak")
    for ax in (top, bottom):
        for f in faults:
            ax.axvline(f["t"] / 60, color="grey", ls=":", lw=1)
        ax.grid(alpha=0.3)
    top.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.25, 0.9))  # between the faults
    bottom.legend(fontsize=7, loc="upper left", ncols=2)
    for f in faults:  # "kill n2": SIGKILLed; "restart n2": stopped gracefully
        node = f["what"].split(" node ")[-1].split(",")[0] if " node " in f["what"] else "?"
        top.annotate(f"{f['kind'].split('_')[0]} n{node}", (f["t"] / 60, 1.0),
                     xycoords=("data", "axes fraction"), xytext=(2, -10),
                     textcoords="offset points", fontsize=7, color="grey")  # fmt: skip
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)
    plt.close(fig)


def load_samples(out: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in (out / "samples.ndjson").read_bytes().splitlines()]


def main(argv: list[str] | None = None) -> int:
    """Resum and redraw a finished soak from its ``samples.ndjson`` and ``soak.json``."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("out", type=Path, help="the soak's --out")
    p.add_argument("--png", type=Path, default=None, help="draw here (default OUT/soak.png)")
    args = p.parse_args(argv)
    old = orjson.loads((args.out / "soak.json").read_bytes())
    samples = load_samples(args.out)
    keys = ("started_utc", "ended_utc", "seed", "rate", "minutes", "period_s", "kinds",
            "workers", "sample_s", "cores", "machine", "drain_s", "out")  # fmt: skip
    summary = summarise({k: old.get(k) for k in keys}, samples, old["faults"], old["checks"],
                        None, old.get("error"))  # fmt: skip
    summary["produced"] = summary["produced"] or old.get("produced")
    (args.out / "soak.json").write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    plot(samples, old["faults"], args.png or args.out / "soak.png", float(old["rate"]))
    print(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
    return 0


def quiet_kafka_logs() -> None:
    """The sampler's clients retry through a broker's restart: no warning per retry."""
    logging.getLogger("kafka").setLevel(logging.ERROR)


if __name__ == "__main__":
    raise SystemExit(main())
