#!/usr/bin/env bash
# The whole LogFlow test suite: formatting, lints, every crate's unit tests and the black-box tests
# that run the real `logflow` binary. This is the README's second command and what CI runs.
#
# Tests that need PostgreSQL, Redis, Kafka or OpenSearch skip with a message when the server is
# absent, unless LOGFLOW_REQUIRE_SERVICES=1 (set by .ci/run, which also starts those servers).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test"
cargo test --workspace --locked --no-fail-fast
