"""Offline checks of the docker-compose cluster and the monitoring configs.

No Docker engine is needed. The checks:

1. docker-compose.yml and its override files validate against the compose specification
   (check-jsonschema's builtin ``vendor.compose-spec`` schema), and ``docker compose config``
   accepts every combination the README names when Compose v2 is installed;
2. the compose services agree with configs/datamoat.toml (topics, partitions, group, ports)
   and with the Prometheus and Grafana configs they mount, and the ``bluesky`` profile runs
   the Jetstream adapter in place of the firehose (a plain ``up`` does not start it);
3. every metric the Grafana dashboard queries is exported by :class:`datamoat.metrics.Metrics`,
   its panels name their data source through a variable (importable into any Grafana), the
   Workers stat leaves the merger out, lag is shown per partition and the latency
   descriptions use the README's definition;
4. the Prometheus configs parse, and pass ``promtool check config`` when promtool is on PATH
   (the dashboard's PromQL then also goes through ``promtool check rules``);
5. the offline override swaps every public image for one docker/images.sh builds, the
   three-broker override forms one quorum with replication factor 3, the run override
   of the compose test bounds the run, and the secured override gives the broker the managed
   broker's SASL_SSL listener and every datamoat service its client.properties, leaving the
   default project as it was.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import pytest
import yaml

from tests.support.promql import exported_names, metric_names

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
OFFLINE_FILE = ROOT / "docker-compose.offline.yml"
THREE_BROKERS_FILE = ROOT / "docker-compose.three-brokers.yml"
RUN_FILE = ROOT / "docker" / "compose.run.yml"
SECURED_FILE = ROOT / "docker-compose.secured.yml"
DOCKER_LIB = ROOT / "docker" / "lib.sh"
CONFIG_FILE = ROOT / "configs" / "datamoat.toml"
DOCKERFILE = ROOT / "Dockerfile"
PROMETHEUS_CONFIGS = ROOT / "configs" / "prometheus"
PROMETHEUS_DOCKER = PROMETHEUS_CONFIGS / "prometheus.yml"
PROMETHEUS_LOCAL = PROMETHEUS_CONFIGS / "prometheus-local.yml"
GRAFANA = ROOT / "configs" / "grafana"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "datamoat.yml"
DASHBOARD = GRAFANA / "dashboards" / "datamoat.json"

#: The services that run the datamoat image (jetstream only with the bluesky profile).
APP_SERVICES = ("topics", "firehose", "jetstream", "worker", "merger")

PROMTOOL = shutil.which("promtool")
F = TypeVar("F", bound=Callable[..., Any])
#: Without a tool, a test skips locally with the reason; under CI=true it fails instead
#: (make test installs the tools first: docker/test-tools.sh).
CI = os.environ.get("CI", "").lower() == "true"


def _needs(present: bool, reason: str) -> Callable[[F], F]:
    def decorate(test: F) -> F:
        @functools.wraps(test)
        def run(*args: Any, **kwargs: Any) -> Any:
            if not present:
                if CI:
                    pytest.fail(f"{reason}: CI must have it", pytrace=False)
                pytest.skip(reason)
            return test(*args, **kwargs)

        return cast(F, run)

    return decorate


needs_promtool = _needs(PROMTOOL is not None, "promtool not on PATH (Debian package `prometheus`)")


# --------------------------------------------------------------------------- helpers


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def as_dict(value: Any) -> dict[str, Any]:
    assert isinstance(value, dict), f"expected a mapping, got {value!r}"
    return value


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    with CONFIG_FILE.open("rb") as f:
        return tomllib.load(f)


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    compose = as_dict(load_yaml(COMPOSE_FILE))
    return {name: as_dict(svc) for name, svc in as_dict(compose["services"]).items()}


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as strings, from either the mapping or the list form."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(str(item).split("=", 1) for item in env)
    return {str(k): _env_value(v) for k, v in as_dict(env).items()}


def _env_value(value: Any) -> str:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else str(value)


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def flag(cmd: list[str], name: str) -> str:
    """The value of ``--name value`` or ``--name=value`` in a command line."""
    for i, part in enumerate(cmd):
        if part == name and i + 1 < len(cmd):
            return cmd[i + 1]
        if part.startswith(name + "="):
            return part.split("=", 1)[1]
    raise AssertionError(f"{name} not in command {cmd}")


def interpolation_default(value: str) -> str:
    """``${VAR:-default}`` -> ``default``; anything else unchanged."""
    m = re.fullmatch(r"\$\{\w+:?-([^}]*)\}", value)
    return m.group(1) if m else value


def listeners(spec: str) -> dict[str, tuple[str, int]]:
    """``NAME://host:port,...`` -> {NAME: (host, port)} (host '' for all interfaces)."""
    out: dict[str, tuple[str, int]] = {}
    for item in spec.split(","):
        name, _, address = item.strip().partition("://")
        host, _, port = address.rpartition(":")
        out[name] = (host, int(port))
    return out


def published_ports(service: dict[str, Any]) -> dict[int, int]:
    """{container port: host port} of a service's ``ports`` (short or long syntax)."""
    out: dict[int, int] = {}
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            out[int(entry["target"])] = int(entry["published"])
        else:
            parts = str(entry).split("/")[0].split(":")
            out[int(parts[-1])] = int(parts[-2]) if len(parts) > 1 else int(parts[-1])
    return out


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """{container path: source} of a service's volumes (short or long syntax)."""
    out: dict[str, str] = {}
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            out[str(entry["target"])] = str(entry["source"])
        else:
            source, target = str(entry).split(":")[:2]
            out[target] = source
    return out


def host_path(source: str) -> Path:
    return (ROOT / source).resolve()


def datamoat_job(prometheus_config: Path) -> dict[str, Any]:
    jobs = [as_dict(j) for j in load_yaml(prometheus_config)["scrape_configs"]]
    matches = [j for j in jobs if j["job_name"] == "datamoat"]
    assert len(matches) == 1, f"{prometheus_config.name}: expected one job 'datamoat'"
    return matches[0]


# --------------------------------------------------------------------------- 1. compose spec


@pytest.mark.parametrize(
    "path", [COMPOSE_FILE, OFFLINE_FILE, THREE_BROKERS_FILE], ids=lambda p: p.name
)
def test_compose_file_matches_the_compose_spec(path: Path) -> None:
    bin_dir = Path(sys.executable).parent  # the venv's bin/, not resolved through symlinks
    exe = shutil.which("check-jsonschema", path=str(bin_dir))
    if exe is None:
        pytest.fail(
            f"check-jsonschema is not installed in {bin_dir}: it validates docker-compose.yml "
            f"offline. Install the dev dependencies: {bin_dir}/pip install check-jsonschema"
        )
    result = subprocess.run(
        [exe, "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- 2. consistency


def test_app_services_use_the_configured_topics_and_group(
    services: dict[str, dict[str, Any]], config: dict[str, Any]
) -> None:
    kafka = config["kafka"]
    expected = {
        "DATAMOAT_KAFKA_POSTS_TOPIC": kafka["posts_topic"],
        "DATAMOAT_KAFKA_DLQ_TOPIC": kafka["dlq_topic"],
        "DATAMOAT_KAFKA_SIGNALS_TOPIC": kafka["signals_topic"],
        "DATAMOAT_KAFKA_INTERNAL_PREFIX": kafka["internal_prefix"],
        "DATAMOAT_KAFKA_PARTITIONS": str(kafka["partitions"]),
        "DATAMOAT_KAFKA_REPLICATION_FACTOR": str(kafka["replication_factor"]),
        "DATAMOAT_KAFKA_GROUP": kafka["group"],
    }
    for name in APP_SERVICES:
        env = environment(services[name])
        assert {k: env.get(k) for k in expected} == expected, name
    assert command(services["topics"])[0] == "topics"
    assert command(services["firehose"])[0] == "produce"
    assert command(services["worker"])[0] == "process"
    assert flag(command(services["worker"]), "--group") == kafka["group"]


def test_broker_matches_the_topic_settings(
    services: dict[str, dict[str, Any]], config: dict[str, Any]
) -> None:
    env = environment(services["broker"])
    kafka = config["kafka"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_NUM_PARTITIONS"] == str(kafka["partitions"])
    assert env["KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"] == "0"
    for key in (
        "KAFKA_DEFAULT_REPLICATION_FACTOR",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env[key] == str(kafka["replication_factor"]), key
    assert "healthcheck" in services["broker"]
    assert str(services["broker"]["image"]).startswith("apache/kafka:4.1.")


def test_app_services_reach_the_broker_on_its_internal_listener(
    services: dict[str, dict[str, Any]],
) -> None:
    env = environment(services["broker"])
    bound = listeners(env["KAFKA_LISTENERS"])
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in bound
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in advertised
    internal = {f"{host}:{port}" for host, port in advertised.values()}
    for name in APP_SERVICES:
        bootstrap = flag(command(services[name]), "--bootstrap")
        assert bootstrap in internal, f"{name}: --bootstrap {bootstrap} is not advertised"
        assert bootstrap.split(":")[0] == "broker" and "broker" in services
        assert environment(services[name])["KAFKA_BOOTSTRAP"] == bootstrap, name
        depends = services[name].get("depends_on") or {}
        assert ("broker" if name == "topics" else "topics") in depends, name
    for name, (_, port) in advertised.items():
        assert bound[name][1] == port, f"listener {name} advertised on another port"


def test_broker_host_port_matches_the_configured_bootstrap(
    services: dict[str, dict[str, Any]], config: dict[str, Any]
) -> None:
    bootstrap_port = int(str(config["kafka"]["bootstrap"]).rsplit(":", 1)[1])
    env = environment(services["broker"])
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    host_listeners = [port for host, port in advertised.values() if host == "localhost"]
    assert host_listeners == [bootstrap_port]
    assert published_ports(services["broker"]) == {bootstrap_port: bootstrap_port}


def test_worker_http_port_matches_config_and_scrape_port(
    services: dict[str, dict[str, Any]], config: dict[str, Any]
) -> None:
    port = int(config["http"]["port"])
    worker = services["worker"]
    assert int(flag(command(worker), "--http-port")) == port
    assert [int(p) for p in worker.get("expose", [])] == [port]
    assert environment(worker)["DATAMOAT_HTTP_HOST"] == "0.0.0.0", "scrapable from outside"
    merger = services["merger"]
    assert int(flag(command(merger), "--http-port")) == port
    assert environment(merger)["DATAMOAT_HTTP_HOST"] == "0.0.0.0", "scrapable from outside"
    [sd] = datamoat_job(PROMETHEUS_DOCKER)["dns_sd_configs"]
    assert sd["names"] == ["worker", "merger"]
    assert sd["type"] == "A"
    assert int(sd["port"]) == port
    [static] = datamoat_job(PROMETHEUS_LOCAL)["static_configs"]
    assert static["targets"] == [f"127.0.0.1:{port}"]


def test_merger_merges_the_workers_group_into_its_own_output(
    services: dict[str, dict[str, Any]], config: dict[str, Any]
) -> None:
    merger, worker = services["merger"], services["worker"]
    assert command(merger)[0] == "merge"
    assert "profiles" not in merger, "the merger runs whenever the workers do"
    assert flag(command(merger), "--group") == flag(command(worker), "--group")
    assert int(flag(command(merger), "--http-port")) == int(config["http"]["port"])
    assert "container_name" not in merger  # its one published port: the live page
    assert flag(command(merger), "--output-dir") in mounts(merger)


def test_worker_is_scalable(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker, "replicas would collide on the name"
    assert not worker.get("ports"), "replicas would collide on a fixed host port"
    # stage one keeps no files (partials go to Kafka): replicas need no volume to share
    assert "--output-dir" not in command(worker)
    assert not worker.get("volumes")


def test_the_bluesky_profile_runs_the_jetstream_adapter_in_place_of_the_firehose(
    services: dict[str, dict[str, Any]],
) -> None:
    """``DATAMOAT_PROFILE=bluesky docker compose --profile bluesky up --scale firehose=0``:
    the adapter into ``posts`` instead of the firehose, every app service with the bluesky
    settings; a plain ``docker compose up`` starts the firehose and not the adapter."""
    from datamoat.config import profile_names

    jetstream = services["jetstream"]
    assert jetstream["profiles"] == ["bluesky"]
    cmd = command(jetstream)
    assert cmd[:2] == ["ingest", "jetstream"]
    assert "--output" not in cmd, "the posts topic, not a file"
    assert flag(cmd, "--bootstrap") == flag(command(services["worker"]), "--bootstrap")
    assert jetstream["restart"] == "unless-stopped"  # a restart resumes after its cursor
    by_profile = {name: svc.get("profiles") for name, svc in services.items()}
    started_by_default = {name for name, profiles in by_profile.items() if not profiles}
    assert {"firehose", "worker", "merger", "topics"} <= started_by_default
    assert "jetstream" not in started_by_default
    assert [n for n, p in by_profile.items() if p and "bluesky" in p] == ["jetstream"]
    assert "bluesky" in profile_names()
    for name in APP_SERVICES:  # the pipeline's settings: none unless DATAMOAT_PROFILE says
        value = environment(services[name])["DATAMOAT_PROFILE"]
        assert value == "${DATAMOAT_PROFILE:-}", name
        assert interpolation_default(value) == "", name
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "DATAMOAT_PROFILE=bluesky docker compose --profile bluesky up --scale firehose=0" in (
        readme
    )
    # the image carries the adapter's WebSocket client (the jetstream extra)
    assert "['optional-dependencies']['jetstream']" in DOCKERFILE.read_text(encoding="utf-8")
    images = (ROOT / "docker" / "images.sh").read_text(encoding="utf-8")
    assert "['optional-dependencies']['jetstream']" in images  # and the offline wheelhouse


def test_firehose_default_rate_matches_config(
    services: dict[str, dict[str, Any]], config: dict[str, Any]
) -> None:
    rate = flag(command(services["firehose"]), "--rate")
    assert rate.startswith("${RATE")
    assert float(interpolation_default(rate)) == pytest.approx(config["firehose"]["rate"])


def test_app_image_is_built_from_the_repository(services: dict[str, dict[str, Any]]) -> None:
    for name in APP_SERVICES:
        build = as_dict(services[name]["build"])
        assert host_path(str(build["context"])) == ROOT, name
        assert (ROOT / str(build.get("dockerfile", "Dockerfile"))) == DOCKERFILE, name
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(r"^ARG BASE_IMAGE=python:3\.11-slim$", text, re.M)
    assert re.search(r"^FROM \$\{BASE_IMAGE\} AS base$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["datamoat"\]', text, re.M)
    with (ROOT / "pyproject.toml").open("rb") as f:
        packages = tomllib.load(f)["tool"]["setuptools"]["packages"]["find"]["include"]
    for pattern in packages:
        package = pattern.rstrip("*")
        assert re.search(rf"^COPY {package} ", text, re.M), f"Dockerfile misses {package}/"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".venv", ".kafka", ".git", "out"):
        assert entry in ignored, f".dockerignore misses {entry}"


def test_mounted_host_paths_exist(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        for target, source in mounts(svc).items():
            if source.startswith((".", "/")):
                assert host_path(source).exists(), f"{name}: {source} -> {target} is missing"


def test_prometheus_service_mounts_the_docker_config(services: dict[str, dict[str, Any]]) -> None:
    prometheus = services["prometheus"]
    source = mounts(prometheus)["/etc/prometheus/prometheus.yml"]
    assert host_path(source) == PROMETHEUS_DOCKER
    assert published_ports(prometheus) == {9090: 9090}


def test_the_live_page_is_published_from_the_merger(services: dict[str, dict[str, Any]]) -> None:
    merger = services["merger"]
    port = int(flag(command(merger), "--http-port"))
    assert published_ports(merger) == {port: 8080}
    assert environment(merger).get("DATAMOAT_HTTP_HOST", "0.0.0.0") == "0.0.0.0"


def test_grafana_datasource_points_at_the_prometheus_service(
    services: dict[str, dict[str, Any]],
) -> None:
    [datasource] = load_yaml(DATASOURCES)["datasources"]
    url = urlsplit(datasource["url"])
    assert datasource["type"] == "prometheus"
    assert datasource["uid"] == "prometheus"
    assert url.scheme == "http"
    assert url.hostname in services
    assert url.port in published_ports(services[str(url.hostname)])
    assert "prometheus" in (services["grafana"].get("depends_on") or [])


def test_grafana_mounts_provisioning_and_dashboards(services: dict[str, dict[str, Any]]) -> None:
    grafana = services["grafana"]
    volumes = mounts(grafana)
    assert host_path(volumes["/etc/grafana/provisioning"]) == GRAFANA / "provisioning"
    [provider] = load_yaml(DASHBOARD_PROVIDERS)["providers"]
    assert provider["type"] == "file"
    dashboards_dir = provider["options"]["path"]
    assert host_path(volumes[dashboards_dir]) == DASHBOARD.parent
    env = environment(grafana)
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_dir}/{DASHBOARD.name}"
    assert published_ports(grafana) == {3000: 3000}


# --------------------------------------------------------------------------- 3. dashboard


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows nest their panels


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return as_dict(json.loads(DASHBOARD.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def expressions(dashboard: dict[str, Any]) -> list[str]:
    """Every PromQL expression of the dashboard: panel targets and template variables."""
    exprs = [t["expr"] for p in _panels(dashboard) for t in p.get("targets", []) if "expr" in t]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else str(query)
            inner = re.fullmatch(r"label_values\((?:(.*),\s*)?\w+\)", text.strip())
            assert inner, f"unexpected variable query {text}"
            exprs.append(inner.group(1) or "")
    return [e for e in exprs if e]


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le) (rate(a_bucket{x=~"$i", y="z{w}"}[1m]))) '
        "/ on (job) group_left (b) time() - b_seconds offset 5m > bool 1e3 or vector(0)"
    )
    assert metric_names(expr) == {"a_bucket", "b_seconds"}
    assert metric_names("topk(10, max by (key) (c))") == {"c"}


def test_dashboard_uses_only_exported_metrics(expressions: list[str]) -> None:
    exported = exported_names()
    assert "datamoat_posts_processed_total" in exported
    assert "datamoat_dead_letters_total" in exported  # labelled, no samples yet
    assert len(expressions) >= 15
    for expr in expressions:
        names = metric_names(expr)
        assert names, f"no metric in {expr}"
        unknown = names - exported
        assert not unknown, f"{sorted(unknown)} not exported by datamoat.metrics: {expr}"


def test_dashboard_covers_the_pipeline_metrics(expressions: list[str]) -> None:
    used = set().union(*(metric_names(e) for e in expressions))
    wanted = {
        "datamoat_posts_produced_total",
        "datamoat_posts_consumed_total",
        "datamoat_posts_processed_total",
        "datamoat_dead_letters_total",
        "datamoat_late_records_total",
        "datamoat_batch_processing_seconds_bucket",
        "datamoat_end_to_end_latency_seconds_bucket",
        "datamoat_consumer_lag_records",
        "datamoat_windows_emitted_total",
        "datamoat_open_windows",
        "datamoat_state_bytes",
        "datamoat_watermark_seconds",
        "datamoat_trending_score",
    }
    assert not wanted - used, f"dashboard misses {sorted(wanted - used)}"


def test_dashboard_is_well_formed(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"]
    panels = list(_panels(dashboard))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        area = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not area & cells, f"panel {panel['title']!r} overlaps another"
        cells |= area
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), panel["title"]
        for ref in [panel["datasource"], *(t["datasource"] for t in panel["targets"])]:
            assert ref == DATASOURCE_REF, panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


#: How the panels, their targets and the query variables name their data source: the
#: dashboard's data-source variable, never the provisioned uid, so any Grafana imports it.
DATASOURCE_REF = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


def _datasource_refs(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            else:
                yield from _datasource_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _datasource_refs(item)


def test_dashboard_imports_into_any_grafana(dashboard: dict[str, Any]) -> None:
    """A data-source variable as Grafana exports it: ``__inputs`` for the import dialog, and
    a ``datasource`` variable for file provisioning (which ignores ``__inputs``)."""
    [datasource] = load_yaml(DATASOURCES)["datasources"]
    assert datasource["isDefault"] is True, "the variable's default is the provisioned one"
    [entry] = dashboard["__inputs"]
    assert (entry["name"], entry["type"], entry["pluginId"]) == (
        "DS_PROMETHEUS", "datasource", "prometheus")  # fmt: skip
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    variable = variables["DS_PROMETHEUS"]
    assert (variable["type"], variable["query"]) == ("datasource", "prometheus")
    assert variable["current"] == {}, "no uid of one Grafana as the default"
    requires = {(r["type"], r["id"]) for r in dashboard["__requires"]}
    assert ("datasource", "prometheus") in requires
    assert {("panel", p["type"]) for p in _panels(dashboard) if p["type"] != "row"} <= requires
    refs = [ref for ref in _datasource_refs(dashboard) if ref.get("type") != "grafana"]
    assert len(refs) > 30
    assert all(ref == DATASOURCE_REF for ref in refs), "a hard-coded data source uid"


def test_dashboard_counts_workers_and_shows_lag_per_partition(
    dashboard: dict[str, Any],
) -> None:
    # prometheus.yml labels each target with the DNS name it was found under
    [relabel] = datamoat_job(PROMETHEUS_DOCKER)["relabel_configs"]
    assert relabel == {"source_labels": ["__meta_dns_name"], "target_label": "role"}
    panels = {p["title"]: p for p in _panels(dashboard)}
    [workers] = panels["Workers"]["targets"]
    assert 'role!="merger"' in workers["expr"], "the Workers stat counts the merger"
    # the merger exports the group's lag once, by partition: no per-worker view of it
    lag = [(p["title"], t["expr"]) for p in panels.values() for t in p.get("targets", [])
           if "datamoat_consumer_lag_records" in t["expr"]]  # fmt: skip
    assert len(lag) >= 3
    for title, expr in lag:
        assert "worker" not in title.lower(), title
        assert "instance" not in expr, f"{title}: lag is exported by the merger only"
        assert "by (partition)" in expr, title
        assert "partition" in title.lower() or "sum(" in expr, title


def test_dashboard_latency_descriptions_match_the_readme(dashboard: dict[str, Any]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    m = re.search(r"\*the (wall time when a window's signals are emitted minus the window's end)\*",
                  readme)  # fmt: skip
    assert m, "README lost its emit latency definition"
    latency = [p for p in _panels(dashboard)
               if any("end_to_end_latency" in t["expr"] for t in p.get("targets", []))]  # fmt: skip
    assert len(latency) >= 2
    for panel in latency:
        description = " ".join(panel["description"].lower().split())
        assert m.group(1) in description, panel["title"]
        assert "event time" not in description, panel["title"]


@needs_promtool
def test_dashboard_promql_parses(expressions: list[str], tmp_path: Path) -> None:
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:expr_{i}", "expr": expr}
                    for i, expr in enumerate(expressions)
                ],
            }
        ]
    }
    rules_file = tmp_path / "dashboard-rules.yml"
    rules_file.write_text(yaml.safe_dump(rules), encoding="utf-8")
    result = subprocess.run(
        [str(PROMTOOL), "check", "rules", str(rules_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- 4. prometheus


@pytest.mark.parametrize("path", [PROMETHEUS_DOCKER, PROMETHEUS_LOCAL], ids=lambda p: p.name)
def test_prometheus_config_parses(path: Path) -> None:
    prometheus = as_dict(load_yaml(path))
    assert prometheus["global"]["scrape_interval"] == "15s"
    job = datamoat_job(path)
    assert job["scrape_interval"] == "5s"
    assert job.get("metrics_path", "/metrics") == "/metrics"


@needs_promtool
@pytest.mark.parametrize("path", [PROMETHEUS_DOCKER, PROMETHEUS_LOCAL], ids=lambda p: p.name)
def test_promtool_check_config(path: Path) -> None:
    result = subprocess.run(
        [str(PROMTOOL), "check", "config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- 5. overrides


class _ComposeLoader(yaml.SafeLoader):
    """Reads Compose's merge tags (``!reset``, ``!override``) as plain values."""


_ComposeLoader.add_constructor("!reset", lambda loader, node: None)
_ComposeLoader.add_constructor(
    "!override",
    lambda loader, node: (
        loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node)
        if isinstance(node, yaml.MappingNode)
        else loader.construct_scalar(node)  # type: ignore[arg-type]
    ),
)


def override_services(path: Path) -> dict[str, dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        data = as_dict(yaml.load(f, Loader=_ComposeLoader))  # a SafeLoader
    return {name: as_dict(svc or {}) for name, svc in as_dict(data["services"]).items()}


def image_names() -> dict[str, str]:
    """The image names docker/lib.sh gives the offline set."""
    text = DOCKER_LIB.read_text(encoding="utf-8")
    return dict(re.findall(r'^(\w+_IMAGE)="\$\{\w+:-([^}]+)\}"', text, re.M))


def test_offline_override_swaps_every_public_image(services: dict[str, dict[str, Any]]) -> None:
    offline = override_services(OFFLINE_FILE)
    names = image_names()
    assert offline["broker"]["image"] == names["BROKER_IMAGE"]
    assert offline["prometheus"]["image"] == names["PROMETHEUS_IMAGE"]
    for name in APP_SERVICES:
        assert services[name]["image"] == names["APP_IMAGE"], name
    for name, svc in services.items():
        if svc["image"] == names["APP_IMAGE"] or name in ("broker", "prometheus"):
            assert offline[name]["pull_policy"] == "never", name
        else:  # no Debian package: only with its profile, from the public image
            assert offline[name]["profiles"] == [name], name
    assert set(offline) <= set(services)
    assert "healthcheck" not in offline["broker"]  # the public file's light check serves both


HEALTHCHECK = ROOT / "docker" / "broker" / "healthcheck.sh"


def _light_health(broker: dict[str, Any], listener: str) -> None:
    """The broker's health check is the bash ApiVersions request (no JVM), mounted from the
    repository, on the port of ``listener``."""
    test = broker["healthcheck"]["test"]
    port = listeners(environment(broker)["KAFKA_LISTENERS"])[listener][1]
    assert test == ["CMD", "bash", "/opt/datamoat/healthcheck.sh", str(port)]
    assert host_path(mounts(broker)["/opt/datamoat/healthcheck.sh"].split(":")[0]) == HEALTHCHECK


def test_the_broker_health_check_starts_no_jvm(services: dict[str, dict[str, Any]]) -> None:
    _light_health(services["broker"], "PLAINTEXT_HOST")
    three = override_services(THREE_BROKERS_FILE)
    for name in ("broker-2", "broker-3"):
        _light_health({**three[name], "healthcheck": three[name]["healthcheck"]}, "PLAINTEXT")


def test_broker_entrypoint_reads_the_official_environment_names() -> None:
    """The offline broker maps KAFKA_* names to properties like apache/kafka does."""
    entrypoint = ROOT / "docker" / "broker" / "entrypoint.sh"
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    script = entrypoint.read_text(encoding="utf-8")
    mapping = script[script.index("while IFS") : script.index("done < <(env)")]
    probe = (
        "props=/dev/stdout\n"
        + mapping
        + "done < <(printf '%s\\n' KAFKA_NODE_ID=1 KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=A:B "
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=1 KAFKA_HEAP_OPTS=-Xmx1g KAFKA_A__B___C=x "
        "OTHER=1)\n"
    )
    out = subprocess.run(
        [bash, "-c", probe], capture_output=True, text=True, timeout=30, check=True
    ).stdout.split()
    assert out == [
        "node.id=1",
        "listener.security.protocol.map=A:B",
        "transaction.state.log.min.isr=1",
        "a_b-c=x",
    ]


def test_three_brokers_form_one_quorum_with_replication_three(
    services: dict[str, dict[str, Any]],
) -> None:
    three = override_services(THREE_BROKERS_FILE)
    brokers = {"broker": {**environment(services["broker"]), **environment(three["broker"])}}
    brokers |= {name: environment(three[name]) for name in ("broker-2", "broker-3")}
    ids = {name: int(env["KAFKA_NODE_ID"]) for name, env in brokers.items()}
    assert sorted(ids.values()) == [1, 2, 3]
    voters = {env["KAFKA_CONTROLLER_QUORUM_VOTERS"] for env in brokers.values()}
    assert voters == {"1@broker-1:29093,2@broker-2:29093,3@broker-3:29093"}
    assert "broker-1" in three["broker"]["networks"]["default"]["aliases"]
    for name, env in brokers.items():
        assert env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "3", name
        assert env["KAFKA_MIN_INSYNC_REPLICAS"] == "2", name
        assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3", name
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2", name
        assert env["CLUSTER_ID"] == brokers["broker"]["CLUSTER_ID"], name
        bound = listeners(env["KAFKA_LISTENERS"])
        advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
        ports = {n: p for n, (_, p) in advertised.items()}
        assert ports == {n: bound[n][1] for n in advertised}, name
    host_ports = [listeners(env["KAFKA_ADVERTISED_LISTENERS"])["PLAINTEXT_HOST"][1]
                  for env in brokers.values()]  # fmt: skip
    assert len(set(host_ports)) == 3, "each broker needs its own host port"
    for name in ("broker-2", "broker-3"):
        port = listeners(brokers[name]["KAFKA_ADVERTISED_LISTENERS"])["PLAINTEXT_HOST"][1]
        assert published_ports(three[name]) == {port: port}, name
    for name in APP_SERVICES:
        assert environment(three[name])["DATAMOAT_KAFKA_REPLICATION_FACTOR"] == "3", name


def test_run_override_bounds_the_run(services: dict[str, dict[str, Any]]) -> None:
    run = override_services(RUN_FILE)
    firehose, worker = command(run["firehose"]), command(run["worker"])
    assert firehose[0] == "produce" and worker[0] == "process"
    for name, variable in (("--posts", "POSTS"), ("--seed", "SEED"), ("--start", "START")):
        assert flag(firehose, name) == f"${{{variable}:?}}"
    merger = command(run["merger"])
    assert "--until-idle" in worker, "workers exit once caught up"
    assert "--until-ended" in merger, "the merger exits once every window is final"
    for name in ("--group", "--http-port", "--bootstrap"):
        assert flag(worker, name) == flag(command(services["worker"]), name), name
    bounded = ["--until-ended", "--wait-for-broker", "120", "--quiet"]
    assert merger[1:] == [*command(services["merger"])[1:], *bounded]
    # nothing restarts them: a broker lost while they start is waited for, longer than 30 s
    assert flag(worker, "--wait-for-broker") == flag(merger, "--wait-for-broker") == "120"
    assert flag(firehose, "--http-port") == flag(command(services["firehose"]), "--http-port")
    assert run["firehose"]["restart"] == run["worker"]["restart"] == "no"
    assert run["merger"]["restart"] == "no"
    assert run["broker"]["ports"] is None  # !reset: no host port
    assert run["merger"]["ports"] is None
    assert run["prometheus"]["ports"] == ["127.0.0.1::9090"]


COMPOSE_V2 = shutil.which("docker") is not None and (
    subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode
    == 0
)


@_needs(COMPOSE_V2, "no Compose v2 (docker/test-tools.sh builds it)")
@pytest.mark.parametrize(
    "files",
    [
        [COMPOSE_FILE],
        [COMPOSE_FILE, OFFLINE_FILE],
        [COMPOSE_FILE, THREE_BROKERS_FILE],
        [COMPOSE_FILE, OFFLINE_FILE, THREE_BROKERS_FILE],
        [COMPOSE_FILE, OFFLINE_FILE, RUN_FILE],
        [COMPOSE_FILE, SECURED_FILE],
        [COMPOSE_FILE, OFFLINE_FILE, SECURED_FILE],
        [COMPOSE_FILE, OFFLINE_FILE, SECURED_FILE, RUN_FILE],
    ],
    ids=lambda files: "+".join(f.stem for f in files),
)
def test_docker_compose_config_accepts(files: list[Path]) -> None:
    env = {**os.environ, "POSTS": "1", "SEED": "1", "START": "0", "RATE": "1"}
    args = [a for f in files for a in ("-f", str(f))]
    result = subprocess.run(
        ["docker", "compose", *args, "config", "-q"],
        capture_output=True, text=True, timeout=60, check=False, env=env, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@_needs(COMPOSE_V2, "no Compose v2 (docker/test-tools.sh builds it)")
def test_docker_compose_starts_the_adapter_only_with_the_bluesky_profile() -> None:
    def services(*args: str) -> set[str]:
        result = subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE_FILE), *args, "config", "--services"],
            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
            env={**os.environ, "DATAMOAT_PROFILE": "bluesky"},
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return set(result.stdout.split())

    assert "jetstream" not in services() and "firehose" in services()
    assert {"jetstream", "firehose"} <= services("--profile", "bluesky")


@_needs(COMPOSE_V2, "no Compose v2 (docker/test-tools.sh builds it)")
def test_docker_compose_starts_the_secrets_service_only_with_the_secured_override() -> None:
    def config(*files: Path) -> dict[str, Any]:
        args = [a for f in files for a in ("-f", str(f))]
        result = subprocess.run(
            ["docker", "compose", *args, "config", "--format", "json"],
            capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return as_dict(json.loads(result.stdout))

    plain = config(COMPOSE_FILE)
    assert "secrets" not in plain["services"] and "secrets" not in plain.get("volumes", {})
    for name, svc in plain["services"].items():
        assert "KAFKA_CLIENT_CONFIG" not in (svc.get("environment") or {}), name
    secured = config(COMPOSE_FILE, SECURED_FILE)
    assert set(secured["services"]) == set(plain["services"]) | {"secrets"}
    assert secured["services"]["prometheus"] == plain["services"]["prometheus"]
    assert not secured["services"]["broker"].get("ports")


# --------------------------------------------------------------------------- secured override

#: Where the secured override mounts the secrets volume, in the broker and the app services.
SECRETS_DIR = "/etc/datamoat/secrets"


def properties(env: dict[str, str]) -> dict[str, str]:
    """The server.properties docker/broker/entrypoint.sh writes from a KAFKA_* environment
    (the mapping test_broker_entrypoint_reads_the_official_environment_names checks)."""
    out = {}
    for name, value in env.items():
        if not name.startswith("KAFKA_") or name.endswith("_OPTS"):
            continue
        key = name.removeprefix("KAFKA_").lower()
        key = key.replace("___", "-").replace("__", "@").replace("_", ".").replace("@", "_")
        out[key] = value
    return out


@pytest.fixture(scope="module")
def secured() -> dict[str, dict[str, Any]]:
    return override_services(SECURED_FILE)


def test_secured_override_matches_the_compose_spec(tmp_path: Path) -> None:
    """check-jsonschema can't read Compose's ``!reset``: the file as Compose merges it."""
    bin_dir = Path(sys.executable).parent
    exe = shutil.which("check-jsonschema", path=str(bin_dir))
    if exe is None:
        pytest.fail(f"check-jsonschema is not installed in {bin_dir}")
    with SECURED_FILE.open(encoding="utf-8") as f:
        data = as_dict(yaml.load(f, Loader=_ComposeLoader))  # a SafeLoader
    for svc in data["services"].values():
        for key in [k for k, v in svc.items() if v is None]:  # !reset
            del svc[key]
    plain = tmp_path / SECURED_FILE.name
    plain.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = subprocess.run(
        [exe, "--builtin-schema", "vendor.compose-spec", str(plain)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_secrets_service_makes_the_managed_brokers_files_for_the_broker_host(
    services: dict[str, dict[str, Any]], secured: dict[str, dict[str, Any]]
) -> None:
    from datamoat import compose_secrets

    secrets = secured["secrets"]
    assert secrets["image"] == services["worker"]["image"]
    assert secrets["build"] == services["worker"]["build"]
    assert secrets["restart"] == "no", "a one-shot"
    assert secrets["user"] == "root", "a new volume is root's"
    assert secrets["entrypoint"] == ["python", "-m", compose_secrets.__name__]
    cmd = command(secrets)
    assert flag(cmd, "--host") == "broker" and "broker" in services
    assert mounts(secrets)[flag(cmd, "--dir")] == "secrets"
    assert flag(cmd, "--dir") == SECRETS_DIR
    # the owners: the broker images' appuser and the datamoat image's user
    broker_image = (ROOT / "docker" / "broker" / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(rf"useradd .*--uid {flag(cmd, '--broker-user')} .*appuser", broker_image)
    app_image = DOCKERFILE.read_text(encoding="utf-8")
    assert re.search(rf"useradd .*--uid {flag(cmd, '--client-user')} .*datamoat", app_image)
    assert "command -v openssl" in app_image, "the offline base has no openssl of its own"
    depends = secured["broker"]["depends_on"]
    assert depends == {"secrets": {"condition": "service_completed_successfully"}}


def test_the_secured_broker_speaks_only_sasl_ssl_to_the_network(
    services: dict[str, dict[str, Any]], secured: dict[str, dict[str, Any]]
) -> None:
    """Its one listener off loopback is SASL_SSL with SCRAM-SHA-512, configured with the
    lines ``datamoat broker start --security sasl_ssl`` gives the managed broker; every
    datamoat service's ``--bootstrap`` (of the default and the run commands) is advertised
    on it; nothing is published to the host."""
    from datamoat.broker_security import MECHANISM, Security, listener_lines

    broker = secured["broker"]
    env = {**environment(services["broker"]), **environment(broker)}
    bound = listeners(env["KAFKA_LISTENERS"])
    advertised = listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(
        item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    )
    assert set(protocols) == set(bound)
    outside = [name for name, (host, _) in bound.items() if host != "127.0.0.1"]
    assert outside == ["CLIENT"] and protocols["CLIENT"] == "SASL_SSL"
    assert advertised["CLIENT"] == ("broker", bound["CLIENT"][1])
    inter = env["KAFKA_INTER_BROKER_LISTENER_NAME"]
    assert advertised[inter][0] == "127.0.0.1" and protocols[inter] == "PLAINTEXT"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split("@")[1] == "127.0.0.1:{}".format(
        bound[env["KAFKA_CONTROLLER_LISTENER_NAMES"]][1]
    )
    bootstrap = f"broker:{bound['CLIENT'][1]}"
    run = override_services(RUN_FILE)
    for name in APP_SERVICES:
        assert flag(command(services[name]), "--bootstrap") == bootstrap, name
        assert environment(services[name])["KAFKA_BOOTSTRAP"] == bootstrap, name
        if name in run and "command" in run[name]:
            assert flag(command(run[name]), "--bootstrap") == bootstrap, name
    # the managed broker's security lines, with the secrets volume's files
    managed = listener_lines(Security("sasl_ssl"), "127.0.0.1", 1, 2, 3, Path(SECRETS_DIR, "tls"))
    wanted = dict(line.split("=", 1) for line in managed.splitlines())
    for key in ("listeners", "advertised.listeners", "inter.broker.listener.name",
                "listener.security.protocol.map"):  # fmt: skip
        del wanted[key]
    props = properties(env)
    assert {k: props.get(k) for k in wanted} == wanted
    assert props["listener.name.client.sasl.enabled.mechanisms"] == MECHANISM
    assert env["SCRAM_USERS_DIR"] == f"{SECRETS_DIR}/tls"
    assert mounts(broker)[SECRETS_DIR] == "secrets"
    assert broker["ports"] is None  # !reset: the plaintext host port is gone
    assert broker["entrypoint"] == ["bash", "/opt/datamoat/entrypoint.sh"]
    assert host_path(mounts(broker)["/opt/datamoat/entrypoint.sh"]) == ENTRYPOINT
    health = broker["healthcheck"]["test"]
    assert health == ["CMD", "bash", "/opt/datamoat/healthcheck.sh", str(bound[inter][1])]


def test_every_datamoat_service_gets_the_client_config(
    services: dict[str, dict[str, Any]], secured: dict[str, dict[str, Any]]
) -> None:
    app = [name for name, svc in services.items() if svc.get("image") == "datamoat:local"]
    assert sorted(app) == sorted(APP_SERVICES)
    for name in APP_SERVICES:
        env = environment(secured[name])
        assert env == {"KAFKA_CLIENT_CONFIG": f"{SECRETS_DIR}/client.properties"}, name
        assert mounts(secured[name]) == {SECRETS_DIR: "secrets"}, name
        assert str(secured[name]["volumes"][0]).endswith(":ro"), name
    assert set(secured) == {"secrets", "broker", *APP_SERVICES}, "monitoring unchanged"


def test_the_default_project_has_no_secured_part(services: dict[str, dict[str, Any]]) -> None:
    compose = as_dict(load_yaml(COMPOSE_FILE))
    assert "secrets" not in services and "secrets" not in compose["volumes"]
    for name, svc in services.items():
        env = environment(svc)
        assert "KAFKA_CLIENT_CONFIG" not in env and "SCRAM_USERS_DIR" not in env, name
        assert SECRETS_DIR not in mounts(svc), name
    broker = services["broker"]
    assert "entrypoint" not in broker, "the image's own entrypoint"
    protocols = environment(broker)["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    assert {p.split(":")[1] for p in protocols.split(",")} == {"PLAINTEXT"}
    assert "sasl" not in json.dumps(compose).lower()


ENTRYPOINT = ROOT / "docker" / "broker" / "entrypoint.sh"


def test_broker_entrypoint_creates_the_scram_users_only_when_asked(tmp_path: Path) -> None:
    """SCRAM_USERS_DIR's <user>.scram files become ``--add-scram`` arguments of the storage
    format; without it the format command is the one it always was."""
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    script = ENTRYPOINT.read_text(encoding="utf-8")
    snippet = script[script.index("scram=()") : script.index("java -Xmx256m")]
    format_line = script[script.index("java -Xmx256m") :].split(">/dev/null")[0]
    assert format_line.rstrip().endswith('"$props" ${scram[@]+"${scram[@]}"}')
    probe = snippet + 'printf "%s\\n" x ${scram[@]+"${scram[@]}"}\n'
    (tmp_path / "alice.scram").write_text("s3cret-pw\n")

    def args(env: dict[str, str]) -> list[str]:
        done = subprocess.run(
            [bash, "-c", "set -euo pipefail\n" + probe], capture_output=True, text=True,
            timeout=30, check=True, env={"PATH": os.environ.get("PATH", ""), **env},
        )  # fmt: skip
        return done.stdout.splitlines()

    assert args({}) == ["x"]
    assert args({"SCRAM_USERS_DIR": str(tmp_path)}) == [
        "x", "--add-scram", "SCRAM-SHA-512=[name=alice,password=s3cret-pw]"]  # fmt: skip


def test_readme_names_the_secured_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docker compose -f docker-compose.yml -f docker-compose.secured.yml up --build" in readme
    header = SECURED_FILE.read_text(encoding="utf-8")
    assert "docker compose -f docker-compose.yml -f docker-compose.secured.yml up --build" in header
