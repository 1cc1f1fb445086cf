# Two commands set up everything on a fresh machine with Python >= 3.11 and make:
#   make demo   # creates .venv, installs dendrogen, runs the main job on the bundled digits
#   make test   # the fast test suite (everything not marked `slow`)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch; an unpinned torch would pull a multi-GB CUDA build.
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test lint format install browser data-fashion-mnist clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]" "$(TORCH)"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/dendrogen demo

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python -m pytest -q -m "not slow" -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# Debian's Chromium and its driver, for the report's browser test (tests/test_report_browser.py).
# Nothing to do when both are present; installs them as root (or with passwordless sudo);
# elsewhere it fails with the reason, and the browser test then skips locally.
browser:
	@if command -v chromedriver >/dev/null 2>&1 && \
	    { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }; then \
	    echo "chromium and chromedriver are installed"; \
	elif [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	elif sudo -n true 2>/dev/null; then \
	    sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver; \
	else \
	    echo "cannot install chromium: not root and no passwordless sudo" >&2; exit 1; \
	fi

# Fashion-MNIST for the benchmarks (Debian's package, IDX files under /usr/share/datasets).
data-fashion-mnist:
	apt-get install -y dataset-fashion-mnist || sudo apt-get install -y dataset-fashion-mnist

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
