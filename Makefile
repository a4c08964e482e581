PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run

.PHONY: run test bench proto clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installing builds the Rust core (core/, with cargo) into otelproc/_core, again whenever
# its sources change. `run` installs what running needs; the test and dev extras are a
# superset of it.
CORE_SOURCES := core/Cargo.toml core/Cargo.lock $(wildcard core/src/*.rs core/src/*/*.rs)
$(RUN_STAMP): pyproject.toml $(CORE_SOURCES) | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml $(CORE_SOURCES) | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $(STAMP) $(RUN_STAMP)

## run: set up .venv with what running needs and start otelproc on its embedded default config
run: $(RUN_STAMP)
	$(BIN)/otelproc serve

## test: set up .venv with the test extras, then the core's format check, tests and lints, then the whole suite
test: $(STAMP)
	cd core && cargo fmt --check
	cd core && cargo test --quiet --release --lib --tests
	cd core && cargo clippy --quiet --release --all-targets --features python -- -D warnings
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

## bench: the core alone (Rust), gzip by level, end-to-end throughput against the floor (prints figures, asserts nothing)
bench: $(STAMP)
	$(BIN)/python bench/core.py
	$(BIN)/python bench/compression.py
	$(BIN)/python bench/throughput.py --repeat 3

## proto: regenerate the protobuf code otelproc owns (see proto_gen/README.md)
proto: $(STAMP)
	@protos="$$(ls proto_gen/*.proto 2>/dev/null)"; \
	if [ -z "$$protos" ]; then echo "proto_gen/ holds no .proto files: nothing to generate (see proto_gen/README.md)"; \
	else mkdir -p otelproc/_proto && $(BIN)/python -m grpc_tools.protoc -Iproto_gen --python_out=otelproc/_proto --pyi_out=otelproc/_proto $$protos; fi

clean:
	rm -rf $(VENV) build *.egg-info core/target otelproc/_core*.so
