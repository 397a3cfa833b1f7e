# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the whole suite).
# Both create .venv and install what they need; slow builds are cached under ~/.cache/variet.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
VARIET := $(VENV)/bin/variet

.PHONY: demo test lint dev clean deps llama-server

$(VENV)/.deps: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	@rm -rf build/lib build/bdist.*
	$(PY) -m pip install --quiet '.[test]'
	touch $@

# A plain (not editable) install of the working tree, refreshed on every run: an editable one would expose
# the top-level folders or print setuptools' editable-install notice on every install.
dev: $(VENV)/.deps
	@rm -rf build/lib build/bdist.*  # setuptools' staging copy keeps deleted modules
	$(PY) -m pip install --quiet --no-deps --force-reinstall .

llama-server: dev
	$(VARIET) engine install-llama-server

deps: dev llama-server
	scripts/test-deps
	scripts/node-tools >/dev/null

demo: llama-server
	$(VARIET) demo

test: deps lint
	$(PY) -m pytest $(PYTEST_ARGS)

lint: dev
	$(VENV)/bin/ruff check .
	MYPY=$(VENV)/bin/mypy scripts/typecheck

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
