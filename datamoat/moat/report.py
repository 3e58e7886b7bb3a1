"""The moat's outputs: provenance, the terminal table, the summary JSON, the Markdown report
and the README's table (rendered from the summary, so a test can check they agree)."""

from __future__ import annotations

import math
import platform
import subprocess
from dataclasses import asdict
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import orjson

from datamoat.errors import ConfigError
from datamoat.moat.config import MoatConfig
from datamoat.moat.early import EARLY_STEP_S
from datamoat.moat.seeds import CALIBRATION_BASE, HOLDOUT_BASE, Study
from datamoat.resources import checkout_root, require_extra
from process.early import AlertRule

__all__ = [
    "COLUMNS",
    "EARLY_WAYS",
    "README_BEGIN",
    "README_END",
    "early_rows",
    "markdown_report",
    "provenance",
    "readme_table",
    "require_plotting",
    "table_rows",
    "text_table",
    "update_readme",
    "write_json",
    "write_report",
]

README_BEGIN = "<!-- datamoat-moat:begin (datamoat moat --update-readme) -->"
README_END = "<!-- datamoat-moat:end -->"
_PACKAGES = ("polars", "numpy", "vadersentiment", "matplotlib", "orjson")

#: (header, summary key, format); a key with a ``_ci95`` twin is shown with its interval.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("tier", "name", "s"),
    ("access", "access", "s"),
    ("recall", "recall", "pct"),
    ("lead p50", "lead_time_p50_s", "min"),
    ("false alarms/h", "false_alarms_per_h", "3f"),
    ("coverage", "coverage", "pct"),
    ("sent. MAE", "sentiment_mae", "3f"),
    ("feel r", "feel_r", "2f"),
    ("top-10", "top10_overlap", "2f"),
    ("authors err", "unique_authors_error", "pct"),
    ("cascade err", "top_cascade_size_error", "pct"),
)


def _commit() -> str | None:
    """The checkout's commit; None for an installed copy (whatever repository holds it)."""
    root = checkout_root()
    if root is None:
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        dirty = subprocess.run(
            # the run's own outputs (docs/moat, the README's table) don't make it dirty
            [
                "git",
                "-C",
                str(root),
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                ".",
                ":(exclude)docs/moat",
                ":(exclude)README.md",
            ],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("datamoat", *_PACKAGES):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def provenance(config: MoatConfig, study: Study, command: str) -> dict[str, Any]:
    """What makes the run reproducible: commit, packages, rule, tiers, seeds, settings."""
    settings = {k: v for k, v in asdict(config).items() if k not in ("tiers", "source")}
    return {
        "command": command,
        "commit": _commit(),
        "versions": _versions(),
        "trend_rule": asdict(study.trend),
        "early_rule": {"step_s": EARLY_STEP_S, **asdict(AlertRule())},
        "tier_definitions": [
            {
                "name": t.name,
                "ms": None if t.ms is None else list(t.ms),
                "delay_s": t.delay_s,
                "every_s": t.every_s,
                "sampling_rate": t.rate,
            }
            for t in config.tiers
        ],
        "settings": settings,
        "start_ms": study.start_ms,
        "first_seed": study.seed,
        "calibration_seed_base": CALIBRATION_BASE,
        "holdout_seed_base": HOLDOUT_BASE,
    }


# --- tables ----------------------------------------------------------------------------------


def _fmt(value: Any, how: str) -> str:
    if value is None:
        return "-"
    if how == "s":
        return str(value)
    if how == "pct":
        return f"{value:.1%}"
    if how == "min":
        return f"{value / 60:.1f} min"
    return f"{value:.{how[0]}f}"


def _cell(t: dict[str, Any], key: str, how: str) -> str:
    text = _fmt(t.get(key), how)
    ci = t.get(f"{key}_ci95")
    if ci is None or how == "s" or t.get(key) is None:
        return text
    lo, hi = (_fmt(v, how).replace(" min", "") for v in ci)
    return f"{text} [{lo}, {hi}]"


def table_rows(tiers: dict[str, dict[str, Any]], order: list[str] | None = None) -> list[list[str]]:
    """The tier table's rows (header first), tiers in ``order`` (the config's)."""
    rows = [[c[0] for c in COLUMNS]]
    for name in order or list(tiers):
        t = tiers[name]
        rows.append([name if k == "name" else _cell(t, k, how) for _, k, how in COLUMNS])
    return rows


#: The two ways early alerts are held to the common rate (key of a tier's figures, title).
EARLY_WAYS = (
    ("early_alerts_held", "final signals and early alerts held to the rate together"),
    ("early_alerts", "early alerts held to the rate on their own, on top of the final ones"),
)


def early_rows(
    tiers: dict[str, dict[str, Any]],
    order: list[str] | None = None,
    reference: str = "firehose",
    way: str = "early_alerts_held",
) -> list[list[str]]:
    """The table of detection with and without early alerts (header first), one of
    :data:`EARLY_WAYS`; only the header when the summary has no such figures (made before
    them)."""
    rows = [["tier", "recall", "recall, early alerts", "lead p50", "lead p50, early alerts",
             "earlier by (p50, n)", f"lead Δ vs {reference} (p50, n)", "... with early alerts",
             "false alarms/h, both detectors"]]  # fmt: skip
    for name in order or list(tiers):
        t = tiers[name]
        e = t.get(way)
        if e is None:
            continue
        gain = e["versus_without"]
        if not e["applies"]:
            gained = "none: a batch tier"
        else:
            d = gain["lead_difference_p50_s"]
            gained = ("-" if d is None else f"{-d / 60:.1f} min") + f" (n={gain['both_found']})"
            for n, sign in ((gain["only_tier_found"], "+"), (gain["only_reference_found"], "-")):
                if n:
                    gained += f", {sign}{n} found"
        rows.append(
            [
                name,
                _cell(t, "recall", "pct"),
                _cell(e, "recall", "pct"),
                _cell(t, "lead_time_p50_s", "min"),
                _cell(e, "lead_time_p50_s", "min"),
                gained,
                _delta(t.get("versus_" + reference)),
                _delta(e.get("versus_" + reference)),
                _cell(e, "either_per_h", "3f"),
            ]
        )
    return rows


def _delta(v: dict[str, Any] | None) -> str:
    """The paired lead difference against the reference tier, with its n."""
    if v is None:
        return "-"
    d = v["lead_difference_p50_s"]
    return ("-" if d is None else f"{d / 60:+.1f} min") + f" (n={v['both_found']})"


def text_table(tiers: dict[str, dict[str, Any]], order: list[str] | None = None) -> str:
    """The tier table, and the early alerts' tables when the figures have them."""
    parts = [_text(table_rows(tiers, order))]
    for way, title in EARLY_WAYS:
        early = early_rows(tiers, order, way=way)
        if len(early) > 1:
            parts.append(f"With early alerts, {title}:\n" + _text(early))
    return "\n\n".join(parts)


def _text(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for j, row in enumerate(rows):
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _markdown_table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(out)


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def significance_rows(
    tiers: dict[str, dict[str, Any]], order: list[str] | None = None, reference: str = "firehose"
) -> list[list[str]]:
    rows = [["tier", "found only by firehose / only by tier", "McNemar p",
             "lead Δ p50 (both found, n)", "Wilcoxon p", "differs"]]  # fmt: skip
    for name in order or list(tiers):
        v = tiers[name].get("versus_" + reference)
        if v is None:
            continue
        delta = v["lead_difference_p50_s"]
        what = [
            w for w, yes in (("recall", v["recall_differs"]), ("lead", v["lead_differs"])) if yes
        ]
        rows.append(
            [
                name,
                f"{v['only_reference_found']} / {v['only_tier_found']}",
                _p(v["mcnemar_p"]),
                ("-" if delta is None else f"{delta / 60:+.1f} min") + f" (n={v['wilcoxon_n']})",
                _p(v["wilcoxon_p"]),
                ", ".join(what) or "no",
            ]
        )
    return rows


def _early_block(summary: dict[str, Any]) -> list[str]:
    """The README's lines on early alerts; none for a summary made before them."""
    names = _tier_names(summary)
    tables = [(title, early_rows(summary["tiers"], names, way=way)) for way, title in EARLY_WAYS]
    if len(tables[0][1]) < 2:
        return []
    step = summary.get("early_rule", {}).get("step_s")
    every = f"every {step:g} simulated seconds" if step else "at checkpoints"
    ratio = _early_ratio(summary)
    together = (
        f"the early one at {ratio:.3g} times it, as in the pipeline"
        if ratio != 1.0
        else "as in the pipeline"
    )
    lines = [
        f"With early alerts: each tier also scores its open windows {every} (the pipeline's "
        "early trend rule, `process/early.py`, on the part of the window seen), and a "
        "burst's lead is the earlier of its final and its early alarm. Held to the rate "
        f"together, the final and the early statistic share one threshold ({together}); "
        "held on their own, each detector has its own, so both together raise "
        'more false alarms (last column, on the hold-out seeds). "Earlier by" is the paired '
        "median over the bursts found both with and without early alerts (negative: later); "
        '"+k found" / "-k found": bursts found only with / only without them. The lead '
        "differences against the firehose are paired medians over the bursts both found, "
        "without and with early alerts.",
        "",
    ]
    for title, rows in tables:
        lines += [f"Early alerts, {title}:", "", _markdown_table(rows), ""]
    return lines


def readme_table(summary: dict[str, Any]) -> str:
    """The README's block: the tier table, the significance table and (when the summary has
    them) detection with early alerts, from the summary."""
    s = summary["settings"]
    lines = [
        README_BEGIN,
        "",
        f"{summary['seeds']} seeds of {s['duration_s'] / 3600:g} simulated hours at "
        f"{s['posts_per_day'] / 1e6:g}M posts a simulated day; every tier's detectors held to "
        f"{s['false_alarms_per_day']:g} false alarm a simulated day (calibrated on "
        f"{s['calibration_seeds']} burst-free seeds, measured on {s['holdout_seeds']} others); "
        "95 % intervals over seeds in brackets. Made by "
        f"`{summary['command']}` at commit `{(summary['commit'] or '?')[:12]}`.",
        "",
        _markdown_table(table_rows(summary["tiers"], _tier_names(summary))),
        "",
        "Each tier against the firehose on the same bursts:",
        "",
        _markdown_table(significance_rows(summary["tiers"], _tier_names(summary))),
        "",
        *_early_block(summary),
        README_END,
    ]
    return "\n".join(lines)


def update_readme(path: Path, summary: dict[str, Any]) -> None:
    """Replace the block between the markers of ``path`` with :func:`readme_table`."""
    text = path.read_text(encoding="utf-8")
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise ConfigError(f"{path} has no {README_BEGIN} ... {README_END} block to update")
    block = readme_table(summary)
    path.write_text(text[:begin] + block + text[end + len(README_END) :], encoding="utf-8")


# --- the summary and the report ----------------------------------------------------------------


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    if isinstance(value, dict):
        return {str(k): _round(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_round(v) for v in value]
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rounded = _round(data)
    path.write_bytes(
        orjson.dumps(rounded, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"
    )


def require_plotting(what: str = "the moat report") -> None:
    """The report's PNG plots need matplotlib, the ``reports`` extra: one line saying so when
    it is missing (a command asks before its run, not after it)."""
    require_extra("matplotlib", "reports", what)


def write_report(summary: dict[str, Any], directory: Path) -> list[Path]:
    """The Markdown report, its plots and the summary in ``directory``; the files written."""
    require_plotting()
    from datamoat.moat.plots import write_plots  # matplotlib only when a report is asked for

    directory.mkdir(parents=True, exist_ok=True)
    plots = write_plots(directory, summary)
    report = directory / "report.md"
    report.write_text(markdown_report(summary, plots), encoding="utf-8")
    json_path = directory / "summary.json"
    write_json(json_path, summary)
    return [report, json_path, *(directory / p for p in plots)]


_SCOPE = """\
## What this can and cannot show

The streams are synthetic: a generator with a known burst book, so every burst's onset and
every post's feeling are known exactly, which no real stream offers. The detectors are the
pipeline's own (the trend score every signal row carries) and a named test on sentiment
shares, each held to one false-alarm rate per tier, so a tier's recall is what it finds at
the cost every tier pays. What follows holds for this generator: its Zipf hashtags, its
cascades and its diurnal cycle. It does not show how X's real traffic behaves, how X's own
trend algorithm works, or what a human analyst sees on top of counts. Sampling error
depends on absolute counts: the volume sweep runs the platform from 2.5M posts a day up to
X's 500M, where the 1 % sample sees about 1.7k posts a 5-minute window instead of 88."""

_LITERATURE = """\
## Literature each measure follows

- Top-n overlap and Kendall's tau of the sample against the full stream: Morstatter, Pfeffer,
  Liu and Carley, "Is the Sample Good Enough? Comparing Data from Twitter's Streaming API
  with Twitter's Firehose", ICWSM 2013 (ties kept, tau-b).
- The sample's millisecond slice and its manipulation: Pfeffer, Mayer and Morstatter,
  "Tampering with Twitter's Sample API", EPJ Data Science 7:50, 2018.
- Recall at a fixed false-alarm rate, thresholds calibrated on streams with no events:
  the standard operating-point comparison of detectors (e.g. Fawcett, "An introduction to
  ROC analysis", Pattern Recognition Letters 27, 2006).
- Paired comparisons on the same events: McNemar (1947), exact binomial form; Wilcoxon's
  signed-rank test (1945). Intervals: percentile bootstrap resampling seeds (Efron and
  Tibshirani, 1993); Garwood's exact Poisson interval for alarm rates (1936).
- Threshold extrapolation when calibration streams are short: peaks over threshold with an
  exponential tail (Davison and Smith, JRSS B 52, 1990)."""


def markdown_report(summary: dict[str, Any], plots: list[str]) -> str:
    lines = ["# The moat, measured", "", f"`{summary['command']}`", ""]
    lines += [
        f"Commit `{summary['commit']}`; Python {summary['versions']['python']}, polars "
        f"{summary['versions'].get('polars')}. Measured seeds per experiment: "
        + ", ".join(f"{k} {v}" for k, v in summary.get("measured_seeds", {}).items())
        + ".",
        "",
    ]
    if "tiers" in summary:
        lines += [
            readme_table(summary).replace(README_BEGIN, "").replace(README_END, "").strip(),
            "",
        ]
        lines += [
            "Recall and lead time are over the injected bursts (new hashtags and rises on "
            "established ones) after the warm-up and at least the horizon before the end; "
            "lead time is from a burst's onset to the moment the tier's signals first flag "
            "it (the tier's delay included). False alarms per hour are measured on the "
            "hold-out burst-free seeds. Estimates are against the exact values over every "
            "post: coverage is the share of (window, key) cells with at least "
            f"{summary['settings']['min_posts']} posts the tier sees at all; errors are over "
            "the covered cells. Sentiment MAE is against VADER over every post; feel r is "
            "Pearson's r between the tier's mean sentiment and the generator's own mean "
            "polarity per cell.",
            "",
            *_early_note(summary),
            "### Detectors",
            "",
            "| tier | detector | threshold | method | calibration episodes / h | hold-out / h |",
            "|---|---|---|---|---|---|",
        ]
        for name in _tier_names(summary):
            for d, info in summary["tiers"][name]["detector"].items():
                lines.append(
                    f"| {name} | {d} | {info['threshold']:.3g} | {info['method']} | "
                    f"{info['calibration_episodes']} / {info['calibration_hours']:.0f} | "
                    f"{info['holdout_per_h']:.4f} |"
                )
        lines.append("")
    sweeps = summary.get("sweeps", {})
    if "burst_sizes" in sweeps:
        lines += _burst_section(summary, sweeps)
    if "manipulation" in summary:
        lines += _manipulation_section(summary["manipulation"])
    if "topn" in sweeps:
        lines += _topn_section(sweeps["topn"])
    if "volume" in sweeps:
        lines += _volume_section(sweeps)
    lines += [_SCOPE, "", _LITERATURE, "", "## Plots", ""]
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"


def _early_ratio(summary: dict[str, Any]) -> float:
    """The early threshold over the final one, as the summary's run had them (1 for a
    summary that names no early threshold)."""
    early = summary.get("early_rule", {}).get("threshold")
    final = summary.get("trend_rule", {}).get("threshold")
    return float(early) / float(final) if early and final else 1.0


def _early_note(summary: dict[str, Any]) -> list[str]:
    rule = {"min_originals": 10, "min_elapsed_s": 2.0, **summary.get("early_rule", {})}
    ratio = _early_ratio(summary)
    held = (
        "the higher of a window's final statistic and its early one divided by "
        f"{ratio:.3g} meets one threshold (detector `trend_early`): the early alarms at "
        f"{ratio:.3g} times the final threshold, as the pipeline runs its early rule "
        f"(`early.threshold` {rule.get('threshold', 0):g} against `trends.threshold` "
        f"{summary.get('trend_rule', {}).get('threshold', 0):g})"
        if ratio != 1.0
        else "the higher of a window's final and early statistic meets one threshold "
        "(detector `trend_early`), as the pipeline runs its early rule at the final rule's "
        "threshold"
    )
    return [
        "Early alerts: at each checkpoint of an open window, a tier scores its own posts so "
        "far as `process/early.py` does: original posts so far over the seconds seen, "
        "against the key's baseline after the newest window final by then (the trend "
        "tracker replayed on the tier's final signals, undecayed), with the Poisson noise of "
        f"a count over the part seen, once {rule['min_originals']} originals (scaled by the "
        "sampling rate, as the trend rule's support is) and "
        f"{rule['min_elapsed_s']:g} s of event time are in. Per window its highest "
        "checkpoint is calibrated, like every detector, to the common rate on the burst-free "
        "seeds (an early episode: a run of windows of a key with an early alarm). An early "
        "alarm counts from a checkpoint after the onset and is available at the checkpoint "
        "plus the tier's delay; a batch tier publishes nothing before its batch, so early "
        "alerts don't change it. Held on its own, the early detector's false alarms come on "
        f"top of the final one's; held together, {held}.",
        "",
    ]


def _tier_names(summary: dict[str, Any]) -> list[str]:
    return [t["name"] for t in summary["tier_definitions"]]


def _volume_section(sweeps: dict[str, Any]) -> list[str]:
    lines = [
        "## Platform size",
        "",
        "| posts/day | span | horizon | tier | niche recall | large recall | large lead p50 "
        "| threshold | false alarms/h (hold-out) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for point in sweeps["volume"]:
        size = f"{point['posts_per_day'] / 1e6:g}M"
        if not point["scorable"]:
            lines.append(f"| {size} | fewer than 16 scorable bursts: not plotted | | | | | |")
        for name, t in point["tiers"].items():
            lines.append(
                f"| {size} | {point['span_s'] / 3600:g} h | {point['horizon_s'] / 60:g} min | "
                f"{name} | {_cell(t['niche'], 'recall', 'pct')} | "
                f"{_cell(t['large'], 'recall', 'pct')} | "
                f"{_fmt(t['large']['lead_time_p50_s'], 'min')} | {t['threshold']:.3g} "
                f"({t['method']}) | {t['holdout_per_h']:.3f} |"
            )
    niche = ", ".join(f"{s:g}" for s in sweeps["niche_sizes"])
    large = ", ".join(f"{s:.1%}" for s in sweeps["large_shares"])
    lines += [
        "",
        f"Niche bursts: {niche} posts a minute; large: {large} of the platform's posts a "
        "minute. Each point calibrates its own thresholds on two burst-free streams as long "
        "as its span and reports the rate they give on two others: where that is above the "
        "common rate, the tier's recall at that point is bought with more false alarms. "
        "The shorter the span, the less data the calibration has, so the largest "
        "platforms' thresholds are extrapolated from the tail (`tail`). A tier whose delay "
        "is not shorter than the horizon (15 minutes at 500M, where the span is an hour) "
        "can't flag anything in time there.",
        "",
    ]
    return lines


def _burst_section(summary: dict[str, Any], sweeps: dict[str, Any]) -> list[str]:
    names = _tier_names(summary)
    lines = [
        "## Burst size",
        "",
        "| kind | posts/min | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    table: dict[tuple[str, float], dict[str, str]] = {}
    for row in sweeps["burst_sizes"]:
        cell = _cell(row, "recall", "pct")
        table.setdefault((row["kind"], row["size_ppm"]), {})[row["tier"]] = cell
    for (kind, size), cells in table.items():
        found = " | ".join(cells.get(n, "-") for n in names)
        lines.append(f"| {kind} | {size:g} | {found} |")
    lines += [
        "",
        f"A shift is at most {sweeps['shift_capacity_ppm']:.0f} posts a minute here (80 % of "
        "the busiest hashtag's posts): larger ones cannot exist at this platform size.",
        "",
    ]
    return lines


def _manipulation_section(m: dict[str, Any]) -> list[str]:
    lines = [
        "## Manipulating the sample",
        "",
        f"{m['accounts']} accounts post a hashtag for {m['campaign_s'] / 60:g} simulated "
        f"minutes, every post created in milliseconds {m['ms'][0]}-{m['ms'][1]} of its "
        "second. Posts of the smallest campaign that trends, per tier (median over seeds; "
        f"rates tried: {', '.join(f'{r:g}' for r in m['rates_per_minute'])} a minute):",
        "",
        "| tier | posts to trend | never trended (seeds) |",
        "|---|---|---|",
    ]
    for name, t in m["tiers"].items():
        lines.append(f"| {name} | {_fmt(t['posts_to_trend'], '0f')} | {t['never']} |")
    ci = m.get("amplification_ci95")
    interval = f" [{ci[0]:.1f}, {ci[1]:.1f}]" if ci else ""
    lines += [
        "",
        f"Amplification (firehose posts / sample posts): {_fmt(m.get('amplification'), '1f')}"
        f"{interval}. After {m['reference']}.",
        "",
    ]
    return lines


def _topn_section(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "## Top-n hashtags against the truth",
        "",
        "| tier | window | n | overlap | tau |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['tier']} | {row['window_s'] / 60:g} min | {row['n']} | "
            f"{_cell(row, 'overlap', '2f')} | {_cell(row, 'tau', '2f')} |"
        )
    lines.append("")
    return lines
