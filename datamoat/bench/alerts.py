"""Alert figures of a fixed-rate run, from its summary: how soon each demo burst alerted.

The default stream (``flat_demo``) schedules :data:`ingest.firehose.config.DEMO_BURSTS` at
known offsets from the stream's start (``stream_start_ms`` in the run's summary), so each
burst's first post is known. For every burst that began before the run ended:

* ``alert_s``: its first alert's ``fired_at`` (wall clock) minus the burst's first post
  (event time; in a paced run event time is the wall clock at which a post is sent);
* ``lead_s``: when its first final trending window was due (the window's end plus the
  allowed lateness: the earliest its final signal can exist) minus the alert's ``as_of`` (the
  newest post the alert had seen), both event time; the lead depends on where the burst's
  onset falls in a window.

Plus the early delay (``early_delay_p50_s``, ``early_delay_p99_s``): from the newest post of
an early update to its provisional signals (``datamoat_early_delay_seconds``).
"""

from __future__ import annotations

from typing import Any

from datamoat.report import quantile
from ingest.firehose.config import DEMO_BURSTS

__all__ = ["alert_figures", "alert_notes"]


def alert_figures(summary: dict[str, Any], lateness_s: float) -> dict[str, Any]:
    """The alert figures of a run summary (empty when the run has no early path)."""
    early, start = summary.get("early"), summary.get("stream_start_ms")
    if not isinstance(early, dict) or not isinstance(start, int):
        return {}
    raised = [a for a in summary.get("alerts_raised", []) if a["kind"] == "alert"]
    trended = {t["key"]: t for t in summary.get("trended", [])}
    ended_ms = start + 1000 * float(summary.get("duration_s") or 0.0)
    bursts: list[dict[str, Any]] = []
    for burst in DEMO_BURSTS:
        onset = start + burst.start_ms
        if onset >= ended_ms:
            continue
        mine = [a for a in raised if a["key"] == burst.hashtag and a["as_of"] >= onset]
        first = min(mine, key=lambda a: a["fired_at"]) if mine else None
        final = trended.get(burst.hashtag)
        due = final["first_window_end"] + lateness_s * 1000 if final else None
        bursts.append({
            "hashtag": burst.hashtag,
            "alert_s": round((first["fired_at"] - onset) / 1000, 3) if first else None,
            "lead_s": round((due - first["as_of"]) / 1000, 3) if first and due else None,
            "final_trended": final is not None,
        })  # fmt: skip
    alert_s = sorted(b["alert_s"] for b in bursts if b["alert_s"] is not None)
    lead_s = sorted(b["lead_s"] for b in bursts if b["lead_s"] is not None)
    return {
        "alerts": early.get("alerts"),
        "retractions": early.get("retractions"),
        "early_delay_p50_s": early.get("early_delay_p50_s"),
        "early_delay_p99_s": early.get("early_delay_p99_s"),
        "bursts": len(bursts),
        "bursts_alerted": len(alert_s),
        "alert_latency_p50_s": quantile(alert_s, 0.5),
        "alert_latency_p99_s": quantile(alert_s, 0.99),
        "alert_lead_p50_s": quantile(lead_s, 0.5),
        "alert_lead_min_s": lead_s[0] if lead_s else None,
        "per_burst": bursts,
    }


def alert_notes() -> str:
    """What the alert figures mean, for the bench's notes."""
    return (
        "alerts: latency = first alert's wall time minus the demo burst's first post; "
        "lead = the first final trending window's end plus the lateness minus the newest "
        "post the alert had seen (event time); early delay = newest post of an update to "
        "its provisional signals"
    )
