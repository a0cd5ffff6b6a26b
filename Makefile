# alliance-study: the two commands in README.md do all setup on a fresh machine.
#   make book   install -> fetch raw data -> build the panel -> execute the notebooks -> build the book
#   make test   install -> lint -> tests (fetches the raw data from the mirror on first use)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: all install fetch panel run book pdf chromium check-book test lint bench clean distclean

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

clean:
	-$(BIN)/alliance-study clean-book
	rm -rf data/processed/* data/processed.v book/_build .pytest_cache .ruff_cache

distclean: clean
	find data/raw -mindepth 1 -maxdepth 1 ! -name registry.csv ! -name README.md -exec rm -rf {} +
	rm -rf $(VENV)
