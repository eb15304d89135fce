# Every target creates the virtualenv it needs, so each works on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STACKS := tools stage prod
STACK ?=

.PHONY: help venv test lint preview-offline preview-all bench bench-sweeper lambda-layer diagram demo clean

help:
	@echo "make demo                         the main job locally: emulator, pipeline, promotion, rollback"
	@echo "make test                         set up the virtualenv and run the whole test suite"
	@echo "make preview-offline STACK=<s>    write build/preview/<s>.json for s in: $(STACKS)"
	@echo "make preview-all                  the offline preview of all three stacks"
	@echo "make lint                         ruff"
	@echo "make diagram                      regenerate the README's state machine diagram and resource counts"
	@echo "make bench                        verification benchmark against openssl and sha256sum"
	@echo "make bench-sweeper                items one sweep reads at 1k, 10k and 100k table items (waiting, stuck, in flight, parked)"
	@echo "make lambda-layer                 build/lambda/layer.zip (third-party packages of the functions; before pulumi up)"

$(STAMP): pyproject.toml constraints.txt requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==25.3"
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

preview-offline: $(STAMP)
	@if [ -z "$(STACK)" ]; then echo "usage: make preview-offline STACK=<$(STACKS)>" >&2; exit 2; fi
	$(BIN)/python -m devtools.preview_offline --stack $(STACK)

preview-all: $(STAMP)
	@for s in $(STACKS); do $(BIN)/python -m devtools.preview_offline --stack $$s || exit $$?; done

clean:
	rm -rf build .pytest_cache

bench: $(STAMP)
	$(BIN)/python bench/verify_bench.py

bench-sweeper: $(STAMP)
	$(BIN)/python bench/sweeper_bench.py

# The functions' third-party packages for the Lambda runtime (python3.12, x86_64), zipped reproducibly.
lambda-layer: $(STAMP) lambda-requirements.txt
	rm -rf build/lambda/python
	$(BIN)/python -m pip install --quiet --target build/lambda/python --platform manylinux2014_x86_64 \
		--implementation cp --python-version 3.12 --only-binary=:all: --no-compile -r lambda-requirements.txt
	$(BIN)/python -m functions.deterministic_zip build/lambda/python build/lambda/layer.zip --prefix python/

# The README's generated parts: the state machine's diagram and each stack's resource count.
diagram: $(STAMP)
	@for s in $(STACKS); do $(BIN)/python -m devtools.preview_offline --stack $$s || exit $$?; done
	$(BIN)/python -m devtools.diagram

# The main job, locally: an embedded AWS emulator, the pipeline from the program's graph, a promotion
# and an automatic rollback (see devtools/demo.py).
demo: $(STAMP)
	$(BIN)/python -m devtools.demo
