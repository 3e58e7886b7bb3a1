"""The managed local Apache Kafka: jars from Maven, KRaft nodes as detached JVM children.

Layout under the data dir: ``cluster.json`` (cluster id, node count, ports) and one
``node-<id>/`` per node holding ``server.properties``, ``kafka.pid``, ``server.log``,
``stdout.log`` and the Kafka log dir ``data/``. Only processes whose pid we recorded and whose
command line is ``kafka.Kafka <our properties file>`` are ever signalled.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template
from typing import Any

from datamoat.broker_security import (
    Security,
    grant_pipeline_acls,
    listener_lines,
    make_credentials,
    scram_arguments,
)
from datamoat.errors import BrokerError, ConfigError
from datamoat.resources import checkout_root, config_path, user_data_dir
from ingest.kafka.admin import create_internal_topics, is_reachable

__all__ = [
    "CONFIG_DIR",
    "HOST",
    "ClusterStatus",
    "LocalCluster",
    "NodeStatus",
    "datamoat_home",
    "ensure_jars",
    "find_java",
    "free_port",
    "free_ports",
]

#: The broker's pom and templates: ``configs/kafka/`` of the checkout or the installed copy.
CONFIG_DIR = config_path("kafka")
HOST = "127.0.0.1"
#: Starts on freshly picked ports when one was taken before Kafka bound it.
_PORT_ATTEMPTS = 3

log = logging.getLogger(__name__)
_NO_JAVA = "install openjdk-17-jre-headless or pass --bootstrap to use an existing broker"


def datamoat_home() -> Path:
    """Where ``.kafka/`` (jars, data) lives: ``$DATAMOAT_HOME``, else the repository root when
    run from a checkout, else the per-user data folder (``$XDG_DATA_HOME/datamoat`` or
    ``~/.local/share/datamoat``), never an installed package's own folder."""
    env = os.environ.get("DATAMOAT_HOME")
    if env:
        return Path(env).expanduser().resolve()
    return checkout_root() or user_data_dir()


def find_java() -> str:
    """The ``java`` executable (``$JAVA_HOME/bin/java``, else on PATH), checked to be 17+."""
    java_home = os.environ.get("JAVA_HOME")
    home_java = Path(java_home, "bin", "java") if java_home else None
    java = str(home_java) if home_java and home_java.is_file() else shutil.which("java")
    if java is None:
        raise BrokerError(f"Java 17+ not found: {_NO_JAVA}")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    major = 0 if match is None else int(match[1])
    major = int(match[2] or 0) if match is not None and major == 1 else major
    if major < 17:
        raise BrokerError(f"Java 17+ not found ({java} is Java {major or '?'}): {_NO_JAVA}")
    return java


def ensure_jars(root: Path | None = None) -> Path:
    """Copy the broker jars into ``<root>/.kafka/libs`` once; refetch when the pom changed."""
    libs = (root or datamoat_home()) / ".kafka" / "libs"
    pom = CONFIG_DIR / "pom.xml"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    stamp = libs / ".pom-sha256"
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return libs
    find_java()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(
            "Maven (mvn) not found: install maven to fetch the Kafka jars "
            "or pass --bootstrap to use an existing broker"
        )
    libs.parent.mkdir(parents=True, exist_ok=True)
    with (libs.parent / "fetch.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be fetching right now
        if stamp.is_file() and stamp.read_text().strip() == digest:
            return libs
        partial = libs.with_name("libs.partial")
        shutil.rmtree(partial, ignore_errors=True)
        cmd = [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"]
        out = subprocess.run(
            [*cmd, f"-DoutputDirectory={partial}"], capture_output=True, text=True, timeout=900
        )
        if out.returncode != 0:
            tail = _last_lines(out.stdout + out.stderr, 15)
            raise BrokerError(f"fetching the Kafka jars with Maven failed:\n{tail}")
        (partial / ".pom-sha256").write_text(digest + "\n")
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
    return libs


def free_port(host: str = HOST) -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    return free_ports(1, host)[0]


@dataclass(frozen=True)
class NodeStatus:
    node_id: int
    port: int
    pid: int | None
    running: bool


@dataclass(frozen=True)
class ClusterStatus:
    data_dir: Path
    nodes: tuple[NodeStatus, ...]

    @property
    def running(self) -> bool:
        return bool(self.nodes) and all(node.running for node in self.nodes)

    @property
    def state(self) -> str:
        up = sum(node.running for node in self.nodes)
        return "running" if self.running else "partial" if up else "stopped"

    @property
    def bootstrap(self) -> str | None:
        return ",".join(f"{HOST}:{n.port}" for n in self.nodes) or None

    @property
    def pids(self) -> list[int]:
        return [node.pid for node in self.nodes if node.running and node.pid is not None]

    def to_dict(self) -> dict[str, Any]:
        nodes = [asdict(node) for node in self.nodes]
        return {"state": self.state, "bootstrap": self.bootstrap, "pids": self.pids,
                "data_dir": str(self.data_dir), "nodes": nodes}  # fmt: skip


class LocalCluster:
    """``brokers`` KRaft nodes (broker + controller each) on loopback, data in ``data_dir``.

    Ports: ``port`` .. ``port+N-1`` for clients, the next N for the controllers; ``port=0``
    picks free ports. Processes outlive this object (own session); stop() ends them.
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        brokers: int = 1,
        port: int = 9092,
        heap: str = "512m",
        home: Path | None = None,
        start_timeout_s: float = 90.0,
        security: Security | None = None,
    ) -> None:
        if brokers < 1:
            raise BrokerError(f"--brokers must be at least 1, got {brokers}")
        if not re.fullmatch(r"\d+[kKmMgG]?", heap):
            raise BrokerError(f"invalid heap size {heap!r}: use a JVM size such as 512m or 1g")
        self.home = home or datamoat_home()
        self.data_dir = (data_dir or self.home / ".kafka" / "data").resolve()
        self.brokers, self.port, self.heap = brokers, port, heap
        self.start_timeout_s = start_timeout_s
        recorded = self._read_state()  # stop, status and start --node: as it was started
        self.security = security or Security(recorded.get("security", "plaintext"),
                                             recorded.get("acl", False))  # fmt: skip
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    def status(self) -> ClusterStatus:
        state = self._read_state()
        nodes = []
        for i, port in enumerate(state.get("ports", [])):
            node_dir = self._node_dir(i + 1)
            pid = _read_pid(node_dir / "kafka.pid")
            alive = pid is not None and is_our_broker(pid, node_dir / "server.properties")
            nodes.append(NodeStatus(i + 1, port, pid, alive))
        return ClusterStatus(self.data_dir, tuple(nodes))

    def start(self) -> ClusterStatus:
        """Start every node, or return the status if this cluster already runs."""
        current = self.status()
        if current.running and len(current.nodes) == self.brokers:
            return current
        if current.pids:
            down = ", ".join(str(n.node_id) for n in current.nodes if not n.running)
            raise BrokerError(
                f"the {len(current.nodes)}-node cluster in {self.data_dir} is partial (node "
                f"{down} stopped): run `datamoat broker start --node K` for each, or "
                "`datamoat broker stop` first"
            )
        old = self._read_state()
        if old and old["brokers"] != self.brokers:
            raise BrokerError(
                f"{self.data_dir} holds a {old['brokers']}-node cluster, not {self.brokers}: "
                "pass another --data-dir or delete that one"
            )
        if (
            old
            and Security(old.get("security", "plaintext"), old.get("acl", False)) != self.security
        ):
            was = f"--security {old.get('security', 'plaintext')}"
            raise BrokerError(
                f"{self.data_dir} holds a cluster with {was}{' --acl' if old.get('acl') else ''}"
                ": start it so, or pass another --data-dir"
            )
        libs, java = ensure_jars(self.home), find_java()
        cluster_id = old.get("cluster_id") or new_cluster_id()
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            ports = self._ports()
            logged = self._log_sizes()
            try:
                self._start_on(ports, cluster_id, libs, java)
            except BrokerError:
                # Ports we picked free can be taken by another process before Kafka binds
                # them (parallel tests, other programs): pick others, a bounded number of times.
                if self.port != 0 or not self._bind_failed(logged):
                    raise
                if attempt == _PORT_ATTEMPTS:
                    raise
                log.warning("a port picked for Kafka was taken meanwhile; starting on others")
                continue
            break
        internal = ",".join(f"{HOST}:{p}" for p in self._admin_ports(ports))
        if self.brokers > 1:
            create_internal_topics(internal, plaintext=True)
        if self.security.acl:
            grant_pipeline_acls(internal)
        return self.status()

    def _log_paths(self) -> list[Path]:
        return [
            self._node_dir(i) / name
            for i in range(1, self.brokers + 1)
            for name in ("stdout.log", "server.log")
        ]

    def _log_sizes(self) -> dict[Path, int]:
        return {path: path.stat().st_size if path.is_file() else 0 for path in self._log_paths()}

    def _bind_failed(self, since: Mapping[Path, int]) -> bool:
        """A node logged, after ``since`` (sizes), that a port it wanted was taken."""
        for path in self._log_paths():
            if not path.is_file():
                continue
            with path.open("rb") as fh:
                fh.seek(since.get(path, 0))
                if b"Address already in use" in fh.read():
                    return True
        return False

    def _ports(self) -> list[int]:
        """Client, controller and (secured) internal ports of every node: free ones, or from
        ``port`` on."""
        n = self.brokers * (3 if self.security.secured else 2)
        ports = free_ports(n) if self.port == 0 else list(range(self.port, self.port + n))
        for port in ports:
            if not port_free(port):
                raise BrokerError(
                    f"port {port} on {HOST} is in use: stop what listens there or pick --port"
                )
        return ports

    def _start_on(self, ports: list[int], cluster_id: str, libs: Path, java: str) -> None:
        """Format and launch every node on ``ports``; return once all serve clients."""
        n = self.brokers
        state = {"cluster_id": cluster_id, "brokers": n, "ports": ports[:n]}
        state |= {"controller_ports": ports[n : 2 * n], "heap": self.heap}
        if self.security.secured:
            state |= {"internal_ports": ports[2 * n :], "security": self.security.mode,
                      "acl": self.security.acl}  # fmt: skip
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "cluster.json").write_text(json.dumps(state, indent=2) + "\n")
        if self.security.secured:
            make_credentials(self.data_dir, self.security)
        self.render(ports[:n], ports[n : 2 * n], ports[2 * n :] or None)
        users = scram_arguments(self.data_dir, self.security)
        for i in range(1, n + 1):  # format all nodes in parallel: one JVM start each
            cmd = ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", self._props(i)]
            self._procs[i] = self._java(java, libs, i, [*cmd, *users, "--ignore-formatted"])
        for i, proc in self._procs.items():
            if proc.wait(timeout=120) != 0:
                raise BrokerError(f"formatting node {i} failed:\n{self._log_tail(i)}")
        for i in range(1, n + 1):
            self._launch(java, libs, i, self.heap)
        self._wait_ready(list(range(1, n + 1)), self._admin_ports(ports), n)

    def _admin_ports(self, ports: list[int]) -> list[int]:
        """The ports datamoat itself talks to: the plaintext internal listeners of a
        secured cluster, else the client ports."""
        n = self.brokers
        return ports[2 * n :] if self.security.secured else ports[:n]

    @property
    def client_config(self) -> Path | None:
        """The ``client.properties`` of a secured cluster's user (None: plaintext)."""
        return self.data_dir / "client.properties" if self.security.secured else None

    def start_node(self, node_id: int) -> ClusterStatus:
        """Start one stopped node of this (partly running) cluster with its recorded ports
        and heap; return once it serves clients and sees the other running nodes."""
        current = self._node_checked(node_id)
        node = current.nodes[node_id - 1]
        if node.running:
            raise BrokerError(
                f"node {node_id} in {self.data_dir} is already running (pid {node.pid})"
            )
        if not current.pids:
            raise BrokerError(
                f"no node of the cluster in {self.data_dir} runs: start it whole with "
                "`datamoat broker start`"
            )
        state = self._read_state()
        ports = [state["ports"][node_id - 1], state["controller_ports"][node_id - 1]]
        ports += [p[node_id - 1] for p in [state.get("internal_ports")] if p]
        for port in ports:
            if not port_free(port):
                raise BrokerError(
                    f"port {port} on {HOST} is in use: node {node_id} can't start there"
                )
        libs, java = ensure_jars(self.home), find_java()
        self._launch(java, libs, node_id, str(state.get("heap", self.heap)))
        self._wait_ready([node_id], ports[-1:] if self.security.secured else ports[:1],
                         len(current.pids) + 1)  # fmt: skip
        return self.status()

    def stop(self, timeout_s: float = 30.0) -> ClusterStatus:
        """SIGTERM our own recorded broker pids, wait, then SIGKILL what is left."""
        current = self.status()
        self._stop_nodes(current, [n.node_id for n in current.nodes], timeout_s)
        return self.status()

    def stop_node(self, node_id: int, timeout_s: float = 30.0) -> ClusterStatus:
        """Stop one node (SIGTERM, then SIGKILL after ``timeout_s``); the others keep running."""
        current = self._node_checked(node_id)
        self._stop_nodes(current, [node_id], timeout_s)
        return self.status()

    # --- internals ---

    def _node_checked(self, node_id: int) -> ClusterStatus:
        current = self.status()
        count = len(current.nodes)
        if not count:
            raise BrokerError(
                f"no local cluster in {self.data_dir}: start one with `datamoat broker start`"
            )
        if not 1 <= node_id <= count:
            raise ConfigError(  # a bad --node: a usage error
                f"node {node_id} is not in the {count}-node cluster in {self.data_dir} "
                f"(nodes 1-{count})"
            )
        return current

    def _stop_nodes(
        self, current: ClusterStatus, node_ids: Sequence[int], timeout_s: float
    ) -> None:
        pids = {
            n.node_id: n.pid
            for n in current.nodes
            if n.node_id in node_ids and n.running and n.pid is not None
        }
        for pid in pids.values():
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while self._alive(pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in self._alive(pids).values():
            _signal(pid, signal.SIGKILL)
        while self._alive(pids) and time.monotonic() < deadline + 10:
            time.sleep(0.1)
        left = self._alive(pids)
        for proc in self._procs.values():  # reap children of this process (no zombies)
            if proc.pid in pids.values() and proc.pid not in left.values():
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5)
        for node_id in node_ids:
            if node_id not in left:
                (self._node_dir(node_id) / "kafka.pid").unlink(missing_ok=True)

    def _launch(self, java: str, libs: Path, node_id: int, heap: str) -> None:
        opts = [f"-Xmx{heap}", "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"]
        proc = self._java(java, libs, node_id, ["kafka.Kafka", self._props(node_id)], opts)
        self._procs[node_id] = proc
        (self._node_dir(node_id) / "kafka.pid").write_text(f"{proc.pid}\n")

    def _node_dir(self, node_id: int) -> Path:
        return self.data_dir / f"node-{node_id}"

    def _props(self, node_id: int) -> str:
        return str(self._node_dir(node_id) / "server.properties")

    def _read_state(self) -> dict[str, Any]:
        path = self.data_dir / "cluster.json"
        return dict(json.loads(path.read_text())) if path.is_file() else {}

    def render(
        self, ports: list[int], controller_ports: list[int], internal: list[int] | None = None
    ) -> None:
        template = Template((CONFIG_DIR / "server.properties").read_text())
        voters = ",".join(f"{i}@{HOST}:{p}" for i, p in enumerate(controller_ports, start=1))
        for i, (port, cport) in enumerate(zip(ports, controller_ports, strict=True), start=1):
            node_dir = self._node_dir(i)
            node_dir.mkdir(parents=True, exist_ok=True)
            own = internal[i - 1] if internal else None
            text = template.substitute(
                node_id=i,
                voters=voters,
                listeners=listener_lines(
                    self.security, HOST, port, own, cport, self.data_dir / "tls"
                ),
                log_dirs=str(node_dir / "data").replace("\\", "\\\\"),
                replication_factor=min(3, self.brokers),
                min_isr=2 if self.brokers >= 3 else 1,
            )
            Path(self._props(i)).write_text(text)

    def _java(
        self, java: str, libs: Path, node_id: int, args: list[str], opts: Sequence[str] = ()
    ) -> subprocess.Popen[bytes]:
        """Run ``java <opts> -cp <libs>/* <args>`` in its own session, output to stdout.log."""
        node_dir = self._node_dir(node_id)
        log4j = f"-Dlog4j2.configurationFile={CONFIG_DIR / 'log4j2.properties'}"
        cmd = [java, *opts, log4j, f"-Dkafka.logs.dir={node_dir}", "-cp", f"{libs}/*", *args]
        with (node_dir / "stdout.log").open("ab") as out:
            return subprocess.Popen(
                cmd, cwd=node_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True,
            )  # fmt: skip

    def _wait_ready(self, node_ids: list[int], ports: list[int], brokers: int) -> None:
        """Wait until each of ``ports`` answers and reports ``brokers`` brokers; on failure
        stop the nodes ``node_ids`` just launched (never the others) and say why."""
        deadline = time.monotonic() + self.start_timeout_s
        while True:
            for i in node_ids:
                proc = self._procs[i]
                if proc.poll() is not None:
                    self._stop_nodes(self.status(), node_ids, 30.0)
                    raise BrokerError(
                        f"Kafka node {i} exited with code {proc.returncode} during start; "
                        f"log tail:\n{self._log_tail(i)}"
                    )
            if all(is_reachable(f"{HOST}:{p}", 1.0, brokers, plaintext=True) for p in ports):
                return
            if time.monotonic() > deadline:
                self._stop_nodes(self.status(), node_ids, 30.0)
                raise BrokerError(
                    f"Kafka did not answer on {HOST}:{ports[0]} within "
                    f"{self.start_timeout_s:.0f} s; log tail:\n{self._log_tail(node_ids[0])}"
                )
            time.sleep(0.2)

    def _alive(self, pids: Mapping[int, int | None]) -> dict[int, int]:
        alive = {}
        for node_id, pid in pids.items():
            proc = self._procs.get(node_id)
            if proc is not None and proc.pid == pid:
                proc.poll()  # reap our own child so it does not linger as a zombie
            props = self._node_dir(node_id) / "server.properties"
            if pid is not None and is_our_broker(pid, props):
                alive[node_id] = pid
        return alive

    def _log_tail(self, node_id: int, lines: int = 20) -> str:
        parts = []
        for name in ("stdout.log", "server.log"):
            path = self._node_dir(node_id) / name
            text = path.read_text(errors="replace") if path.is_file() else ""
            # Drop tab-indented lines: Kafka's config dumps and Java stack frames.
            text = "\n".join(line for line in text.splitlines() if not line.startswith("\t"))
            if text.strip():
                parts.append(f"--- {path} ---\n{_last_lines(text, lines)}")
        return "\n".join(parts) or "(the broker wrote no log)"


def free_ports(count: int, host: str = HOST) -> list[int]:
    """``count`` ports nothing listens on now (another process may take one before it is
    bound: :meth:`LocalCluster.start` starts again on others when that happens)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def port_free(port: int) -> bool:
    """Nothing listens on ``port`` (connections of a stopped broker in TIME_WAIT don't count:
    Kafka binds with SO_REUSEADDR too)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def new_cluster_id() -> str:
    """A Kafka cluster id: a random UUID, base64url without padding, not starting with '-'."""
    while True:
        cid = urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def is_our_broker(pid: int, props: Path) -> bool:
    """True if ``pid`` is a live ``kafka.Kafka`` running our ``props`` (never a stranger)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        if Path("/proc/self").exists():
            return False
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True)
        raw = out.stdout.replace(b" ", b"\0")
    args = raw.decode(errors="replace").split("\0")
    return "kafka.Kafka" in args and str(props) in args


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _last_lines(text: str, count: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-count:])
