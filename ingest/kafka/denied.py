"""Kafka's refusals in one line: kafka-python's authentication and authorisation errors, and
a broker certificate that failed TLS verification, as :class:`~ingest.errors.AccessDenied`.

The one place that knows which kafka-python exceptions mean "refused" (:data:`REFUSALS`).
:func:`as_access_denied` looks through an exception, what caused it and what it wraps, and
names what was refused: the topics, the consumer group or the transactional id when the
exception carries them, the SASL mechanism for an authentication, the host for a
certificate. The CLI turns what it returns into one line and exit status 77.

kafka-python 3.0.12 reports a failed SASL handshake or TLS verification during its bootstrap
only in its log, then gives up with ``KafkaTimeoutError("Unable to bootstrap ...")``: such a
failure reaches datamoat as an unreachable broker unless the caller finds the refusal itself.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator

from kafka import errors as kafka_errors

from ingest.errors import AccessDenied

#: ``kafka_errors`` is kafka-python's exception module, for the tests that raise its refusals
#: (only ``ingest/kafka/`` imports ``kafka``).
__all__ = ["REFUSALS", "as_access_denied", "kafka_errors"]

#: kafka-python's exceptions that mean the cluster refused this client. ``AuthorizationError``
#: is the base of the topic, group, cluster, transactional id and delegation token ones.
REFUSALS: tuple[type[Exception], ...] = (
    kafka_errors.AuthorizationError,
    kafka_errors.SaslAuthenticationFailedError,
    kafka_errors.UnsupportedSaslMechanismError,
)

#: The SASL mechanisms Kafka knows, as they appear in its messages.
_MECHANISM = re.compile(r"\b(PLAIN|SCRAM-SHA-256|SCRAM-SHA-512|GSSAPI|OAUTHBEARER)\b")
#: What OpenSSL says of a certificate issued for other names than the one asked for.
_NOT_VALID_FOR = re.compile(r"certificate is not valid for '([^']+)'")
#: OpenSSL's reason in the text of an ``SSLCertVerificationError`` made by hand.
_VERIFY_FAILED = re.compile(r"certificate verify failed: (.*?)(?: \(_ssl\.c:\d+\))?$")
#: The name of an error class at the start of a message ("SaslAuthenticationFailedError: ").
_ERROR_NAME = re.compile(r"^[A-Za-z]+Error: ")
_ACLS = "grant this client's principal access (Kafka ACLs) or use credentials that have it"


def as_access_denied(
    exc: BaseException, *, host: str | None = None, mechanism: str | None = None
) -> AccessDenied | None:
    """The :class:`AccessDenied` that ``exc`` amounts to, or None when it is no refusal.

    ``exc`` itself, its cause and context, and the exceptions it wraps (kafka-python wraps
    socket errors in ``KafkaConnectionError``) are searched. ``host`` (the broker asked) and
    ``mechanism`` (the configured SASL mechanism) complete the line when the exception does
    not say them."""
    for found in exception_chain(exc):
        if isinstance(found, AccessDenied):
            return found
        if isinstance(found, REFUSALS):
            return AccessDenied(_refusal(found, mechanism))
        if isinstance(found, ssl.SSLCertVerificationError):
            return AccessDenied(_certificate(found, host))
    return None


def exception_chain(exc: BaseException, limit: int = 32) -> Iterator[BaseException]:
    """``exc``, then breadth first what caused it, its context (unless suppressed) and the
    exceptions among its arguments; each once, at most ``limit``."""
    todo, seen = [exc], set[int]()
    while todo and len(seen) < limit:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        context = None if current.__suppress_context__ else current.__context__
        linked = (current.__cause__, context, *current.args)
        todo.extend(e for e in linked if isinstance(e, BaseException))


def _refusal(exc: BaseException, mechanism: str | None) -> str:
    detail = _detail(exc)
    if isinstance(exc, kafka_errors.TopicAuthorizationFailedError):
        topics = _names(exc)
        what = f"topic {topics}" if topics else "a topic"
        return f"Kafka refused access to {what} (not authorised): {_ACLS}"
    if isinstance(exc, kafka_errors.GroupAuthorizationFailedError):
        group = _names(exc)
        what = f"consumer group {group}" if group else "the consumer group"
        return f"Kafka refused access to {what} (not authorised): {_ACLS}"
    if isinstance(exc, kafka_errors.TransactionalIdAuthorizationFailedError):
        tid = _names(exc)
        what = f"transactional id {tid}" if tid else "this client's transactional id"
        return f"Kafka refused {what} (not authorised): {_ACLS}"
    if isinstance(exc, kafka_errors.ClusterAuthorizationFailedError):
        said = f": {detail}" if detail else ""
        return f"Kafka refused a cluster operation (not authorised{said}): {_ACLS}"
    if isinstance(exc, kafka_errors.AuthorizationError):
        said = f": {detail}" if detail else ""
        return f"Kafka refused the request (not authorised{said}): {_ACLS}"
    found = _MECHANISM.search(detail)
    how = found.group(1) if found else mechanism
    via = f"SASL {how}" if how else "SASL"
    said = "" if not detail or detail.startswith("Failed to authenticate") else f": {detail}"
    return (
        f"Kafka authentication failed ({via}{said}): check the user name, password and "
        "sasl.mechanism of the client config"
    )


def _names(exc: BaseException) -> str:
    """The topic, group or id names an authorisation error carries, comma-separated."""
    names: list[str] = []
    for arg in exc.args:
        if isinstance(arg, str):
            names.append(arg)
        elif isinstance(arg, set | frozenset | list | tuple):
            names.extend(sorted(str(name) for name in arg))
    return ", ".join(names)


def _detail(exc: BaseException) -> str:
    """What the exception says beyond its class, on one line (kafka-python repeats the name
    of the broker's error class in some messages: left out)."""
    text = " ".join(str(arg) for arg in exc.args if not isinstance(arg, BaseException))
    return _ERROR_NAME.sub("", " ".join(text.split()))


def _certificate(exc: ssl.SSLCertVerificationError, host: str | None) -> str:
    said = getattr(exc, "verify_message", None)  # set by the ssl module's handshake
    if not said:
        texts = [arg for arg in exc.args if isinstance(arg, str)]
        found = _VERIFY_FAILED.search(texts[-1]) if texts else None
        said = found.group(1) if found else "certificate verify failed"
    said = str(said).rstrip(".")
    named = _NOT_VALID_FOR.search(said)
    where = named.group(1) if named else host
    of = f"the certificate of {where}" if where else "the broker's certificate"
    fix = (
        "give --bootstrap a host name the certificate is issued for"
        if named
        else "trust the CA that signed it (ssl.truststore.location in the client config)"
    )
    return f"TLS verification of {of} failed ({said}): {fix}"
