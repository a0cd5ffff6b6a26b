# alliance-study: the two commands in README.md do all setup on a fresh machine.
#   make book   install -> fetch raw data -> build the panel -> execute the notebooks -> build the book
#   make test   install -> lint -> tests (fetches the raw data from the mirror on first use)
#   make lab    JupyterLab on notebooks/ with the project's kernel, reading the built panel
# Every step skips work whose inputs are unchanged (fetch and build-panel keep stamps, run keys each notebook
# on what it read, book skips an unchanged build), so `make book` with nothing changed takes seconds.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: all install fetch panel run book pdf lab chromium check-book test lint bench mutation clean distclean

all: book

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,book,did,plans]"
	touch $(STAMP)

install: $(STAMP)

fetch: install
	$(BIN)/alliance-study fetch

panel: fetch
	$(BIN)/alliance-study build-panel

# Execute the notebooks into book/ (papermill; unchanged ones are skipped), then build the HTML.
run: panel
	$(BIN)/alliance-study run

book: run
	$(BIN)/alliance-study book

# The whole book as one PDF (book/_build/pdf/alliance-study.pdf): single-page HTML printed by Chromium,
# then checked for its page count and blank pages.
pdf: book chromium
	$(BIN)/alliance-study pdf

LAB_STAMP := $(VENV)/.lab-stamp
# Jupyter refuses to run as root unless told (containers and CI machines often are root).
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)

# JupyterLab is the `lab` extra, installed on first `make lab` only (the book and the tests do not need it).
# jsonschema's optional rfc3987-syntax, which JupyterLab's jupyter-events pulls in, builds a grammar when
# jsonschema is imported: about 2 s of CPU in every notebook kernel and papermill process (nbformat imports
# jsonschema), and nothing here validates IRIs, so it is removed again.
$(LAB_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[lab]"
	-$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax
	touch $(LAB_STAMP)

# Step through a chapter cell by cell: the notebooks run in this environment's kernel (python3 of .venv) and,
# with their default data_dir = None, read this checkout's data/processed (built by the panel step).
lab: $(LAB_STAMP) panel
	$(BIN)/python -c "from alliance_study.book.runner import ensure_kernel; ensure_kernel()"
	$(BIN)/jupyter lab --notebook-dir=notebooks $(LAB_ARGS)

# Open the built book in headless Chromium (Debian's package; installed on first use, needs root or sudo).
chromium:
	bash tools/install_chromium.sh

check-book: install chromium
	$(BIN)/alliance-study check-book --strict-external

lint: install
	$(BIN)/ruff check src tests tools benchmarks

# The suite reads the real data: fetched raw files, and the built panel for the notebook and real-data tests.
test: install lint
	$(BIN)/alliance-study fetch
	$(BIN)/alliance-study build-panel
	$(BIN)/python -m pytest -q

bench: panel
	$(BIN)/python benchmarks/bench_build_panel.py
	$(BIN)/python benchmarks/bench_improvement.py
	$(BIN)/python benchmarks/bench_impact.py
	$(BIN)/python benchmarks/bench_book.py

# Mutation testing of the impact estimators (mutmut, a sample of mutants; the `mutation` extra).
MUTATION_STAMP := $(VENV)/.mutation-stamp
$(MUTATION_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[mutation]"
	touch $(MUTATION_STAMP)

mutation: $(MUTATION_STAMP) panel
	$(BIN)/python benchmarks/bench_mutation.py

clean:
	-$(BIN)/alliance-study clean-book
	rm -rf data/processed/* data/processed.v data/processed/.build-stamp.json book/_build variants .pytest_cache .ruff_cache

distclean: clean
	find data/raw -mindepth 1 -maxdepth 1 ! -name registry.csv ! -name README.md -exec rm -rf {} +
	rm -rf $(VENV)
