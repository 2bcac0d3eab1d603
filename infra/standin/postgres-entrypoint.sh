#!/bin/bash
# Entrypoint of the postgres:15-bookworm stand-in (see postgres.Dockerfile).
set -euo pipefail
if [ "${1:-}" != postgres ]; then
  exec "$@"
fi
shift
if [ -z "${POSTGRES_PASSWORD:-}" ]; then
  echo "docker-entrypoint.sh: POSTGRES_PASSWORD is not set; set it (compose: environment: POSTGRES_PASSWORD)" >&2
  exit 1
fi
mkdir -p "$PGDATA" /var/run/postgresql
chown postgres: "$PGDATA" /var/run/postgresql
chmod 0700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  chown postgres: "$pwfile"
  runuser -u postgres -- initdb -D "$PGDATA" -U postgres --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --no-sync >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
fi
exec runuser -u postgres -- postgres -D "$PGDATA" "$@"
