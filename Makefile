# MBO: the two commands are `make demo` and `make test`; both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-ui test-upgrade dev bench lint mutants install clean db-stop

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "MBO needs Python 3.11 or newer: run `make PYTHON=python3.11 ...`")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when the dependencies change.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/mbo demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Only the real-browser tests (tests/ui, marked `ui`): headless Chromium driven by Playwright. Playwright cannot
# download its own browser offline, so Debian's chromium is installed when missing (as root; otherwise say how).
test-ui: $(STAMP)
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || [ -n "$$MBO_CHROMIUM" ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "make test-ui needs Chromium: run 'sudo apt-get install chromium' (or set MBO_CHROMIUM to a Chromium binary)" >&2; \
	    exit 1; \
	  fi; }
	$(BIN)/python -m pytest -m ui tests/ui

# The upgrade of a previous MBO's home (tests/security/test_upgrade_legacy_home.py): a system run of two real demos
# (about two minutes), kept out of `make test`, which collects it skipped.
test-upgrade: $(STAMP)
	MBO_UPGRADE_TEST=1 $(BIN)/python -m pytest tests/security/test_upgrade_legacy_home.py

# The Dagster UI on http://127.0.0.1:3000; `make dev PORT=3001 HOST=...` picks another port or address. Only
# make's command line counts: a PORT or HOST your shell exports (HOST is often the machine's name) is ignored.
dev: $(STAMP)
	$(BIN)/mbo dev$(if $(filter command line,$(origin PORT)), --port $(PORT))$(if $(filter command line,$(origin HOST)), --host $(HOST))

bench: $(STAMP)
	$(BIN)/python -m bench

# Plant each known-plausible bug in a scratch copy and check the suite catches it (tests/mutation/).
mutants: $(STAMP)
	$(BIN)/python -m tests.mutation $(MUTANTS_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check mbo_pipelines optimizer bench tests

db-stop:
	-$(BIN)/mbo db stop

clean: db-stop
	rm -rf $(VENV) dbt_project/target dbt_project/logs
