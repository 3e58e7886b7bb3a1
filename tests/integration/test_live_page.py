"""The live page in a real headless Chromium (Debian's ``chromium``) during a live
``datamoat run`` on the test broker: it waits for live data, its figures agree with
``/metrics`` read just before and just after, and a screenshot is saved as a test artifact
(in the test's tmp dir, and under ``out/test-artifacts/`` in CI)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from datamoat.broker import free_port
from tests.support.live import fetch, require_tool, start_run, stop, wait_for

pytestmark = pytest.mark.kafka

ROOT = Path(__file__).resolve().parents[2]
RUN_S = 120.0


def metric(url: str, name: str) -> float:
    """Sum of the samples named ``name`` on ``/metrics``."""
    text = fetch(url + "metrics").decode()
    return sum(
        s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name
    )


def chromium(exe: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",  # root in a container
        "--disable-gpu",
        "--hide-scrollbars",
        f"--user-data-dir={tmp / 'chromium-profile'}",
        "--virtual-time-budget=6000",
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def value(dom: str, element: str) -> float:
    found = re.search(rf'id="{element}" data-value="([^"]*)"', dom)
    assert found and found.group(1), f"#{element} has no value in the page"
    return float(found.group(1))


@pytest.mark.timeout(600)
def test_live_page_shows_live_figures_that_agree_with_metrics(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    exe = require_tool("chromium", "chromium")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    run = start_run(tmp_path / "run", kafka_bootstrap, port, RUN_S)
    try:

        def live() -> bool:
            status = orjson.loads(fetch(url + "status"))
            return bool(status["ops"]["windows_emitted"] >= 2 and len(status["history"]) >= 10)

        wait_for("two emitted windows on /status", live, RUN_S)
        dom = ""
        for _ in range(5):  # bounded: the page fetches /status once it has loaded
            before = {n: metric(url, f"datamoat_{n}_total") for n in ("posts_processed",)}
            windows_before = metric(url, "datamoat_windows_emitted_total")
            result = chromium(exe, tmp_path, "--dump-dom", url)
            assert result.returncode == 0, result.stderr[-2000:]
            dom = result.stdout
            if 'data-ready="1"' in dom:
                break
        assert 'data-ready="1"' in dom, dom[:2000]
        after = metric(url, "datamoat_posts_processed_total")
        windows_after = metric(url, "datamoat_windows_emitted_total")
        assert before["posts_processed"] <= value(dom, "processed") <= after
        assert windows_before <= value(dom, "windows_emitted") <= windows_after
        assert value(dom, "processed") > 0
        assert value(dom, "lag") >= 0
        assert -1.0 <= value(dom, "sentiment") <= 1.0
        assert value(dom, "latency") > 0  # the emit latency p50 of the recent windows
        assert dom.count("<path") >= 4, "the charts drew no lines"
        assert "<tr>" in dom.split('id="volume"', 1)[1], "no top hashtags listed"
        shot = tmp_path / "live-page.png"
        result = chromium(exe, tmp_path, "--window-size=1400,1300", f"--screenshot={shot}", url)
        assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
        if os.environ.get("CI", "").lower() == "true":
            artifacts = ROOT / "out" / "test-artifacts"
            artifacts.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, artifacts / "live-page.png")
    finally:
        stop(run)
