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
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One closing line for the whole workspace (cargo prints one per test binary).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i == "passed;") p += $(i-1); if ($i == "failed;") f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
exit "$status"
