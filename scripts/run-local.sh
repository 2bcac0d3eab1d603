#!/usr/bin/env bash
# The main job until the benchmark suite lands (`make run`): a throwaway
# PostgreSQL, massconn-server in front of it and the insert loop feeding it
# one row a second, running until Ctrl-C. Everything it started is stopped
# and its temporary files removed on exit, Ctrl-C or SIGTERM.
#
# Environment (all optional):
#   DATABASE_URL   use this database instead of a throwaway one (left as is)
#   LISTEN         server address (default 127.0.0.1:8080)
#   INSERT_EVERY   insert interval, a Go duration (default 1s)
#   INSERT_TABLE   table the insert loop writes to (default Track)
#   SERVER         server binary (default bin/massconn-server)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/pg.sh
source scripts/lib/pg.sh

listen=${LISTEN:-127.0.0.1:8080}
every=${INSERT_EVERY:-1s}
table=${INSERT_TABLE:-Track}
server=${SERVER:-$root/bin/massconn-server}

if [ ! -x "$server" ]; then
  echo "run-local: $server not found; build it first: make bin/massconn-server" >&2
  exit 1
fi
if ! command -v curl >/dev/null 2>&1; then
  echo "run-local: curl not found; install it (apt-get install curl)" >&2
  exit 1
fi

server_pid=""
insert_pid=""

cleaned=0
cleanup() {
  [ "$cleaned" = 1 ] && return
  cleaned=1
  trap '' INT TERM
  echo "run-local: stopping insert loop, server and database" >&2
  stop_proc "$insert_pid" "insert loop"
  stop_proc "$server_pid" "server"
  pg_stop
  echo "run-local: stopped" >&2
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pg_start

# Process substitution keeps $! the server's own pid while its output is
# labelled; sed ends by itself when the server closes its output.
"$server" serve --listen "$listen" --database-url "$DATABASE_URL" \
  > >(sed -u 's/^/[server] /') 2>&1 &
server_pid=$!

ready=0
for _ in $(seq 1 300); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    wait "$server_pid" || true
    server_pid=""
    echo "run-local: massconn-server exited during start-up (see [server] lines above); if the address is taken, set LISTEN=127.0.0.1:PORT" >&2
    exit 1
  fi
  if curl -fsS -o /dev/null --max-time 1 "http://$listen/healthz" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ "$ready" != 1 ]; then
  echo "run-local: massconn-server did not answer http://$listen/healthz within 30s" >&2
  exit 1
fi

"$server" insert --database-url "$DATABASE_URL" --every "$every" --table "$table" \
  > >(sed -u 's/^/[insert] /') 2>&1 &
insert_pid=$!

cat <<EOF

massconn is running: PostgreSQL -> massconn-server -> WebSocket clients,
with a row inserted into $table every $every.

  status page  http://$listen/
  WebSocket    ws://$listen/ws            (add ?topic=$table to filter)
  health       http://$listen/healthz
  metrics      http://$listen/metrics
  database     $DATABASE_URL

Press Ctrl-C to stop everything.

EOF

# Returns when a signal arrives (the traps above turn it into exit and
# cleanup) or when either process ends: on Ctrl-C in a terminal the whole
# process group gets SIGINT, so the server and the insert loop may stop
# cleanly (status 0) before this shell runs its trap.
status=0
wait -n "$server_pid" "$insert_pid" || status=$?
if kill -0 "$server_pid" 2>/dev/null; then
  ended="the insert loop"
else
  ended="massconn-server"
fi
if [ "$status" != 0 ]; then
  echo "run-local: $ended failed (status $status)" >&2
  exit "$status"
fi
echo "run-local: $ended stopped" >&2
