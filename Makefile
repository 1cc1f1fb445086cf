# Two commands set up everything on a fresh machine with Python >= 3.11 and make:
#   make demo   # creates .venv, installs dendrogen, runs the main job on the bundled digits
#   make test   # the fast test suite (everything not marked `slow`)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch; an unpinned torch would pull a multi-GB CUDA build.
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test lint format install browser data-fashion-mnist clean peers

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
	$(BIN)/python -m pytest -q -m "not slow" -p no:cacheprovider -n 2 --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: $(STAMP)
	$(BIN)/ruff check --fix src tests benchmarks
	$(BIN)/ruff format src tests benchmarks

# The peer library for the benchmarks (clustpy's DeepECT), in its own environment: clustpy
# imports torchvision, whose wheels here are CUDA builds that need the torch they were built
# against (torchvision 0.28.0 beside the CPU torch 2.13.0 fails: "operator torchvision::nms does
# not exist"). So .venv-peers gets the pair torch 2.14.1 + torchvision 0.29.1 (with torch's CUDA
# libraries, several GB), clustpy, and dendrogen without its dependencies. The main .venv and
# `make test` never need it; benchmarks/paper_tables.py adds the DeepECT row when it exists.
PEERS := .venv-peers
PEERS_TORCH := torch==2.14.1 torchvision==0.29.1
PEERS_STAMP := $(PEERS)/.installed

$(PEERS_STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS)/bin/python -m pip install --quiet $(PEERS_TORCH) clustpy
	$(PEERS)/bin/python -m pip install --quiet --no-deps -e .
	$(PEERS)/bin/python -m pip install --quiet safetensors typer
	$(PEERS)/bin/python -c "import clustpy.deep, torchvision.ops, dendrogen.metrics"
	touch $(PEERS_STAMP)

peers: $(PEERS_STAMP)

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
	rm -rf $(VENV) $(PEERS) build *.egg-info src/*.egg-info
