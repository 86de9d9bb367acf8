# prism_dagster: `make demo` installs everything and runs the demo; `make test` runs every test.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

AZURITE := node_modules/.bin/azurite-blob

.PHONY: install demo test lint format dev bench clean postgres browser

# Reinstall whenever the pinned dependencies change.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Azurite (the Azure Blob emulator the tests start) comes from npm, pinned by package-lock.json.
$(AZURITE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(AZURITE)

# The PostgreSQL tests start their own server from Debian's postgresql package.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; \
	fi

# The browser smoke test drives Debian's chromium with Playwright (whose own browser download
# is not reachable): never `playwright install`.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	fi

install: $(STAMP) $(AZURITE) postgres browser

demo: $(STAMP)
	$(BIN)/prism-dagster demo

lint: $(STAMP)
	$(BIN)/ruff check prism_dagster prism_dagster_tests benchmarks
	$(BIN)/ruff format --check prism_dagster prism_dagster_tests benchmarks

format: $(STAMP)
	$(BIN)/ruff check --fix prism_dagster prism_dagster_tests benchmarks
	$(BIN)/ruff format prism_dagster prism_dagster_tests benchmarks

test: lint $(AZURITE) postgres browser
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest

# The Dagster UI on http://127.0.0.1:3000, with the demo's runs (same DAGSTER_HOME).
dev: $(STAMP)
	mkdir -p .prism/dagster_home && touch .prism/dagster_home/dagster.yaml
	DAGSTER_HOME="$(CURDIR)/.prism/dagster_home" $(BIN)/dagster dev -w workspace.yaml

# About 20 minutes on 2 cores: the write path, PostgreSQL, end to end, 5M-row hours.
bench: $(STAMP) postgres
	$(BIN)/python benchmarks/bench_write.py
	$(BIN)/python benchmarks/bench_postgres.py
	$(BIN)/python benchmarks/bench_end_to_end.py
	$(BIN)/python benchmarks/bench_large_hour.py
	$(BIN)/python benchmarks/bench_integrity.py

clean:
	rm -rf $(VENV) node_modules .prism prism.yaml .pytest_cache .ruff_cache
