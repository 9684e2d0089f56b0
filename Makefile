# Setup is idempotent: each venv is rebuilt only when its requirements change (stamp files).
PYTHON ?= python3
VENV := .venv
CHECKOV_VENV := .venv-checkov

.PHONY: setup preview test bench
setup: $(VENV)/.stamp $(CHECKOV_VENV)/.stamp redis-server

$(VENV)/.stamp: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[test,bench]'
	touch $@

# The checkov venv imports our rule catalog (no deps: policies/ must import without Pulumi there).
$(CHECKOV_VENV)/.stamp: requirements-checkov.txt pyproject.toml
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check -r requirements-checkov.txt
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

# A real redis-server (Debian package) for the session-store config test.
.PHONY: redis-server
redis-server:
	@command -v redis-server >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; }

# Main job: the reference stack through the gate.
preview: setup
	$(VENV)/bin/stateless-pack preview .

test: setup
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

# The gate at scale, 10 to 5,000 resources (about 10 minutes): writes bench/results.md.
bench: setup
	$(VENV)/bin/python bench/gate_scale.py --results bench/results.md
