"""Every query of the Grafana dashboard, evaluated by a real Prometheus (Debian's
``prometheus``) scraping a live ``datamoat run`` on the test broker, returns data; and the
emit latency p50/p99 Prometheus derives from the histogram agree with the run summary's
exact figures within 10 %.

The run lasts until every query has data: the trend panels wait for the default demo's first
burst (``novalaunch``, 75 s in) to trend; then it is stopped as a user would (SIGINT)."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
from pathlib import Path
from typing import Any

import orjson
import pytest

from datamoat.broker import free_port
from tests.support.live import fetch, require_tool, start_run, stop, wait_for

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "configs" / "grafana" / "dashboards" / "datamoat.json"
#: The longest the run may take to give every query data.
RUN_S = 180.0


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel target and template variable query."""
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    out = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            if target.get("expr"):
                out.append((panel["title"], target["expr"]))
    for variable in board.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query["query"] if isinstance(query, dict) else str(query)
        inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", text.strip())
        if inner:
            out.append((f"variable {variable['name']}", inner.group(1)))
    return [(title, expr.replace("$instance", ".*")) for title, expr in out]


def query(base: str, expr: str, at: float | None = None) -> list[dict[str, Any]]:
    params = {"query": expr} | ({} if at is None else {"time": f"{at:.3f}"})
    body = orjson.loads(fetch(f"{base}/api/v1/query?{urllib.parse.urlencode(params)}"))
    assert body["status"] == "success", body
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def last_successful_scrape(base: str) -> float:
    """When Prometheus last scraped the run (it has stopped since): from a range query."""
    end = time.time()
    params = {"query": 'up{job="datamoat"}', "start": f"{end - 600:.3f}", "end": f"{end:.3f}"}
    params["step"] = "1"
    body = orjson.loads(fetch(f"{base}/api/v1/query_range?{urllib.parse.urlencode(params)}"))
    [series] = body["data"]["result"]
    up = [float(t) for t, v in series["values"] if v == "1"]
    assert up, "Prometheus never scraped the run"
    return max(up)


def start_prometheus(exe: str, tmp: Path, target_port: int, port: int) -> subprocess.Popen[bytes]:
    config = tmp / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: datamoat\n    scrape_interval: 1s\n"
        "    scrape_timeout: 900ms\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{target_port}']\n",
        encoding="utf-8",
    )
    log = (tmp / "prometheus.log").open("wb")
    cmd = [
        exe,
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.timeout(600)
def test_every_dashboard_query_returns_data_and_latency_agrees(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    exe = require_tool("prometheus", "prometheus")
    queries = dashboard_queries()
    assert len(queries) >= 25
    http_port, prom_port = free_port(), free_port()
    base = f"http://127.0.0.1:{prom_port}"
    run = start_run(tmp_path / "run", kafka_bootstrap, http_port, None)
    prom = start_prometheus(exe, tmp_path, http_port, prom_port)
    try:
        wait_for("Prometheus to answer", lambda: fetch(f"{base}/-/ready"), 60)
        wait_for(
            "a successful scrape of the run",
            lambda: query(base, 'up{job="datamoat"} == 1'),
            90,
        )
        missing = dict(queries)
        deadline = time.monotonic() + RUN_S
        while missing and run.poll() is None and time.monotonic() < deadline:
            for title, expr in list(missing.items()):
                if query(base, expr):
                    del missing[title]
            time.sleep(2)
        assert not missing, f"queries without data during the run: {missing}"
        time.sleep(3)  # a few scrapes with every series
        stop(run, timeout_s=120)
        assert run.returncode == 0, (tmp_path / "run" / "run.log").read_text()
        summary = json.loads((tmp_path / "run" / "summary.json").read_text())
        # the histogram as the last scrape saw it, over the whole run
        at = last_successful_scrape(base)
        got = {}
        for q in (0.5, 0.99):
            expr = (
                f"histogram_quantile({q}, sum by (le) (datamoat_end_to_end_latency_seconds_bucket))"
            )
            [sample] = query(base, expr, at)
            got[q] = float(sample["value"][1])
        exact = {0.5: summary["latency_p50_s"], 0.99: summary["latency_p99_s"]}
        for q in (0.5, 0.99):
            assert exact[q] > 0
            assert abs(got[q] - exact[q]) <= 0.1 * exact[q], (q, got, exact)
        assert summary["trended"], "the demo's first burst did not trend"
    finally:
        stop(run)
        stop(prom)
