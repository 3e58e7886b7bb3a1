"""Why a Kafka client could not connect: a wrong password, a certificate, or a protocol
mismatch, told apart from a broker that is simply not there.

kafka-python retries a failed bootstrap until its timeout and then reports only that it
could not bootstrap; the reason is in the exceptions it logs on the way. :func:`witnessed`
keeps those (by type, never by their text), and :func:`explain` turns them into the error a
user can act on: :class:`~ingest.errors.AccessDenied` (exit 77) for credentials and
certificates, or a :class:`~ingest.errors.BrokerUnreachable` line (exit 69) that says
which protocol the port speaks when it is not the one configured.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from collections.abc import Iterator
from typing import Any

from kafka.errors import KafkaError

from ingest.errors import AccessDenied, BrokerUnreachable, ConfigError
from ingest.kafka.client_config import ClientSettings, client_settings
from ingest.kafka.denied import as_access_denied, exception_chain

__all__ = [
    "explain",
    "listens",
    "lost_broker",
    "peer_names",
    "protocol_hint",
    "speaks_tls",
    "witnessed",
]


class _Witness(logging.Handler):
    """Keeps the exceptions kafka-python logs (as arguments of its log calls)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        args = record.args if isinstance(record.args, tuple) else ()
        self.seen.extend(a for a in args if isinstance(a, BaseException))
        if record.exc_info and record.exc_info[1] is not None:
            self.seen.append(record.exc_info[1])


@contextlib.contextmanager
def witnessed() -> Iterator[list[BaseException]]:
    """The exceptions kafka-python logs inside the block, in order."""
    witness, logger = _Witness(), logging.getLogger("kafka")
    logger.addHandler(witness)
    try:
        yield witness.seen
    finally:
        logger.removeHandler(witness)


def lost_broker(exc: BaseException) -> bool:
    """Whether ``exc`` says that the cluster did not answer (a client that could not
    bootstrap, a request that timed out, a node that dropped the connection), which waiting
    may change: kafka-python's retriable errors and :class:`BrokerUnreachable`, found in
    ``exc`` or in what it wraps. A refusal (:class:`AccessDenied`), a bad setting or a missing
    topic is not: waiting would not change its answer."""
    if isinstance(exc, ConfigError) or as_access_denied(exc) is not None:
        return False
    for found in exception_chain(exc):
        if isinstance(found, BrokerUnreachable):
            return True
        if isinstance(found, KafkaError) and found.retriable:
            return True
    return False


#: OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_MISMATCH_CODES = (62, 64)


def _host_port(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    return host.strip("[]"), int(port)


def explain(bootstrap: str, seen: list[BaseException]) -> AccessDenied | None:
    """The refusal among ``seen`` (:func:`ingest.kafka.denied.as_access_denied`), as one
    line; a certificate issued for other names says which (None: nothing was refused)."""
    settings = client_settings()
    host, port = _host_port(bootstrap)
    for exc in seen:
        denied = as_access_denied(exc, host=host, mechanism=settings.kwargs.get("sasl_mechanism"))
        if denied is None:
            continue
        mismatch = any(
            isinstance(link, ssl.SSLCertVerificationError) and link.verify_code in _MISMATCH_CODES
            for link in exception_chain(exc)
        )
        names = peer_names(host, port, settings) if mismatch else []
        if names:
            return AccessDenied(f"{denied} (it is issued for {', '.join(names)})")
        return denied
    return None


def _context(settings: ClientSettings, verify: bool) -> ssl.SSLContext:
    k = settings.kwargs
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    if not verify:
        ctx.verify_mode = ssl.CERT_NONE
    elif k.get("ssl_cafile"):
        ctx.load_verify_locations(k["ssl_cafile"])
    else:
        ctx.load_default_certs()
    if k.get("ssl_certfile"):
        ctx.load_cert_chain(k["ssl_certfile"], password=k.get("ssl_password"))
    return ctx


def peer_names(host: str, port: int, settings: ClientSettings, timeout_s: float = 5.0) -> list[str]:
    """The names in the certificate the broker at ``host:port`` presents (its subject
    alternative names, else its common name); empty when it can't be read."""
    try:
        raw = socket.create_connection((host, port), timeout=timeout_s)
        with raw, _context(settings, verify=True).wrap_socket(raw) as tls:
            cert: dict[str, Any] = dict(tls.getpeercert() or {})
    except (OSError, ValueError):
        return []
    names = [str(pair[1]) for pair in cert.get("subjectAltName", ())]
    if not names:
        subject = cert.get("subject", ())
        names = [str(pair[1]) for rdn in subject for pair in rdn if pair[0] == "commonName"]
    return names


def listens(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """Does anything accept connections at the first address of ``bootstrap``?"""
    try:
        host, port = _host_port(bootstrap)
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def speaks_tls(host: str, port: int, timeout_s: float = 3.0) -> bool | None:
    """Does the port at ``host:port`` answer a TLS handshake? (None: nothing listens.)"""
    try:
        raw = socket.create_connection((host, port), timeout=timeout_s)
    except OSError:
        return None
    try:
        with _context(ClientSettings(), verify=False).wrap_socket(raw) as tls:
            tls.do_handshake()
        return True
    except (ssl.SSLError, OSError):
        return False
    finally:
        raw.close()


def protocol_hint(bootstrap: str) -> str:
    """A clause on why a reachable port gave no Kafka answer ("" when nothing listens or
    the protocols agree)."""
    try:
        host, port = _host_port(bootstrap)
    except ValueError:
        return ""
    tls = speaks_tls(host, port)
    if tls is None:
        return ""
    configured = client_settings().protocol
    if tls and not configured.endswith("SSL"):
        return (
            f"; {host}:{port} answers in TLS, but the client speaks {configured}: a likely "
            "protocol mismatch (set security.protocol=SSL or SASL_SSL in --client-config)"
        )
    if not tls and configured.endswith("SSL"):
        return (f"; {host}:{port} does not answer in TLS, but the client speaks {configured}: a "
                "likely protocol mismatch (is this a PLAINTEXT listener?)")  # fmt: skip
    return ""
