"""``datamoat ingest jetstream`` into Kafka with transactions, against a local replay server.

The server (``tests/support/jetstream_server.py``, unpaced) runs in a process of its own, so
its CPU is counted apart; it replays N recorded-format events of a stated mix (likes are
more than half of Bluesky's Jetstream, as they are here). The ingest is the real command,
``datamoat ingest jetstream --url ... --max-events N``, writing to a broker at
``--bootstrap`` (start one with ``datamoat broker start``) one transaction per batch. The
rate is events received / wall time of the command, start-up included.

    python tests/benchmark/bench_jetstream.py [--events 200000] [--bootstrap 127.0.0.1:9092]

Bluesky's whole Jetstream carries about 400-2,000 events/s; the target is 20,000.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

T0 = 1_767_225_600_000_000
#: (collection or kind, share): the mix of the replay.
MIX = (("like", 0.55), ("post", 0.30), ("repost", 0.08), ("follow", 0.05), ("identity", 0.02))


def frames(n: int) -> list[bytes]:
    out = []
    cut = []
    acc = 0.0
    for name, share in MIX:
        acc += share
        cut.append((acc, name))
    for i in range(n):
        u = ((i * 2654435761) % 2**32) / 2**32
        name = next(nm for c, nm in cut if u < c)
        did = f"did:plc:bench{i % 5000:05d}"
        t = T0 + i * 50
        if name == "identity":
            who = {"did": did, "handle": "x.bsky.social"}
            event: dict[str, object] = {"did": did, "time_us": t, "kind": "identity",
                                        "identity": who}  # fmt: skip
        else:
            collection = f"app.bsky.feed.{name}" if name != "follow" else "app.bsky.graph.follow"
            record: dict[str, object]
            if name == "post":
                record = {"$type": collection, "text": f"post number {i} about things",
                          "createdAt": "2026-01-01T00:00:00Z", "langs": ["en"],
                          "tags": [f"tag{i % 50}"]}  # fmt: skip
            else:
                uri = f"at://did:plc:bench{(i + 7) % 5000:05d}/app.bsky.feed.post/p{i}"
                record = {"$type": collection, "subject": {"uri": uri, "cid": "bafy"},
                          "createdAt": "2026-01-01T00:00:00Z"}  # fmt: skip
            commit = {"rev": "r", "operation": "create", "collection": collection,
                      "rkey": f"k{i}", "record": record, "cid": "bafy"}  # fmt: skip
            event = {"did": did, "time_us": t, "kind": "commit", "commit": commit}
        out.append(orjson.dumps(event))
    return out


def serve(path: str, port_file: str, stop_file: str) -> None:
    """The replay server's process: serve the frames until ``stop_file`` appears."""
    from tests.support.jetstream_server import JetstreamReplay

    data = Path(path).read_bytes().split(b"\n")

    async def main() -> None:
        async with JetstreamReplay(data) as server:
            Path(port_file).write_text(str(server.port))
            while not Path(stop_file).exists():
                await asyncio.sleep(0.2)

    asyncio.run(main())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-jetstream-"))
    try:
        return _run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(args: argparse.Namespace, tmp: Path) -> int:
    data = tmp / "frames.jsonl"
    data.write_bytes(b"\n".join(frames(args.events)))
    port_file, stop_file = tmp / "port", tmp / "stop"
    ctx = multiprocessing.get_context("spawn")
    server = ctx.Process(target=serve, args=(str(data), str(port_file), str(stop_file)))
    server.start()
    while not port_file.exists():
        time.sleep(0.05)
    url = f"ws://127.0.0.1:{port_file.read_text()}/subscribe"
    name = f"bench-{os.getpid()}"
    summary = tmp / "summary.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "datamoat.cli", "ingest", "jetstream", "--url", url,
           "--max-events", str(args.events), "--name", name, "--bootstrap", args.bootstrap,
           "--summary-json", str(summary), "--quiet"]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    subprocess.run(cmd, env=env, check=True)
    wall = time.monotonic() - began
    ingest = resource.getrusage(resource.RUSAGE_CHILDREN)
    stop_file.write_text("stop")
    server.join(30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    s = orjson.loads(summary.read_bytes())
    ingest_cpu = (ingest.ru_utime + ingest.ru_stime) - (before.ru_utime + before.ru_stime)
    server_cpu = (after.ru_utime + after.ru_stime) - (ingest.ru_utime + ingest.ru_stime)
    mix = ", ".join(f"{n} {share:.0%}" for n, share in MIX)
    print(
        f"ingest jetstream: {s['events']:,} events ({mix}), {s['posts']:,} posts, "
        f"{wall:.2f} s wall -> {s['events'] / wall:,.0f} events/s (start-up included); "
        f"ingest CPU {ingest_cpu:.2f} s, replay server CPU {server_cpu:.2f} s apart"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
