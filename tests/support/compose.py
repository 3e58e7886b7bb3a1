"""Drive the docker-compose cluster for a bounded, seeded run (``make compose-test`` and
tests/compose/test_compose_cluster.py).

The cluster is docker-compose.yml with docker-compose.offline.yml (the local images) and
docker/compose.run.yml (exactly POSTS posts, workers that exit once caught up, only
Prometheus published, on loopback). The engine, Compose v2 and the images come from the
docker/ scripts, which skip whatever is already there.

    python -m tests.support.compose --workers 3 --posts 200000 --seed 7

``--secured`` adds docker-compose.secured.yml (SASL_SSL with SCRAM-SHA-512, every service
through the secrets volume's client.properties) and, after the run, asks the broker with a
client without credentials and with a wrong password: both must be refused. Run by hand,
not by the test suite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = ["ComposeCluster", "ComposeError", "RunSpec", "docker_ready", "main", "prepare"]

ROOT = Path(__file__).resolve().parents[2]
DOCKER_SCRIPTS = ROOT / "docker"
COMPOSE_FILES = (
    ROOT / "docker-compose.yml",
    ROOT / "docker-compose.offline.yml",
    DOCKER_SCRIPTS / "compose.run.yml",
)
SECURED_FILE = ROOT / "docker-compose.secured.yml"
#: The secured cluster's files: the secured override before the run override.
SECURED_FILES = (*COMPOSE_FILES[:2], SECURED_FILE, COMPOSE_FILES[2])
CLIENT_CONFIG = "/etc/datamoat/secrets/client.properties"
PROBE = Path(__file__).resolve().with_name("compose_probe.py")
START = "2026-01-01T00:00:00Z"
OUTPUT_DIR = "/data/out"


class ComposeError(RuntimeError):
    """A compose step failed or did not finish in its time bound."""


@dataclass(frozen=True)
class RunSpec:
    workers: int = 1
    posts: int = 200_000
    seed: int = 7
    start: str = START
    rate: float = 5000.0
    idle_s: float = 15.0
    unpaced: bool = False  # the firehose sends as fast as it can (for throughput figures)
    project: str = "datamoat-compose-test"
    secured: bool = False  # docker-compose.secured.yml: SASL_SSL, SCRAM-SHA-512


def _run(
    args: Sequence[str], *, timeout: float, env: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, env=env, check=False, **kw
    )
    if done.returncode != 0:
        raise ComposeError(
            f"{' '.join(args[:4])} ... exited {done.returncode}:\n{done.stderr[-3000:]}"
        )
    return done


def docker_ready() -> str | None:
    """None when this machine can run the compose cluster, else why not (one line)."""
    if os.geteuid() != 0:
        return "needs root (to install docker.io, start dockerd and debootstrap a base image)"
    if shutil.which("dockerd") is None and shutil.which("apt-get") is None:
        return "no dockerd and no apt-get to install docker.io"
    return None


def prepare(log: Callable[[str], None] = print) -> tuple[bool, dict[str, float]]:
    """Engine, Compose v2 and the offline images (each skipped when present).
    Returns (whether dockerd was started here, seconds per step)."""
    times: dict[str, float] = {}
    t = time.monotonic()
    state = _run([str(DOCKER_SCRIPTS / "engine.sh"), "start"], timeout=600).stdout.strip()
    times["engine_s"] = time.monotonic() - t
    started = state == "started"
    log(f"engine: {state}")
    for step, script in (("compose_cli_s", "compose-cli.sh"), ("images_s", "images.sh")):
        t = time.monotonic()
        _run([str(DOCKER_SCRIPTS / script)], timeout=1800)
        times[step] = time.monotonic() - t
        log(f"{script}: {times[step]:.1f} s")
    return started, times


def stop_engine() -> None:
    _run([str(DOCKER_SCRIPTS / "engine.sh"), "stop"], timeout=120)


@dataclass
class ComposeCluster:
    spec: RunSpec
    log: Callable[[str], None] = print
    events: list[tuple[float, str]] = field(default_factory=list)
    #: Compose files, in order (a bench adds its own override last).
    files: tuple[Path, ...] = COMPOSE_FILES

    # ------------------------------------------------------------------ plumbing

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "POSTS": str(self.spec.posts),
            "SEED": str(self.spec.seed),
            "START": self.spec.start,
            "RATE": str(self.spec.rate),
            "IDLE_S": str(self.spec.idle_s),
            "FIREHOSE_PACING": "--unpaced" if self.spec.unpaced else "--quiet",
        }

    def compose(
        self, *args: str, timeout: float = 300, stdin: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        files = [a for f in self.files for a in ("-f", str(f))]
        cmd = ["docker", "compose", "-p", self.spec.project, *files, *args]
        return _run(cmd, timeout=timeout, env=self.env, input=stdin, cwd=ROOT)

    def mark(self, event: str) -> None:
        self.events.append((time.monotonic(), event))
        self.log(event)

    def containers(self, service: str) -> list[str]:
        out = self.compose("ps", "-a", "-q", service).stdout.split()
        return sorted(out)

    def inspect(self, container: str) -> dict[str, Any]:
        out = _run(["docker", "inspect", container], timeout=60).stdout
        result: dict[str, Any] = json.loads(out)[0]
        return result

    def states(self, service: str) -> list[dict[str, Any]]:
        return [self.inspect(c)["State"] for c in self.containers(service)]

    def ips(self, service: str) -> set[str]:
        found = set()
        for c in self.containers(service):
            for net in self.inspect(c)["NetworkSettings"]["Networks"].values():
                if net.get("IPAddress"):
                    found.add(net["IPAddress"])
        return found

    def wait(
        self, what: str, check: Callable[[], bool], timeout: float, every: float = 2.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(every)
        raise ComposeError(f"timed out after {timeout:.0f} s waiting for {what}\n{self.logs()}")

    def logs(self, tail: int = 40) -> str:
        try:
            return self.compose("logs", "--no-color", "--tail", str(tail), timeout=60).stdout
        except (ComposeError, subprocess.TimeoutExpired) as exc:
            return f"(no logs: {exc})"

    def probe(self, *args: str) -> dict[str, Any]:
        """Run tests/support/compose_probe.py in a throwaway app container on the project
        network."""
        done = self.compose(
            "run", "--rm", "--no-deps", "-T", "--entrypoint", "python", "topics", "-", *args,
            timeout=180, stdin=PROBE.read_text(encoding="utf-8"),
        )  # fmt: skip
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return result

    # ------------------------------------------------------------------ the run

    def up(self) -> None:
        self.compose("down", "-v", "--remove-orphans", timeout=300)
        services = ["broker", "topics", "prometheus", "firehose", "worker", "merger"]
        self.mark("up")
        self.compose(
            "up", "-d", "--no-build", "--wait-timeout", "240",
            "--scale", f"worker={self.spec.workers}", *services, timeout=400,
        )  # fmt: skip
        self.mark("cluster up")

    def refused(self, wait_s: float = 15) -> dict[str, dict[str, Any]]:
        """``datamoat topics`` against the secured broker without credentials (PLAINTEXT at
        its SASL_SSL port) and with a wrong password: exit status and last line of each."""
        wrong = (
            f'sed \'s/password="[^"]*"/password="wrong"/\' {CLIENT_CONFIG} > /tmp/wrong'
            " && exec env KAFKA_CLIENT_CONFIG=/tmp/wrong datamoat topics"
            f" --bootstrap broker:19092 --wait-for-broker {wait_s:g}"
        )
        attempts = {
            "no_credentials": ["-e", "KAFKA_CLIENT_CONFIG=", "topics", "topics", "--bootstrap",
                               "broker:19092", "--wait-for-broker", f"{wait_s:g}"],
            "wrong_password": ["--entrypoint", "sh", "topics", "-c", wrong],
        }  # fmt: skip
        files = [a for f in self.files for a in ("-f", str(f))]
        result: dict[str, dict[str, Any]] = {}
        for name, args in attempts.items():
            t = time.monotonic()
            done = subprocess.run(
                ["docker", "compose", "-p", self.spec.project, *files, "run", "--rm",
                 "--no-deps", "-T", *args],
                capture_output=True, text=True, timeout=180, env=self.env, cwd=ROOT, check=False,
            )  # fmt: skip
            lines = (done.stderr + done.stdout).strip().splitlines()
            result[name] = {
                "exit": done.returncode,
                "seconds": round(time.monotonic() - t, 1),
                "line": lines[-1] if lines else "",
            }
            self.log(f"{name}: exit {done.returncode}: {result[name]['line']}")
        return result

    def running(self, service: str) -> int:
        return sum(bool(s["Running"]) for s in self.states(service))

    def exited_ok(self, service: str) -> bool:
        states = self.states(service)
        failed = [s for s in states if not s["Running"] and s["ExitCode"] != 0]
        if failed:
            raise ComposeError(f"{service} exited {failed[0]['ExitCode']}\n{self.logs()}")
        return bool(states) and not any(s["Running"] for s in states)

    def produced(self) -> int:
        return int(self.probe("lag", "datamoat", "posts")["end"])

    def prometheus_url(self) -> str:
        out = self.compose("port", "prometheus", "9090").stdout.strip()
        return f"http://{out}"

    def prometheus_up(self) -> dict[str, tuple[str, float]]:
        """``up`` per scraped instance: {address: (job, value)}."""
        query = urllib.parse.urlencode({"query": "up"})
        with urllib.request.urlopen(
            f"{self.prometheus_url()}/api/v1/query?{query}", timeout=10
        ) as r:
            body = json.loads(r.read())
        return {
            s["metric"]["instance"]: (s["metric"]["job"], float(s["value"][1]))
            for s in body["data"]["result"]
        }

    def wait_scraped(
        self, service: str, job: str, port: int = 8000, timeout: float = 90
    ) -> dict[str, float]:
        """Wait until Prometheus has ``up == 1`` for every running replica of ``service``."""
        result: dict[str, float] = {}

        def check() -> bool:
            ips = self.ips(service)
            try:
                up = self.prometheus_up()
            except OSError:
                return False
            result.clear()
            result.update({ip: up.get(f"{ip}:{port}", (job, 0.0))[1] for ip in ips})
            return bool(ips) and all(v == 1.0 for v in result.values())

        with contextlib.suppress(ComposeError):  # the caller asserts on what was seen
            self.wait(f"Prometheus up == 1 for every {service}", check, timeout, every=3.0)
        return dict(result)

    def finish(self, timeout: float = 900, drain_timeout: float = 300) -> None:
        """Wait for the firehose to finish, then (at most ``drain_timeout`` more) for every
        worker to exit caught up and the merger to exit once every input partition has ended
        (every window final)."""
        self.wait("the firehose", lambda: self.exited_ok("firehose"), timeout)
        self.mark("firehose done")
        self.wait(
            "the workers to catch up and exit", lambda: self.exited_ok("worker"), drain_timeout
        )
        self.mark("workers done")
        self.wait("the merger", lambda: self.exited_ok("merger"), drain_timeout)
        self.mark("merger done")

    def copy_signals(self, dest: Path) -> None:
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        container = self.containers("merger")[0]
        _run(["docker", "cp", f"{container}:{OUTPUT_DIR}/signals", str(dest)], timeout=120)

    def worker_seconds(self) -> float:
        """From the first worker start to the merger's exit (Docker's own timestamps)."""
        states = self.states("worker") + self.states("merger")
        starts = [_ts(s["StartedAt"]) for s in states]
        ends = [_ts(s["FinishedAt"]) for s in states]
        return max(ends) - min(starts)

    def down(self) -> None:
        self.compose("down", "-v", "--remove-orphans", timeout=300)
        self.mark("down")


def _ts(text: str) -> float:
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(head + "+00:00").timestamp() + float(f"0.{frac or 0}")


# ---------------------------------------------------------------------- make compose-test


def run(spec: RunSpec, out: Path) -> dict[str, Any]:
    cluster = ComposeCluster(spec, files=SECURED_FILES if spec.secured else COMPOSE_FILES)
    refused: dict[str, dict[str, Any]] = {}
    t0 = time.monotonic()
    try:
        cluster.up()
        up_s = time.monotonic() - t0
        scraped = cluster.wait_scraped("worker", "datamoat")
        firehose = cluster.wait_scraped("firehose", "firehose", port=8001, timeout=30)
        cluster.finish()
        run_s = time.monotonic() - t0 - up_s
        lag = cluster.probe("lag", "datamoat", "posts")
        cluster.copy_signals(out / "signals")
        topic = cluster.probe("signals", "signals")
        worker_s = cluster.worker_seconds()
        if spec.secured:
            refused = cluster.refused()
    except BaseException:
        print(cluster.logs(), file=sys.stderr)
        raise
    finally:
        cluster.down()
    return {
        "spec": asdict(spec),
        "bring_up_s": round(up_s, 1),
        "run_s": round(run_s, 1),
        "worker_s": round(worker_s, 1),
        # posts over the workers' busy time: first start to last exit, less the idle wait
        "posts_per_s": round(spec.posts / max(worker_s - spec.idle_s, 1e-9), 1),
        "lag": lag,
        "signals_topic": topic,
        "prometheus_up": scraped,
        "prometheus_up_firehose": firehose,
        "signals_dir": str(out / "signals"),
        **({"refused": refused} if spec.secured else {}),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--posts", type=int, default=200_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--start", default=START)
    p.add_argument("--rate", type=float, default=5000.0, help="posts/s, paced (event time too)")
    p.add_argument("--unpaced", action="store_true", help="firehose as fast as it can")
    p.add_argument(
        "--secured", action="store_true",
        help="with docker-compose.secured.yml (SASL_SSL), and check that clients without "
        "credentials or with a wrong password are refused",
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=ROOT / "out" / "compose")
    args = p.parse_args(argv)
    reason = docker_ready()
    if reason:
        print(f"compose-test: {reason}", file=sys.stderr)
        return 2
    spec = RunSpec(
        args.workers, args.posts, args.seed, args.start, args.rate,
        unpaced=args.unpaced, secured=args.secured,
        project="datamoat-compose-secured" if args.secured else RunSpec.project,
    )  # fmt: skip
    t = time.monotonic()
    started, times = prepare()
    try:
        summary = {"prepare": {k: round(v, 1) for k, v in times.items()}, **run(spec, args.out)}
    finally:
        if started:
            stop_engine()
    summary["total_s"] = round(time.monotonic() - t, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
