"""Kafka's own command-line tools for the tests that check datamoat against them: the
``kafka-tools`` artifact, fetched by Maven into ``.kafka/tools`` from
``configs/kafka/tools/pom.xml`` once, apart from the broker's jars."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from datamoat.broker import datamoat_home
from tests.support.live import CI

__all__ = ["CONSOLE_CONSUMER", "tools_classpath"]

ROOT = Path(__file__).resolve().parents[2]
TOOLS_POM = ROOT / "configs" / "kafka" / "tools" / "pom.xml"
CONSOLE_CONSUMER = "org.apache.kafka.tools.consumer.ConsoleConsumer"


def tools_classpath() -> str:
    """The tools' classpath (fetched on first use; without Maven: skip, or fail in CI)."""
    tools = datamoat_home() / ".kafka" / "tools"
    if not tools.is_dir():
        mvn = shutil.which("mvn")
        if mvn is None:
            reason = "Maven (mvn) not found: it fetches Kafka's kafka-tools jar"
            if CI:
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)
        partial = tools.with_name("tools.partial")
        shutil.rmtree(partial, ignore_errors=True)
        out = subprocess.run(
            [mvn, "-q", "-B", "-f", str(TOOLS_POM), "dependency:copy-dependencies",
             f"-DoutputDirectory={partial}"],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
        partial.rename(tools)
    return os.pathsep.join(str(p) for p in sorted(tools.glob("*.jar")))
