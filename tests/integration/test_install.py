"""Installable anywhere: the wheel in a fresh virtual environment, used from an empty folder.

No network and no broker: the wheel is built offline (``tests.unit.test_packaging``), installed
with ``--no-deps`` into a new venv that sees this environment's dependencies through a ``.pth``
file (a ``.pth`` file only adds its folder to ``sys.path``; the ``.pth`` files in that folder
are not run, so this checkout's editable install stays out, which the test checks). Java and
Maven are stand-in scripts that record how they were called: ``broker fetch`` and ``broker
start`` show they read the pom and templates from the installed package and keep ``.kafka/``
in the per-user data folder, not in site-packages, and the run leaves site-packages as pip
left it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.support.dists import build_dists

pytestmark = pytest.mark.timeout(240)

PACKAGES = ("datamoat", "ingest", "process", "sinks")
FAKE_JAVA = """#!/bin/sh
echo "$@" >> "{log}/java.args"
if [ "$1" = -version ]; then echo 'openjdk version "17.0.9" 2023-10-17' >&2; exit 0; fi
exit 1
"""
FAKE_MVN = """#!/bin/sh
echo "$@" >> "{log}/mvn.args"
for arg in "$@"; do
    case "$arg" in -DoutputDirectory=*) out="${{arg#-DoutputDirectory=}}" ;; esac
done
mkdir -p "$out" && : > "$out/kafka-stand-in.jar"
"""
PROBE = """
import json, sys
import datamoat, ingest, process, sinks
from datamoat import broker, resources
from datamoat.config import default_config_path
from datamoat.moat.config import default_moat_path
print(json.dumps({
    "modules": [m.__file__ for m in (datamoat, ingest, process, sinks)],
    "checkout": resources.checkout_root() and str(resources.checkout_root()),
    "kafka_configs": str(broker.CONFIG_DIR),
    "home": str(broker.datamoat_home()),
    "config": str(default_config_path()),
    "moat": str(default_moat_path()),
}))
"""


def _files(folder: Path) -> set[str]:
    return {
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if "__pycache__" not in p.parts and not p.is_dir()
    }


def test_the_wheel_runs_from_an_empty_folder(tmp_path: Path) -> None:
    _, wheel = build_dists(tmp_path / "build")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (purelib / "datamoat-test-deps.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps"]
    subprocess.run([*pip, "--no-index", "--quiet", str(wheel)], check=True)
    installed = _files(purelib)

    home, elsewhere, log, fake_bin = (tmp_path / n for n in ("home", "elsewhere", "log", "bin"))
    for folder in (home, elsewhere, log, fake_bin):
        folder.mkdir()
    for name, script in (("java", FAKE_JAVA), ("mvn", FAKE_MVN)):
        (fake_bin / name).write_text(script.format(log=log))
        (fake_bin / name).chmod(0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATAMOAT_", "XDG_", "KAFKA_", "PYTHON", "VIRTUAL_ENV", "JAVA_"))
    }
    path = [str(venv / "bin"), str(fake_bin), env.get("PATH", os.defpath)]
    env |= {"HOME": str(home), "PATH": os.pathsep.join(path)}

    def datamoat(
        *args: str, expect: int | None = 0, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the installed ``datamoat``; ``expect=None``: any failure, said in lines."""
        out = subprocess.run(
            [str(venv / "bin" / "datamoat"), *args],
            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        code = out.returncode
        assert code == expect if expect is not None else code != 0, f"{args}: {code}\n{out.stderr}"
        assert "Traceback" not in out.stderr, out.stderr
        return out

    # the installed copy, not this checkout, and its own configs
    probe = subprocess.run(
        [python, "-c", PROBE], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert [Path(m) for m in found["modules"]] == [purelib / p / "__init__.py" for p in PACKAGES]
    assert found["checkout"] is None
    configs = purelib / "datamoat" / "_configs"
    assert found["kafka_configs"] == str(configs / "kafka")
    assert found["config"] == str(configs / "datamoat.toml")
    assert found["moat"] == str(configs / "moat.toml")
    per_user = home / ".local" / "share" / "datamoat"
    assert found["home"] == str(per_user)

    # the main job, without a broker
    datamoat("run", "--transport", "memory", "--posts", "1000", "--http-port", "0", "--quiet",
             "--summary-json", "run.json")  # fmt: skip
    assert json.loads((elsewhere / "run.json").read_text())["processed"] == 1000
    assert list((elsewhere / "out" / "signals").glob("*.parquet"))

    # the managed broker: pom and templates from the package, .kafka/ in the per-user folder
    fetched = datamoat("broker", "fetch")
    assert f"Kafka jars ready in {per_user / '.kafka' / 'libs'}" in fetched.stdout
    assert f"-f {configs / 'kafka' / 'pom.xml'}" in (log / "mvn.args").read_text()
    started = datamoat("broker", "start", "--port", "0", "--timeout", "20", expect=None)
    assert "node 1" in started.stderr  # the stand-in java does not start Kafka
    node = per_user / ".kafka" / "data" / "node-1"
    assert "node.id=1" in (node / "server.properties").read_text()
    log4j = f"-Dlog4j2.configurationFile={configs / 'kafka' / 'log4j2.properties'}"
    assert log4j in (log / "java.args").read_text()
    status = json.loads(datamoat("broker", "status", "--json", expect=3).stdout)
    assert status["data_dir"] == str(per_user / ".kafka" / "data")

    # the moat experiment, small, with its report (the dev set has the reports extra); 10 s
    # alone, but it has taken over 120 s beside the broker tests in CI
    datamoat("moat", "--seeds", "1", "--procs", "2", "--duration", "40m",
             "--posts-per-day", "1500000", "--quiet", "--summary-json", "moat.json",
             "--report-dir", "report", timeout=600)  # fmt: skip
    summary = json.loads((elsewhere / "moat.json").read_text())
    assert summary["commit"] is None  # an installed copy names no commit
    assert set(summary["tiers"]) >= {"firehose", "sample"}
    assert (elsewhere / "report" / "report.md").is_file()
    assert list((elsewhere / "report").glob("*.png"))
    assert list((home / ".cache" / "datamoat" / "moat").iterdir())  # its cache is per user

    assert _files(purelib) == installed  # nothing written into site-packages
