"""The secured compose cluster's credentials (datamoat.compose_secrets): the managed broker's
files (datamoat.broker_security), for the host name ``broker``, each readable only by the
user that needs it, and a client.properties that datamoat reads as SASL_SSL."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from datamoat.broker_security import MECHANISM, USER, Security, make_credentials
from datamoat.compose_secrets import main, make_compose_credentials
from ingest.kafka.client_config import read_client_config

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="no openssl")


def _names(cert: Path) -> str:
    done = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-subject", "-ext", "subjectAltName"],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return done.stdout


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_files_for_the_broker_and_the_clients(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    handed = make_compose_credentials(secrets, ["broker"], broker_user=1000, client_user=10001)
    rel = sorted(str(p.relative_to(secrets)) for p in handed)
    assert rel == ["client.properties", "tls/alice.scram", "tls/broker.pem", "tls/ca.pem"]
    names = _names(secrets / "tls" / "broker.pem")
    assert "CN = broker" in names and "DNS:broker" in names and "127.0.0.1" not in names
    assert _mode(secrets / "tls" / "ca.pem") == 0o644
    for path in secrets.rglob("*"):  # the CA's key and the rest: nobody else's
        if path.is_file() and path.name != "ca.pem":
            assert _mode(path) == 0o600, path
    if os.geteuid() == 0:
        owners = {p.name: p.stat().st_uid for p in secrets.rglob("*") if p.is_file()}
        assert owners.pop("broker.pem") == owners.pop("alice.scram") == 1000
        assert owners.pop("client.properties") == 10001
        assert set(owners.values()) == {0}
    settings = read_client_config(secrets / "client.properties")
    assert settings.describe() == f"SASL_SSL ({MECHANISM} as {USER})"
    assert settings.kwargs["ssl_cafile"] == str(secrets / "tls" / "ca.pem")
    password = (secrets / "tls" / "alice.scram").read_text().strip()
    assert password in settings.secrets
    first = (secrets / "client.properties").read_text()
    assert first.startswith("# alice on the compose cluster")
    # a restart of the one-shot keeps them (the broker's storage has these passwords)
    make_compose_credentials(secrets, ["broker"], broker_user=1000, client_user=10001)
    assert (secrets / "client.properties").read_text() == first


def test_main_prints_no_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--dir", str(tmp_path), "--host", "broker", "--host", "localhost",
            "--broker-user", "1000", "--client-user", "10001"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr()
    password = (tmp_path / "tls" / "alice.scram").read_text().strip()
    assert password not in out.out + out.err
    assert out.out.count("\n") == 1 and "broker, localhost" in out.out
    assert "DNS:localhost" in _names(tmp_path / "tls" / "broker.pem")


def test_the_managed_broker_keeps_its_loopback_certificate(tmp_path: Path) -> None:
    make_credentials(tmp_path, Security("sasl_ssl"))
    names = _names(tmp_path / "tls" / "broker.pem")
    assert "CN = 127.0.0.1" in names and "IP Address:127.0.0.1" in names
    first = (tmp_path / "client.properties").read_text().splitlines()[0]
    assert first == (f"# alice on the managed cluster in {tmp_path} (sasl_ssl); made by "
                     "`datamoat broker start`")  # fmt: skip
