# The two commands: `make demo` and `make test`. Each creates .venv if missing and
# installs what it needs, so both work on a clean clone.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= out
MEMBERS ?= 20000
DATA   ?=
PILOT  ?= chronic-pain:share=0.1,start=2024-07-01,readmissions=-0.18,opioid_fills=-0.22,ed_visits=-0.15,promis_physical_t=+3

.PHONY: demo test lint typecheck pytest spark-test bench docs java clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev,api]"
	touch $@ $(VENV)/.installed-run

## demo: the main job end to end on the embedded default: generate a synthetic population of
## $(MEMBERS) members with a pilot of known effect, ingest it, write $(OUT)/report.html
## (`make demo DATA=path` runs it on your data instead: input-layer files, FHIR R4 bundles or
## Bulk Data NDJSON, a Synthea CSV export or DE-SynPUF files; the format is detected)
demo: $(VENV)/.installed-run
ifeq ($(strip $(DATA)),)
	$(BIN)/medsynergy generate --members $(MEMBERS) --years 2023-2025 --seed 1 \
	  --out $(OUT)/synthetic --pilot "$(PILOT)"
	$(BIN)/medsynergy demo --data $(OUT)/synthetic --out $(OUT)
else
	$(BIN)/medsynergy demo --data "$(DATA)" --out $(OUT)
endif

## bench: performance budgets, measured (wall time, peak memory, ratio to a lower bound):
## every stage of the main job at 10k, 100k and 1M member-years (benchmarks/results.md),
## the generator against its lower bound, and FHIR ingest (`make bench SIZES=10k,100k`)
SIZES ?= 10k,100k,1M
bench: $(VENV)/.installed-run
	$(BIN)/python benchmarks/scale.py --sizes $(SIZES) --out $(OUT)/bench
	$(BIN)/python benchmarks/generate.py --out $(OUT)/bench
	$(BIN)/python benchmarks/fhir.py --out $(OUT)/bench

## test: lint, type-check and the whole test suite (Spark tests included)
test: $(VENV)/.installed-dev java lint typecheck pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# pytest exits 5 when it collects no test: treat that as a failure of the suite, loudly.
pytest: $(VENV)/.installed-dev java
	$(BIN)/python -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; fi; exit $$rc

spark-test: $(VENV)/.installed-dev java
	$(BIN)/python -m pytest -m spark

# PySpark needs a Java 17+ runtime; install Debian's when the machine has none.
java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "installing a Java runtime for PySpark"; \
	  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless >/dev/null; }

## docs: regenerate docs/schema.md from the schema definitions
docs: $(VENV)/.installed-run
	$(BIN)/python -m medsynergy.schema.docs > docs/schema.md

clean:
	rm -rf $(OUT) .pytest_cache .mypy_cache .ruff_cache
