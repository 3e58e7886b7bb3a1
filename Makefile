# datamoat: `make run` (the main job) and `make test` (lint, types and the whole suite).
# Both create .venv/ when it is missing and fetch what they need (Python packages, Kafka jars).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DATAMOAT := $(VENV)/bin/datamoat
STAMP := $(VENV)/.installed-stamp
PEERS_STAMP := $(VENV)/.peers-stamp
RATE ?= 1157
DURATION ?=
ARGS ?=
WORKERS ?= 1
POSTS ?= 200000
SEED ?= 7
# Test processes for `make test` (pytest-xdist): each integration process starts its own broker.
# The tests mostly wait on brokers and paced streams, so four share two cores (pytest took
# 620-695 s with four in three fresh-clone runs, 643-718 s with three: about the same).
TEST_PROCS ?= 4

.PHONY: run test test-tools lint typecheck unit integration bench kafka-jars venv clean help \
	compose-images compose-test compose-scale moat

help:
	@echo "make run [RATE=1157] [DURATION=seconds]  the firehose and a worker on a local Kafka"
	@echo "make test                                lint, types, unit and integration tests"
	@echo "make bench                               the benchmarks (figures for BENCHMARKS.md)"
	@echo "make moat                                every moat experiment: docs/moat and README"
	@echo "make compose-images                      offline images for docker-compose (root)"
	@echo "make compose-test [WORKERS=1] [POSTS=200000] [SEED=7]"
	@echo "make compose-scale [ARGS='--cpus 0.1 --rounds 1']  the scaling curve, 1-4 capped workers (root)"
	@echo "                                         a seeded run of the compose cluster (root)"

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,reports]'
	@touch $@

# Quix Streams and Bytewax, which `datamoat bench --peers` compares with (tests and bench).
$(PEERS_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[peers]'
	@touch $@

kafka-jars: $(STAMP)
	$(DATAMOAT) broker fetch

# No jars fetched here: `datamoat run` fetches them itself (Maven, Java) only when it has to
# start a local broker, so ARGS="--transport memory" or a broker answering at --bootstrap
# ($KAFKA_BOOTSTRAP) needs no Java.
run: $(STAMP)
	$(DATAMOAT) run --rate $(RATE) $(if $(DURATION),--duration $(DURATION)) $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP) $(PEERS_STAMP) kafka-jars
	$(PY) -m pytest tests/integration

# The tools the suite drives (promtool, Chromium, Docker, Compose v2), before any test runs.
test-tools:
	docker/test-tools.sh

test: $(STAMP) $(PEERS_STAMP) kafka-jars lint typecheck test-tools
	$(PY) -m pytest -n $(TEST_PROCS) --dist loadfile --durations=25

# Everything docs/moat/ and the README's moat table show, from one command (no broker).
moat: $(STAMP)
	$(DATAMOAT) moat --sweep all --report-dir docs/moat --update-readme README.md

bench: $(STAMP) $(PEERS_STAMP) kafka-jars
	$(PY) tests/benchmark/bench_firehose.py
	$(PY) tests/benchmark/bench_decode.py
	$(PY) tests/benchmark/bench_sentiment.py
	$(PY) tests/benchmark/bench_cascades.py
	$(PY) tests/benchmark/bench_trends.py
	$(PY) tests/benchmark/bench_process.py
	$(PY) tests/benchmark/bench_producer.py
	$(PY) tests/benchmark/bench_fetch.py
	$(DATAMOAT) bench --mode drain --posts 300000 --report-dir out/bench/drain-kafka \
		--update-benchmarks BENCHMARKS.md
	$(DATAMOAT) bench --mode drain --posts 300000 --peers --rounds 3 \
		--report-dir out/bench/drain-kafka-peers --update-benchmarks BENCHMARKS.md
	$(DATAMOAT) bench --mode drain --transport memory --posts 300000 \
		--report-dir out/bench/drain-memory --update-benchmarks BENCHMARKS.md
	$(DATAMOAT) bench --mode fixed --rate 1157 --duration 60 --report-dir out/bench/fixed-kafka \
		--update-benchmarks BENCHMARKS.md
	$(DATAMOAT) bench --mode fixed --unpaced --posts 300000 --report-dir out/bench/e2e-kafka \
		--update-benchmarks BENCHMARKS.md
	$(DATAMOAT) bench --mode fixed --unpaced --transport memory --posts 300000 \
		--report-dir out/bench/e2e-memory --update-benchmarks BENCHMARKS.md
	$(DATAMOAT) bench --mode max --report-dir out/bench/max-kafka --update-benchmarks BENCHMARKS.md

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache out

# The docker-compose cluster without an image registry (root): Docker Engine (docker.io) and a
# dockerd of our own when none runs, Compose v2 built from the Go module proxy, a debootstrap'ed
# Debian base and the offline images. Each step is skipped when already done.
compose-images: $(STAMP) kafka-jars
	@started=$$(docker/engine.sh start) && docker/compose-cli.sh && docker/images.sh; \
	rc=$$?; if [ "$$started" = started ]; then docker/engine.sh stop; fi; exit $$rc

# A bounded seeded run: signals Parquet in out/compose/signals/, summary in out/compose/summary.json.
compose-test: $(STAMP) kafka-jars
	$(PY) -m tests.support.compose --workers $(WORKERS) --posts $(POSTS) --seed $(SEED) \
		--out out/compose $(ARGS)

# The scaling curve: 1-4 workers each capped by compose's cpus:, one 12-partition topic.
compose-scale: $(STAMP) kafka-jars
	$(PY) -m tests.support.compose_scale --out out/scale $(ARGS)
