#!/usr/bin/env bash
# The main job (`make bench`): one scenario of the benchmark suite on this
# machine — a throwaway PostgreSQL (or DATABASE_URL), massconn-server
# process(es), the insert loop, k6 with xk6-massconn as one or more
# processes (a fleet split by --execution-segment once the count exceeds
# what one process may hold), then one merged report in
# results/<UTC timestamp>-<scenario>/: report.md, report.json, chart.svg and
# k6's web-dashboard export(s).
#
#   make bench                                   # capacity, sized to this machine
#   make bench CONNECTIONS=200000 DURATION=60s
#   make bench SCENARIO=fanout CONNECTIONS=100000
#   make bench SCENARIO=arrival CONNECTIONS=100000 ARRIVAL_RATE=2000
#   make bench SCENARIO=soak DURATION=1h
#   make bench SCENARIO=baseline-stock CONNECTIONS=5000
#   make bench TRANSPORT=sse                     # the same over Server-Sent Events (http://.../sse)
#   make bench SCENARIO=heartbeat CONNECTIONS=200000 DURATION=10m   # seed 004: SSE heartbeats, no rows
#   make bench SCENARIO=limit START=2000 STEP=2000 MAX=20000   # how many connections does it hold?
#   make bench TARGET='ws://127.0.0.1:8090/sub?id=news' PUBLISH_URL='http://127.0.0.1:8090/pub?id=news'   # your server
#
# Environment (all optional):
#   SCENARIO      capacity (default), arrival, fanout, soak, baseline-stock, heartbeat (SSE connections, no
#                 rows, the server's heartbeat comment every HEARTBEAT; PASS = no drop and no connection silent
#                 longer than HEARTBEAT + 1s), or limit: the capacity search
#                 (one capacity run per step of connections until a step breaks the service level)
#   The capacity search (SCENARIO=limit): START (first step; default a quarter of one k6 process's share),
#                 STEP or FACTOR (added or multiplied each step; default FACTOR=2), MAX (default: the load
#                 generator's budget here), STEP_HOLD (each step's hold, default 20s), SLO_P99 (default 1s),
#                 SLO_FAILURES (default 0), SLO_CONNECT_P95 (default 5s), LG_BUDGET (comma-separated
#                 NAME=CONNECTIONS replacing the load generator's limits read here: open-files, ports,
#                 conntrack, memory)
#   TRANSPORT     ws (default: WebSocket to the servers' /ws) or sse (Server-Sent Events: an EventSource per
#                 connection to their /sse); with TARGET, the URLs' scheme says it
#   HEARTBEAT     SCENARIO=heartbeat: the servers' --sse-heartbeat and the silence bound (default 15s);
#                 for the other scenarios it goes to the script (soak.js: the client's heartbeat message)
#   CONNECTIONS   fleet total; default: what one k6 process may hold here
#   DURATION      hold time; default per scenario (capacity 60s, arrival 10s, fanout 30s, soak 1h)
#   DATABASE_URL  use this PostgreSQL instead of a throwaway one
#   PARTS SERVERS k6 / server process counts (default: fewest under the open-file limit)
#   BASE_PORT     first server port (default 18080)
#   INSERT_EVERY  insert loop interval (default 1s); INSERT_COUNT stops it after that many rows
#   INSERT_AFTER_OPEN  true (default): inserts start once every connection is open; false: from the start
#   RESULTS       results directory (default results/<UTC timestamp>-<scenario>)
#   P99_BOUND     largest fan-out p99 that passes (default 1s). PASS also needs every row inserted while
#                 all connections were open to reach every connection (exact, from the sequence check)
#   RATE          connection attempts/s for the whole fleet, shared by the k6 processes (default: 4000
#                 with several processes, unpaced with one; 0 = unpaced)
#   SERVER_ARGS   more arguments for every server process, split on spaces, e.g.
#                 SERVER_ARGS="--ping-interval=120s" (the default 30 s pings cost most at a million)
#   FLOOR         false: skip measuring the machine's floor before the load (default: measured, a second or two)
#   PROFILE       length of one server's CPU profile during the hold (default 10s; 0 = none)
#   Against someone else's server (no PostgreSQL, no server of ours is started):
#   TARGET        comma-separated ws:// or wss:// (WebSocket) or http:// or https:// (SSE) URLs to connect to
#                 instead of our servers
#   PUBLISH_URL   publish a message each PUBLISH_EVERY (default 1s) with an HTTP request here;
#                 PUBLISH_BODY (default {"seq":{{seq}},"ts":{{now_us}}}), PUBLISH_METHOD (POST),
#                 PUBLISH_HEADER (one 'Name: value'), PUBLISH_COUNT
#   INSERT_SQL    instead: run this statement in DATABASE_URL each PUBLISH_EVERY; it returns the row id
#   TARGET_PID    comma-separated pids of the target's processes (children included) to measure
#   Passed to the scripts when set: ARRIVAL_RATE RATE MAX_IN_FLIGHT SAMPLE_LIMIT MIN_PER_CONN
#   MIN_RATE_RATIO P99_MS HEARTBEAT HEARTBEAT_EVERY RECONNECT RAMP CONNECT_TIMEOUT CONNECT_ALLOWANCE
#   PROTOCOL HEADERS LATENCY_PATH LATENCY_UNIT SEQUENCE_PATH SEQUENCE_PER
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

GO=${GO:-go}
if [ ! -x bin/k6 ] || [ ! -x bin/massconn-server ]; then
  make bin/k6 bin/massconn-server
fi
"$GO" build -o bin/massconn-fleet ./fleet/cmd/massconn-fleet

scenario=${SCENARIO:-capacity}
args=(run --scenario "$scenario" --k6 bin/k6 --server bin/massconn-server --scripts k6scripts
  --base-port "${BASE_PORT:-18080}" --insert-every "${INSERT_EVERY:-1s}")
# The capacity search sets its own counts (START, STEP, MAX).
[ "$scenario" != limit ] && args+=(--connections "${CONNECTIONS:-0}")
[ -n "${DURATION:-}" ] && args+=(--duration "$DURATION")
[ -n "${TRANSPORT:-}" ] && args+=(--transport "$TRANSPORT")
if [ "$scenario" = heartbeat ] && [ -n "${HEARTBEAT:-}" ]; then
  args+=(--heartbeat "$HEARTBEAT")
  unset HEARTBEAT # the fleet passes it on to heartbeat.js
fi
[ -n "${PARTS:-}" ] && args+=(--parts "$PARTS")
[ -n "${SERVERS:-}" ] && args+=(--servers "$SERVERS")
[ -n "${INSERT_COUNT:-}" ] && args+=(--insert-count "$INSERT_COUNT")
[ -n "${INSERT_AFTER_OPEN:-}" ] && args+=(--insert-after-open="$INSERT_AFTER_OPEN")
[ -n "${RESULTS:-}" ] && args+=(--out "$RESULTS")
[ -n "${P99_BOUND:-}" ] && args+=(--p99-bound "$P99_BOUND")
for a in ${SERVER_ARGS:-}; do
  args+=("--server-arg=$a")
done
[ -n "${FLOOR:-}" ] && args+=(--floor="$FLOOR")
[ -n "${PROFILE:-}" ] && args+=(--profile "$PROFILE")
for v in START STEP FACTOR MAX STEP_HOLD SLO_P99 SLO_FAILURES SLO_CONNECT_P95; do
  if [ -n "${!v:-}" ]; then
    flag=${v,,}
    args+=("--${flag//_/-}" "${!v}")
  fi
done
IFS=, read -r -a lg_budget <<<"${LG_BUDGET:-}"
for b in "${lg_budget[@]}"; do
  args+=(--lg-budget "$b")
done
IFS=, read -r -a targets <<<"${TARGET:-}"
for t in "${targets[@]}"; do
  args+=(--target "$t")
done
IFS=, read -r -a target_pids <<<"${TARGET_PID:-}"
for p in "${target_pids[@]}"; do
  args+=(--target-pid "$p")
done
[ -n "${PUBLISH_URL:-}" ] && args+=(--publish-url "$PUBLISH_URL")
[ -n "${PUBLISH_BODY:-}" ] && args+=(--publish-body "$PUBLISH_BODY")
[ -n "${PUBLISH_METHOD:-}" ] && args+=(--publish-method "$PUBLISH_METHOD")
[ -n "${PUBLISH_HEADER:-}" ] && args+=(--publish-header "$PUBLISH_HEADER")
[ -n "${PUBLISH_EVERY:-}" ] && args+=(--publish-every "$PUBLISH_EVERY")
[ -n "${PUBLISH_COUNT:-}" ] && args+=(--publish-count "$PUBLISH_COUNT")
[ -n "${INSERT_SQL:-}" ] && args+=(--insert-sql "$INSERT_SQL")
for v in ARRIVAL_RATE RATE MAX_IN_FLIGHT SAMPLE_LIMIT MIN_PER_CONN MIN_RATE_RATIO P99_MS \
  HEARTBEAT HEARTBEAT_EVERY RECONNECT RAMP CONNECT_TIMEOUT CONNECT_ALLOWANCE \
  PROTOCOL HEADERS LATENCY_PATH LATENCY_UNIT SEQUENCE_PATH SEQUENCE_PER; do
  if [ -n "${!v:-}" ]; then
    args+=(-e "$v=${!v}")
  fi
done
echo "+ bin/massconn-fleet ${args[*]}"
exec bin/massconn-fleet "${args[@]}"
