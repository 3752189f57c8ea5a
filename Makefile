# The README's two commands are `make demo` and `make test`; both run `make setup` first, which is
# idempotent: a virtualenv with the package, the JVM jars from conf/jvm/ (Spark's connectors, the Kafka
# broker, the S3 server), and kcat for broker checks.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
NEARDUP := $(VENV)/bin/neardup
JARS := .cache/jars
MVN := mvn -q -B
PYTEST_ARGS ?=
# Debian packages that ship photos (bench/corpus.py), unpacked into .cache/corpus, not installed.
CORPUS := .cache/corpus
CORPUS_PACKAGES := gcompris-qt-data kphotoalbum palapeli-data mate-backgrounds lomiri-wallpapers-16.04

.PHONY: setup demo test lint check bench clean

setup: $(VENV)/.installed $(JARS)/.resolved tools

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e ".[dev]"
	touch $@

$(JARS)/.resolved: conf/jvm/spark/pom.xml conf/jvm/kafka/pom.xml conf/jvm/s3/pom.xml
	rm -rf $(JARS)/spark $(JARS)/kafka $(JARS)/s3
	$(MVN) -f conf/jvm/spark/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(JARS)/spark
	$(MVN) -f conf/jvm/kafka/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(JARS)/kafka
	$(MVN) -f conf/jvm/s3/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(JARS)/s3
	touch $@

# kcat is the independent Kafka client the tests check the broker with; docker-compose (Debian's) parses
# docker/compose.yaml in the tests where the docker CLI has no compose plugin; chromium is the browser
# the review page's tests drive (through Playwright, which downloads no browser of its own).
tools:
	@command -v kcat >/dev/null || { apt-get update -qq && apt-get install -y -qq kcat >/dev/null; }
	@command -v chromium >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }
	@docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null || \
		{ apt-get update -qq && apt-get install -y -qq docker-compose >/dev/null; }

.PHONY: tools

demo: setup
	$(PY) -m streaming.demo

# What CI runs: the static checks (lint), then the whole suite.
test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

# The benchmark-only packages (imgdd, faiss-cpu, s3fs) and the photos of bench/corpus.py;
# each benchmark is then one command.
bench: setup $(CORPUS)/.unpacked
	$(VENV)/bin/pip install -q -e ".[dev,bench]"
	@echo "run: $(PY) -m bench.hashing | bench.robustness | bench.match | bench.stream | bench.cluster | bench.layout | bench.sources | bench.refresh | bench.restart (see docs/)"

$(CORPUS)/.unpacked:
	mkdir -p $(CORPUS)/debs
	cd $(CORPUS)/debs && { apt-get download -qq $(CORPUS_PACKAGES) 2>/dev/null || \
		{ apt-get update -qq && apt-get download -qq $(CORPUS_PACKAGES); }; }
	for deb in $(CORPUS)/debs/*.deb; do dpkg-deb -x $$deb $(CORPUS)/root; done
	touch $@

# ruff (style, imports, complexity at most 10), its formatter's check, and mypy on streaming/ (every def
# annotated); settings in pyproject.toml.
lint: setup
	$(VENV)/bin/ruff check streaming tests bench
	$(VENV)/bin/ruff format --check streaming tests bench
	$(VENV)/bin/mypy

check: lint

clean:
	-$(NEARDUP) kafka stop
	-$(NEARDUP) s3 stop
	rm -rf .state demo-out
