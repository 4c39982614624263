# The two commands: `make demo` and `make test`. Both build .venv from pyproject.toml.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml setup.py formats/camt/_extract.c formats/_xsdcheck.c | sha256sum | cut -c1-12)
PYTEST_WORKERS ?= 2

.PHONY: demo test lint typecheck pytest compiled system-deps bench clean

$(STAMP): pyproject.toml setup.py formats/camt/_extract.c formats/_xsdcheck.c
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

# the matching engine's hot modules compiled by mypyc (ADR 4), rebuilt when a source changed,
# and every package's bytecode written ahead (gateway.compiled.write_bytecode)
compiled: $(STAMP)
	$(PY) scripts/compile_modules.py --if-stale

demo: compiled
	$(VENV)/bin/arbridge demo

system-deps:
	@bash scripts/install-system-deps

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy formats ar

pytest: compiled system-deps
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
	rm -f ar/matching/*.so ar/cashapp/*.so ar/_compiled__mypyc*.so
	find ar config formats gateway -name __pycache__ -prune -exec rm -rf {} +
