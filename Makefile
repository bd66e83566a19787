# The commands CI and developers share; .ci/run calls `make test`.

.PHONY: test fmt-check lint unit doc bench plugins control-plane

## Everything CI checks: formatting, lints (warnings are errors), every test.
test: fmt-check lint unit

fmt-check:
	cargo fmt --all -- --check

lint:
	cargo clippy --workspace --all-targets -- -D warnings

unit:
	cargo test --workspace

doc:
	RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps --workspace

## The plugin engine benchmark: plan latency through wasm vs native, cold start.
bench:
	cargo bench -p runplane-engine --bench plan

## Build every runtime component (also done by the build scripts that embed them).
plugins:
	cargo build --target wasm32-wasip2 --profile plugin $(patsubst plugins/%,-p runplane-runtime-%,$(filter-out plugins/sdk,$(wildcard plugins/*)))

## Start the local Kubernetes control plane (etcd, apiserver, controllers, kwok).
control-plane:
	tests/control-plane/up
