# spin-users: the two commands are `make up` (run the service) and
# `make test` (run every test). Everything else is a step they call.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

LISTEN ?= 127.0.0.1:3000
TOOLCHAIN_ENV := .tools/wasm-toolchain.env
# Every crate under components/ is a Spin component; the probe is a test fixture.
COMPONENTS := $(notdir $(wildcard components/*))
FIXTURES := $(notdir $(wildcard tests/fixtures/*))
NATIVE_PACKAGES := -p spin-users-domain -p spin-users-resp -p spin-users-api -p spin-users-http -p spin-users-store -p spin-users-app -p spin-users-host -p spin-users-component-tests -p spin-users-bench

.PHONY: help setup native-deps build build-fixtures up cluster test test-unit test-components test-e2e test-tools test-cluster bench lint fmt clean

help:
	@echo "make up     run the service on http://$(LISTEN) (spin up, or the bundled wasmtime host)"
	@echo "make test   build the components and run every test"
	@echo "make cluster  three instances on :3001-3003 over one PostgreSQL and one Redis (production runtime config)"
	@echo "make setup  install the wasm32-wasip2 toolchain (idempotent; make up/test call it when needed)"
	@echo "make build  build all components (release); spin.toml's build commands run this"
	@echo "make lint   rustfmt and clippy (-D warnings) for host and wasm targets"
	@echo "make bench  requests/s and p50/p99 per route, argon2id native vs in a component"

$(TOOLCHAIN_ENV): scripts/setup-wasm-toolchain.sh
	scripts/setup-wasm-toolchain.sh

setup: native-deps
	scripts/setup-wasm-toolchain.sh
	@$(MAKE) --no-print-directory build
	@echo "setup: built $(COMPONENTS) for wasm32-wasip2: the toolchain works"

# Swagger UI's files, which the docs component compiles in.
SWAGGER_UI := target/swagger-ui/.version
$(SWAGGER_UI): scripts/swagger-ui.sh
	scripts/swagger-ui.sh

build: $(TOOLCHAIN_ENV) $(SWAGGER_UI)
	scripts/cargo-wasm.sh build --release $(addprefix -p spin-users-,$(COMPONENTS))
	@for c in $(COMPONENTS); do \
	  f=target/wasm32-wasip2/release/spin_users_$${c//-/_}.wasm; \
	  printf 'built %-40s %8d bytes\n' "$$f" "$$(stat -c %s "$$f")"; \
	done

# C libraries the native build links (OpenSSL for the host's PostgreSQL TLS).
native-deps:
	@scripts/native-deps.sh

build-fixtures: $(TOOLCHAIN_ENV)
	scripts/cargo-wasm.sh build --release $(addprefix -p spin-users-,$(FIXTURES))

up: native-deps build
	LISTEN=$(LISTEN) scripts/up.sh

cluster: native-deps build
	scripts/cluster.sh

# The component suite runs last so its summary closes the output.
test: native-deps build build-fixtures test-e2e test-unit test-tools test-cluster test-components

# Native unit tests (the store's repository contracts run on SQLite and
# on a PostgreSQL server of their own), and the deployment manifests
# (tests/deploy).
test-unit:
	SPIN_USERS_TEST_PG_URL=$$(scripts/postgres.sh) cargo test --lib --bins $(NATIVE_PACKAGES)
	cargo test -p spin-users-component-tests --test deploy

# Outside tools against the served app (tests/tools): schemathesis checks
# it against its OpenAPI document; Playwright drives Debian's Chromium
# through Swagger UI and cross-origin fetch(). scripts/test-tools.sh
# installs both, pinned.
test-tools:
	tools=$$(scripts/test-tools.sh); \
	SPIN_USERS_TEST_TOOLS=$$tools cargo test -p spin-users-component-tests --test tools -- --include-ignored

# Three instances on the production runtime config over one PostgreSQL and
# one Redis (tests/cluster): `spin up` when installed, the bundled host otherwise.
test-cluster:
	cargo build -p spin-users-host --bins
	redis=$$(scripts/redis.sh); pg=$$(scripts/postgres.sh); \
	SPIN_USERS_TEST_REDIS_URL=$$redis SPIN_USERS_TEST_PG_URL=$$pg \
	SPIN_USERS_HOST_CACHE_DIR=$(CURDIR)/target/component-cache \
	  cargo test -p spin-users-component-tests --test cluster

# The whole component suite, once per database backend: PostgreSQL with
# the key-value store on Redis (the production pairing), SQLite with the
# embedded one. Both reach Redis for the tests of the Redis backend itself.
test-components:
	redis=$$(scripts/redis.sh); export SPIN_USERS_TEST_REDIS_URL=$$redis; \
	SPIN_USERS_TEST_BACKEND=postgres SPIN_USERS_TEST_KV=redis SPIN_USERS_TEST_PG_URL=$$(scripts/postgres.sh) \
	  cargo test -p spin-users-component-tests --test api; \
	SPIN_USERS_TEST_BACKEND=sqlite cargo test -p spin-users-component-tests --test api -- --skip postgres_host::

# Tests that inspect the in-process host itself (its serve loop, memory
# counters, variable-lookup counter, component imports): not for a server
# in another process.
HOST_ONLY_TESTS := serve::serve_answers_http_requests_over_tcp \
  cache::cached_reads_fit_the_components_initial_memory \
  health::the_health_component_imports_only_what_it_uses \
  host_interfaces::an_instances_first_outbound_check_resolves_every_variable_through_the_providers \
  host_interfaces::a_first_outbound_socket_connect_resolves_every_variable_too
# Tests of a fault the bundled host reports at once and real Spin 4.0.2
# never answers (a PostgreSQL query with zero rows hangs: spin#3671):
# under `spin up` they would wait for ever, so they are skipped by name.
BUNDLED_HOST_ONLY_TESTS := postgres_host::the_host_fails_a_zero_row_query_and_names_the_statement
SKIP_HOST_ONLY := $(addprefix --skip ,$(HOST_ONLY_TESTS))

# The same component suite against a server process on both backends: the
# real `spin up` when the CLI is installed (and the e2e test, which is
# otherwise reported as ignored, never as passed); without it, the bundled
# host's `up` command, which takes spin up's arguments, so the harness path
# is exercised either way.
test-e2e:
	@if command -v spin >/dev/null 2>&1; then \
	  server=spin; skip="$(SKIP_HOST_ONLY) $(addprefix --skip ,$(BUNDLED_HOST_ONLY_TESTS))"; \
	  echo "e2e: the component suite runs under $$(spin --version); skipped by name: $(HOST_ONLY_TESTS) $(BUNDLED_HOST_ONLY_TESTS)"; \
	  cargo test -p spin-users-component-tests --test e2e -- --include-ignored; \
	else \
	  echo "SKIPPED e2e under Spin: spin is not on PATH (install: curl -fsSL https://spinframework.dev/downloads/install.sh | bash);"; \
	  echo "the suite runs against the bundled host's \`up\` command instead"; \
	  cargo build -p spin-users-host --bins; \
	  server=$(CURDIR)/target/debug/spin-users-host; skip="$(SKIP_HOST_ONLY)"; \
	  cargo test -p spin-users-component-tests --test e2e; \
	fi; \
	export SPIN_USERS_TEST_SERVER=$$server SPIN_USERS_HOST_CACHE_DIR=$(CURDIR)/target/component-cache; \
	redis=$$(scripts/redis.sh); export SPIN_USERS_TEST_REDIS_URL=$$redis; \
	SPIN_USERS_TEST_BACKEND=postgres SPIN_USERS_TEST_KV=redis SPIN_USERS_TEST_PG_URL=$$(scripts/postgres.sh) \
	  cargo test -p spin-users-component-tests --test api -- $$skip; \
	SPIN_USERS_TEST_BACKEND=sqlite \
	  cargo test -p spin-users-component-tests --test api -- --skip postgres_host:: $$skip

# Throughput and latency per route against a server process (the wasmtime
# host, or SPIN_USERS_TEST_SERVER=spin), plus argon2id natively vs in a
# component, background jobs and instances (crates/bench).
bench: native-deps build build-fixtures
	cargo build --profile native-release -p spin-users-host --bins
	redis=$$(scripts/redis.sh); pg=$$(scripts/postgres.sh); \
	SPIN_USERS_TEST_REDIS_URL=$$redis SPIN_USERS_TEST_PG_URL=$$pg \
	SPIN_USERS_TEST_SERVER=$${SPIN_USERS_TEST_SERVER:-$(CURDIR)/target/native-release/spin-users-host} \
	SPIN_USERS_HOST_CACHE_DIR=$(CURDIR)/target/component-cache \
	  cargo run --profile native-release -p spin-users-bench

lint: native-deps $(TOOLCHAIN_ENV) $(SWAGGER_UI)
	cargo fmt --all --check
	cargo clippy $(NATIVE_PACKAGES) --all-targets -- -D warnings
	scripts/cargo-wasm.sh clippy --release $(addprefix -p spin-users-,$(COMPONENTS) $(FIXTURES)) -- -D warnings

fmt:
	cargo fmt --all

clean:
	cargo clean
	rm -rf .spin
