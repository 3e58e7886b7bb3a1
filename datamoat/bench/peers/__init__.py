"""Peer stream processors on datamoat's workload, for ``datamoat bench --mode drain --peers``.

Each peer is written the way its own documentation shows, and computes the part of the
signal set that all three systems can be checked on: per 10 s event-time tumbling window,
per key (each distinct non-empty hashtag of a post, and ``*`` for every post), the number of
posts and the mean VADER compound of the English posts. Sentiment is vaderSentiment's
``SentimentIntensityAnalyzer`` per record (the reference datamoat's vectorised scorer is
bit-identical to), so the means agree to 1e-9 when the windows hold the same posts.

- :mod:`.quix`: Quix Streams (``app.dataframe`` → ``apply`` → ``group_by`` → tumbling window
  ``agg(Count, Mean)``). Quix closes a window only when a later record arrives, so at the
  end of a bounded input its last windows never close: it emits ``.current()`` and the sink
  keeps each window's newest value, which is its flushed result.
- :mod:`.bytewax_flow`: Bytewax (``kafka.input`` → ``flat_map`` → ``fold_window`` with an
  ``EventClock`` and a ``TumblingWindower``); its Kafka source ends at the end of each
  partition, which closes every window.

Both run as ``python -m datamoat.bench.peers.<name>`` with the options of :func:`.common.
peer_args`, write their rows as NDJSON and report the records they dropped as late
(:func:`.common.write_late`; none may be). Each module's docstring names the documentation
page each of its settings follows. They need the ``peers`` extra
(``pip install -e '.[peers]'``).
"""
