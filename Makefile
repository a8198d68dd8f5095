# The two commands of the quick start: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: run test lint format bench peers clean

$(BIN)/mailserver: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
	  { echo "mailserver needs Python 3.11 or newer as $(PYTHON) (make PYTHON=python3.11 ...)" >&2; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "$(PYTHON) -m venv failed: on Debian, apt-get install python3-venv" >&2; exit 1; }
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Start the stack on the embedded default: SQLite directory, Maildir store,
# generated certificate, all under ./var, on unprivileged ports.
run: $(BIN)/mailserver
	$(BIN)/mailserver serve

# The Debian packages of the real peers the integration tests talk to.
peers:
	deploy/install-test-peers.sh

test: $(BIN)/mailserver peers
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: $(BIN)/mailserver
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(BIN)/mailserver
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(BIN)/mailserver peers
	$(BIN)/python bench/smtp_submit.py
	$(BIN)/python bench/imap_load.py
	$(BIN)/python bench/store_open.py
	$(BIN)/python bench/auth.py
	$(BIN)/python bench/list_fairness.py
	$(BIN)/python bench/literal_memory.py
	$(BIN)/python bench/login_timing.py

clean:
	rm -rf $(VENV) .pytest_cache
