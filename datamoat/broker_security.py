"""A secured managed broker: TLS, SASL (SCRAM) or mutual TLS, and optionally ACLs.

``datamoat broker start --security sasl_ssl|ssl|mtls [--acl]`` gives the nodes a client
listener of that protocol beside their plaintext internal one (loopback only: the brokers'
and controllers' own traffic, and datamoat's set-up of users and ACLs), and writes into the
data directory everything a client needs, in the form the Kafka tools read:

- ``tls/ca.pem``: a certificate authority made for this cluster; ``tls/broker.pem``: the
  nodes' key and certificate (valid for 127.0.0.1 only), signed by it.
- ``client.properties``: the settings of the user ``alice`` (a SCRAM-SHA-512 password, or
  a client certificate with ``CN=alice``), for datamoat (``--client-config``) and for the
  Kafka tools (``--consumer.config``, ``--command-config``) alike.
- with ``--acl``: an authorizer (a principal without an ACL may do nothing), the ACLs a
  pipeline needs granted to ``alice`` (:func:`pipeline_acls`, listed in the README), and
  ``client-denied.properties`` of a second user ``mallory`` who has none.

Made with ``openssl``; the passwords are random, written only into those files (mode 0600).
"""

from __future__ import annotations

import ipaddress
import secrets
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from datamoat.config import Config, load_config
from ingest.errors import BrokerError
from ingest.kafka.admin import grant_acls

__all__ = [
    "MODES",
    "Security",
    "grant_pipeline_acls",
    "listener_lines",
    "make_credentials",
    "pipeline_acls",
    "scram_arguments",
]

#: ``--security`` values -> the client listener's protocol.
MODES = {"plaintext": "PLAINTEXT", "ssl": "SSL", "sasl_ssl": "SASL_SSL", "mtls": "SSL"}
USER, DENIED = "alice", "mallory"
MECHANISM = "SCRAM-SHA-512"
_SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass(frozen=True)
class Security:
    """How a managed cluster's clients connect (``plaintext``: as before, one listener)."""

    mode: str = "plaintext"
    acl: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BrokerError(f"--security {self.mode!r}: use one of {', '.join(MODES)}")
        if self.acl and self.mode == "plaintext":
            raise BrokerError("--acl needs a secured listener (--security sasl_ssl or mtls) "
                              "to tell users apart")  # fmt: skip
        if self.acl and self.mode == "ssl":
            raise BrokerError("--acl with --security ssl: TLS without client certificates "
                              "has no user to grant to; use mtls or sasl_ssl")  # fmt: skip

    @property
    def secured(self) -> bool:
        return self.mode != "plaintext"


def listener_lines(security: Security, host: str, port: int, internal: int | None,
                   controller: int, tls: Path) -> str:  # fmt: skip
    """The listener part of a node's server.properties."""
    if not security.secured:
        return "\n".join([
            f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
            f"advertised.listeners=PLAINTEXT://{host}:{port}",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        ])  # fmt: skip
    assert internal is not None
    protocol = MODES[security.mode]
    lines = [
        f"listeners=CLIENT://{host}:{port},INTERNAL://{host}:{internal},"
        f"CONTROLLER://{host}:{controller}",
        f"advertised.listeners=CLIENT://{host}:{port},INTERNAL://{host}:{internal}",
        "inter.broker.listener.name=INTERNAL",
        f"listener.security.protocol.map=CLIENT:{protocol},INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={tls / 'broker.pem'}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={tls / 'ca.pem'}",
    ]
    if security.mode == "sasl_ssl":
        lines += [
            f"listener.name.client.sasl.enabled.mechanisms={MECHANISM}",
            f"listener.name.client.{MECHANISM.lower()}.sasl.jaas.config={_SCRAM} required;",
        ]
    if security.mode == "mtls":
        lines += [
            "listener.name.client.ssl.client.auth=required",
            # User:alice, not User:CN=alice,... (the ACLs name the user).
            "ssl.principal.mapping.rules=RULE:^CN=([^,]+).*$/$1/,DEFAULT",
        ]
    if security.acl:
        lines += [
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # The plaintext internal and controller listeners (loopback) are ANONYMOUS.
            "super.users=User:ANONYMOUS",
            "allow.everyone.if.no.acl.found=false",
        ]
    return "\n".join(lines)


# --- credentials ----------------------------------------------------------------------------


def _openssl(args: Sequence[str], cwd: Path) -> None:
    exe = shutil.which("openssl")
    if exe is None:
        raise BrokerError("openssl not found: install it (apt-get install openssl) to start a "
                          "secured broker")  # fmt: skip
    done = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise BrokerError(f"openssl {args[0]} failed: {done.stderr.strip().splitlines()[-1:]}")


def _signed(tls: Path, name: str, subject: str, extensions: str) -> Path:
    """``<name>.pem``: a new key (PKCS#8) and its certificate signed by the CA."""
    (tls / f"{name}.ext").write_text(extensions + "\n")
    _openssl(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
              "-out", f"{name}.csr", "-subj", subject], tls)  # fmt: skip
    _openssl(["x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
              "-CAcreateserial", "-days", "3650", "-sha256", "-out", f"{name}.crt",
              "-extfile", f"{name}.ext"], tls)  # fmt: skip
    pem = tls / f"{name}.pem"
    pem.write_text((tls / f"{name}.key").read_text() + (tls / f"{name}.crt").read_text())
    pem.chmod(0o600)
    for suffix in ("csr", "ext"):
        (tls / f"{name}.{suffix}").unlink()
    return pem


def make_credentials(data_dir: Path, security: Security, bootstrap_hint: str = "", *,
                     hosts: Sequence[str] = ("127.0.0.1",), origin: str = "") -> None:  # fmt: skip
    """The CA, the nodes' certificate (for ``hosts``: IP addresses or DNS names, the first
    one its subject), the users' secrets and their ``client.properties`` (once per data
    directory: a restart keeps them). ``origin`` ends the comment line of the
    ``client.properties`` files (default: the managed cluster in ``data_dir``)."""
    tls = data_dir / "tls"
    if (tls / "ca.pem").is_file():
        return
    tls.mkdir(parents=True, exist_ok=True)
    ca = ["-keyout", "ca.key", "-out", "ca.pem", "-days", "3650", "-subj", "/CN=datamoat local CA"]
    _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", *ca], tls)
    names = ",".join(f"{'IP' if _is_ip(h) else 'DNS'}:{h}" for h in hosts)
    _signed(tls, "broker", f"/CN={hosts[0]}", f"subjectAltName={names}\n"
            "extendedKeyUsage=serverAuth,clientAuth")  # fmt: skip
    users = [USER, DENIED] if security.acl else [USER]
    origin = origin or (f"the managed cluster in {data_dir} ({security.mode}); made by "
                        "`datamoat broker start`")  # fmt: skip
    for user in users:
        _client_properties(data_dir, tls, security, user, origin)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _client_properties(data_dir: Path, tls: Path, security: Security, user: str,
                       origin: str) -> None:  # fmt: skip
    name = "client.properties" if user == USER else "client-denied.properties"
    lines = [
        f"# {user} on {origin}",
        f"security.protocol={MODES[security.mode]}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={tls / 'ca.pem'}",
    ]
    if security.mode == "sasl_ssl":
        password = secrets.token_urlsafe(18)
        (tls / f"{user}.scram").write_text(password + "\n")
        (tls / f"{user}.scram").chmod(0o600)
        lines += [
            f"sasl.mechanism={MECHANISM}",
            f'sasl.jaas.config={_SCRAM} required username="{user}" password="{password}";',
        ]
    if security.mode == "mtls":
        pem = _signed(tls, user, f"/CN={user}", "extendedKeyUsage=clientAuth")
        lines += ["ssl.keystore.type=PEM", f"ssl.keystore.location={pem}"]
    path = data_dir / name
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


def scram_arguments(data_dir: Path, security: Security) -> list[str]:
    """``kafka-storage format`` arguments that create the SCRAM users."""
    if security.mode != "sasl_ssl":
        return []
    args = []
    for found in sorted((data_dir / "tls").glob("*.scram")):
        password = found.read_text().strip()
        args += ["--add-scram", f"{MECHANISM}=[name={found.stem},password={password}]"]
    return args


# --- ACLs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Grant:
    """One ACL: ``operation`` on the ``kind`` named ``name`` (a prefix when ``prefixed``)."""

    kind: str  # topic, group, transactional_id
    name: str
    operations: tuple[str, ...]
    prefixed: bool = False

    def __str__(self) -> str:
        pattern = "prefixed" if self.prefixed else "literal"
        return f"{self.kind} {self.name} ({pattern}): {', '.join(self.operations)}"


def pipeline_acls(config: Config) -> list[Grant]:
    """What a pipeline's user needs, and nothing more, for ``topics``, ``produce``, ``run``,
    ``process`` and ``merge`` of the worker group ``kafka.group``: its topics; its
    consumer groups and transactional ids, which all begin with the group's name (``run``
    makes ``<group>-run-<id>``, the merger ``<group>-merge``)."""
    k = config.kafka
    every = ("DESCRIBE", "CREATE", "READ", "WRITE")
    topics = (k.posts_topic, k.dlq_topic, k.partials_topic(k.group),
              k.snapshots_topic(k.group), k.signals_topic, k.early_channel(k.group),
              k.early_topic, k.alerts_topic)  # fmt: skip
    return [
        *(Grant("topic", t, every) for t in topics),
        Grant("group", k.group, ("DESCRIBE", "READ"), prefixed=True),
        Grant("transactional_id", k.group, ("DESCRIBE", "WRITE"), prefixed=True),
    ]


def grant_pipeline_acls(internal: str, config: Config | None = None) -> int:
    """Grant :func:`pipeline_acls` to ``alice`` through the internal listener."""
    grants = [(g.kind, g.name, g.operations, g.prefixed) for g in
              pipeline_acls(config or load_config(None))]  # fmt: skip
    return grant_acls(internal, f"User:{USER}", grants)
