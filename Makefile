# The commands CI and developers share; .ci/run calls `make test`.

.PHONY: test fmt-check lint unit skipped doc bench bench-api bench-kube bench-kube-replicas bench-swap plugins control-plane api-fuzz sdk-package

## The skip log: a test that cannot run here (no Go, no PostgreSQL, no python3) appends
## one line to it (tests/support/src/skip.rs); under CI a skip is a failure instead. In
## the target directory, absolute so that every test binary (run in its own package's
## folder) writes the same file.
SKIPS := $(abspath $(or $(CARGO_TARGET_DIR),target))/test-skips.log
export RUNPLANE_TEST_SKIPS := $(SKIPS)

## Everything CI checks: formatting, lints (warnings are errors), the API docs (broken
## links are errors), every test, and the HTTP API fuzzed by Schemathesis against its
## OpenAPI document; then how many tests skipped. The exit status is the tests'.
test: fmt-check lint doc sdk-package
	@status=0; $(MAKE) --no-print-directory unit api-fuzz || status=$$?; \
	  $(MAKE) --no-print-directory skipped; exit $$status

fmt-check:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

## Every test (TEST_FLAGS='-p runplane-store' for fewer); the skip log starts empty.
TEST_FLAGS ?= --workspace
unit:
	@rm -f '$(SKIPS)'
	cargo test $(TEST_FLAGS)

## How many tests of the last `make unit` skipped, and why.
skipped:
	@n=$$(cat '$(SKIPS)' 2>/dev/null | wc -l); \
	if [ "$$n" -eq 0 ]; then echo "skipped: 0 tests"; \
	else echo "skipped: $$n test$$([ "$$n" -eq 1 ] || echo s) (see $(SKIPS))"; \
	  sed 's/^/  /' '$(SKIPS)'; fi

doc:
	RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --workspace

## The guest SDK builds on its own, as a third party gets it (with its `wit/`).
sdk-package:
	cargo package -p runplane-sdk --allow-dirty --quiet

## Fuzz the HTTP API with Schemathesis against a real `runplane serve`, insecure and then
## with a bearer token (every check;
## API_FUZZ_EXAMPLES and API_FUZZ_SEED tune it).
api-fuzz:
	tests/api-fuzz/run

## The plugin engine benchmark: plan latency through wasm vs native, cold start.
bench:
	cargo bench -p runplane-engine --bench plan

## The HTTP API benchmark: create-run and GET-run load on SQLite and PostgreSQL, against
## a plain axum handler; figures printed and written to target/bench/api.json.
bench-api:
	cargo run --release -p runplane-load --bin api

## The runtime swap benchmark: validate + plan at 1,000 calls/s while new versions of
## python are uploaded and swapped 20 times (failed calls, p99 against steady), memory
## per loaded version, and `runplane serve` ready with an empty and a warm cache;
## written to target/bench/swap.json.
bench-swap:
	cargo build --release -p runplane-cli
	cargo run --release -p runplane-load --bin swap

## The Kubernetes benchmark: 1,000 and 5,000 short Python jobs through the host on a test
## control plane of its own, against a plain kube server-side-apply loop; lag, RSS, open
## watches and the throughput ratio printed and written to target/bench/kube.json.
bench-kube:
	cargo run --release -p runplane-load --bin kube -- --runs 1000,5000

## The Kubernetes benchmark with replicas (issue 17): 1, 2 and 3 `runplane serve` on one
## PostgreSQL database, 1,000 runs posted to them over HTTP; submission against the plain
## SSA loop, lag, RSS per replica, and the takeover of a replica killed with SIGKILL;
## written to target/bench/kube-replicas.json.
bench-kube-replicas:
	cargo build --release -p runplane-cli
	cargo run --release -p runplane-load --bin kube -- --runs 1000 --replicas 1,2,3

## Build every runtime component (also done by the build scripts that embed them).
plugins:
	cargo build --target wasm32-wasip2 --profile plugin $(patsubst plugins/%,-p runplane-runtime-%,$(filter-out plugins/sdk,$(wildcard plugins/*)))

## Start the local Kubernetes control plane (etcd, apiserver, controllers, kwok).
control-plane:
	tests/control-plane/up
