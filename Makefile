# datamoat: `make run` (the main job) and `make test` (lint, types and the whole suite).
# Both create .venv/ when it is missing and fetch what they need (Python packages, Kafka jars).

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DATAMOAT := $(VENV)/bin/datamoat
STAMP := $(VENV)/.installed-stamp
RATE ?= 1157
DURATION ?=
ARGS ?=

.PHONY: run test lint typecheck unit integration bench kafka-jars venv clean help

help:
	@echo "make run [RATE=1157] [DURATION=seconds]  the firehose and a worker on a local Kafka"
	@echo "make test                                lint, types, unit and integration tests"
	@echo "make bench                               the benchmarks (figures for BENCHMARKS.md)"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

kafka-jars: $(STAMP)
	$(DATAMOAT) broker fetch

run: $(STAMP) kafka-jars
	$(DATAMOAT) run --rate $(RATE) $(if $(DURATION),--duration $(DURATION)) $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest tests/unit

integration: $(STAMP) kafka-jars
	$(PY) -m pytest tests/integration

test: $(STAMP) kafka-jars lint typecheck
	$(PY) -m pytest

bench: $(STAMP) kafka-jars
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
	$(DATAMOAT) bench --mode drain --transport memory --posts 300000 \
		--report-dir out/bench/drain-memory --update-benchmarks BENCHMARKS.md
	$(DATAMOAT) bench --mode fixed --rate 1157 --duration 60 --report-dir out/bench/fixed-kafka \
		--update-benchmarks BENCHMARKS.md
	$(DATAMOAT) bench --mode max --report-dir out/bench/max-kafka --update-benchmarks BENCHMARKS.md

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache out
