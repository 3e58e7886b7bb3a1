"""The bench's alert figures from a run summary (``datamoat/bench/alerts.py``)."""

from __future__ import annotations

from datamoat.bench.alerts import alert_figures
from ingest.firehose.config import DEMO_BURSTS

START = 1_780_000_000_000


def test_each_demo_burst_gets_its_alert_latency_and_lead() -> None:
    first, second = DEMO_BURSTS[0], DEMO_BURSTS[1]
    onset = START + first.start_ms
    summary = {
        "stream_start_ms": START,
        "duration_s": (second.start_ms + 60_000) / 1000,  # two bursts began
        "early": {
            "alerts": 2,
            "retractions": 1,
            "early_delay_p50_s": 0.3,
            "early_delay_p99_s": 0.8,
        },
        "alerts_raised": [
            {"kind": "alert", "key": "other", "as_of": onset + 1, "fired_at": onset + 2},
            {
                "kind": "alert",
                "key": first.hashtag,
                "as_of": onset + 7_000,
                "fired_at": onset + 7_400,
            },
            {
                "kind": "retraction",
                "key": first.hashtag,
                "as_of": onset + 7_000,
                "fired_at": onset + 30_000,
            },
        ],
        "trended": [{"key": first.hashtag, "first_window_end": onset + 15_000}],
    }
    got = alert_figures(summary, lateness_s=5.0)
    assert (got["bursts"], got["bursts_alerted"]) == (2, 1)
    assert got["alert_latency_p50_s"] == 7.4
    assert got["alert_lead_p50_s"] == got["alert_lead_min_s"] == 13.0  # 15 + 5 - 7
    assert got["per_burst"][1] == {"hashtag": second.hashtag, "alert_s": None,
                                   "lead_s": None, "final_trended": False}  # fmt: skip
    assert got["early_delay_p99_s"] == 0.8 and got["retractions"] == 1


def test_a_run_without_the_early_path_has_no_alert_figures() -> None:
    assert alert_figures({"stream_start_ms": START}, lateness_s=5.0) == {}
