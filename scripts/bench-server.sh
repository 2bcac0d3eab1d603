#!/usr/bin/env bash
# make bench-server: one massconn-server process against a throwaway
# PostgreSQL, as many idle WebSocket connections as the open-file limit
# allows (minus headroom), then a series of single-row inserts fanned out to
# all of them. Prints the server's RSS per idle connection and the
# insert-to-last-client latency next to their goals. Bounded in time
# (BENCH_MAX_DURATION) and count; stops everything it started.
#
# Environment (all optional):
#   CONNS               connections (default: open-file limit minus 2000)
#   ROUNDS              single-row inserts to time (default 20)
#   SETTLE              idle time before reading RSS (default 10s)
#   BENCH_MAX_DURATION  bound on the whole client run (default 10m)
#   SERVER_FLAGS        extra flags for massconn-server serve
#   DATABASE_URL        use this database instead of a throwaway one
#   TARGETS             servers to measure one after the other in this run
#                       (default "massconn nodews"; nodews is the npm ws
#                       broadcast server in server/testdata/nodews, fed by
#                       POST /publish instead of PostgreSQL)
#   PUBLISH_SIZE        bytes of each message sent to nodews (default: the
#                       size of massconn-server's message for one Track row)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=scripts/lib/pg.sh
source scripts/lib/pg.sh

server=${SERVER:-$root/bin/massconn-server}
if [ ! -x "$server" ]; then
  echo "bench-server: $server not found; build it first: make bin/massconn-server" >&2
  exit 1
fi

work=$(mktemp -d /tmp/massconn-bench.XXXXXX)
server_pid=""
node_pid=""

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
  trap '' INT TERM
  stop_proc "$server_pid" massconn-server
  stop_proc "$node_pid" nodews
  pg_stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "bench-server: building the bench client" >&2
go build -o "$work/massconn-fanout-bench" ./server/cmd/massconn-fanout-bench

pg_start

port=$(free_port)
listen=127.0.0.1:$port
# --max-conns far above the bench, so it never refuses one of its clients.
# shellcheck disable=SC2086 # SERVER_FLAGS is a list of flags
"$server" serve --listen "$listen" --database-url "$DATABASE_URL" \
  --max-conns 1000000 --log-level warn ${SERVER_FLAGS:-} >"$work/server.log" 2>&1 &
server_pid=$!

for _ in $(seq 1 300); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "bench-server: massconn-server exited during start-up:" >&2
    cat "$work/server.log" >&2
    exit 1
  fi
  curl -fsS -o /dev/null --max-time 1 "http://$listen/healthz" 2>/dev/null && break
  sleep 0.1
done
if ! curl -fsS -o /dev/null --max-time 1 "http://$listen/healthz" 2>/dev/null; then
  echo "bench-server: massconn-server on $listen not healthy after 30 s:" >&2
  cat "$work/server.log" >&2
  exit 1
fi
# Let start-up allocations settle before the baseline RSS is read.
sleep 2

status=0
targets=${TARGETS:-massconn nodews}
case " $targets " in *" massconn "*)
"$work/massconn-fanout-bench" \
  --url "ws://$listen/ws?topic=Track" \
  --database-url "$DATABASE_URL" \
  --server-pid "$server_pid" \
  --conns "${CONNS:-0}" \
  --rounds "${ROUNDS:-20}" \
  --settle "${SETTLE:-10s}" \
  --payload-size-file "$work/payload-size" \
  --max-duration "${BENCH_MAX_DURATION:-10m}" || status=$?
if [ -s "$work/server.log" ]; then
  echo "--- server log (warnings and errors) ---" >&2
  tail -20 "$work/server.log" >&2
fi
;; esac
stop_proc "$server_pid" massconn-server
server_pid=""

case " $targets " in *" nodews "*)
# The Node.js target sends messages of the size massconn-server sent.
default_publish_size=200
if [ -s "$work/payload-size" ]; then
  default_publish_size=$(cat "$work/payload-size")
fi
nodedir=$root/server/testdata/nodews
if [ ! -d "$nodedir/node_modules" ]; then
  echo "bench-server: $nodedir/node_modules missing; run make server/testdata/nodews/node_modules" >&2
  exit 1
fi
port=$(free_port)
listen=127.0.0.1:$port
node "$nodedir/server.js" --listen "$listen" >"$work/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null --max-time 1 "http://$listen/healthz" 2>/dev/null && break
  sleep 0.1
done
sleep 2
"$work/massconn-fanout-bench" \
  --target "Node.js ws $(node -p 'require(process.argv[1]).version' "$nodedir/node_modules/ws/package.json") (node $(node --version))" \
  --url "ws://$listen/ws" \
  --publish-url "http://$listen/publish" \
  --publish-size "${PUBLISH_SIZE:-$default_publish_size}" \
  --server-pid "$node_pid" \
  --conns "${CONNS:-0}" \
  --rounds "${ROUNDS:-20}" \
  --settle "${SETTLE:-10s}" \
  --max-duration "${BENCH_MAX_DURATION:-10m}" || status=$?
;; esac
exit "$status"
