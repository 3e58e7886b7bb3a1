"""The three modes: ``drain``, ``fixed`` and ``max``, each giving a summary and a timeline."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from datamoat.bench import ramp
from datamoat.bench.alerts import alert_figures, alert_notes
from datamoat.bench.peers.rounds import PEERS, check_peers_installed, run_rounds
from datamoat.bench.runner import FILL_START, Broker, Run, broker, datamoat, run_env, run_measured
from datamoat.bench.sampler import Sample, wait_rusage
from datamoat.bench.summary import drain_span, histogram_quantile, make_bench_summary
from datamoat.bench.timeline import Timeline, timeline_of
from datamoat.config import load_config
from datamoat.errors import BrokerError, ConfigError

__all__ = ["BenchOptions", "run_bench"]


@dataclass(frozen=True)
class BenchOptions:
    mode: str
    transport: str
    posts: int | None
    duration_s: float | None
    seed: int
    rate: float
    workers: int
    bootstrap: str | None
    work: Path
    interval_s: float = 0.25
    unpaced: bool = False
    start_rate: float = 5_000.0
    step_s: float = 20.0
    config: Path | None = None
    peers: bool = False
    rounds: int = 3


Progress = Callable[[str, Sample], None]
Log = Callable[[str], None]


def _common(o: BenchOptions, b: Broker | None) -> list[str]:
    args = ["--quiet"]
    if o.config is not None:
        args += ["--config", str(o.config)]
    if b is not None:
        args += ["--bootstrap", b.bootstrap]
    return args


def _run_has_workers() -> bool:
    out = subprocess.run(datamoat("run", "--help"), capture_output=True, text=True, check=False)
    return "--workers" in out.stdout


def _span_rate(run: Run, processed: int) -> tuple[float, float]:
    """posts/s from the first to the last processed post (from /metrics samples); falls
    back to the command's wall time when the run was too short to sample."""
    points = [(s.t, s.metrics.processed) for s in run.samples if s.metrics is not None]
    span = drain_span(points)
    seconds = (span[1] - span[0]) if span else run.wall_s
    return processed / max(seconds, 1e-9), seconds


def _resources(runs: list[Run]) -> tuple[dict[str, float], dict[str, int]]:
    cpu: dict[str, float] = {}
    rss: dict[str, int] = {}
    for r in runs:
        cpu[r.name] = cpu.get(r.name, 0.0) + r.exit.cpu_s
        rss[r.name] = max(rss.get(r.name, 0), r.exit.peak_rss_bytes)
        if r.broker_cpu_s is not None:
            cpu["broker"] = cpu.get("broker", 0.0) + r.broker_cpu_s
        if r.broker_peak_rss is not None:
            rss["broker"] = max(rss.get("broker", 0), r.broker_peak_rss)
    return cpu, rss


def _latency_max(run: Run) -> float | None:
    last = next((s.metrics for s in reversed(run.samples) if s.metrics), None)
    return None if last is None else histogram_quantile(last.latency_buckets, 1.0)


def _drain(o: BenchOptions, b: Broker | None, progress: Progress, log: Log) -> dict[str, Any]:
    posts = o.posts or round(o.rate * (o.duration_s or 60))
    notes = ["emit latency is not measured in a drain: the posts are older than the run"]
    if o.transport == "memory":
        run = run_measured(
            "run", ["run", "--transport", "memory", "--unpaced", "--posts", str(posts),
                    "--seed", str(o.seed), "--start", FILL_START, "--output-dir",
                    str(o.work / "out"), *_common(o, None)],
            env=dict(os.environ), work=o.work, broker=None, interval_s=o.interval_s,
            on_sample=lambda s: progress("drain (memory)", s),
        )  # fmt: skip
        runs, measured = [run], run
        notes.append("memory transport: firehose and worker in one process, no Kafka")
    else:
        assert b is not None
        env = run_env()
        fill = run_measured(
            "produce", ["produce", "--unpaced", "--posts", str(posts), "--seed", str(o.seed),
                        "--start", FILL_START, *_common(o, b)],
            env=env, work=o.work, broker=b, interval_s=o.interval_s, http=False,
            on_sample=lambda s: progress("fill", s),
        )  # fmt: skip
        log(f"filled {posts:,} posts in {fill.wall_s:.1f} s; warming the broker up with an "
            f"unmeasured drain of {WARM_UP_POSTS:,} posts ...")  # fmt: skip
        warm = _warm_up(o, b)
        if o.peers:
            log(f"warmed up in {warm:.1f} s; {o.rounds} rounds of datamoat, "
                f"{', '.join(PEERS)} ...")  # fmt: skip
            got = _peer_rounds(o, b, env["DATAMOAT_KAFKA_POSTS_TOPIC"], posts, fill, log)
        else:
            log(f"warmed up in {warm:.1f} s; draining with one worker and the merger ...")
            got = _kafka_drain(o, b, env, posts, fill, progress, log)
        got["notes"].append(
            f"before the measured runs, an unmeasured drain of {WARM_UP_POSTS:,} other posts "
            f"({warm:.1f} s) warmed the broker up: a JVM runs its fetch and transaction "
            "paths slowly until they are compiled, and a production broker has been up for days"
        )
        return got
    processed = int(measured.summary.get("processed", 0))
    rate, seconds = _span_rate(measured, processed)
    notes.append(
        f"posts/s from the first to the last processed post ({seconds:.2f} s); "
        f"start to exit: {processed / measured.wall_s:,.0f}/s ({measured.wall_s:.2f} s)"
    )
    cpu, rss = _resources(runs)
    tl = timeline_of(measured.samples, lag_from_gauge=o.transport == "kafka")
    return dict(
        posts=processed, processed_per_s=rate, latency_p50_s=None, latency_p99_s=None,
        cpu=cpu, rss=rss, timeline=tl, notes=notes,
        wall_start_to_exit_s=round(measured.wall_s, 3),
        posts_per_s_start_to_exit=round(processed / measured.wall_s, 1),
    )  # fmt: skip


#: Posts of the unmeasured drain that warms a broker up before a drain is measured.
WARM_UP_POSTS = 50_000


def _stages(o: BenchOptions, b: Broker, out: Path) -> tuple[list[str], list[str]]:
    """A drain's merger (``merge --until-ended``, its signals under ``out``) and worker
    (``process --until-idle --idle-s 0``: it stops at the end offsets; its /metrics port
    is the caller's) as ``datamoat`` arguments."""
    common = _common(o, b)
    return (
        ["merge", "--until-ended", "--http-port", "0", "--output-dir", str(out), *common],
        ["process", "--until-idle", "--idle-s", "0", *common],
    )


def _warm_up(o: BenchOptions, b: Broker) -> float:
    """Fill topics of their own with :data:`WARM_UP_POSTS` posts and drain them with a
    worker and the merger, unmeasured; the seconds it took."""
    env = run_env()
    merge, process = _stages(o, b, o.work / "warm-up")
    t0 = time.monotonic()
    log_path = o.work / "warm-up.stderr"
    with log_path.open("wb") as err:

        def run(*args: str) -> int:
            done = subprocess.run(datamoat(*args), env=env, stdout=subprocess.DEVNULL, stderr=err)
            return done.returncode

        codes = [run("produce", "--unpaced", "--posts", str(WARM_UP_POSTS), "--seed",
                     str(o.seed + 1), "--start", FILL_START, *_common(o, b))]  # fmt: skip
        if not codes[0]:
            merger = subprocess.Popen(datamoat(*merge), env=env, stdout=subprocess.DEVNULL,
                                      stderr=err)  # fmt: skip
            codes.append(run(*process, "--http-port", "0"))
            try:
                codes.append(merger.wait(timeout=300))
            except subprocess.TimeoutExpired:
                merger.kill()
                merger.wait()
                codes.append(-1)
    if any(codes):
        tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
        raise BrokerError("the broker's warm-up drain failed: " + " | ".join(tail))
    return time.monotonic() - t0


def _kafka_drain(
    o: BenchOptions, b: Broker, env: dict[str, str], posts: int, fill: Run,
    progress: Progress, log: Log,
) -> dict[str, Any]:  # fmt: skip
    """The worker (``process --until-idle --idle-s 0``: it stops at the end offsets) and
    the merger (``merge --until-ended``) drain the topic together; then the same posts go
    through ``process --input`` (both stages in one process, no Kafka) for the ratio."""
    merge, process = _stages(o, b, o.work / "out")
    t0 = time.monotonic()
    with (o.work / "merge.stderr").open("wb") as err:
        merger = subprocess.Popen(datamoat(*merge), env=env, stdout=subprocess.DEVNULL, stderr=err)
    try:
        worker = run_measured(
            "process", process,
            env=env, work=o.work, broker=b, interval_s=o.interval_s,
            on_sample=lambda s: progress("drain", s),
        )  # fmt: skip
    finally:
        merged = wait_rusage(merger, 600.0)
    both_s = time.monotonic() - t0
    if merged.returncode != 0:
        tail = (o.work / "merge.stderr").read_text(errors="replace").strip().splitlines()[-5:]
        raise BrokerError(f"datamoat merge exited with {merged.returncode}: " + " | ".join(tail))
    processed = int(worker.summary.get("processed", 0))
    worker_rate, seconds = _span_rate(worker, processed)

    log(f"drained in {both_s:.1f} s; the same posts through process --input ...")
    posts_file = _posts_file(o, posts)
    local = run_measured(
        "process-input", ["process", "--input", str(posts_file), "--output-dir",
                          str(o.work / "out-input"), "--quiet"],
        env=dict(os.environ), work=o.work, broker=None, interval_s=o.interval_s, http=False,
        on_sample=lambda s: progress("process --input", s),
    )  # fmt: skip
    rate = processed / max(both_s, 1e-9)
    local_rate = int(local.summary.get("processed", 0)) / max(local.wall_s, 1e-9)
    cpu, rss = _resources([worker])
    cpu["merge"], rss["merge"] = merged.cpu_s, merged.peak_rss_bytes
    return dict(
        posts=processed, processed_per_s=rate, latency_p50_s=None, latency_p99_s=None,
        cpu=cpu, rss=rss, timeline=timeline_of(worker.samples, lag_from_gauge=True),
        wall_start_to_exit_s=round(both_s, 3),
        process_input_posts_per_s=round(local_rate, 1),
        ratio_to_process_input=round(rate / max(local_rate, 1e-9), 3),
        worker_posts_per_s=round(worker_rate, 1),
        notes=[
            "emit latency is not measured in a drain: the posts are older than the run",
            f"posts/s from the start of the worker and the merger until both exited, every "
            f"signal written ({both_s:.2f} s); the worker alone, first to last post: "
            f"{worker_rate:,.0f}/s ({seconds:.2f} s)",
            f"the same posts through process --input (a file, both stages in one process): "
            f"{local_rate:,.0f}/s start to exit ({local.wall_s:.2f} s); drain / process "
            f"--input = {rate / max(local_rate, 1e-9):.2f}",
            f"fill (datamoat produce --unpaced, not counted): {fill.wall_s:.1f} s, "
            f"{fill.exit.cpu_s:.1f} CPU s",
        ],
    )  # fmt: skip


def _posts_file(o: BenchOptions, posts: int) -> Path:
    """The filled topic's posts as NDJSON (the same seed and start), for ``process --input``."""
    path = o.work / "posts.ndjson"
    subprocess.run(datamoat("produce", "--posts", str(posts), "--seed", str(o.seed), "--start",
                            FILL_START, "--output", str(path), "--quiet"),
                   check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    return path


def _peer_rounds(
    o: BenchOptions, b: Broker, topic: str, posts: int, fill: Run, log: Log
) -> dict[str, Any]:
    got = run_rounds(bootstrap=b.bootstrap, topic=topic, posts=posts, rounds=o.rounds,
                     work=o.work / "peers", common=_common(o, b), log=log,
                     input_file=_posts_file(o, posts))  # fmt: skip
    ref = got["process_input"]
    return dict(
        posts=posts, processed_per_s=got["processed_per_s"], latency_p50_s=None,
        latency_p99_s=None, cpu=got["cpu"], rss=got["rss"], timeline=Timeline(),
        peers=got["peers"], rounds_posts_per_s=got["rounds_posts_per_s"],
        process_input=ref, process_input_posts_per_s=ref["posts_per_s"],
        ratio_to_process_input=ref["drain_ratio"],
        notes=[
            "posts/s from start to exit, median of the rounds; datamoat is its two stages "
            "(process --until-idle and merge --until-ended, exactly once), each peer one "
            "process (datamoat/bench/peers/)",
            "each round also runs the same posts through process --input (both stages in one "
            "process, no Kafka): the drain's ratio to it is the median of the rounds' own "
            "ratios; its multiple of a peer is what the drain would reach if Kafka cost "
            "nothing",
            "rounds interleaved, the order rotating; each system's output checked against "
            "datamoat's of the same round (windows, '*' counts, per key posts, sentiment "
            "means to 1e-9)",
            f"fill (datamoat produce --unpaced, not counted): {fill.wall_s:.1f} s",
        ],
    )  # fmt: skip


def _fixed_run(
    o: BenchOptions, b: Broker | None, rate: float, progress: Progress, label: str,
    duration_s: float | None, posts: int | None,
) -> Run:  # fmt: skip
    args = ["run", "--transport", o.transport, "--rate", f"{rate:g}", "--seed", str(o.seed),
            "--output-dir", str(o.work / "out"), *_common(o, b)]  # fmt: skip
    if duration_s is not None:
        args += ["--duration", f"{duration_s:g}"]
    elif posts is not None:
        args += ["--posts", str(posts)]
    if o.unpaced:
        args.append("--unpaced")
    if o.workers > 1:
        args += ["--workers", str(o.workers)]
    env = run_env() if o.transport == "kafka" else dict(os.environ)
    return run_measured(
        "run", args, env=env, work=o.work, broker=b, interval_s=o.interval_s,
        on_sample=lambda s: progress(label, s),
    )  # fmt: skip


def _fixed(o: BenchOptions, b: Broker | None, progress: Progress, log: Log) -> dict[str, Any]:
    duration = o.duration_s if o.posts is None else None
    if duration is None and o.posts is None:
        duration = 60.0
    run = _fixed_run(o, b, o.rate, progress, f"fixed {o.rate:,.0f}/s", duration, o.posts)
    processed = int(run.summary.get("processed", 0))
    rate, _ = _span_rate(run, processed)
    cpu, rss = _resources([run])
    return dict(
        posts=processed, processed_per_s=rate,
        latency_p50_s=run.summary.get("latency_p50_s"),
        latency_p99_s=run.summary.get("latency_p99_s"), latency_max_s=_latency_max(run),
        cpu=cpu, rss=rss, timeline=timeline_of(run.samples, lag_from_gauge=False),
        target_rate=None if o.unpaced else o.rate, unpaced=o.unpaced,
        produced_per_s=run.summary.get("produced_per_s"),
        alerts=alert_figures(run.summary, _lateness_s(o)),
        notes=["emit latency: signal emit time minus window end (includes the 5 s lateness);"
               " max is the upper bound of its histogram bucket",
               alert_notes()],
    )  # fmt: skip


def _lateness_s(o: BenchOptions) -> float:
    return load_config(o.config, env=os.environ).window.allowed_lateness_s


def _max(o: BenchOptions, b: Broker | None, progress: Progress, log: Log) -> dict[str, Any]:
    steps: list[ramp.Step] = []
    runs: dict[float, Run] = {}
    warmup = o.step_s / 3
    while (rate := ramp.next_rate(steps, o.start_rate)) is not None:
        rate = round(rate)
        run = _fixed_run(o, b, rate, progress, f"max: step {len(steps) + 1} at {rate:,}/s",
                         o.step_s, None)  # fmt: skip
        points = [ramp.Point(s.t, s.metrics.produced, s.metrics.consumed)
                  for s in run.samples if s.metrics is not None]  # fmt: skip
        step = ramp.judge(points, rate, warmup)
        steps.append(step)
        runs[rate] = run
        log(f"step {len(steps)}: {rate:,} posts/s -> {step.reason}")
    top = ramp.best(steps)
    if top is None:
        raise ConfigError(f"no rate from {o.start_rate:,.0f}/s down was sustained: "
                          "lower --start-rate")  # fmt: skip
    run = runs[top.rate]
    cpu, rss = _resources([run])
    return dict(
        posts=int(run.summary.get("processed", 0)), processed_per_s=top.consumed_per_s,
        latency_p50_s=run.summary.get("latency_p50_s"),
        latency_p99_s=run.summary.get("latency_p99_s"), latency_max_s=_latency_max(run),
        cpu=cpu, rss=rss, timeline=timeline_of(run.samples, lag_from_gauge=False),
        max_sustained_rate=top.rate,
        steps=[asdict(s) for s in steps],
        notes=[ramp.__doc__.split("\n\n")[1].replace("\n", " ") if ramp.__doc__ else ""],
    )  # fmt: skip


def run_bench(
    o: BenchOptions, argv: list[str], progress: Progress, log: Log
) -> tuple[dict[str, Any], Timeline]:
    if o.workers > 1 and not _run_has_workers():
        raise ConfigError(
            f"--workers {o.workers}: this datamoat's 'run' has no --workers yet (the scale-out "
            "change); only --workers 1 can be measured"
        )
    if o.peers:
        if o.mode != "drain" or o.transport != "kafka":
            raise ConfigError("--peers compares drains through Kafka: use it with --mode drain "
                              "(and --transport kafka)")  # fmt: skip
        check_peers_installed()
    o.work.mkdir(parents=True, exist_ok=True)
    modes = {"drain": _drain, "fixed": _fixed, "max": _max}
    with broker(o.bootstrap, o.work, log) if o.transport == "kafka" else nullcontext() as b:
        result = modes[o.mode](o, b, progress, log)
    tl = result.pop("timeline")
    summary = make_bench_summary(
        mode=o.mode, transport=o.transport, workers=o.workers, posts=result.pop("posts"),
        processed_per_s=result.pop("processed_per_s"),
        latency_p50_s=result.pop("latency_p50_s"), latency_p99_s=result.pop("latency_p99_s"),
        cpu_s=result.pop("cpu"), peak_rss_bytes=result.pop("rss"),
        seed=o.seed, date=time.strftime("%Y-%m-%d %H:%M %Z"),
        machine=f"{platform.machine()}, {os.cpu_count()} cores, load average "
                f"{os.getloadavg()[0]:.1f} at the end",
        command="datamoat " + shlex.join(argv), **result,
    )  # fmt: skip
    return summary, tl
