# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
# Each creates .venv if it is missing, installs the project (fast when already installed),
# fetches MNIST, then runs the default study or the whole test suite.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.finn-dse-installed
STUDY ?= studies/tfc_mnist.yaml

.PHONY: run test install data browser services clean-runs

run: data
	$(VENV)/bin/finn-dse run $(STUDY)

test: data browser services
	$(PY) -m pytest

browser:
	@bash scripts/install-browser.sh

# The tests of shared studies need a PostgreSQL server and a single-node Slurm cluster (with
# accounting): these scripts install (Debian, as root) and start them, bound to 127.0.0.1; when
# they are already up, they only check (under a second). `make run` needs neither.
services:
	@bash scripts/services/postgres.sh
	@bash scripts/services/slurm.sh

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "finn-dse needs Python >= 3.11; set PYTHON=python3.11")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet --progress-bar off -e '.[test]'
	@touch $(STAMP)

data: install
	$(VENV)/bin/finn-dse fetch-data
	@bash scripts/install-datasets.sh

clean-runs:
	rm -rf runs
