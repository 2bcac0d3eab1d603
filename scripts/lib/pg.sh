# shellcheck shell=bash
# Throwaway PostgreSQL for scripts. Source it, then:
#
#   source scripts/lib/pg.sh
#   trap pg_stop EXIT          # or call pg_stop from your own cleanup
#   pg_start                   # exports DATABASE_URL
#
# If DATABASE_URL is already set, pg_start uses that database and pg_stop
# leaves it alone. initdb/pg_ctl refuse to run as root, so as root the
# cluster belongs to the `postgres` OS user.

# shellcheck source=scripts/lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/proc.sh"

PG_DIR=""
PG_PORT=""
PG_OWNED=0

_pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pg_start() {
  if [ -n "${DATABASE_URL:-}" ]; then
    echo "pg.sh: using existing DATABASE_URL" >&2
    PG_OWNED=0
    return 0
  fi
  local bin
  if ! command -v initdb >/dev/null 2>&1; then
    bin=$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -1)
    if [ -z "$bin" ]; then
      echo "pg.sh: initdb not found; install PostgreSQL 15 (apt-get install postgresql) or set DATABASE_URL" >&2
      return 1
    fi
    PATH="$PATH:$(dirname "$bin")"
    export PATH
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "pg.sh: running as root needs the 'postgres' OS user (useradd --system postgres) or set DATABASE_URL" >&2
    return 1
  fi
  PG_DIR=$(mktemp -d /tmp/massconn-pg.XXXXXX)
  chmod 755 "$PG_DIR"
  mkdir "$PG_DIR/data" "$PG_DIR/sock"
  if [ "$(id -u)" = 0 ]; then
    chown -R postgres: "$PG_DIR"
  fi
  PG_PORT=$(free_port) || { echo "pg.sh: no free port found" >&2; return 1; }
  if ! _pg_as_owner initdb -D "$PG_DIR/data" -U postgres -A trust --no-sync -E UTF8 >"$PG_DIR/initdb.log" 2>&1; then
    echo "pg.sh: initdb failed, see $PG_DIR/initdb.log:" >&2
    tail -5 "$PG_DIR/initdb.log" >&2
    return 1
  fi
  if ! _pg_as_owner pg_ctl -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_DIR/sock -c fsync=off -c max_connections=200" \
    start >/dev/null; then
    echo "pg.sh: pg_ctl start failed, see $PG_DIR/postgres.log:" >&2
    tail -5 "$PG_DIR/postgres.log" >&2
    return 1
  fi
  PG_OWNED=1
  DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable"
  export DATABASE_URL PG_DIR PG_PORT
  echo "pg.sh: PostgreSQL on 127.0.0.1:$PG_PORT (data in $PG_DIR)" >&2
}

# pg_stop is safe to call twice and from an EXIT trap.
pg_stop() {
  if [ "$PG_OWNED" = 1 ] && [ -n "$PG_DIR" ] && [ -d "$PG_DIR/data" ]; then
    _pg_as_owner pg_ctl -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
    unset DATABASE_URL
  fi
  PG_OWNED=0
  PG_DIR=""
}
