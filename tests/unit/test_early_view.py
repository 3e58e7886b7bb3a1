"""Early signals in the metrics, ``/status`` and the terminal view (no transport)."""

from __future__ import annotations

import polars as pl

from datamoat.metrics import Metrics
from datamoat.terminal import render_block
from process.early import PROVISIONAL_SCHEMA

START = 1_780_000_000_000


def provisional() -> pl.DataFrame:
    row = {"window_start": START, "window_end": START + 10_000, "posts": 0, "originals": 0,
           "reposts": 0, "replies": 0, "quotes": 0, "reach": 0, "scored": 0,
           "sentiment_mean": 0.25, "positive_share": None, "neutral_share": None,
           "negative_share": None, "velocity": 100.0, "covered": 0.4,
           "as_of": START + 3_999}  # fmt: skip
    rows = [
        {**row, "key": "*", "posts": 400, "trend_score": 0.0},
        {**row, "key": "calm", "posts": 30, "trend_score": 1.0},
        {**row, "key": "burst", "posts": 60, "trend_score": 9.5},
    ]
    return pl.DataFrame(rows).select(PROVISIONAL_SCHEMA.names()).cast(PROVISIONAL_SCHEMA)


ALERT = {"alert_id": f"{START}/burst", "kind": "alert", "key": "burst", "window_start": START,
         "window_end": START + 10_000, "score": 9.5, "posts": 60, "originals": 40,
         "sentiment_mean": 0.5, "as_of": START + 3_999, "fired_at": START + 4_300}  # fmt: skip


def test_an_update_reaches_the_metrics_the_status_and_the_summary() -> None:
    m = Metrics()
    m.observe_early(provisional(), [ALERT], now_ms=START + 4_300)
    m.observe_early(provisional()[:0], [{**ALERT, "kind": "retraction"}], now_ms=START + 30_000)
    assert m.registry.get_sample_value("datamoat_alerts_total", {"kind": "alert"}) == 1
    assert m.registry.get_sample_value("datamoat_alerts_total", {"kind": "retraction"}) == 1
    assert m.registry.get_sample_value("datamoat_provisional_posts") == 400
    assert m.registry.get_sample_value("datamoat_provisional_covered_ratio") == 0.4
    assert m.registry.get_sample_value("datamoat_early_delay_seconds_count") == 1
    view = m.signals_view()
    p = view["provisional"]
    assert p["provisional"] is True and p["posts"] == 400 and p["covered"] == 0.4
    assert [r["key"] for r in p["top"]] == ["burst", "calm"]  # by early score
    assert [a["kind"] for a in view["alerts"]] == ["retraction", "alert"]  # newest first
    report = m.early_report()
    assert (report["alerts"], report["retractions"], report["early_updates"]) == (1, 1, 1)
    assert report["early_delay_p50_s"] == 0.301


def test_the_terminal_view_shows_the_open_window_and_the_alerts() -> None:
    m = Metrics()
    m.observe_early(provisional(), [ALERT], now_ms=START + 4_300)
    lines = render_block(m, 12.0, 1157.0, 1157.0)
    assert any("open window (provisional) 40% seen: 400 posts" in line for line in lines)
    assert any("alert" in line and "#burst score 9.5" in line for line in lines)
