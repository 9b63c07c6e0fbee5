#!/usr/bin/env bash
# A throwaway PostgreSQL for the store contract tests. SOURCE it (`.ci/run` does):
#
#   source .ci/postgres.sh      # exports NEWSMON_TEST_POSTGRES_URL; stops the cluster on exit
#
# It also exports NEWSMON_TEST_PGDATA, NEWSMON_TEST_PG_BIN and NEWSMON_TEST_PG_USER (the cluster's
# data dir, pg_ctl's folder, the user it runs as), so the outage tests can stop the server and
# start it again (`pg_ctl restart` reuses the options it was started with).
#
# - Installs PostgreSQL from Debian's packages when initdb/pg_ctl are missing (root only).
# - Creates a cluster in a fresh temp dir owned by a non-root user (postgres, else nobody; or you,
#   when not root), listening on 127.0.0.1 at a free port with its socket in that dir, trust
#   authentication (nothing but this machine can reach it), fsync off (it is thrown away).
# - Registers an EXIT trap (keeping any trap already set) that stops it and removes the dir.
# - Sourcing it again while its cluster answers does nothing; a stale URL is replaced.
# Works non-interactively (CI=true, no stdin). Needs: bash, python3 (to pick a free port).

_newsmon_pg_log() { echo "postgres.sh: $*" >&2; }

_newsmon_pg_bindir() {
  local dir
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v initdb)")"
    return 0
  fi
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
    echo "$dir"
    return 0
  fi
  return 1
}

_newsmon_pg_install() {
  if [ "$(id -u)" != 0 ]; then
    _newsmon_pg_log "PostgreSQL is not installed and this is not root: install the 'postgresql' package"
    return 1
  fi
  _newsmon_pg_log "installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq </dev/null >/dev/null || return 1
  # The package's own 'main' cluster is not used (policy-rc.d may stop it from starting anyway).
  apt-get install -y -qq --no-install-recommends postgresql </dev/null >/dev/null || return 1
}

# Run a command as the cluster's user ($1), from a directory that user can enter.
_newsmon_pg_as() {
  local user=$1
  shift
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u "$user" -- "$@")
  else
    (cd / && "$@")
  fi
}

_newsmon_pg_answers() {
  [ -n "${NEWSMON_TEST_POSTGRES_URL:-}" ] || return 1
  local bindir
  bindir=$(_newsmon_pg_bindir) || return 1
  [ -x "$bindir/pg_isready" ] || bindir=$(dirname "$(command -v psql 2>/dev/null || echo /usr/bin/psql)")
  "$bindir/pg_isready" -q -d "$NEWSMON_TEST_POSTGRES_URL" >/dev/null 2>&1
}

_newsmon_pg_stop() {
  if [ -n "${_NEWSMON_PG_DIR:-}" ] && [ -d "$_NEWSMON_PG_DIR" ]; then
    _newsmon_pg_as "$_NEWSMON_PG_USER" "$_NEWSMON_PG_BIN/pg_ctl" -D "$_NEWSMON_PG_DIR/data" \
      -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$_NEWSMON_PG_DIR"
  fi
  _NEWSMON_PG_DIR=""
}

_newsmon_pg_start() {
  local bindir user dir port previous
  if _newsmon_pg_answers; then
    _newsmon_pg_log "reusing the server at NEWSMON_TEST_POSTGRES_URL"
    return 0
  fi
  bindir=$(_newsmon_pg_bindir) || { _newsmon_pg_install && bindir=$(_newsmon_pg_bindir); } || {
    _newsmon_pg_log "no initdb/pg_ctl found, even after installing"
    return 1
  }
  if [ "$(id -u)" = 0 ]; then
    if id postgres >/dev/null 2>&1; then user=postgres; else user=nobody; fi
  else
    user=$(id -un)
  fi
  dir=$(mktemp -d "${TMPDIR:-/tmp}/newsmon-pg.XXXXXX") || return 1
  chmod 700 "$dir"
  [ "$(id -u)" = 0 ] && chown "$user" "$dir"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || return 1

  _NEWSMON_PG_DIR=$dir _NEWSMON_PG_USER=$user _NEWSMON_PG_BIN=$bindir
  # Keep a trap someone set before us, and add ours.
  previous=$(trap -p EXIT | sed -e "s/^trap -- '\(.*\)' EXIT$/\1/")
  # shellcheck disable=SC2064
  trap "_newsmon_pg_stop; ${previous:-:}" EXIT

  if ! _newsmon_pg_as "$user" "$bindir/initdb" -D "$dir/data" -U newsmon --auth=trust -E UTF8 \
      --no-locale --no-sync >"$dir/initdb.log" 2>&1; then
    _newsmon_pg_log "initdb failed:"; cat "$dir/initdb.log" >&2; _newsmon_pg_stop; return 1
  fi
  if ! _newsmon_pg_as "$user" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      start >/dev/null; then
    _newsmon_pg_log "the server did not start:"; cat "$dir/server.log" >&2; _newsmon_pg_stop; return 1
  fi
  if ! _newsmon_pg_as "$user" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U newsmon newsmon_test; then
    _newsmon_pg_log "createdb failed"; _newsmon_pg_stop; return 1
  fi
  export NEWSMON_TEST_POSTGRES_URL="postgresql://newsmon@127.0.0.1:$port/newsmon_test"
  export NEWSMON_TEST_PGDATA="$dir/data" NEWSMON_TEST_PG_BIN="$bindir" NEWSMON_TEST_PG_USER="$user"
  _newsmon_pg_log "PostgreSQL $("$bindir/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port as $user ($dir)"
}

_newsmon_pg_start
