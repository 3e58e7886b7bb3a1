"""Suite-wide: the shared fixtures and hooks (``tests/support``, registered as plugins, so that
pytest rewrites their asserts too).

Under pytest-xdist (``make test``: ``-n 4 --dist loadfile``: each file in one process, so a
module's fixtures run once) the files are handed out in xdist's order, those with the most
tests first, which puts the single-test fault runs near the end. An order with the longest
files first was tried: it started the compose cluster beside the three-node fault runs, and
the cluster starved (its broker timed out a transaction, Docker's DNS stopped answering
Prometheus) in a fresh-clone run; on the suite's own times it would have ended 26 s sooner.
"""

from __future__ import annotations

pytest_plugins = [
    "tests.support.kafka",
    "tests.support.live",
    "tests.support.pipelines",
    "tests.support.cascades",
    "tests.support.promql",
]
