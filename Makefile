# The commands CI and developers share; .ci/run calls `make test`.

.PHONY: test fmt-check lint unit doc bench bench-api bench-kube plugins control-plane api-fuzz

## Everything CI checks: formatting, lints (warnings are errors), every test, and the
## HTTP API fuzzed by Schemathesis against its OpenAPI document.
test: fmt-check lint unit api-fuzz

fmt-check:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

unit:
	cargo test --workspace

doc:
	RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --workspace

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

## The Kubernetes benchmark: 1,000 and 5,000 short Python jobs through the host on a test
## control plane of its own, against a plain kube server-side-apply loop; lag, RSS, open
## watches and the throughput ratio printed and written to target/bench/kube.json.
bench-kube:
	cargo run --release -p runplane-load --bin kube -- --runs 1000,5000

## Build every runtime component (also done by the build scripts that embed them).
plugins:
	cargo build --target wasm32-wasip2 --profile plugin $(patsubst plugins/%,-p runplane-runtime-%,$(filter-out plugins/sdk,$(wildcard plugins/*)))

## Start the local Kubernetes control plane (etcd, apiserver, controllers, kwok).
control-plane:
	tests/control-plane/up
