# Two commands on a fresh machine with Python 3.11 and make:
#   make run   install into .venv and serve on http://127.0.0.1:8080 (embedded PostgreSQL)
#   make test  install with the dev extras and run the test suite
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint install install-dev typecheck bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The browser test drives Debian's chromium (Playwright never downloads a browser here).
install-dev: $(VENV)/.installed-dev /usr/bin/chromium

/usr/bin/chromium:
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium

run: install
	$(BIN)/agent-server serve --demo

# Four workers on two CPUs: most of a test's time is spent waiting (real sockets, calls in real
# time, subprocesses), so more workers than cores fill them; each starts its own embedded
# PostgreSQL. With 1,650 tests, three workers took 9 min 7 s of pytest (10 min 29 s with the
# install), over the 10-minute budget.
test: install-dev
	$(BIN)/python -m pytest -q -n 4

typecheck: install-dev
	$(BIN)/mypy

# The layer contracts in pyproject.toml ([tool.importlinter]) and mypy --strict.
lint: install-dev
	$(BIN)/lint-imports
	$(BIN)/mypy

# Quick runs of every bench script (a few minutes; figures and full commands: README, Performance).
bench: install-dev
	$(BIN)/python bench/calls.py --calls 20
	$(BIN)/python bench/scale.py --mode core --steps 10,25 --min-plateau-s 0 --max-seconds 120
	$(BIN)/python bench/nginx_calls.py --calls 10
	$(BIN)/python bench/api.py --connections 8 --duration 3
	$(BIN)/python bench/money_sim.py --seeds 3

# The API fuzz test with ten times the suite's generated requests per operation (about 10 minutes).
fuzz: install-dev
	AGENT_FUZZ_EXAMPLES=1000 $(BIN)/python -m pytest -q -p no:timeout tests/agent_server/api/test_api_fuzz.py

clean:
	rm -rf $(VENV) .data
