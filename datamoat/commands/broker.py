"""``datamoat broker {fetch,start,stop,status}``: the managed local Apache Kafka.

``--node K`` starts or stops one node of a local cluster (e.g. after a fault drill).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from datamoat.broker import HOST, ClusterStatus, LocalCluster, datamoat_home, ensure_jars
from datamoat.broker_security import MODES, Security

__all__ = ["register"]

#: ``broker status`` exit code when the broker is not (fully) running, as in LSB init scripts.
NOT_RUNNING = 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "broker",
        help="the managed local Kafka broker (fetch/start/stop/status)",
        description="Run Apache Kafka locally without Docker: jars from Maven, KRaft mode, "
        "loopback only. Jars and data live under .kafka/ (or $DATAMOAT_HOME/.kafka/).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    fetch = actions.add_parser("fetch", help="download the Kafka jars once (needs Java 17+, mvn)")
    fetch.set_defaults(func=_fetch)

    start = actions.add_parser("start", help="start the broker in the background")
    start.add_argument(
        "--port",
        type=int,
        default=9092,
        help="client port of the first node (default 9092); node i listens on PORT+i-1 and "
        "the controllers on the next N ports; 0 picks free ports",
    )
    start.add_argument(
        "--brokers", type=int, default=1, metavar="N", help="nodes in the local cluster (default 1)"
    )
    start.add_argument("--heap", default="512m", help="JVM heap per node (default 512m)")
    start.add_argument(
        "--timeout", type=float, default=90.0, metavar="S", help="seconds to wait (default 90)"
    )
    start.add_argument(
        "--security",
        choices=sorted(MODES),
        default=None,
        help="the client listener: plaintext (default), ssl, sasl_ssl (SCRAM-SHA-512) or mtls "
        "(client certificates); makes a CA, certificates, a user and "
        "<data-dir>/client.properties for --client-config and the Kafka tools",
    )
    start.add_argument(
        "--acl",
        action="store_true",
        help="with --security sasl_ssl or mtls: an authorizer, the pipeline's ACLs for user "
        "alice, and a user mallory without any (<data-dir>/client-denied.properties)",
    )
    start.set_defaults(func=_start)

    stop = actions.add_parser("stop", help="stop the broker started by `broker start`")
    stop.set_defaults(func=_stop)
    start.add_argument(
        "--node",
        type=int,
        default=None,
        metavar="K",
        help="restart only node K of a partly running local cluster (its recorded ports and heap)",
    )
    stop.add_argument(
        "--node", type=int, default=None, metavar="K", help="stop only node K (by its own pid)"
    )

    status = actions.add_parser(
        "status", help=f"is it running? (exit code 0 if so, {NOT_RUNNING} if not)"
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(func=_status)

    for sub in (start, stop, status):
        sub.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="broker data directory (default: .kafka/data/ in the datamoat home)",
        )


def _cluster(args: argparse.Namespace) -> LocalCluster:
    return LocalCluster(
        args.data_dir,
        brokers=getattr(args, "brokers", 1),
        port=getattr(args, "port", 9092),
        heap=getattr(args, "heap", "512m"),
        start_timeout_s=getattr(args, "timeout", 90.0),
        security=_security(args),
    )


def _security(args: argparse.Namespace) -> Security | None:
    """``--security``/``--acl`` of ``start`` (None: as the data directory records)."""
    mode, acl = getattr(args, "security", None), getattr(args, "acl", False)
    if mode is None and not acl:
        return None
    return Security(mode or "plaintext", acl)


def _describe(status: ClusterStatus) -> str:
    pids = ", ".join(str(pid) for pid in status.pids)
    where = f"on {status.bootstrap} (pid{'s' if len(status.pids) > 1 else ''} {pids})"
    nodes = f"{len(status.nodes)}-node cluster" if len(status.nodes) > 1 else "broker"
    return f"{nodes} {where}, data in {status.data_dir}"


def _fetch(args: argparse.Namespace) -> int:
    began = time.monotonic()
    libs = ensure_jars(datamoat_home())
    jars = list(libs.glob("*.jar"))
    size_mb = sum(jar.stat().st_size for jar in jars) / 1e6
    took = time.monotonic() - began
    print(f"Kafka jars ready in {libs} ({len(jars)} jars, {size_mb:.0f} MB, {took:.1f} s)")
    return 0


def _start(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    if args.node is not None:
        began = time.monotonic()
        status = cluster.start_node(args.node)
        node = status.nodes[args.node - 1]
        print(f"node {node.node_id} started on {HOST}:{node.port} (pid {node.pid}), "
              f"{sum(n.running for n in status.nodes)} of {len(status.nodes)} nodes running "
              f"({time.monotonic() - began:.1f} s)")  # fmt: skip
        return 0
    if cluster.status().running:
        print(f"already running: {_describe(cluster.status())}")
        return 0
    began = time.monotonic()
    status = cluster.start()
    print(
        f"{_describe(status).replace(' on ', ' started on ', 1)} ({time.monotonic() - began:.1f} s)"
    )
    if cluster.client_config is not None:
        print(f"{cluster.security.mode} clients: --client-config {cluster.client_config}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    cluster = _cluster(args)
    if args.node is not None:
        return _stop_node(cluster, args.node)
    before = cluster.status()
    if not before.pids:
        print(f"broker not running (data in {before.data_dir})")
        return 0
    after = cluster.stop()
    stopped = ", ".join(str(pid) for pid in before.pids if pid not in after.pids)
    print(f"broker stopped (pid {stopped}), data kept in {after.data_dir}")
    return 0 if not after.pids else 1


def _stop_node(cluster: LocalCluster, node_id: int) -> int:
    before = cluster.status()
    if node_id in {n.node_id for n in before.nodes} and not before.nodes[node_id - 1].running:
        print(f"node {node_id} not running (data in {before.data_dir})")
        return 0
    after = cluster.stop_node(node_id)
    node = after.nodes[node_id - 1]
    if node.running:
        print(f"node {node_id} still running (pid {node.pid})")
        return 1
    up = sum(n.running for n in after.nodes)
    print(f"node {node_id} stopped (pid {before.nodes[node_id - 1].pid}), "
          f"{up} of {len(after.nodes)} nodes running, data kept in {after.data_dir}")  # fmt: skip
    return 0


def _status(args: argparse.Namespace) -> int:
    status = _cluster(args).status()
    if args.json:
        print(json.dumps(status.to_dict()))
    elif status.running:
        print(f"running: {_describe(status)}")
    elif status.pids:
        down = " ".join(str(n.node_id) for n in status.nodes if not n.running)
        print(f"partial: only pids {status.pids} of {len(status.nodes)} nodes run (stopped: "
              f"node {down}), data in {status.data_dir}; restart with "
              "`datamoat broker start --node K`")  # fmt: skip
    else:
        print(f"stopped (data in {status.data_dir})")
    return 0 if status.running else NOT_RUNNING
