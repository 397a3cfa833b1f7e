# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the whole suite).
# Both create .venv and install what they need; slow builds are cached under ~/.cache/variet.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
VARIET := $(VENV)/bin/variet

.PHONY: demo test test-linux test-windows lint dev clean deps llama-server vscode

$(VENV)/.deps: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	@rm -rf build/lib build/bdist.*
	$(PY) -m pip install -qq '.[test]'
	touch $@

# A plain (not editable) install of the working tree, refreshed on every run: an editable one would expose
# the top-level folders or print setuptools' editable-install notice on every install.
dev: $(VENV)/.deps
	@rm -rf build/lib build/bdist.*  # setuptools' staging copy keeps deleted modules
	$(PY) -m pip install -qq --no-deps --force-reinstall .

llama-server: dev
	$(VARIET) engine install-llama-server

deps: dev llama-server
	scripts/test-deps
	scripts/node-tools >/dev/null
	scripts/continue-cli >/dev/null
	scripts/code-server >/dev/null

demo: llama-server
	$(VARIET) demo

# The Linux suite, then the same tests on Windows CPython under Wine (scripts/windows-lane; README "Windows lane").
test: test-linux
	$(MAKE) --no-print-directory test-windows

test-linux: deps lint
	$(PY) -m pytest $(PYTEST_ARGS)

test-windows: dev
	scripts/windows-lane

lint: dev
	$(VENV)/bin/ruff check .
	MYPY=$(VENV)/bin/mypy scripts/typecheck

# The VS Code extension as an installable package, vscode/variet.vsix (offline once npm ci has its packages).
# Node >= 22 comes from scripts/node-tools when the system's is older.
NODE_PATH_PREFIX = PATH="$$($(CURDIR)/scripts/node-tools):$$PATH"

vscode/node_modules/.variet-lock-sha256: vscode/package-lock.json
	cd vscode && $(NODE_PATH_PREFIX) npm ci --no-audit --no-fund --loglevel=error
	sha256sum vscode/package-lock.json | cut -d' ' -f1 >$@

vscode: vscode/node_modules/.variet-lock-sha256
	@cd vscode && $(NODE_PATH_PREFIX) node_modules/.bin/vsce package --no-dependencies --allow-missing-repository \
	  --skip-license --out variet.vsix >node_modules/.vsce.log 2>&1 || { cat node_modules/.vsce.log; exit 1; }
	@echo "built vscode/variet.vsix: install it with  code --install-extension vscode/variet.vsix"

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache vscode/out vscode/variet.vsix
