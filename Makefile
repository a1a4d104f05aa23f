# Two commands for a fresh machine: `make run` (the app on the built-in model) and `make test`.
# Each sets up .venv idempotently first. TORCH_SPEC/TORCH_INDEX pick the torch build:
#   CPU (default here):  make run
#   NVIDIA GPU (CUDA):   make run TORCH_INDEX=https://download.pytorch.org/whl/cu128
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-packages

.PHONY: setup run test test-fast lint bench clean

setup: $(STAMP) $(SYSTEM_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: apt-get install -y python3-venv"; exit 1; }
	$(BIN)/pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Debian packages: the emoji font (dataset of the built-in model and its tests) and the xcb
# libraries a real Qt window needs. Installed when we are root; otherwise we say what is missing.
$(SYSTEM_STAMP): scripts/system_packages.sh
	bash scripts/system_packages.sh
	touch $@

run: setup
	$(BIN)/sdstudio

test: setup
	QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 $(BIN)/lint-imports --no-cache
	QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

test-fast: setup
	QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -m "not slow"

lint: setup
	$(BIN)/ruff check sdstudio tests benchmarks scripts

bench: setup
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/engine_vs_diffusers.py

clean:
	rm -rf $(VENV)
