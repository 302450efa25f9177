#!/usr/bin/env bash
# The whole LogFlow test suite: formatting, lints, every crate's unit tests and the black-box tests
# that run the real `logflow` binary. This is the README's second command and what CI runs.
#
# Tests that need PostgreSQL, Redis, Kafka or OpenSearch skip with a message when the server is
# absent, unless LOGFLOW_REQUIRE_SERVICES=1 (set by .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# The real servers the tests talk to (PostgreSQL, Redis, sqlite3, the SMTP sink): installed when
# missing and started. Without them (no root for apt, say) those tests skip with a message, unless
# LOGFLOW_REQUIRE_SERVICES=1, where the failure to start them stops the run here.
echo "== services"
if services_env=$(./scripts/services.sh); then
  eval "$services_env"
elif [ "${LOGFLOW_REQUIRE_SERVICES:-}" = "1" ]; then
  echo "scripts/services.sh failed and LOGFLOW_REQUIRE_SERVICES=1" >&2
  exit 1
else
  echo "warning: could not start PostgreSQL/Redis; tests that need them will be skipped" >&2
fi

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
