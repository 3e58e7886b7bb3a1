"""The Prometheus alert rules (configs/prometheus/alerts.yml) and their promtool unit tests.

1. every alert has ``for:``, a severity label, summary and description annotations, and
   queries only series :class:`datamoat.metrics.Metrics` exports (and Prometheus' ``up``);
2. the emit-latency bound is window + allowed lateness of configs/datamoat.toml;
3. both Prometheus configs load the rule file, and alerts.test.yml tests every alert both
   firing and not firing;
4. ``promtool check rules`` accepts the rules and ``promtool test rules`` passes.

promtool comes from Debian's ``prometheus`` package. Without it the promtool tests skip
with the reason; with ``CI=true`` they fail instead (CI installs it first).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.promql import exported_names, metric_names

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_CONFIGS = ROOT / "configs" / "prometheus"
ALERTS = PROMETHEUS_CONFIGS / "alerts.yml"
ALERTS_TEST = PROMETHEUS_CONFIGS / "alerts.test.yml"
PROMETHEUS_DOCKER = PROMETHEUS_CONFIGS / "prometheus.yml"
PROMETHEUS_LOCAL = PROMETHEUS_CONFIGS / "prometheus-local.yml"
CONFIG_FILE = ROOT / "configs" / "datamoat.toml"
COMPOSE_FILE = ROOT / "docker-compose.yml"

#: Series the rules may use that datamoat does not export: Prometheus' own.
PROMETHEUS_SERIES = frozenset({"up"})
SEVERITIES = frozenset({"warning", "critical"})
CI = os.environ.get("CI", "").lower() == "true"


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def alert_rules() -> list[dict[str, Any]]:
    groups = load_yaml(ALERTS)["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def require_promtool() -> str:
    """promtool's path; skips without it (one line), fails under CI=true."""
    exe = shutil.which("promtool")
    if exe is None:
        reason = "promtool not on PATH (Debian package `prometheus`)"
        if CI:
            pytest.fail(f"{reason}: CI must install it", pytrace=False)
        pytest.skip(reason)
    return exe


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_promtool(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=PROMETHEUS_CONFIGS,
    )


# --------------------------------------------------------------------------- 1. rules


def test_every_alert_has_for_severity_summary_and_description() -> None:
    rules = alert_rules()
    names = [rule["alert"] for rule in rules]
    assert len(names) >= 5
    assert len(names) == len(set(names)), "duplicate alert names"
    for rule in rules:
        name = rule["alert"]
        assert name.startswith("Datamoat"), name
        assert re.fullmatch(r"\d+[smh]", str(rule.get("for", ""))), f"{name}: no for:"
        assert rule.get("labels", {}).get("severity") in SEVERITIES, name
        annotations = rule.get("annotations", {})
        for key in ("summary", "description"):
            assert str(annotations.get(key, "")).strip(), f"{name}: no {key}"


def test_alerts_query_only_exported_metrics() -> None:
    exported = exported_names() | PROMETHEUS_SERIES
    for rule in alert_rules():
        names = metric_names(rule["expr"])
        assert names, f"{rule['alert']}: no metric in {rule['expr']}"
        unknown = names - exported
        assert not unknown, f"{rule['alert']}: {sorted(unknown)} not exported by datamoat.metrics"


def test_alerts_cover_lag_latency_dead_letters_stalls_and_targets() -> None:
    used = set().union(*(metric_names(rule["expr"]) for rule in alert_rules()))
    assert {
        "datamoat_consumer_lag_records",
        "datamoat_end_to_end_latency_seconds_bucket",
        "datamoat_dead_letters_total",
        "datamoat_posts_consumed_total",
        "datamoat_windows_emitted_total",
        "up",
    } <= used


def test_emit_latency_bound_is_window_plus_allowed_lateness() -> None:
    """The README's emit latency is about the allowed lateness plus a micro-batch in steady
    state; the alert's bound is a whole window more."""
    with CONFIG_FILE.open("rb") as f:
        window = tomllib.load(f)["window"]
    bound = float(window["size_s"]) + float(window["allowed_lateness_s"])
    [rule] = [r for r in alert_rules() if r["alert"] == "DatamoatEmitLatencyHigh"]
    m = re.search(r"\)\s*>\s*([\d.]+)\s*$", rule["expr"])
    assert m, rule["expr"]
    assert float(m.group(1)) == bound
    assert f"{bound:g} s = window" in rule["annotations"]["description"]


# --------------------------------------------------------------------------- 2. wiring


@pytest.mark.parametrize(
    "path", [PROMETHEUS_DOCKER, PROMETHEUS_LOCAL, ALERTS_TEST], ids=lambda p: p.name
)
def test_rule_files_resolve_to_the_alerts(path: Path) -> None:
    """Relative rule files resolve against the directory of the file naming them."""
    rule_files = load_yaml(path)["rule_files"]
    assert [(path.parent / f).resolve() for f in rule_files] == [ALERTS]


def test_compose_prometheus_mounts_the_alerts() -> None:
    volumes = load_yaml(COMPOSE_FILE)["services"]["prometheus"]["volumes"]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in volumes}
    assert (ROOT / mounts["/etc/prometheus/alerts.yml"]).resolve() == ALERTS


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in load_yaml(ALERTS_TEST)["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert names <= firing, f"never tested firing: {sorted(names - firing)}"
    assert names <= quiet, f"never tested quiet: {sorted(names - quiet)}"
    assert firing | quiet <= names, f"tests of unknown alerts: {sorted((firing | quiet) - names)}"


# --------------------------------------------------------------------------- 3. promtool


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", ALERTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in result.stdout


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", ALERTS_TEST.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
