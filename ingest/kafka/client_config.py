"""Kafka client settings from a ``client.properties`` file, as the Kafka tools read them.

A secured cluster (TLS, SASL, mutual TLS) is reached with the same file its operators give
the Kafka command-line tools (``--command-config``, ``--consumer.config``): ``datamoat
--client-config F`` or ``$KAFKA_CLIENT_CONFIG``. Every Kafka client datamoat makes takes
its settings from :func:`client_settings` (the lag reader, the admin calls, the workers',
the merger's and the firehose's producers and consumers), and the processes ``run`` starts
inherit the file through the environment.

What is honoured, mapped to kafka-python's arguments:

===========================================  ===============================================
``security.protocol``                        PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
``sasl.mechanism``                           PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
``sasl.jaas.config``                         the Plain and Scram login modules' username
                                             and password
``ssl.truststore.type`` = PEM                with ``ssl.truststore.location``: the CAs to
                                             trust (none: the system's)
``ssl.keystore.type`` = PEM                  with ``ssl.keystore.location`` (the private key
                                             and its certificate chain) and
                                             ``ssl.key.password`` when the key is encrypted:
                                             mutual TLS
``ssl.endpoint.identification.algorithm``    ``https`` (the default: the broker's
                                             certificate must name its host) or empty
``config.providers``                         Kafka's env, file and directory providers, for
                                             ``${env:VAR}``, ``${file:PATH:KEY}`` and
                                             ``${dir:PATH:FILE}`` references
===========================================  ===============================================

Anything else (a JKS truststore, Kerberos, OAuth, a client id) is a :class:`ConfigError`
that names the key: a setting silently ignored could send a password in clear text.

Secrets (the passwords, and every value a provider supplies) are kept in
:attr:`ClientSettings.secrets`; :func:`redact` masks them in any text, and no message of
this module quotes a value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.errors import ConfigError

__all__ = [
    "ENV_VAR",
    "ClientSettings",
    "client_settings",
    "parse_properties",
    "read_client_config",
    "redact",
    "secured",
    "use_client_config",
]

#: The environment variable naming the file (what ``--client-config`` sets for children).
ENV_VAR = "KAFKA_CLIENT_CONFIG"

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
    "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
}
PROVIDERS = {
    "org.apache.kafka.common.config.provider.EnvVarConfigProvider": "env",
    "org.apache.kafka.common.config.provider.FileConfigProvider": "file",
    "org.apache.kafka.common.config.provider.DirectoryConfigProvider": "dir",
}
_HONOURED = {
    "security.protocol",
    "sasl.mechanism",
    "sasl.jaas.config",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.key.password",
    "ssl.endpoint.identification.algorithm",
}
_SECRET_KEYS = {"ssl.key.password", "ssl.keystore.password", "ssl.truststore.password"}
_REFERENCE = re.compile(r"\$\{([^}:]*):(?:([^}]*):)?([^}:]*)\}")


@dataclass(frozen=True)
class ClientSettings:
    """kafka-python keyword arguments for every client, and the values never to show."""

    #: Where they came from ("" when no file: PLAINTEXT, kafka-python's defaults).
    origin: str = ""
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    secrets: frozenset[str] = frozenset()

    @property
    def protocol(self) -> str:
        return str(self.kwargs.get("security_protocol", "PLAINTEXT"))

    @property
    def secured(self) -> bool:
        return self.protocol != "PLAINTEXT"

    def describe(self) -> str:
        """One secret-free phrase for status lines: ``SASL_SSL (SCRAM-SHA-512 as alice)``."""
        k = self.kwargs
        if "sasl_mechanism" in k:
            return f"{self.protocol} ({k['sasl_mechanism']} as {k['sasl_plain_username']})"
        if "ssl_certfile" in k:
            return f"{self.protocol} (client certificate)"
        return self.protocol


# --- the properties format ------------------------------------------------------------------

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c != "\\" or i + 1 == len(text):
            out.append(c)
            i += 1
            continue
        n = text[i + 1]
        if n == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
            out.append(chr(int(text[i + 2 : i + 6], 16)))
            i += 6
            continue
        out.append(_ESCAPES.get(n, n))
        i += 2
    return "".join(out)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) with continuations (an odd number of trailing backslashes)
    joined and comments left out."""
    lines: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, physical in enumerate(text.splitlines(), 1):
        part = physical.lstrip()
        if pending is None:
            if not part or part[0] in "#!":
                continue
            pending = (number, "")
        trailing = len(part) - len(part.rstrip("\\"))
        if trailing % 2:
            pending = (pending[0], pending[1] + part[:-1])
            continue
        lines.append((pending[0], pending[1] + part))
        pending = None
    if pending is not None:
        lines.append(pending)
    return lines


def parse_properties(text: str) -> dict[str, str]:
    """A Java ``.properties`` text: ``key=value``, ``key: value`` or ``key value``,
    ``#``/``!`` comments, backslash continuations and escapes. The last key wins."""
    props: dict[str, str] = {}
    for _, line in _logical_lines(text):
        match = re.match(r"((?:\\.|[^\\=:\s])*)\s*[=:]?\s*(.*)$", line, re.DOTALL)
        assert match is not None  # the pattern matches every string
        props[_unescape(match.group(1))] = _unescape(match.group(2))
    return props


# --- config providers -----------------------------------------------------------------------


def _providers(props: Mapping[str, str], where: str) -> dict[str, str]:
    """Declared provider name -> kind (env, file, dir)."""
    names = [n.strip() for n in props.get("config.providers", "").split(",") if n.strip()]
    kinds = {}
    for name in names:
        cls = props.get(f"config.providers.{name}.class")
        if cls is None:
            raise ConfigError(f"{where}: config provider {name!r} has no "
                              f"config.providers.{name}.class: set one of Kafka's env, file "
                              f"or directory providers")  # fmt: skip
        if cls not in PROVIDERS:
            raise ConfigError(f"{where}: config provider class {cls} is not one datamoat can "
                              f"run: use {', '.join(sorted(PROVIDERS))}")  # fmt: skip
        kinds[name] = PROVIDERS[cls]
    return kinds


def _provide(kind: str, path: str | None, key: str, ref: str, where: str) -> str:
    if kind == "env":
        if key not in os.environ:
            raise ConfigError(f"{where}: {ref} names the environment variable {key}, which is "
                              "not set")  # fmt: skip
        return os.environ[key]
    if not path:
        raise ConfigError(f"{where}: {ref} needs a path: ${{{kind}:PATH:KEY}}")
    if kind == "file":
        try:
            values = parse_properties(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{where}: {ref}: can't read {path} ({exc.strerror})") from None
        if key not in values:
            raise ConfigError(f"{where}: {ref}: {path} has no key {key}")
        return values[key]
    try:
        return (Path(path) / key).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{where}: {ref}: can't read {key} in {path} ({exc.strerror})") from None


def _resolve(props: dict[str, str], where: str) -> tuple[dict[str, str], set[str]]:
    """Every ``${provider:[path:]key}`` replaced; the values supplied so (all secrets)."""
    kinds = _providers(props, where)
    supplied: set[str] = set()

    def one(match: re.Match[str]) -> str:
        name, path, key = match.group(1), match.group(2), match.group(3)
        if name not in kinds:
            declared = ", ".join(sorted(kinds)) or "none"
            raise ConfigError(
                f"{where}: {match.group(0)} uses config provider {name!r}, which "
                f"config.providers does not declare (declared: {declared})"
            )
        value = _provide(kinds[name], path, key, match.group(0), where)
        supplied.add(value)
        return value

    resolved = {}
    for key, value in props.items():
        resolved[key] = value if key.startswith("config.providers") else _REFERENCE.sub(one, value)
    return resolved, supplied


# --- mapping to kafka-python ----------------------------------------------------------------


def _jaas(value: str, mechanism: str, where: str) -> tuple[str, str]:
    """(username, password) from a ``sasl.jaas.config`` of the mechanism's login module."""
    match = re.match(r"\s*([\w.$]+)\s+(required|requisite|sufficient|optional)\b(.*?);?\s*$",
                     value, re.DOTALL)  # fmt: skip
    if match is None:
        raise ConfigError(f"{where}: sasl.jaas.config is not '<LoginModule> required "
                          'username="..." password="...";\'')  # fmt: skip
    module = match.group(1)
    if module != MECHANISMS[mechanism]:
        raise ConfigError(f"{where}: sasl.jaas.config uses {module}, but sasl.mechanism "
                          f"{mechanism} needs {MECHANISMS[mechanism]}")  # fmt: skip
    options = dict(re.findall(r'(\w+)\s*=\s*"((?:\\.|[^"\\])*)"', match.group(3)))
    missing = [o for o in ("username", "password") if o not in options]
    if missing:
        raise ConfigError(f"{where}: sasl.jaas.config has no {' or '.join(missing)}")
    return options["username"], options["password"]


def _pem_file(props: Mapping[str, str], store: str, where: str) -> str | None:
    location = props.get(f"ssl.{store}.location")
    kind = props.get(f"ssl.{store}.type", "JKS" if location else "PEM").upper()
    if f"ssl.{store}.certificates" in props or f"ssl.{store}.certificate.chain" in props:
        raise ConfigError(f"{where}: inline PEM (ssl.{store}.certificates / .certificate.chain) "
                          f"is not supported: put the PEM in a file and set "
                          f"ssl.{store}.location")  # fmt: skip
    if location is None:
        return None
    if kind != "PEM":
        raise ConfigError(f"{where}: ssl.{store}.type is {kind}, which datamoat's client can't "
                          f"read: convert the {store} to PEM (keytool -exportcert -rfc, or "
                          f"openssl pkcs12) and set ssl.{store}.type=PEM")  # fmt: skip
    if not Path(location).is_file():
        raise ConfigError(f"{where}: ssl.{store}.location {location} is not a readable file")
    return location


def _kwargs(props: Mapping[str, str], where: str) -> dict[str, Any]:
    unknown = sorted(k for k in props if k not in _HONOURED and not k.startswith("config.provid"))
    if "ssl.keystore.password" in props or "ssl.truststore.password" in props:
        unknown = [k for k in unknown if k not in ("ssl.keystore.password",
                                                   "ssl.truststore.password")]  # fmt: skip
        raise ConfigError(f"{where}: a store password is for JKS or PKCS12 stores, which "
                          "datamoat's client can't read: use PEM files (ssl.key.password for an "
                          "encrypted key)")  # fmt: skip
    if unknown:
        raise ConfigError(
            f"{where}: {', '.join(unknown)}: not a setting datamoat can honour "
            f"(it reads {', '.join(sorted(_HONOURED))} and config providers)"
        )
    protocol = props.get("security.protocol", "PLAINTEXT").upper()
    if protocol not in PROTOCOLS:
        raise ConfigError(f"{where}: security.protocol must be one of {', '.join(PROTOCOLS)}")
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    sasl = protocol.startswith("SASL_")
    ssl = protocol.endswith("SSL")
    if sasl:
        mechanism = props.get("sasl.mechanism", "GSSAPI").upper()
        if mechanism not in MECHANISMS:
            raise ConfigError(f"{where}: sasl.mechanism {mechanism} is not supported (Kafka's "
                              f"default is GSSAPI): set {', '.join(MECHANISMS)}")  # fmt: skip
        if "sasl.jaas.config" not in props:
            raise ConfigError(f"{where}: {protocol} needs sasl.jaas.config with a username "
                              "and password")  # fmt: skip
        user, password = _jaas(props["sasl.jaas.config"], mechanism, where)
        kwargs.update(sasl_mechanism=mechanism, sasl_plain_username=user,
                      sasl_plain_password=password)  # fmt: skip
    else:
        extra = sorted(k for k in props if k.startswith("sasl."))
        if extra:
            raise ConfigError(f"{where}: {', '.join(extra)} set, but security.protocol "
                              f"{protocol} does not use SASL")  # fmt: skip
    if ssl:
        algorithm = props.get("ssl.endpoint.identification.algorithm", "https").lower()
        if algorithm not in ("https", ""):
            raise ConfigError(f"{where}: ssl.endpoint.identification.algorithm must be "
                              "https or empty")  # fmt: skip
        kwargs["ssl_check_hostname"] = algorithm == "https"
        cafile = _pem_file(props, "truststore", where)
        if cafile is not None:
            kwargs["ssl_cafile"] = cafile
        certfile = _pem_file(props, "keystore", where)
        if certfile is not None:
            kwargs["ssl_certfile"] = certfile
            if "ssl.key.password" in props:
                kwargs["ssl_password"] = props["ssl.key.password"]
        elif "ssl.key.password" in props:
            raise ConfigError(f"{where}: ssl.key.password set without ssl.keystore.location")
    else:
        extra = sorted(k for k in props if k.startswith("ssl."))
        if extra:
            raise ConfigError(f"{where}: {', '.join(extra)} set, but security.protocol "
                              f"{protocol} does not use TLS")  # fmt: skip
    return kwargs


def read_client_config(path: str | os.PathLike[str]) -> ClientSettings:
    """The settings of a ``client.properties`` file (:class:`ConfigError` when it can't
    be honoured, naming the key and never a value)."""
    where = f"client config {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{where}: can't read it ({exc.strerror}): pass --client-config "
            f"or ${ENV_VAR} the path of a client.properties file"
        ) from None
    props, supplied = _resolve(parse_properties(text), where)
    kwargs = _kwargs(props, where)
    secrets = set(supplied)
    secrets.update(v for k, v in props.items() if k in _SECRET_KEYS)
    if "sasl_plain_password" in kwargs:
        secrets.add(kwargs["sasl_plain_password"])
    return ClientSettings(str(path), kwargs, frozenset(s for s in secrets if s))


# --- the settings in force ------------------------------------------------------------------

_active: ClientSettings | None = None


def use_client_config(path: str | os.PathLike[str] | None) -> ClientSettings:
    """Make the file at ``path`` (None: ``$KAFKA_CLIENT_CONFIG``, or none) the settings of
    every client this process makes, and of the processes it starts."""
    global _active
    if path is None:
        path = os.environ.get(ENV_VAR) or None
    if path is None:
        _active = ClientSettings()
        return _active
    _active = read_client_config(path)
    os.environ[ENV_VAR] = str(Path(path).resolve())
    return _active


def client_settings() -> ClientSettings:
    """The settings in force (read from ``$KAFKA_CLIENT_CONFIG`` on first use)."""
    return _active if _active is not None else use_client_config(None)


def redact(text: str, settings: ClientSettings | None = None) -> str:
    """``text`` with every secret of the settings in force masked."""
    secrets = (settings or _active or ClientSettings()).secrets
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "******")
    return text


def secured(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` (kafka-python arguments) with the settings in force added."""
    return {**config, **client_settings().kwargs}
