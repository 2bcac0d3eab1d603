#!/usr/bin/env bash
# Benchmark (not a test): per-connection programs (steps) and churn
# (lifetime) in xk6-massconn, one run, each phase short:
#   1. k6 RSS per held connection, STEPS_CONNS (18,000) connections to the
#      npm ws echo peer, idle and then each running a ten-step program
#      (k6scripts/bench/steps-hold.js), both minus the RSS of one idle VU
#      with the module imported (k6scripts/bench/idle-massconn.js);
#   2. massconn_rtt p50/p99 of k6scripts/rtt.js at RTT_CONNS (10,000)
#      connections against the same echo peer (think time 1-3 s);
#   3. churn: CHURN_CONNS (10,000) slots against bin/massconn-server with
#      lifetimes of 1-3 s, reopens paced by CHURN_RATE (3000/s), for
#      CHURN_HOLD_MS: reconnects per second sustained, failures and drops.
# RSS is VmRSS from /proc/PID/status: the highest of 10 samples (200 ms
# apart) taken once the script logs that every connection was attempted.
#
#   flock /tmp/massconn-bench.lock scripts/bench-steps.sh    (or: make bench-steps)
#
# Needs: bin/k6, bin/massconn-server, node + the ws peer's node_modules,
# python3, curl, PostgreSQL 15 (scripts/lib/pg.sh, for massconn-server).
# Environment: STEPS_CONNS, HOLD_MS, RTT_CONNS, RTT_DURATION, CHURN_CONNS,
# CHURN_RATE, CHURN_HOLD_MS, LOCAL_ADDRS (127.0.0.1-4), PHASES ('rss rtt churn').
# Bounded: every k6 run has a deadline (K6_TIMEOUT, 240 s); every process
# started here is stopped on exit, Ctrl-C or SIGTERM.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
K6=${K6:-$root/bin/k6}
SERVER=${MASSCONN_SERVER:-$root/bin/massconn-server}
STEPS_CONNS=${STEPS_CONNS:-18000}
HOLD_MS=${HOLD_MS:-15000}
RTT_CONNS=${RTT_CONNS:-10000}
RTT_DURATION=${RTT_DURATION:-30s}
CHURN_CONNS=${CHURN_CONNS:-10000}
CHURN_RATE=${CHURN_RATE:-3000}
CHURN_HOLD_MS=${CHURN_HOLD_MS:-20000}
LOCAL_ADDRS=${LOCAL_ADDRS-127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4}
K6_TIMEOUT=${K6_TIMEOUT:-240}
PHASES=${PHASES:-rss rtt churn} # a subset runs only those phases

for bin in "$K6" "$SERVER"; do
  [ -x "$bin" ] || { echo "bench-steps: $bin is missing; run 'make build' first" >&2; exit 1; }
done
peer_dir=$root/xk6-massconn/engine/testdata/wspeer
[ -d "$peer_dir/node_modules/ws" ] || { echo "bench-steps: run 'make $peer_dir/node_modules' first" >&2; exit 1; }

work=$(mktemp -d /tmp/massconn-bench-steps.XXXXXX)
server_pid=""
echo_pid=""
k6_pid=""
# shellcheck source=scripts/lib/pg.sh
source "$root/scripts/lib/pg.sh"
# shellcheck source=scripts/lib/proc.sh
source "$root/scripts/lib/proc.sh"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$k6_pid" ] && kill -0 "$k6_pid" 2>/dev/null; then
    kill -TERM "$k6_pid" 2>/dev/null || true
    wait "$k6_pid" 2>/dev/null || true
  fi
  stop_proc "$server_pid" massconn-server
  if [ -n "$echo_pid" ]; then
    exec 9>&- 2>/dev/null || true # the echo peer exits when its stdin closes
    kill -TERM "$echo_pid" 2>/dev/null || true
    wait "$echo_pid" 2>/dev/null || true
  fi
  pg_stop
  if [ "$rc" != 0 ]; then
    echo "bench-steps: failed (exit $rc); logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

json_fields() {
  python3 - "$@" <<'PY'
import json, sys
metrics = json.load(open(sys.argv[1]))["metrics"]
out = []
for path in sys.argv[2:]:
    name, stat = path.rsplit(".", 1)
    v = metrics[name][stat]
    out.append(str(int(v)) if float(v).is_integer() else "%.3f" % v)
print(" ".join(out))
PY
}

# run_k6 NAME SAMPLE ARGS...: runs k6 in the background and waits for it
# (bounded). With SAMPLE=yes, RSS is sampled once the log says "held";
# sets PEAK_RSS (KiB).
run_k6() {
  local name=$1 sample=$2 samples=0 r
  shift 2
  PEAK_RSS=0
  "$K6" run --no-usage-report --summary-trend-stats='min,med,avg,p(90),p(99),max,count' \
    --summary-export "$work/$name-summary.json" "$@" >"$work/$name.log" 2>&1 &
  k6_pid=$!
  local deadline=$((SECONDS + K6_TIMEOUT))
  while kill -0 "$k6_pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      echo "bench-steps: $name still running after ${K6_TIMEOUT}s; stopping it" >&2
      kill -TERM "$k6_pid" 2>/dev/null || true
    fi
    if [ "$sample" = yes ] && [ "$samples" -lt 10 ] && grep -q 'msg="held' "$work/$name.log"; then
      r=$(rss_kb "$k6_pid"); r=${r:-0}
      [ "$r" -gt "$PEAK_RSS" ] && PEAK_RSS=$r
      samples=$((samples + 1))
    fi
    sleep 0.2
  done
  if ! wait "$k6_pid"; then
    echo "bench-steps: $name failed:" >&2
    tail -30 "$work/$name.log" >&2
    k6_pid=""
    return 1
  fi
  k6_pid=""
}

# --- the echo peer (npm ws) -------------------------------------------------
coproc_out=$work/echo.out
exec 9> >(cd "$peer_dir" && exec node server.js 0 >"$coproc_out" 2>&1)
echo_pid=$!
for _ in $(seq 1 100); do grep -q '^listening' "$coproc_out" 2>/dev/null && break; sleep 0.1; done
echo_port=$(awk '/^listening/ {print $2}' "$coproc_out")
[ -n "$echo_port" ] || { echo "bench-steps: the echo peer did not start" >&2; cat "$coproc_out" >&2; exit 1; }
echo_url=ws://127.0.0.1:$echo_port/

phase() { [[ " $PHASES " == *" $1 "* ]]; }

# --- 1. RSS per connection, idle vs ten-step program ---------------------------
if phase rss; then
idle_max=0
IDLE_SECONDS=6 "$K6" run --quiet --no-summary --no-usage-report k6scripts/bench/idle-massconn.js >"$work/idle2.log" 2>&1 &
k6_pid=$!
while kill -0 "$k6_pid" 2>/dev/null; do
  r=$(rss_kb "$k6_pid"); r=${r:-0}
  [ "$r" -gt "$idle_max" ] && idle_max=$r
  sleep 0.2
done
wait "$k6_pid"
k6_pid=""
r=0

declare -A rss
for mode in none ten; do
  run_k6 "hold-$mode" yes -e WS_URL="$echo_url" -e CONNS="$STEPS_CONNS" -e STEPS=$mode -e HOLD_MS="$HOLD_MS" \
    -e LOCAL_ADDRS="$LOCAL_ADDRS" k6scripts/bench/steps-hold.js
  rss[$mode]=$PEAK_RSS
  grep -o 'end open=[^"]*' "$work/hold-$mode.log" | sed "s/^/  $mode: /" || true
done
awk -v idle="$idle_max" -v none="${rss[none]}" -v ten="${rss[ten]}" -v n="$STEPS_CONNS" 'BEGIN {
  printf "k6 RSS, %d connections to the npm ws echo peer (idle VU baseline %.1f MB):\n", n, idle / 1024
  printf "  no program:     %.1f MB held, %.0f bytes per connection\n", none / 1024, (none - idle) * 1024 / n
  printf "  ten-step program: %.1f MB held, %.0f bytes per connection (%+.0f bytes vs no program)\n",
    ten / 1024, (ten - idle) * 1024 / n, (ten - none) * 1024 / n
}'
fi

# --- 2. massconn_rtt at RTT_CONNS ---------------------------------------------
if phase rtt; then
run_k6 rtt no -e URLS="$echo_url" -e CONNECTIONS="$RTT_CONNS" -e DURATION="$RTT_DURATION" \
  -e THINK_MIN=1s -e THINK_MAX=3s -e P99_MS=1000 -e LOCAL_ADDRS="$LOCAL_ADDRS" -e MAX_IN_FLIGHT=500 k6scripts/rtt.js
read -r med p99 mx rcv fails <<<"$(json_fields "$work/rtt-summary.json" massconn_rtt.med 'massconn_rtt.p(99)' massconn_rtt.max \
  ws_msgs_received.count massconn_failures.count)"
echo "massconn_rtt, $RTT_CONNS connections, think 1-3 s, $RTT_DURATION against the npm ws echo peer:"
echo "  p50 $med ms, p99 $p99 ms, max $mx ms; $rcv answers, $fails failures"
fi

# stop the echo peer before the churn phase
exec 9>&-
wait "$echo_pid" 2>/dev/null || true
echo_pid=""

# --- 3. churn against massconn-server -----------------------------------------
phase churn || exit 0
pg_start
port=$(free_port)
listen=127.0.0.1:$port
"$SERVER" serve --listen "$listen" --database-url "$DATABASE_URL" --max-conns $((CHURN_CONNS * 2)) \
  --log-level warn >"$work/server.log" 2>&1 &
server_pid=$!
deadline=$((SECONDS + 60))
until curl -fsS --max-time 2 "http://$listen/healthz" >/dev/null 2>&1; do
  kill -0 "$server_pid" 2>/dev/null || { echo "bench-steps: server exited:" >&2; tail -20 "$work/server.log" >&2; exit 1; }
  [ $SECONDS -lt $deadline ] || { echo "bench-steps: server not healthy after 60s" >&2; exit 1; }
  sleep 0.2
done
run_k6 churn no -e WS_URL="ws://$listen/ws?topic=Track" -e CONNS="$CHURN_CONNS" -e RATE="$CHURN_RATE" \
  -e MAX_IN_FLIGHT="${CHURN_MAX_IN_FLIGHT:-1000}" -e HOLD_MS="$CHURN_HOLD_MS" -e LOCAL_ADDRS="$LOCAL_ADDRS" k6scripts/bench/churn.js
read -r churn sessions fails drops <<<"$(json_fields "$work/churn-summary.json" massconn_churn.count ws_sessions.count \
  massconn_failures.count massconn_drops.count)"
echo "churn, $CHURN_CONNS slots, lifetime 1-3 s, rate $CHURN_RATE/s (0 = unlimited), maxInFlight ${CHURN_MAX_IN_FLIGHT:-1000}, against massconn-server:"
grep -o 'churn [0-9]* in [^"]*' "$work/churn.log" | sed 's/^/  /'
echo "  massconn_churn $churn, ws_sessions $sessions, massconn_failures $fails, massconn_drops $drops"
