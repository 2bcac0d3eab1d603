#!/usr/bin/env bash
# Benchmark (not a test): k6 process memory per held WebSocket connection and
# connections established per second, stock k6 versus k6 with xk6-massconn,
# in one run against one server on this machine.
#
#   scripts/bench-k6.sh            (or: make bench-k6)
#
# Server: bin/massconn-server, the project's real server (gws hub fed by a
# throwaway PostgreSQL), with --max-conns above everything the run opens.
# It is the server the rest of the project measures, so the figures are the
# ones a user of this repository would see. It runs on the same 2 cores as
# k6, so the connect rates below are bounded by the server's CPU as much as
# by the client's: the CPU seconds of both are printed next to each rate.
#
# Phases, one after the other (never both at once, so the server and the
# kernel serve one client at a time):
#   1. stock k6 (k6/websockets), one VU per connection, STOCK_CONNS (2000);
#   2. k6 with xk6-massconn, one VU holding as many connections as this
#      process's RLIMIT_NOFILE allows minus FD_HEADROOM (about 18,000);
#   3. the metric pipeline under a message flood: FLOOD_CONNS (1000)
#      xk6-massconn connections in an echo ping-pong for FLOOD_SECONDS (30)
#      against the gws echo server of massconn-engine-bench (-serve), with
#      k6's RSS sampled every second: it must stay flat while millions of
#      messages are counted.
# Each phase first runs the same binary with the same module imported and
# one idle VU (k6scripts/bench/idle-*.js): its RSS is the baseline that
# "net" subtracts. RSS is VmRSS from /proc/PID/status, sampled every 200 ms;
# "held" is the highest sample taken while the server reports every
# connection of the phase open.
#
# The massconn phase spreads its connections over two loopback source
# addresses (MASSCONN_LOCAL_ADDRS, default 127.0.0.1,127.0.0.2; empty = the
# kernel's choice, as stock k6 does): with more connections per (source,
# target) pair than half the ephemeral range, every connect() makes the
# kernel scan thousands of taken ports, which triples the client's CPU per
# connection (massconn-engine-bench, 18,000 connections: ~200 us vs ~75 us).
# Needs: go, python3, curl, PostgreSQL 15 (scripts/lib/pg.sh).
#
# Environment: STOCK_CONNS (2000), MASSCONN_CONNS (0 = from RLIMIT_NOFILE),
# FD_HEADROOM (2000), HOLD_MS (15000: how long after the scenario start the
# connections are held), STOCK_K6 (a stock k6 v1.8.1; default bin/k6-stock,
# built once with xk6 and no extension), K6 (bin/k6), MASSCONN_SERVER.
#
# Bounded: every k6 run and every wait has a deadline (K6_TIMEOUT, 240 s);
# every process started here is stopped on exit, Ctrl-C or SIGTERM.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
K6=${K6:-$root/bin/k6}
SERVER=${MASSCONN_SERVER:-$root/bin/massconn-server}
STOCK_K6=${STOCK_K6:-$root/bin/k6-stock}
K6_VERSION=${K6_VERSION:-v1.8.1}
STOCK_CONNS=${STOCK_CONNS:-2000}
MASSCONN_CONNS=${MASSCONN_CONNS:-0}
MASSCONN_LOCAL_ADDRS=${MASSCONN_LOCAL_ADDRS-127.0.0.1,127.0.0.2}
FD_HEADROOM=${FD_HEADROOM:-2000}
HOLD_MS=${HOLD_MS:-15000}
K6_TIMEOUT=${K6_TIMEOUT:-240}
FLOOD_CONNS=${FLOOD_CONNS:-1000}
FLOOD_SECONDS=${FLOOD_SECONDS:-30}

for bin in "$K6" "$SERVER"; do
  [ -x "$bin" ] || { echo "bench-k6: $bin is missing; run 'make build' first" >&2; exit 1; }
done

work=$(mktemp -d /tmp/massconn-bench-k6.XXXXXX)
server_pid=""
echo_pid=""
k6_pid=""
# shellcheck source=scripts/lib/pg.sh
source "$root/scripts/lib/pg.sh"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$k6_pid" ] && kill -0 "$k6_pid" 2>/dev/null; then
    kill -TERM "$k6_pid" 2>/dev/null || true
    wait "$k6_pid" 2>/dev/null || true
  fi
  stop_proc "$server_pid" massconn-server
  if [ -n "$echo_pid" ]; then
    exec 9>&- 2>/dev/null || true # the echo server exits when its stdin closes
    kill -TERM "$echo_pid" 2>/dev/null || true
    wait "$echo_pid" 2>/dev/null || true
  fi
  pg_stop
  if [ "$rc" != 0 ]; then
    echo "bench-k6: failed (exit $rc); logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- stock k6, built once and cached -----------------------------------------
if ! { [ -x "$STOCK_K6" ] && "$STOCK_K6" version 2>/dev/null | grep -q "$K6_VERSION"; }; then
  echo "bench-k6: building stock k6 $K6_VERSION (no extension) into $STOCK_K6" >&2
  "${XK6:-$root/bin/xk6}" build "$K6_VERSION" --output "$STOCK_K6.tmp.$$" >"$work/xk6.log" 2>&1 ||
    { tail -20 "$work/xk6.log" >&2; exit 1; }
  mv "$STOCK_K6.tmp.$$" "$STOCK_K6"
fi

# --- helpers ------------------------------------------------------------------
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# cpu_ticks PID: user+system CPU time in clock ticks (1/100 s).
cpu_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  echo $(( ${12} + ${13} ))
}

# json_fields FILE METRIC.STAT...: values from a k6 --summary-export file.
json_fields() {
  python3 - "$@" <<'PY'
import json, sys
metrics = json.load(open(sys.argv[1]))["metrics"]
out = []
for path in sys.argv[2:]:
    name, stat = path.rsplit(".", 1)
    v = metrics[name][stat]
    out.append(str(int(v)) if float(v).is_integer() else str(v))
print(" ".join(out))
PY
}

server_conns() {
  curl -fsS --max-time 2 "http://$listen/metrics" 2>/dev/null |
    awk '$1 == "massconn_connections" {printf "%d", $2; found=1} END {if (!found) print 0}'
}

wait_server_conns() { # wait_server_conns N SECONDS: until the server holds exactly N
  local deadline=$((SECONDS + $2))
  while [ "$(server_conns)" != "$1" ]; do
    if [ $SECONDS -ge $deadline ]; then
      echo "bench-k6: server still holds $(server_conns) connections, expected $1" >&2
      return 1
    fi
    sleep 0.2
  done
}

# past_deadline T: stops the running k6 (k6 is run directly, not under
# timeout(1), so that $! is k6 itself and its /proc entries are the ones read).
past_deadline() {
  if [ $SECONDS -ge "$1" ]; then
    echo "bench-k6: k6 still running after ${K6_TIMEOUT}s; stopping it" >&2
    kill -TERM "$k6_pid" 2>/dev/null || true
    return 1
  fi
}

# idle_rss BINARY SCRIPT: sets IDLE_RSS, the highest RSS (KiB) of one idle VU
# with the module imported, and IDLE_CPU, its CPU ticks (k6's start-up cost).
idle_rss() {
  local max=0 r
  IDLE_CPU=0
  IDLE_SECONDS=6 "$1" run --quiet --no-summary --no-usage-report "$2" \
    >"$work/idle.log" 2>&1 &
  k6_pid=$!
  local deadline=$((SECONDS + K6_TIMEOUT))
  while kill -0 "$k6_pid" 2>/dev/null; do
    past_deadline "$deadline"
    r=$(rss_kb "$k6_pid"); r=${r:-0}
    [ "$r" -gt "$max" ] && max=$r
    r=$(cpu_ticks "$k6_pid")
    [ "$r" -gt "$IDLE_CPU" ] && IDLE_CPU=$r # 0 once the process is gone
    sleep 0.2
  done
  wait "$k6_pid" || { echo "bench-k6: idle run of $1 failed:" >&2; tail -20 "$work/idle.log" >&2; return 1; }
  k6_pid=""
  IDLE_RSS=$max
}

# hold_run NAME BINARY SCRIPT CONNS [k6 args...]: runs the hold script and
# samples the k6 RSS while the server reports all CONNS connections open.
# Sets HELD_RSS (KiB, 0 if never all held), K6_CPU and SRV_CPU (ticks).
hold_run() {
  local name=$1 bin=$2 script=$3 conns=$4
  shift 4
  local srv0 held_samples=0 r n
  HELD_RSS=0
  srv0=$(cpu_ticks "$server_pid")
  CONNS=$conns HOLD_UNTIL_MS=$HOLD_MS WS_URL="ws://$listen/ws?topic=Track" \
    "$bin" run --no-usage-report --summary-trend-stats=count,max \
    --summary-export "$work/$name-summary.json" "$@" "$script" >"$work/$name.log" 2>&1 &
  k6_pid=$!
  K6_CPU=0
  local deadline=$((SECONDS + K6_TIMEOUT))
  while kill -0 "$k6_pid" 2>/dev/null; do
    past_deadline "$deadline"
    r=$(cpu_ticks "$k6_pid")
    [ "$r" -gt "$K6_CPU" ] && K6_CPU=$r # 0 once the process is gone
    if [ "$held_samples" -lt 10 ]; then
      n=$(server_conns)
      if [ "$n" = "$conns" ]; then
        r=$(rss_kb "$k6_pid"); r=${r:-0}
        [ "$r" -gt "$HELD_RSS" ] && HELD_RSS=$r
        held_samples=$((held_samples + 1))
      fi
    fi
    sleep 0.2
  done
  if ! wait "$k6_pid"; then
    echo "bench-k6: $name run failed:" >&2
    tail -30 "$work/$name.log" >&2
    k6_pid=""
    return 1
  fi
  k6_pid=""
  SRV_CPU=$(( $(cpu_ticks "$server_pid") - srv0 ))
  if [ "$HELD_RSS" = 0 ]; then
    echo "bench-k6: $name: the server never reported all $conns connections open" >&2
    tail -30 "$work/$name.log" >&2
    return 1
  fi
}

# --- server -------------------------------------------------------------------
nofile=$(ulimit -n)
if [ "$MASSCONN_CONNS" = 0 ]; then
  MASSCONN_CONNS=$((nofile - FD_HEADROOM))
fi
pg_start
port=$(free_port)
listen=127.0.0.1:$port
"$SERVER" serve --listen "$listen" --database-url "$DATABASE_URL" --max-conns $((MASSCONN_CONNS + STOCK_CONNS + 1000)) \
  --log-level warn >"$work/server.log" 2>&1 &
server_pid=$!
deadline=$((SECONDS + 60))
until curl -fsS --max-time 2 "http://$listen/healthz" >/dev/null 2>&1; do
  kill -0 "$server_pid" 2>/dev/null || { echo "bench-k6: server exited:" >&2; tail -20 "$work/server.log" >&2; exit 1; }
  [ $SECONDS -lt $deadline ] || { echo "bench-k6: server not healthy after 60s" >&2; exit 1; }
  sleep 0.2
done

echo "== massconn k6 benchmark: $(date -u +%FT%TZ), $(nproc) cores, RLIMIT_NOFILE $nofile"
echo "server: bin/massconn-server on $listen (same machine); sources: stock 127.0.0.1, massconn ${MASSCONN_LOCAL_ADDRS:-kernel choice}"

# --- phase 1: stock k6 --------------------------------------------------------
idle_rss "$STOCK_K6" k6scripts/bench/idle-stock.js
stock_idle=$IDLE_RSS stock_idle_cpu=$IDLE_CPU
hold_run stock "$STOCK_K6" k6scripts/bench/stock-hold.js "$STOCK_CONNS"
stock_held=$HELD_RSS stock_cpu=$K6_CPU stock_srv_cpu=$SRV_CPU
read -r stock_open stock_last_ms < <(json_fields "$work/stock-summary.json" bench_opened_at.count bench_opened_at.max)
stock_errors=$(grep -c 'BENCH error' "$work/stock.log" || true)
wait_server_conns 0 60

# --- phase 2: xk6-massconn ----------------------------------------------------
idle_rss "$K6" k6scripts/bench/idle-massconn.js
mc_idle=$IDLE_RSS mc_idle_cpu=$IDLE_CPU
LOCAL_ADDRS=$MASSCONN_LOCAL_ADDRS hold_run massconn "$K6" k6scripts/bench/massconn-hold.js "$MASSCONN_CONNS"
mc_held=$HELD_RSS mc_cpu=$K6_CPU mc_srv_cpu=$SRV_CPU
line=$(grep -o 'BENCH open=.*' "$work/massconn.log" | head -1)
mc_open=$(sed -E 's/.*open=([0-9]+).*/\1/' <<<"$line")
mc_ms=$(sed -E 's/.*connect_ms=([0-9]+).*/\1/' <<<"$line")
mc_failed=$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line")
wait_server_conns 0 60

# --- phase 3: metric pipeline under a message flood ----------------------------
(cd xk6-massconn && go build -o "$work/engine-bench" ./engine/cmd/massconn-engine-bench)
mkfifo "$work/echo.in"
"$work/engine-bench" -serve 127.0.0.1:0 <"$work/echo.in" >"$work/echo.out" 2>&1 &
echo_pid=$!
exec 9>"$work/echo.in"
deadline=$((SECONDS + 30))
until echo_port=$(awk '/^listening / {print $2; found=1} END {exit !found}' "$work/echo.out"); do
  kill -0 "$echo_pid" 2>/dev/null || { echo "bench-k6: echo server exited:" >&2; cat "$work/echo.out" >&2; exit 1; }
  [ $SECONDS -lt $deadline ] || { echo "bench-k6: echo server did not start" >&2; exit 1; }
  sleep 0.1
done
CONNS=$FLOOD_CONNS HOLD="${FLOOD_SECONDS}s" WS_URL="ws://127.0.0.1:$echo_port/" \
  "$K6" run --no-usage-report --summary-trend-stats=count,max --summary-export "$work/flood-summary.json" \
  k6scripts/bench/massconn-flood.js >"$work/flood.log" 2>&1 &
k6_pid=$!
deadline=$((SECONDS + K6_TIMEOUT))
flood_rss=()
while kill -0 "$k6_pid" 2>/dev/null; do
  past_deadline "$deadline"
  r=$(rss_kb "$k6_pid"); [ -n "$r" ] && flood_rss+=("$r")
  sleep 1
done
wait "$k6_pid" || { echo "bench-k6: flood run failed:" >&2; tail -30 "$work/flood.log" >&2; k6_pid=""; exit 1; }
k6_pid=""
exec 9>&-
wait "$echo_pid" 2>/dev/null || true
echo_pid=""
fline=$(grep -o 'BENCH received=.*' "$work/flood.log" | head -1)
flood_recv=$(sed -E 's/.*received=([0-9]+).*/\1/' <<<"$fline")
flood_ms=$(sed -E 's/.*ms=([0-9]+).*/\1/' <<<"$fline")
# RSS 5 s into the run (connections open, flood under way) and at its end.
n=${#flood_rss[@]}
flood_early=${flood_rss[$((n > 6 ? 5 : 0))]}
flood_late=${flood_rss[$((n > 2 ? n - 2 : n - 1))]}
read -r flood_k6_msgs flood_lat_values < <(json_fields "$work/flood-summary.json" \
  ws_msgs_received.count massconn_latency.count)

# --- report -------------------------------------------------------------------
awk -v s_n="$stock_open" -v s_ms="$stock_last_ms" -v s_idle="$stock_idle" -v s_held="$stock_held" \
  -v s_cpu="$stock_cpu" -v s_icpu="$stock_idle_cpu" -v s_srv="$stock_srv_cpu" -v s_err="$stock_errors" \
  -v m_n="$mc_open" -v m_ms="$mc_ms" -v m_idle="$mc_idle" -v m_held="$mc_held" \
  -v m_cpu="$mc_cpu" -v m_icpu="$mc_idle_cpu" -v m_srv="$mc_srv_cpu" -v m_fail="$mc_failed" '
function row(name, n, ms, idle, held, cpu, icpu, srv, errs) {
  printf "%-9s %6d conns held (%d errors)\n", name, n, errs
  printf "          RSS     held %.1f MiB, idle baseline %.1f MiB -> per conn gross %.0f B, net %.0f B\n",
    held/1024, idle/1024, held*1024/n, (held-idle)*1024/n
  printf "          rate    %.0f conns/s established (%d in %d ms)\n", n*1000/ms, n, ms
  printf "          CPU     k6 %.2fs (%.2fs net of the idle run = %.0f us per conn: open, hold, close), server %.2fs (%.0f us per conn, same phases)\n",
    cpu/100, (cpu-icpu)/100, (cpu-icpu)*10000/n, srv/100, srv*10000/n
}
BEGIN {
  row("stock", s_n, s_ms, s_idle, s_held, s_cpu, s_icpu, s_srv, s_err)
  row("massconn", m_n, m_ms, m_idle, m_held, m_cpu, m_icpu, m_srv, m_fail)
  s_net = (s_held-s_idle)*1024/s_n; m_net = (m_held-m_idle)*1024/m_n
  s_rate = s_n*1000/s_ms; m_rate = m_n*1000/m_ms
  printf "ratios    RSS per conn: stock/massconn = %.0fx net, %.0fx gross; connect rate: massconn/stock = %.1fx\n",
    s_net/m_net, (s_held*1024/s_n)/(m_held*1024/m_n), m_rate/s_rate
  printf "goals     net RSS per conn <= 1024 B: %s (%.0f B); connect rate >= 25000/s: %s (%.0f/s)\n",
    (m_net <= 1024 ? "met" : "MISSED"), m_net, (m_rate >= 25000 ? "met" : "MISSED"), m_rate
}'
awk -v n="$FLOOD_CONNS" -v recv="$flood_recv" -v ms="$flood_ms" -v a="$flood_early" -v b="$flood_late" 'BEGIN {
  printf "flood     %d conns, %d messages received in %.1f s (%.0f/s, counted exactly); k6 RSS %.1f MiB at 5 s -> %.1f MiB at the end (%+.1f MiB)\n",
    n, recv, ms/1000, recv*1000/ms, a/1024, b/1024, (b-a)/1024
}'
echo "          k6 summary: ws_msgs_received count $flood_k6_msgs (exact), massconn_latency count $flood_lat_values (sampled values)"
echo "notes: RSS is user-space VmRSS of the k6 process (kernel socket memory, ~5 KB per loopback socket, is not in it)."
echo "       stock rate = connections / time from scenario start to the last onopen; massconn rate = open / duration of connect()."
echo "       k6 and server share the same $(nproc) cores (and any other load on the machine): when k6 + server CPU per"
echo "       connection exceeds $(nproc) cores / rate, the rate is bounded by CPU, most of it the server's."
