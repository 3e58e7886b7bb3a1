"""The metrics module: emit latency (one definition, fitted buckets, early flushes and
replays apart), the signal gauges with bounded labels, the process series, no _created,
the trend log, and the live page's files (no data inserted as HTML)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from datamoat.metrics import TOP_K, Metrics, latency_buckets
from datamoat.report import TrendLog, format_summary
from process.signals import SIGNAL_SCHEMA
from process.trends import TrendConfig

WEB = Path(__file__).resolve().parents[2] / "datamoat" / "web"
END = 1_767_225_610_000


def signals(end: int, keys: dict[str, tuple[int, float, float]]) -> pl.DataFrame:
    """Signal rows of one window: key -> (posts, trend_score, sentiment_mean)."""
    rows = [
        {"window_start": end - 10_000, "window_end": end, "key": k, "posts": p,
         "originals": p, "trend_score": s, "sentiment_mean": m, "positive_share": 0.5,
         "neutral_share": 0.3, "negative_share": 0.2, "top_cascades": []}
        for k, (p, s, m) in keys.items()
    ]  # fmt: skip
    frame = pl.DataFrame(rows)
    missing = [pl.lit(None, dtype=t).alias(c) for c, t in SIGNAL_SCHEMA.items() if c not in frame]
    return frame.with_columns(missing).select(SIGNAL_SCHEMA.names()).cast(SIGNAL_SCHEMA)


def emit(m: Metrics, frame: pl.DataFrame, now_ms: int, replay: bool = False) -> list[float]:
    return m.observe_emit(frame, frame.filter(TrendConfig().trending()), now_ms, replay).latencies


def histogram_quantile(m: Metrics, q: float) -> float:
    """Prometheus' histogram_quantile over the cumulative buckets (linear in a bucket)."""
    buckets = [
        (float(s.labels["le"]), s.value)
        for f in m.registry.collect()
        for s in f.samples
        if s.name == "datamoat_end_to_end_latency_seconds_bucket"
    ]
    total = buckets[-1][1]
    rank = q * total
    lo_bound, lo_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            return lo_bound + (bound - lo_bound) * (rank - lo_count) / (count - lo_count)
        lo_bound, lo_count = bound, count
    raise AssertionError("rank beyond the buckets")


def test_latency_is_emit_time_minus_window_end() -> None:
    m = Metrics()
    assert emit(m, signals(END, {"*": (100, 0.0, 0.1)}), END + 6_250) == [6.25]
    assert m.registry.get_sample_value("datamoat_end_to_end_latency_seconds_count") == 1


def test_early_flush_and_replay_are_counted_not_observed() -> None:
    m = Metrics()
    assert emit(m, signals(END, {"*": (1, 0.0, 0.0)}), END - 4_000) == []  # end > now
    assert emit(m, signals(END, {"*": (1, 0.0, 0.0)}), END + 10**9, replay=True) == []
    get = m.registry.get_sample_value
    assert get("datamoat_end_to_end_latency_seconds_count") == 0
    assert get("datamoat_windows_unmeasured_total", {"reason": "early_flush"}) == 1
    assert get("datamoat_windows_unmeasured_total", {"reason": "replay"}) == 1
    assert get("datamoat_windows_emitted_total") == 2


@pytest.mark.parametrize(("window_s", "lateness_s"), [(10.0, 5.0), (60.0, 10.0), (5.0, 0.0)])
def test_bucket_quantiles_are_within_ten_percent(window_s: float, lateness_s: float) -> None:
    rng = np.random.default_rng(1)
    m = Metrics(window_s=window_s, lateness_s=lateness_s)
    values = lateness_s + 0.3 + rng.gamma(2.0, 0.4, size=2_000)
    for v in values:
        m.latency.observe(float(v))
    for q in (0.5, 0.99):
        exact = float(np.quantile(values, q))
        assert histogram_quantile(m, q) == pytest.approx(exact, rel=0.1)
    assert len(latency_buckets(window_s, lateness_s)) < 90


def test_fit_latency_reshapes_the_buckets() -> None:
    m = Metrics()
    m.fit_latency(60.0, 20.0)
    name = "datamoat_end_to_end_latency_seconds_bucket"
    bounds = [s.labels["le"] for f in m.registry.collect() for s in f.samples if s.name == name]
    assert "16.0" in bounds and "85.0" in bounds


def test_signal_gauges_have_bounded_labels_and_follow_the_newest_window() -> None:
    m = Metrics()
    keys = {f"k{i:02d}": (100 + i, 5.0 + i if i < 3 else 0.0, 0.1) for i in range(40)}
    emit(m, signals(END, {"*": (9_999, 0.0, 0.25), **keys}), END + 6_000)
    get = m.registry.get_sample_value
    assert get("datamoat_sentiment_mean") == 0.25
    assert get("datamoat_sentiment_share", {"polarity": "negative"}) == 0.2
    assert get("datamoat_top_hashtag_posts", {"rank": "1", "key": "k39"}) == 139
    assert get("datamoat_trending_score", {"rank": "1", "key": "k02"}) == 7.0
    series = [
        s for f in m.registry.collect() for s in f.samples if s.name == "datamoat_top_hashtag_posts"
    ]
    assert len(series) == TOP_K
    emit(m, signals(END + 10_000, {"*": (5, 0.0, -0.5), "other": (3, 0.0, 0.0)}), END + 16_000)
    assert get("datamoat_trending_score", {"rank": "1", "key": "k02"}) is None  # cleared
    assert get("datamoat_sentiment_mean") == -0.5
    assert [r["key"] for r in m.signals_view()["trended"]] == ["k00", "k01", "k02"]


def test_process_series_and_no_created_series() -> None:
    names = {s.name for f in Metrics().registry.collect() for s in f.samples}
    assert "process_cpu_seconds_total" in names
    assert "process_resident_memory_bytes" in names
    assert not [n for n in names if n.endswith("_created")]


def test_trend_log_keeps_every_trended_key_with_its_peak() -> None:
    log = TrendLog(max_keys=2)
    rows = [("a", END, 5.0, 30, 0.1), ("a", END + 10_000, 9.0, 60, -0.2), ("b", END, 4.6, 20, None)]
    frame = pl.DataFrame(
        rows, schema=["key", "window_end", "trend_score", "posts", "sentiment_mean"], orient="row"
    )
    log.observe(frame)
    log.observe(frame.head(1).with_columns(pl.lit("c").alias("key")))
    a, b = log.report()
    assert (a["key"], a["windows"], a["peak_score"], a["peak_posts"]) == ("a", 2, 9.0, 60)
    assert a["peak_window_end"] == END + 10_000 and a["peak_sentiment"] == -0.2
    assert b["key"] == "b" and log.dropped == 1
    assert "#a from +0s to +10s, peak 9.0 at +10s (2 windows)" in log.summary(END)
    text = format_summary({"trended": log.report(), "output": {"signals_topic": "signals"}})
    assert "#a: windows ending" in text and "peak 9.0" in text and "60 posts" in text
    assert "signals_topic=signals" in text


def test_live_page_never_inserts_data_as_html() -> None:
    script = (WEB / "app.js").read_text(encoding="utf-8")
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", script)
    assert "textContent" in script
    page = (WEB / "index.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://", page.replace("http://www.w3.org", ""))  # no CDN


def test_status_and_page_are_served_and_a_hostile_key_stays_data() -> None:
    import urllib.request

    import orjson

    from datamoat.http import MetricsServer

    m = Metrics()
    hostile = "<img src=x onerror=alert(1)>"
    emit(m, signals(END, {"*": (500, 0.0, 0.1), hostile: (400, 9.0, -0.3)}), END + 6_000)
    server = MetricsServer.for_metrics(m, lambda: {"processed": 7}, port=0).start()
    try:

        def get(path: str) -> bytes:
            with urllib.request.urlopen(server.url + path.lstrip("/"), timeout=5) as r:
                body: bytes = r.read()
                return body

        status = orjson.loads(get("/status"))
        assert status["processed"] == 7 and status["history"]
        assert status["signals"]["trending"][0]["key"] == hostile
        assert status["ops"]["latency_last_s"] == 6.0
        page = get("/")
        assert b"/app.js" in page and hostile.encode() not in page
        assert b"textContent" in get("/app.js")
        assert b"datamoat_trending_score" in get("/metrics")
    finally:
        server.stop()
