"""What the tests share, in one package: fixtures and hooks are pytest plugins (registered in
``tests/conftest.py``), helpers are imported from here (``from tests.support.pipelines import
cli``).

- ``kafka``: the session's broker, per-test topics and environments (fixtures), and the
  collection check that a test using them carries ``pytest.mark.kafka``.
- ``pipelines``: run ``datamoat`` commands, read their signals and dead letters, compare with
  the truth.
- ``live``: the tools of the live tests (Prometheus, Chromium), a ``datamoat run`` in a
  subprocess, bounded waits.
- ``compose``: drive the docker-compose cluster (also ``make compose-test``);
  ``compose_probe`` runs inside one of its containers.
- ``promql``: metric names in PromQL and on /metrics.
- ``cascades``: hand-made cascade frames; ``common``: constants.
"""
