"""A worker and a merger whose broker answers their first look, then is lost while they start.

The bootstrap address is a loopback gate (:class:`tests.support.gate.Gate`) in front of the
test broker that shuts once the first look (``--wait-for-broker``'s probe) has ended: the
topic check made after it can't bootstrap, as in a compose cluster whose embedded DNS went
silent while a restarted worker started. Each command says it lost the broker and tries again
within ``--wait-for-broker``; the gate opens, and the run ends exactly: the worker
processes every post, the merger's signals equal ``datamoat truth``. Before, the worker
exited 69 ("no Kafka broker answers") at its topic check.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import orjson
import pytest

from tests.support.gate import Gate
from tests.support.live import stop, wait_for
from tests.support.pipelines import DATAMOAT, assert_same_signals, cli, parquet_signals

pytestmark = pytest.mark.kafka

START = "2026-01-01T00:00:00Z"
POSTS = 3_000


def _start_through_gate(
    args: list[str], gate: Gate, env: dict[str, str], tmp_path: Path, name: str
) -> tuple[subprocess.Popen[bytes], Path]:
    err = tmp_path / f"{name}.err"
    with err.open("wb") as sink:
        proc = subprocess.Popen(
            [*DATAMOAT, *args, "--bootstrap", gate.address, "--wait-for-broker", "90",
             "--http-port", "0", "--quiet", "--summary-json", str(tmp_path / f"{name}.json")],
            env=env, stdout=subprocess.DEVNULL, stderr=sink,
        )  # fmt: skip
    return proc, err


@pytest.mark.timeout(240)
def test_broker_lost_between_the_first_look_and_the_clients_is_waited_for(
    datamoat_env: dict[str, str], kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = datamoat_env
    seeded = ["--seed", "3", "--start", START, "--rate", "1000", "--posts", str(POSTS)]
    cli(["produce", *seeded, "--unpaced", "--quiet"], env)
    host, port = kafka_bootstrap.rsplit(":", 1)
    runs = [
        ("process", ["process", "--until-idle", "--idle-s", "0"]),
        ("merge", ["merge", "--until-ended", "--output-dir", str(tmp_path / "run")]),
    ]
    for name, args in runs:
        gate = Gate((host, int(port)), shut_after_first=True)
        proc, err = _start_through_gate(args, gate, env, tmp_path, name)
        try:
            wait_for(f"{name} to lose the broker", lambda e=err, p=proc: b"lost the broker"
                     in e.read_bytes() or p.poll() is not None, 60, every_s=0.2)  # fmt: skip
            assert gate.shut.is_set() and proc.poll() is None, err.read_text()
            gate.open()
            assert proc.wait(timeout=120) == 0, err.read_text()
        finally:
            stop(proc)
            gate.close()
        summary = orjson.loads((tmp_path / f"{name}.json").read_bytes())
        assert (summary["consumed"], summary["processed"]) == (POSTS, POSTS), summary
        assert f"datamoat {name}: error" not in err.read_text()
    cli(["truth", *seeded, "--output-dir", str(tmp_path / "truth")], env)
    assert_same_signals(parquet_signals(tmp_path / "run"), parquet_signals(tmp_path / "truth"))
