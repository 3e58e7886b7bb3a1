"""Early signals and trend alerts through Kafka: the alert leads the final trend, the final
signals stay the truth.

A seeded paced ``datamoat run`` at 1,157 posts/s with ``--start`` on a 10-s window boundary,
so the first demo burst (``#novalaunch``, 75 s in, rising over a minute) begins 5 s into a
window. Its alert (``kafka.alerts_topic``) is written while the burst's second window is
open, at least 10 s before the first final signal that trends it reaches the ``signals``
topic (record times, both written by the merger); the Parquet signals and the signals topic
equal ``datamoat truth``; the early topic carries provisional records of open windows; and
the live page, in a real headless Chromium while the run goes on, shows the open window's
provisional values (marked as such) and the alert.

The lead depends on where a burst's onset falls in a window: with this seed the onset window
(5 s of a slow rise) does not trend finally; a burst strong enough to trend its onset window
at once leaves less to gain (``datamoat bench`` reports the lead over every demo burst).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from datamoat.broker import free_port
from tests.support.live import fetch, require_tool, stop, wait_for
from tests.support.pipelines import (
    DATAMOAT,
    assert_same_signals,
    parquet_signals,
    topic_records,
    topic_signals,
)
from tests.support.pipelines import truth as truth_of

pytestmark = pytest.mark.kafka

SEED, RATE, DURATION_S = 7, 1157, 100
BURST = "novalaunch"  # the first demo burst's hashtag
THRESHOLD, MIN_SUPPORT = 4.5, 20  # configs/datamoat.toml [trends]


def _alerted(url: str) -> bool:
    status = orjson.loads(fetch(url + "status"))
    return any(a["kind"] == "alert" for a in status["signals"]["alerts"])


def chromium(exe: str, tmp: Path, url: str) -> str:
    """The page's DOM once its script has rendered /status (bounded retries)."""
    dom = ""
    for _ in range(5):
        done = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu",
             f"--user-data-dir={tmp / 'chromium-profile'}", "--virtual-time-budget=6000",
             "--dump-dom", url],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        dom = done.stdout
        if 'data-ready="1"' in dom and 'class="alert"' in dom:
            break
    return dom


def _read(topic: str, env: dict[str, str], committed: bool) -> list[Any]:
    return topic_records(env["KAFKA_BOOTSTRAP"], topic, committed)


@pytest.mark.timeout(420)
def test_the_alert_leads_the_final_trend_by_10_s_and_the_finals_are_the_truth(
    datamoat_env: dict[str, str], tmp_path: Path
) -> None:
    env = datamoat_env
    now_ms = time.time_ns() // 1_000_000
    start = (now_ms // 10_000 + 1) * 10_000  # a window boundary
    seeded = ["--seed", str(SEED), "--start", str(start), "--rate", str(RATE)]
    out = tmp_path / "run"
    exe = require_tool("chromium", "chromium")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "run.log"
    with log.open("wb") as sink:
        run = subprocess.Popen(
            [*DATAMOAT, "run", *seeded, "--duration", str(DURATION_S), "--workers", "1",
             "--output-dir", str(out), "--summary-json", str(tmp_path / "run.json"),
             "--quiet", "--http-port", str(port)],
            env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_for("an alert on /status", lambda: _alerted(url), DURATION_S + 30)
        dom = chromium(exe, tmp_path, url)
        assert run.wait(timeout=240) == 0, log.read_text()[-3000:]
    finally:
        stop(run)
    provisional = dom.split('id="provisional"', 1)[1].split("</tbody>", 1)[0]
    assert "<tr>" in provisional, "no provisional keys listed"
    assert "% seen" in dom and "(provisional)" in dom
    shown = dom.split('id="alerts"', 1)[1].split("</tbody>", 1)[0]
    assert f"#{BURST}" in shown and 'class="alert"' in shown, shown
    summary = orjson.loads((tmp_path / "run.json").read_bytes())
    produced = int(summary["produced"])
    assert produced > 0.9 * RATE * DURATION_S  # (kept up or not: the lead is in record times)

    want = truth_of(seeded, produced, tmp_path / "truth", env)
    assert_same_signals(parquet_signals(out), want)
    assert_same_signals(topic_signals(env), want)

    alerts = [(r.timestamp, orjson.loads(r.value))
              for r in _read(env["DATAMOAT_KAFKA_ALERTS_TOPIC"], env, committed=False)]  # fmt: skip
    raised = [(t, a) for t, a in alerts if a["kind"] == "alert" and a["key"] == BURST]
    assert raised, [a for _, a in alerts]
    alert_at, alert = min(raised, key=lambda ta: ta[0])
    finals = [(r.timestamp, orjson.loads(r.value))
              for r in _read(env["DATAMOAT_KAFKA_SIGNALS_TOPIC"], env, committed=True)]  # fmt: skip
    trending = [
        t for t, s in finals
        if s["key"] == BURST and (s["trend_score"] or 0.0) >= THRESHOLD
        and s["originals"] >= MIN_SUPPORT
    ]  # fmt: skip
    assert trending, "the burst never trended in the final signals"
    lead_s = (min(trending) - alert_at) / 1000
    assert lead_s >= 10.0, (lead_s, alert)
    assert alert["window_start"] < alert["as_of"] < alert["window_end"]  # an open window's
    assert alert["alert_id"] == f"{alert['window_start']}/{BURST}"

    early = [orjson.loads(r.value) for r in _read(env["DATAMOAT_KAFKA_EARLY_TOPIC"], env, False)]
    assert early and all(e["provisional"] for e in early)
    assert any(e["key"] == BURST and e["covered"] < 1.0 for e in early)
