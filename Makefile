# Two commands: `make run` (all notebooks, quick profile, offline) and `make test`.
# Also: `make test-fast` (unit tier), `make lint` (ruff), `make test-browser` (JupyterLab in Chromium).
# Both create .venv in the repo root and install everything on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROFILE ?= quick

BROWSER_STAMP := $(VENV)/.browser-installed

.PHONY: run test test-fast test-browser lint lab setup bench bench-real clean strip

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	$(BIN)/python -m pip install --quiet --no-deps musicnn==0.1.0  # weights only (gtzan_utils.classify.pretrained)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (gtzan)" >/dev/null
	$(BIN)/python -c "from gtzan_utils.run import environment; environment.warm_up()"  # librosa's numba kernels, compiled once
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/gtzan run --profile $(PROFILE)

test: $(STAMP)
	$(BIN)/python -m pytest

# unit tests only: no notebook runs, no model training (about 2 min on 2 cores)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser"

lint: $(STAMP)
	$(BIN)/ruff check gtzan_utils tests tools
	$(BIN)/ruff format --check gtzan_utils tests tools

$(BROWSER_STAMP): $(STAMP) requirements-browser.txt
	$(BIN)/python -m pip install --quiet -r requirements-browser.txt
	touch $(BROWSER_STAMP)

# JupyterLab + Playwright + Debian's /usr/bin/chromium on a quick run's notebooks; screenshots in runs/browser-test/
test-browser: $(BROWSER_STAMP)
	GTZAN_BROWSER_RUN=$(CURDIR)/runs/browser-test $(BIN)/python -m pytest -m browser tests/test_browser.py

# JupyterLab (pinned in requirements-browser.txt) in .venv, started on the repository: open runs/<run>/notebooks/
lab: $(STAMP)
	$(BIN)/python -m pip install --quiet "$$(grep '^jupyterlab==' requirements-browser.txt)"
	$(BIN)/jupyter lab

bench: $(STAMP)
	$(BIN)/gtzan bench featurize
	$(BIN)/gtzan bench memory
	$(BIN)/gtzan bench scale
	$(BIN)/gtzan bench stream
	$(BIN)/gtzan bench train
	$(BIN)/gtzan bench determinism

# the real-music yardstick: the cpu profile 01 -> 06 on ../shared/gtzan_real, k-fold by song (about 15 min)
bench-real: $(STAMP)
	$(BIN)/gtzan bench real

strip:
	$(BIN)/python tools/strip_notebooks.py notebooks/*.ipynb

clean:
	rm -rf runs .pytest_cache
