"""Early trend alerts on the synthetic firehose: how often they cry wolf on traffic without
bursts, against the final trend rule on the same windows, and how far ahead of the final
signal they flag the demo's bursts.

.venv/bin/python tests/benchmark/bench_alerts.py [--seeds 1 2 3] [--quiet-hours 6]
    [--diurnal-hours 3] [--demo-minutes 20] [--step-ms 250] [--jobs 2]
    [--rule THRESHOLD MIN_ORIGINALS MIN_ELAPSED_S ...]

Posts come from the firehose in event-time order, one micro-batch per ``--step-ms`` of event
time (no Kafka, no sentiment: ``compound`` is null), through a :class:`WindowEngine` (10-s
tumbling windows, 5-s allowed lateness, one partition, ``stage.early`` on). Each batch's
increments go to one :class:`process.early.EarlySignals` per ``--rule`` (all on the same
engine, so on the same baselines: the real tracker's) and each rule is updated after every
batch, as the worker does. Final signals are taken whenever the watermark passes a window
end (the engine emits nothing in between, so this is the every-batch result) and handed to
every rule's ``finalise`` before its ``update``.

* False alarms: on the two burst-free streams of ``bench_trends.py``, ``quiet`` (flat
  profile, no random bursts, from 2026-01-01T00:00Z) and ``diurnal`` (the real daily profile
  from 08:30 UTC, its steepest rise), one per seed. An episode is a run of consecutive
  windows of one key where the rule holds: the final rule (``TrendConfig.trending``) on the
  final signals, the early rule (a provisional ``trend_score`` >= the rule's threshold, key
  not ``*``) at any update of the window; ``alerts`` is the number EarlySignals raised (one
  per episode). ``max_score``: the highest score of a key (not ``*``); ``retractions``: the
  alerts EarlySignals retracted. ``all``: every window of the stream; ``warm``: the windows
  from the first one the tracker scored warm (``windows_seen >= warmup_windows``, the
  engine's rule; the early rule is gated on the same count), hours counted from there.
  Windows starting within the stream's span count; the loop runs a window and the lateness
  past it so that every alert's confirmation is decided.
* Lead: on the flat demo stream (``flat_demo(1157.0)``, start on a 10-s boundary), for each
  scheduled burst of DEMO_BURSTS (onset = stream start + ``start_ms``): ``final_at`` = the end
  of the first window whose final signal trends the hashtag + the allowed lateness (when the
  watermark lets the final signal out), ``alert_at`` = the ``as_of`` (event time) of the
  first alert on the hashtag, ``lead_s = final_at - alert_at``, ``alert_delay_s = alert_at -
  onset``. ``other_alerts``: alerts on any other key of the demo stream.

``--dump DIR`` writes every update where a rule held (and ``rules.json``); ``--rescore DIR``
then evaluates stricter rules on those rows without running anything (the dumped rule must
be no stricter on any field). For the dumped run's own second rule it gives the run's
figures exactly.

Figures (2026-12-07, x86_64, 2 cores; TrendConfig defaults: alpha 0.02, floor 0.5,
min_support 20, threshold 4.5, warm-up 6 windows)::

    bench_alerts.py --seeds 1 2 3 --quiet-hours 2 --diurnal-hours 1 --demo-minutes 20 \
        --rule 3.5 5 1 --rule 5.5 12 3 --dump D                   (2,179 s on 2 processes)
    bench_alerts.py --rescore D --rule 4.5 10 2 --rule 5.5 12 3 --rule 7.5 10 2

    6 h quiet + 3 h diurnal (3 seeds)  false-alarm episodes  demo bursts (15): alerted,
                                       (alerts, retracted)   lead p50 / min, other alerts
    final rule                         0 (max score 3.62)    -
    early 4.5/10/2 (the old default)   18 (18, 18)           15, 12.75 s / 5.0 s, 2
    early 5.5/12/3                     0                     15, 11.75 s / 1.75 s, 0
    early 7.5/10/2 (AlertRule default) 0 (max score 6.63)    15, 12.75 s / 2.5 s, 0
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, replace
from typing import Any

import polars as pl

from ingest.firehose import Firehose, FirehoseConfig
from ingest.firehose.config import DEMO_BURSTS, Burst, flat_demo
from process.aggregate import STREAM_KEY
from process.early import AlertRule, EarlySignals
from process.engine import WindowEngine
from process.windows import WindowSpec

START = 1_767_225_600_000  # 2026-01-01T00:00:00Z (bench_trends.py's start)
DEMO_START = 1_780_000_000_000 // 10_000 * 10_000  # on a 10-s boundary
HOUR_MS = 3_600_000
SPEC = WindowSpec(size_ms=10_000, hop_ms=10_000, allowed_lateness_ms=5_000)
FLAT = FirehoseConfig(diurnal_swing=1.0, random_bursts_per_day=0.0)
DIURNAL = replace(FLAT, diurnal_swing=FirehoseConfig().diurnal_swing)
MORNING = START + 8 * HOUR_MS + HOUR_MS // 2  # 08:30 UTC: the steepest daily rise


_HELD = {
    "window_start": pl.Int64,
    "key": pl.String,
    "score": pl.Float64,
    "originals": pl.Int64,
    "covered": pl.Float64,
    "as_of": pl.Int64,
}


def _episodes(rows: pl.DataFrame) -> pl.DataFrame:
    """Runs of consecutive windows per key of ``rows`` (window_start, key, score, ...; a
    window may have several rows, one per update where the rule held)."""
    if rows.is_empty():
        return rows.with_columns(pl.lit(0, dtype=pl.UInt32).alias("episode"))
    return rows.sort("key", "window_start").with_columns(
        ((pl.col("window_start").diff().over("key") > SPEC.hop_ms).fill_null(True))
        .cum_sum()
        .alias("episode")
    )


class Run:
    """One stream through one engine and one EarlySignals per rule."""

    def __init__(
        self,
        config: FirehoseConfig,
        seed: int,
        start_ms: int,
        span_ms: int,
        rules: list[AlertRule],
        step_ms: int,
    ) -> None:
        self.fh = Firehose(config, seed, start_ms)
        self.start, self.span, self.step = start_ms, span_ms, step_ms
        self.engine = WindowEngine(SPEC, partitions={0})
        self.engine.stage.early = True
        self.trend = self.engine.trend_config
        self.rules = rules
        self.early = [EarlySignals(SPEC, self.engine.trends, rule) for rule in rules]
        self.final_hits: list[pl.DataFrame] = []
        self.final_max: dict[str, Any] = {"score": 0.0}
        self.early_hits: list[list[pl.DataFrame]] = [[] for _ in rules]
        self.early_max: list[dict[str, Any]] = [{"score": 0.0} for _ in rules]
        self.alerts: list[list[dict[str, Any]]] = [[] for _ in rules]
        self.retracted: list[list[dict[str, Any]]] = [[] for _ in rules]
        self.warm_from: int | None = None  # first window scored with the warm-up done
        self.posts = 0
        self.batches = 0

    def _close(self, now: int) -> None:
        seen = self.engine.trends.windows_seen
        finals = self.engine.close(now)
        if finals.height:
            starts = finals["window_start"].unique().sort().to_list()
            for k, ws in enumerate(starts):
                if self.warm_from is None and seen + k >= self.trend.warmup_windows:
                    self.warm_from = ws
            keyed = finals.filter(pl.col("key") != STREAM_KEY)
            if keyed.height:
                top = keyed.sort("trend_score", descending=True).row(0, named=True)
                if top["trend_score"] > self.final_max["score"]:
                    self.final_max = {
                        "score": top["trend_score"],
                        "key": top["key"],
                        "window_start": top["window_start"],
                        "originals": top["originals"],
                    }
            hits = finals.filter(self.trend.trending())
            if hits.height:
                self.final_hits.append(
                    hits.select(
                        "window_start", "key", pl.col("trend_score").alias("score"), "originals"
                    )
                )
        through = self.engine.merger.closed_through
        for i, early in enumerate(self.early):
            self.retracted[i] += early.finalise(finals, through, now)

    def run(self) -> None:
        hop, lateness = SPEC.hop_ms, SPEC.allowed_lateness_ms
        # past the span: the next window and the lateness (every alert's fate decided)
        stop = self.start + self.span + hop + SPEC.size_ms + lateness + self.step
        idx, max_event, mark_windows = 0, None, None
        t = self.start
        while t < stop:
            t += self.step
            batch = self.fh.take_until(t)
            if batch.height:
                batch = batch.with_columns(
                    pl.lit(0, dtype=pl.Int32).alias("partition"),
                    pl.int_range(idx, idx + batch.height, dtype=pl.Int64).alias("_idx"),
                    pl.lit(None, dtype=pl.Float64).alias("compound"),
                )
                idx += batch.height
                self.batches += 1
                self.posts += batch.filter(pl.col("created_at") < self.start + self.span).height
                self.engine.add(batch, t)
                top: int = batch.select(pl.col("created_at").max()).item()
                max_event = top if max_event is None or top > max_event else max_event
            increments = self.engine.stage.take_early()
            for early in self.early:
                early.add(increments)
            if max_event is not None:
                # the engine's watermark (highest event time - lateness) passed a window end
                windows = (max_event - lateness) // hop
                if mark_windows is None or windows > mark_windows:
                    mark_windows = windows
                    self._close(t)
            for i, early in enumerate(self.early):
                provisional, alerts = early.update(t)
                self.alerts[i] += alerts
                keyed = provisional.filter(pl.col("key") != STREAM_KEY)
                if keyed.is_empty():
                    continue
                best = keyed.select(pl.col("trend_score").arg_max()).item()
                row = keyed.row(best, named=True)
                if row["trend_score"] > self.early_max[i]["score"]:
                    self.early_max[i] = {
                        "score": row["trend_score"],
                        "key": row["key"],
                        "window_start": row["window_start"],
                        "originals": row["originals"],
                        "covered": row["covered"],
                    }
                held = keyed.filter(pl.col("trend_score") >= early.rule.threshold)
                if held.height:
                    self.early_hits[i].append(
                        held.select(
                            "window_start",
                            "key",
                            pl.col("trend_score").alias("score"),
                            "originals",
                            "covered",
                            "as_of",
                        )
                    )

    # --- results ----------------------------------------------------------------------------

    def _in_span(self, rows: pl.DataFrame) -> pl.DataFrame:
        return rows.filter(pl.col("window_start") < self.start + self.span)

    def _count(self, rows: pl.DataFrame, since: int) -> dict[str, Any]:
        """Episodes (and windows) of ``rows`` starting at or after ``since``."""
        eps = _episodes(self._in_span(rows))
        firsts = eps.group_by("key", "episode").agg(pl.col("window_start").min().alias("first"))
        n = firsts.filter(pl.col("first") >= since).height
        hours = (self.start + self.span - since) / HOUR_MS
        return {"hours": round(hours, 3), "episodes": n, "per_hour": round(n / hours, 3)}

    def _listing(self, rows: pl.DataFrame) -> list[dict[str, Any]]:
        eps = _episodes(self._in_span(rows))
        if eps.is_empty():
            return []
        return (
            eps.group_by("key", "episode")
            .agg(
                ((pl.col("window_start").min() - self.start) // SPEC.hop_ms).alias("window"),
                pl.col("window_start").n_unique().alias("windows"),
                pl.col("score").max().round(2).alias("peak_score"),
                pl.col("originals").max().alias("originals"),
            )
            .sort("window", "key")
            .drop("episode")
            .head(20)
            .to_dicts()
        )

    def frame_of(self, hits: list[pl.DataFrame]) -> pl.DataFrame:
        if not hits:
            return pl.DataFrame(
                schema={
                    "window_start": pl.Int64,
                    "key": pl.String,
                    "score": pl.Float64,
                    "originals": pl.Int64,
                }
            )
        return pl.concat([h.select("window_start", "key", "score", "originals") for h in hits])

    def dump(self, to: str | None, name: str) -> None:
        """Write every rule's held rows (each update) and the final trending rows."""
        if to is None:
            return
        os.makedirs(to, exist_ok=True)
        self.frame_of(self.final_hits).write_parquet(f"{to}/{name}-final.parquet")
        for i, hits in enumerate(self.early_hits):
            rows = pl.concat(hits) if hits else pl.DataFrame(schema=_HELD)
            rows.write_parquet(f"{to}/{name}-rule{i}.parquet")

    def background(self) -> dict[str, Any]:
        warm = self.warm_from if self.warm_from is not None else self.start + self.span
        finals = self.frame_of(self.final_hits)
        out: dict[str, Any] = {
            "posts": self.posts,
            "batches": self.batches,
            "warm_from_window": (warm - self.start) // SPEC.hop_ms,
            "final": {
                "all": self._count(finals, self.start),
                "warm": self._count(finals, warm),
                "max_score": round(self.final_max["score"], 2),
                "max_at": self.final_max,
                "episode_list": self._listing(finals),
            },
            "early": [],
        }
        for i, rule in enumerate(self.rules):
            hits = self.frame_of(self.early_hits[i])
            in_span = [a for a in self.alerts[i] if a["window_start"] < self.start + self.span]
            retracted = [r for r in self.retracted[i] if r["window_start"] < self.start + self.span]
            out["early"].append(
                {
                    "rule": asdict(rule),
                    "all": self._count(hits, self.start),
                    "warm": self._count(hits, warm),
                    "alerts": len(in_span),
                    "retractions": len(retracted),
                    "max_score": round(self.early_max[i]["score"], 2),
                    "max_at": self.early_max[i],
                    "episode_list": self._listing(hits),
                }
            )
        return out


def background_run(
    name: str,
    config: FirehoseConfig,
    seed: int,
    start_ms: int,
    hours: float,
    rules: list[AlertRule],
    step_ms: int,
    dump: str | None,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    run = Run(config, seed, start_ms, int(hours * HOUR_MS), rules, step_ms)
    run.run()
    run.dump(dump, f"{name}-{seed}")
    return {
        "name": name,
        "seed": seed,
        "stream_hours": hours,
        **run.background(),
        "runtime_s": round(time.perf_counter() - t0, 1),
    }


def _burst_row(burst: Burst, finals: pl.DataFrame, alert: dict[str, Any] | None) -> dict[str, Any]:
    """A demo burst's delays and lead: its first final trending window (``finals``: the
    trending rows) and its first alert after the onset (None: none)."""
    tag, onset = burst.hashtag, DEMO_START + burst.start_ms
    hits = finals.filter((pl.col("key") == tag) & (pl.col("window_start") + SPEC.size_ms > onset))
    final_at: int | None = None
    if hits.height:
        first: int = hits.select(pl.col("window_start").min()).item()
        final_at = first + SPEC.size_ms + SPEC.allowed_lateness_ms
    alert_at: int | None = None if alert is None else alert["as_of"]
    return {
        "hashtag": tag,
        "onset_s": burst.start_ms / 1000,
        "peak": burst.peak,
        "rise_s": burst.rise_s,
        "final_delay_s": None if final_at is None else (final_at - onset) / 1000,
        "alert_delay_s": None if alert_at is None else (alert_at - onset) / 1000,
        "lead_s": None if final_at is None or alert_at is None else (final_at - alert_at) / 1000,
        "alert_originals": None if alert is None else alert["originals"],
        "alert_score": None if alert is None else round(alert["score"], 2),
    }


def demo_run(
    seed: int, minutes: float, rules: list[AlertRule], step_ms: int, dump: str | None
) -> dict[str, Any]:
    t0 = time.perf_counter()
    span = int(minutes * 60_000)
    run = Run(flat_demo(1157.0), seed, DEMO_START, span, rules, step_ms)
    run.run()
    run.dump(dump, f"demo-{seed}")
    finals = run.frame_of(run.final_hits)
    tags = {b.hashtag: b for b in DEMO_BURSTS if b.start_ms < span}
    out: dict[str, Any] = {"name": "demo", "seed": seed, "minutes": minutes, "early": []}
    for i, rule in enumerate(rules):
        bursts = []
        for tag, burst in tags.items():
            onset = DEMO_START + burst.start_ms
            alerts = [a for a in run.alerts[i] if a["key"] == tag and a["as_of"] >= onset]
            bursts.append(_burst_row(burst, finals, alerts[0] if alerts else None))
        others = [a for a in run.alerts[i] if a["key"] not in tags]
        out["early"].append(
            {
                "rule": asdict(rule),
                "bursts": bursts,
                "alerts": len(run.alerts[i]),
                "retractions": len(run.retracted[i]),
                "other_alerts": [
                    (a["key"], (a["window_start"] - DEMO_START) // 1000) for a in others
                ],
            }
        )
    out["runtime_s"] = round(time.perf_counter() - t0, 1)
    return out


def lead_summary(demos: list[dict[str, Any]], n_rules: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n_rules):
        rows = [b for d in demos for b in d["early"][i]["bursts"]]
        leads = pl.Series([b["lead_s"] for b in rows], dtype=pl.Float64)
        delays = pl.Series([b["alert_delay_s"] for b in rows], dtype=pl.Float64)
        finals = pl.Series([b["final_delay_s"] for b in rows], dtype=pl.Float64)
        out.append(
            {
                "rule": demos[0]["early"][i]["rule"],
                "bursts": len(rows),
                "alerted": int(delays.count()),
                "final_trended": int(finals.count()),
                "lead_p50_s": leads.median(),
                "lead_min_s": leads.min(),
                "alert_delay_p50_s": delays.median(),
                "alert_delay_max_s": delays.max(),
                "final_delay_p50_s": finals.median(),
                "other_alerts": sum(len(d["early"][i]["other_alerts"]) for d in demos),
                "retractions": sum(d["early"][i]["retractions"] for d in demos),
            }
        )
    return out


def rescore(dump: str, rules: list[AlertRule]) -> dict[str, Any]:
    """Run nothing: each of ``rules`` on the rows a ``--dump`` run held under its first rule,
    which must be no stricter than any of them on any field (those rows are every update
    where a stricter rule can hold). Per rule: alerts (one per episode: its first window's
    first held update) and retractions (neither that window nor the next trends finally) on
    each burst-free stream, over every window dumped (its span and the one after), and the
    demo bursts' leads as :func:`demo_run` gives them."""
    with open(f"{dump}/rules.json", encoding="utf-8") as f:
        dumped = json.load(f)
    base, span = AlertRule(**dumped["rules"][0]), int(dumped["demo_minutes"] * 60_000)
    for rule in rules:
        if (rule.threshold < base.threshold or rule.min_originals < base.min_originals
                or rule.min_elapsed_s < base.min_elapsed_s):  # fmt: skip
            sys.exit(f"--rescore: {asdict(rule)} is less strict than the dumped {asdict(base)}")
    runs = sorted(
        os.path.basename(p).removesuffix("-rule0.parquet")
        for p in glob.glob(f"{dump}/*-rule0.parquet")
    )
    out: list[dict[str, Any]] = []
    for rule in rules:
        streams: dict[str, dict[str, Any]] = {}
        demos: list[dict[str, Any]] = []
        for name in runs:
            gated = pl.read_parquet(f"{dump}/{name}-rule0.parquet").filter(
                (pl.col("originals") >= rule.min_originals)
                & (pl.col("as_of") - pl.col("window_start") + 1 >= rule.min_elapsed_s * 1000)
                & (pl.col("key") != STREAM_KEY)
            )
            held = gated.filter(pl.col("score") >= rule.threshold)
            finals = pl.read_parquet(f"{dump}/{name}-final.parquet")
            alerts = (
                _episodes(held)
                .group_by("key", "episode")
                .agg(pl.all().sort_by("window_start", "as_of").first())
                .sort("window_start", "key")
            )
            confirmed = alerts.join(
                pl.concat([finals, finals.with_columns(pl.col("window_start") - SPEC.hop_ms)])
                .select("window_start", "key")
                .unique(),
                on=["window_start", "key"],
                how="semi",
            )
            retracted = alerts.height - confirmed.height
            if not name.startswith("demo-"):
                top = gated.select(pl.col("score").max()).item()  # of the dumped rows
                best = None if top is None else round(float(top), 2)
                streams[name] = {"alerts": alerts.height, "retractions": retracted,
                                 "max_score": best}  # fmt: skip
                continue
            scheduled = [b for b in DEMO_BURSTS if b.start_ms < span]
            tags = [b.hashtag for b in scheduled]
            bursts = []
            for burst in scheduled:
                first = alerts.filter(
                    (pl.col("key") == burst.hashtag)
                    & (pl.col("as_of") >= DEMO_START + burst.start_ms)
                )
                bursts.append(_burst_row(burst, finals, first.row(0, named=True) if first.height
                                         else None))  # fmt: skip
            others = alerts.filter(~pl.col("key").is_in(tags))
            demos.append({"early": [{
                "rule": asdict(rule), "bursts": bursts, "retractions": retracted,
                "other_alerts": [(k, (w - DEMO_START) // 1000)
                                 for k, w in others.select("key", "window_start").iter_rows()],
            }]})  # fmt: skip
        out.append(
            {
                "rule": asdict(rule),
                "alerts": sum(v["alerts"] for v in streams.values()),
                "retractions": sum(v["retractions"] for v in streams.values()),
                "streams": streams,
                "demo": lead_summary(demos, 1)[0] if demos else None,
                "demo_bursts": [b for d in demos for b in d["early"][0]["bursts"]],
            }
        )
    return {"dump": dump, "dumped_rule": asdict(base), "rules": out}


def table(backgrounds: list[dict[str, Any]]) -> list[str]:
    """One line per stream, seed and rule: episodes (per hour) all / warm, max score."""
    lines = []
    for r in backgrounds:
        f = r["final"]
        lines.append(
            f"{r['name']:8} {r['seed']} {r['stream_hours']:>4}h final        "
            f"{f['all']['episodes']:>4} ({f['all']['per_hour']:.2f}/h)  "
            f"{f['warm']['episodes']:>4} ({f['warm']['per_hour']:.2f}/h)  max {f['max_score']:.2f}"
        )
        for e in r["early"]:
            rule = e["rule"]
            tag = f"early {rule['threshold']:g}/{rule['min_originals']}/{rule['min_elapsed_s']:g}"
            lines.append(
                f"{r['name']:8} {r['seed']} {r['stream_hours']:>4}h {tag:12} "
                f"{e['all']['episodes']:>4} ({e['all']['per_hour']:.2f}/h)  "
                f"{e['warm']['episodes']:>4} ({e['warm']['per_hour']:.2f}/h)  "
                f"max {e['max_score']:.2f}  alerts {e['alerts']} retracted {e['retractions']}"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--quiet-hours", type=float, default=6.0)
    parser.add_argument("--diurnal-hours", type=float, default=3.0)
    parser.add_argument("--demo-minutes", type=float, default=20.0, help="0: skip")
    parser.add_argument("--step-ms", type=int, default=250, help="event time per micro-batch")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--rule",
        type=float,
        nargs=3,
        action="append",
        metavar=("THRESHOLD", "MIN_ORIGINALS", "MIN_ELAPSED_S"),
        help="an AlertRule to evaluate (repeatable; default: AlertRule())",
    )
    parser.add_argument("--dump", metavar="DIR", help="write each run's held rows (parquet)")
    parser.add_argument(
        "--rescore",
        metavar="DIR",
        help="run nothing: each --rule on the rows a run with --dump DIR held (its first rule "
        "no stricter than any)",
    )
    args = parser.parse_args()
    rules = [AlertRule(t, int(m), e) for t, m, e in args.rule] if args.rule else [AlertRule()]
    if args.rescore:
        print(json.dumps({"command": " ".join([".venv/bin/python",
                          "tests/benchmark/bench_alerts.py", *sys.argv[1:]]),
                          **rescore(args.rescore, rules)}, indent=1, default=str))  # fmt: skip
        return

    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
        with open(f"{args.dump}/rules.json", "w", encoding="utf-8") as f:
            json.dump({"rules": [asdict(r) for r in rules], "demo_minutes": args.demo_minutes}, f)
    t0 = time.perf_counter()
    tasks: list[tuple[Any, tuple[Any, ...]]] = []
    for seed in args.seeds:
        if args.quiet_hours > 0:
            tasks.append(
                (
                    background_run,
                    ("quiet", FLAT, seed, START, args.quiet_hours, rules, args.step_ms, args.dump),
                )
            )
        if args.diurnal_hours > 0:
            tasks.append(
                (
                    background_run,
                    (
                        "diurnal",
                        DIURNAL,
                        seed,
                        MORNING,
                        args.diurnal_hours,
                        rules,
                        args.step_ms,
                        args.dump,
                    ),
                )
            )
        if args.demo_minutes > 0:
            tasks.append((demo_run, (seed, args.demo_minutes, rules, args.step_ms, args.dump)))
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = [f.result() for f in [pool.submit(fn, *a) for fn, a in tasks]]
    backgrounds = [r for r in results if r["name"] != "demo"]
    demos = [r for r in results if r["name"] == "demo"]
    print(
        json.dumps(
            {
                "command": " ".join(
                    [".venv/bin/python", "tests/benchmark/bench_alerts.py", *sys.argv[1:]]
                ),
                "date": time.strftime("%Y-%m-%d"),
                "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "window": asdict(SPEC),
                "step_ms": args.step_ms,
                "trend_config": asdict(WindowEngine(SPEC).trend_config),
                "rules": [asdict(r) for r in rules],
                "table": table(backgrounds),
                "lead_summary": lead_summary(demos, len(rules)) if demos else [],
                "false_alarms": backgrounds,
                "demo": demos,
                "runtime_s": round(time.perf_counter() - t0, 1),
            },
            indent=1,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
