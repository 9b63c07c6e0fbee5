#!/usr/bin/env bash
# A throwaway PgBouncer in transaction mode in front of .ci/postgres.sh's server, for the tests
# of a store reached through a transaction pooler. SOURCE it after .ci/postgres.sh:
#
#   source .ci/postgres.sh; source .ci/pgbouncer.sh   # exports NEWSMON_TEST_PGBOUNCER_URL
#
# - Installs PgBouncer from Debian's packages when it is missing (root only).
# - Listens on 127.0.0.1 at a free port, passes every database name through to the server as
#   the server's `newsmon` role (auth_type any: nothing but this machine can reach it), hands
#   each transaction to any of its 4 server connections (pool_mode = transaction).
# - Registers an EXIT trap (keeping any trap already set) that stops it and removes its dir.
# The tests that need it skip, saying so, when NEWSMON_TEST_PGBOUNCER_URL is unset.

_newsmon_pgb_log() { echo "pgbouncer.sh: $*" >&2; }

_newsmon_pgb_stop() {
  if [ -n "${_NEWSMON_PGB_DIR:-}" ] && [ -f "$_NEWSMON_PGB_DIR/pgbouncer.pid" ]; then
    kill "$(cat "$_NEWSMON_PGB_DIR/pgbouncer.pid")" 2>/dev/null || true
  fi
  [ -n "${_NEWSMON_PGB_DIR:-}" ] && rm -rf "$_NEWSMON_PGB_DIR"
  _NEWSMON_PGB_DIR=""
}

_newsmon_pgb_start() {
  local bin dir port server previous user
  if [ -z "${NEWSMON_TEST_POSTGRES_URL:-}" ]; then
    _newsmon_pgb_log "NEWSMON_TEST_POSTGRES_URL is unset: source .ci/postgres.sh first"
    return 1
  fi
  bin=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
  if [ ! -x "$bin" ]; then
    if [ "$(id -u)" != 0 ]; then
      _newsmon_pgb_log "PgBouncer is not installed and this is not root: install the 'pgbouncer' package"
      return 1
    fi
    _newsmon_pgb_log "installing PgBouncer from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends pgbouncer </dev/null >/dev/null \
      || { apt-get update -qq </dev/null >/dev/null \
           && apt-get install -y -qq --no-install-recommends pgbouncer </dev/null >/dev/null; } \
      || return 1
    bin=/usr/sbin/pgbouncer
  fi
  # The server's host and port, from its URL (postgresql://newsmon@127.0.0.1:PORT/DB).
  server=${NEWSMON_TEST_POSTGRES_URL#*@}
  server=${server%%/*}
  dir=$(mktemp -d "${TMPDIR:-/tmp}/newsmon-pgb.XXXXXX") || return 1
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || return 1
  cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=${server%:*} port=${server##*:} user=newsmon
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 4
max_client_conn = 400
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
  _NEWSMON_PGB_DIR=$dir
  previous=$(trap -p EXIT | sed -e "s/^trap -- '\(.*\)' EXIT$/\1/")
  # shellcheck disable=SC2064
  trap "_newsmon_pgb_stop; ${previous:-:}" EXIT
  # PgBouncer will not run as root: as the server's user (postgres, else nobody).
  if [ "$(id -u)" = 0 ]; then
    user=${NEWSMON_TEST_PG_USER:-nobody}
    chown -R "$user" "$dir"
    (cd / && runuser -u "$user" -- "$bin" -d -q "$dir/pgbouncer.ini") || return 1
  else
    "$bin" -d -q "$dir/pgbouncer.ini" || return 1
  fi
  for _ in $(seq 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2).close()" \
      2>/dev/null && break
    sleep 0.1
  done
  export NEWSMON_TEST_PGBOUNCER_URL="postgresql://newsmon@127.0.0.1:$port/newsmon_test"
  _newsmon_pgb_log "PgBouncer $("$bin" --version | head -n 1 | awk '{print $2}') (transaction mode) on 127.0.0.1:$port"
}

_newsmon_pgb_start || _newsmon_pgb_log "not started: the pooler tests will skip"
