#!/usr/bin/env bash
# Installs (when missing) and starts the real servers the default test run talks to:
# PostgreSQL (one shared cluster; each test creates its own database) and the Redis, SQLite and
# SMTP tools (each Redis test starts its own redis-server on a free port so it can stop it mid-test),
# and headless Chromium with chromedriver for the dashboard's browser tests.
# Idempotent; fails loudly when a server does not come up. Needs root for apt-get.
#
# Prints the environment the tests read, e.g.:  eval "$(scripts/services.sh)"
set -euo pipefail

log() { echo "services: $*" >&2; }

PG_PASSWORD="${LOGFLOW_TEST_PG_PASSWORD:-logflow}"
PG_PORT="${LOGFLOW_TEST_PG_PORT:-5432}"

need_pkgs=()
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
command -v sqlite3 >/dev/null 2>&1 || need_pkgs+=(sqlite3)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_pkgs+=(postgresql)
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_pkgs+=(chromium-driver)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  log "installing ${need_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

# PostgreSQL: the distribution's cluster, started without systemd.
pg_version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
[ -n "$pg_version" ] || { log "no PostgreSQL cluster under /etc/postgresql"; exit 1; }
if ! pg_isready -q -h 127.0.0.1 -p "$PG_PORT"; then
  log "starting PostgreSQL $pg_version"
  pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start >&2 || true
  for _ in $(seq 1 60); do pg_isready -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.5; done
fi
pg_isready -q -h 127.0.0.1 -p "$PG_PORT" || { log "PostgreSQL did not come up on port $PG_PORT"; exit 1; }
su postgres -c "psql -q -p $PG_PORT -c \"ALTER USER postgres PASSWORD '$PG_PASSWORD'\"" >&2
PG_URL="postgres://postgres:${PG_PASSWORD}@127.0.0.1:${PG_PORT}/postgres"
psql "$PG_URL" -qAt -c 'select 1' >/dev/null || { log "cannot log in to PostgreSQL as postgres"; exit 1; }
log "PostgreSQL ready at 127.0.0.1:$PG_PORT"

redis_bin=$(command -v redis-server) || { log "redis-server not found"; exit 1; }
"$redis_bin" --version >&2

# The SMTP sink for alert e-mail tests (Python's aiosmtpd).
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  log "installing aiosmtpd"
  python3 -m pip install -q aiosmtpd >&2
fi

chromedriver --version >&2 || { log "chromedriver does not run"; exit 1; }

echo "export LOGFLOW_TEST_DATABASE_URL='$PG_URL'"
echo "export LOGFLOW_TEST_REDIS_SERVER='$redis_bin'"
