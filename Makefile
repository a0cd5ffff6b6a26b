# alliance-study: the two commands in README.md do all setup on a fresh machine.
#   make book   install -> fetch raw data -> build the panel (-> notebooks -> book, as chapters land)
#   make test   install -> lint -> tests (fetches the raw data from the mirror on first use)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: all install fetch panel book test lint bench clean distclean

all: book

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,book,did]"
	touch $(STAMP)

install: $(STAMP)

fetch: install
	$(BIN)/alliance-study fetch

panel: fetch
	$(BIN)/alliance-study build-panel

book: panel

lint: install
	$(BIN)/ruff check src tests tools benchmarks

test: install lint
	$(BIN)/alliance-study fetch
	$(BIN)/python -m pytest -q

bench: panel
	$(BIN)/python benchmarks/bench_build_panel.py

clean:
	rm -rf data/processed/* book/_build .pytest_cache .ruff_cache

distclean: clean
	find data/raw -mindepth 1 -maxdepth 1 ! -name registry.csv ! -name README.md -exec rm -rf {} +
	rm -rf $(VENV)
