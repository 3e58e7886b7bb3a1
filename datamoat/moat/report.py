"""The moat's outputs: the terminal table, the summary JSON and the Markdown report."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson

from datamoat.moat.measure import Measured

__all__ = ["COLUMNS", "markdown_report", "summary", "table_rows", "text_table", "write_json"]

#: (header, summary key, format)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("tier", "name", "s"),
    ("access", "access", "s"),
    ("rate", "sampling_rate", "rate"),
    ("recall", "recall", "pct"),
    ("lead p50", "lead_time_p50_s", "min"),
    ("lead p90", "lead_time_p90_s", "min"),
    ("false/h", "false_alarms_per_hour", "2f"),
    ("sent. MAE", "sentiment_mae", "3f"),
    ("sent. p90", "sentiment_p90", "3f"),
    ("sign err", "sign_errors", "pct"),
    ("top-10", "top10_overlap", "2f"),
    ("tau", "kendall_tau", "2f"),
    ("authors err", "unique_authors_error", "pct"),
    ("cascade err", "top_cascade_size_error", "pct"),
)


def _fmt(value: Any, how: str) -> str:
    if value is None:
        return "-"
    if how == "s":
        return str(value)
    if how == "rate":
        return f"{value:g}" if value >= 0.01 else f"{value:.3%}"
    if how == "pct":
        return f"{value:.1%}"
    if how == "min":
        return f"{value / 60:.1f} min"
    return f"{value:.{how[0]}f}"


def table_rows(tiers: dict[str, dict[str, Any]]) -> list[list[str]]:
    header = [c[0] for c in COLUMNS]
    rows = [header]
    for name, t in tiers.items():
        rows.append([_fmt(name if k == "name" else t.get(k), how) for _, k, how in COLUMNS])
    return rows


def text_table(tiers: dict[str, dict[str, Any]]) -> str:
    rows = table_rows(tiers)
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


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 6)
    if isinstance(value, dict):
        return {k: _round(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_round(v) for v in value]
    return value


def summary(run: dict[str, Any], measured: Measured) -> dict[str, Any]:
    """The summary JSON: run parameters, per-burst lead times, per-tier measures."""
    out: dict[str, Any] = _round(
        {
            **run,
            "eligible_bursts": measured.eligible,
            "bursts": measured.bursts.to_dicts(),
            "tiers": measured.tiers,
        }
    )
    return out


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def _lead(value: Any) -> str:
    return "missed" if value is None else f"{value / 60:.1f}"


def markdown_report(data: dict[str, Any], command: str, plots: list[str]) -> str:
    tiers: dict[str, dict[str, Any]] = data["tiers"]
    names = list(tiers)
    lines = [
        "# The moat, measured",
        "",
        f"`{command}`",
        "",
        f"Seed {data['seed']}, start {data['start']}, {data['duration_s'] / 3600:g} simulated "
        f"hours ({data['event_s']:g} s of event time, time scale {data['time_scale']:g}), "
        f"{data['posts']:,} posts at {data['rate']:g} posts/s of event time; windows of "
        f"{data['window_s']:g} simulated s (lateness {data['allowed_lateness_s']:g} s); "
        f"{data['eligible_bursts']} bursts after the trend warm-up and at least "
        f"{data['horizon_s'] / 60:g} min before the end.",
        "",
        _markdown_table(table_rows(tiers)),
        "",
        "Lead time = from the burst's onset to the moment the tier's signals first flag its "
        "hashtag as trending (the tier's delay included), simulated minutes; p50/p90 over "
        "the bursts the tier detected. Sentiment compares per-(window, key) means on rows "
        f"with at least {data['min_scored']} scored firehose posts; sign errors are the share "
        "of those rows whose positive/neutral/negative class differs. top-10 is the mean "
        "overlap of the per-window top-10 hashtags; tau is Kendall's tau-b of the post "
        "counts over the union of both top-10s. Errors of unique authors and of the largest "
        "cascade's size are mean relative errors of the 1/p-scaled estimates.",
        "",
        "## Detection rules",
        "",
    ]
    for name in names:
        rule = data["detection_rules"][name]
        lines.append(
            f"- **{name}**: trend score >= {rule['threshold']:g} with at least "
            f"{rule['min_support']} {'sampled ' if tiers[name]['sampling_rate'] < 1 else ''}"
            f"original posts in the window (noise floor {rule['floor']:g} originals/s)"
        )
    lines += [
        "",
        "## Bursts (lead time in simulated minutes)",
        "",
        "| hashtag | kind | peak x rate | rise min | " + " | ".join(names) + " |",
        "|" + "---|" * (4 + len(names)),
    ]
    for b in data["bursts"]:
        kind = "injected" if b["injected"] else "random"
        leads = " | ".join(_lead(b[n]) for n in names)
        lines.append(
            f"| {b['hashtag']} | {kind} | {b['peak']:.3f} | {b['rise_s'] / 60:.0f} | {leads} |"
        )
    lines += ["", "## Plots", ""]
    lines += [f"![{p}]({p})" for p in plots]
    return "\n".join(lines) + "\n"
