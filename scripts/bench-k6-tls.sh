#!/usr/bin/env bash
# Benchmark (not a test): ws:// against wss://, stock k6 against k6 with
# xk6-massconn, in one run against one server on this machine: k6 RSS per
# held connection and connections (TLS handshakes) established per second.
#
#   scripts/bench-k6-tls.sh            (or: make bench-k6-tls)
#
# Server: the gws echo server of massconn-engine-bench (-serve), one process
# serving ws:// on one port and wss:// on another (TLS 1.3, a fresh
# self-signed ECDSA P-256 certificate, Go's default key exchanges unless
# TLS_CURVES is set, e.g. TLS_CURVES=X25519 for what OpenSSL 3.0 servers
# pick). Both k6 binaries trust the certificate through SSL_CERT_FILE, so
# every handshake verifies the chain and the server's signature, as against
# a production endpoint. The server runs on the same 2 cores as k6: the CPU
# of both is printed next to each rate, and a TLS handshake rate is bounded
# by the two together.
#
# Phases, one after the other: for ws:// then wss://, stock k6
# (k6/websockets, one VU per connection, STOCK_CONNS = 2000) and k6 with
# xk6-massconn (one VU, MASSCONN_CONNS = 12000 over two source addresses).
# Each binary's idle RSS (one idle VU with the module imported) is the
# baseline "net" subtracts. RSS is VmRSS from /proc/PID/status, sampled every
# 200 ms while the server reports every connection of the phase open:
# "peak" is the highest sample (right after the connections opened, with
# the handshakes' garbage not yet collected), "end" the last one, after
# HOLD_MS (15000) of holding.
#
# Environment: STOCK_CONNS, MASSCONN_CONNS, MASSCONN_LOCAL_ADDRS
# (127.0.0.1,127.0.0.2), HOLD_MS, TLS_CURVES, SCHEMES ("ws wss"; "wss" for
# the TLS phases only), STOCK_K6 (bin/k6-stock, built
# once with xk6 by massconn-bench k6), K6 (bin/k6), K6_TIMEOUT (240 s).
# Bounded: every k6 run and wait has a deadline; every process started here
# is stopped on exit, Ctrl-C or SIGTERM.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
K6=${K6:-$root/bin/k6}
STOCK_K6=${STOCK_K6:-$root/bin/k6-stock}
K6_VERSION=${K6_VERSION:-v1.8.1}
STOCK_CONNS=${STOCK_CONNS:-2000}
MASSCONN_CONNS=${MASSCONN_CONNS:-12000}
MASSCONN_LOCAL_ADDRS=${MASSCONN_LOCAL_ADDRS-127.0.0.1,127.0.0.2}
HOLD_MS=${HOLD_MS:-15000}
K6_TIMEOUT=${K6_TIMEOUT:-240}
TLS_CURVES=${TLS_CURVES:-}
SCHEMES=${SCHEMES:-ws wss}

[ -x "$K6" ] || { echo "bench-k6-tls: $K6 is missing; run 'make bin/k6' first" >&2; exit 1; }

work=$(mktemp -d /tmp/massconn-bench-k6-tls.XXXXXX)
server_pid=""
k6_pid=""
# shellcheck source=scripts/lib/proc.sh
source "$root/scripts/lib/proc.sh"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$k6_pid" ] && kill -0 "$k6_pid" 2>/dev/null; then
    kill -TERM "$k6_pid" 2>/dev/null || true
    wait "$k6_pid" 2>/dev/null || true
  fi
  if [ -n "$server_pid" ]; then
    exec 9>&- 2>/dev/null || true # the server exits when its stdin closes
    stop_proc "$server_pid" gws-server
  fi
  if [ "$rc" != 0 ]; then
    echo "bench-k6-tls: failed (exit $rc); logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if ! { [ -x "$STOCK_K6" ] && "$STOCK_K6" version 2>/dev/null | grep -q "$K6_VERSION"; }; then
  echo "bench-k6-tls: building stock k6 $K6_VERSION (no extension) into $STOCK_K6" >&2
  "${XK6:-$root/bin/xk6}" build "$K6_VERSION" --output "$STOCK_K6.tmp.$$" >"$work/xk6.log" 2>&1 ||
    { tail -20 "$work/xk6.log" >&2; exit 1; }
  mv "$STOCK_K6.tmp.$$" "$STOCK_K6"
fi

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

cpu_ticks() { # user+system CPU time in clock ticks (1/100 s)
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  echo $(( ${12} + ${13} ))
}

server_conns() {
  curl -fsS --max-time 2 "http://127.0.0.1:$ws_port/metrics" 2>/dev/null |
    awk '$1 == "massconn_connections" {printf "%d", $2; found=1} END {if (!found) print 0}'
}

wait_server_conns() { # wait_server_conns N SECONDS
  local deadline=$((SECONDS + $2))
  while [ "$(server_conns)" != "$1" ]; do
    [ $SECONDS -lt $deadline ] || { echo "bench-k6-tls: server holds $(server_conns), expected $1" >&2; return 1; }
    sleep 0.2
  done
}

past_deadline() {
  if [ $SECONDS -ge "$1" ]; then
    echo "bench-k6-tls: k6 still running after ${K6_TIMEOUT}s; stopping it" >&2
    kill -TERM "$k6_pid" 2>/dev/null || true
    return 1
  fi
}

# idle_rss BINARY SCRIPT: sets IDLE_RSS (KiB), the highest RSS of one idle VU.
idle_rss() {
  local max=0 r
  IDLE_SECONDS=6 "$1" run --quiet --no-summary --no-usage-report "$2" >"$work/idle.log" 2>&1 &
  k6_pid=$!
  local deadline=$((SECONDS + K6_TIMEOUT))
  while kill -0 "$k6_pid" 2>/dev/null; do
    past_deadline "$deadline"
    r=$(rss_kb "$k6_pid"); r=${r:-0}
    [ "$r" -gt "$max" ] && max=$r
    sleep 0.2
  done
  wait "$k6_pid" || { echo "bench-k6-tls: idle run of $1 failed:" >&2; tail -20 "$work/idle.log" >&2; return 1; }
  k6_pid=""
  IDLE_RSS=$max
}

# hold_run NAME BINARY SCRIPT CONNS URL: runs the hold script; sets PEAK_RSS
# and END_RSS (KiB, while the server reports all CONNS open), K6_CPU and
# SRV_CPU (ticks over the whole run).
hold_run() {
  local name=$1 bin=$2 script=$3 conns=$4 url=$5
  local srv0 r n
  PEAK_RSS=0 END_RSS=0 K6_CPU=0
  srv0=$(cpu_ticks "$server_pid")
  CONNS=$conns HOLD_UNTIL_MS=$HOLD_MS WS_URL=$url SSL_CERT_FILE=$work/tls/cert.pem \
    "$bin" run --no-usage-report --summary-trend-stats=count,max \
    --summary-export "$work/$name-summary.json" "$script" >"$work/$name.log" 2>&1 &
  k6_pid=$!
  local deadline=$((SECONDS + K6_TIMEOUT))
  while kill -0 "$k6_pid" 2>/dev/null; do
    past_deadline "$deadline"
    r=$(cpu_ticks "$k6_pid")
    [ "$r" -gt "$K6_CPU" ] && K6_CPU=$r
    n=$(server_conns)
    if [ "$n" = "$conns" ]; then
      r=$(rss_kb "$k6_pid"); r=${r:-0}
      [ "$r" -gt "$PEAK_RSS" ] && PEAK_RSS=$r
      [ "$r" -gt 0 ] && END_RSS=$r
    fi
    sleep 0.2
  done
  if ! wait "$k6_pid"; then
    echo "bench-k6-tls: $name run failed:" >&2
    tail -30 "$work/$name.log" >&2
    k6_pid=""
    return 1
  fi
  k6_pid=""
  SRV_CPU=$(( $(cpu_ticks "$server_pid") - srv0 ))
  if [ "$PEAK_RSS" = 0 ]; then
    echo "bench-k6-tls: $name: the server never reported all $conns connections open" >&2
    tail -30 "$work/$name.log" >&2
    return 1
  fi
}

# --- server -------------------------------------------------------------------
(cd xk6-massconn && go build -o "$work/engine-bench" ./engine/cmd/massconn-engine-bench)
mkdir "$work/tls"
mkfifo "$work/server.in"
"$work/engine-bench" -serve 127.0.0.1:0 -tls-dir "$work/tls" -tls-curves "$TLS_CURVES" \
  <"$work/server.in" >"$work/server.out" 2>&1 &
server_pid=$!
exec 9>"$work/server.in"
deadline=$((SECONDS + 30))
until tls_port=$(awk '/^listening-tls / {print $2; found=1} END {exit !found}' "$work/server.out"); do
  kill -0 "$server_pid" 2>/dev/null || { echo "bench-k6-tls: server exited:" >&2; cat "$work/server.out" >&2; exit 1; }
  [ $SECONDS -lt $deadline ] || { echo "bench-k6-tls: server did not start" >&2; exit 1; }
  sleep 0.1
done
ws_port=$(awk '/^listening / {print $2}' "$work/server.out")

echo "== massconn k6 ws/wss benchmark: $(date -u +%FT%TZ), $(nproc) cores, RLIMIT_NOFILE $(ulimit -n)"
echo "server: gws echo (massconn-engine-bench -serve), ws:// :$ws_port and wss:// :$tls_port, TLS 1.3, ECDSA P-256," \
  "key exchange ${TLS_CURVES:-Go default (X25519MLKEM768 first)}"

idle_rss "$STOCK_K6" k6scripts/bench/idle-stock.js
stock_idle=$IDLE_RSS
idle_rss "$K6" k6scripts/bench/idle-massconn.js
mc_idle=$IDLE_RSS

rows=()
for scheme in $SCHEMES; do
  port=$ws_port
  [ "$scheme" = wss ] && port=$tls_port
  url="$scheme://127.0.0.1:$port/"

  hold_run "stock-$scheme" "$STOCK_K6" k6scripts/bench/stock-hold.js "$STOCK_CONNS" "$url"
  read -r n ms < <(python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["metrics"]["bench_opened_at"]; print(int(m["count"]), int(m["max"]))' \
    "$work/stock-$scheme-summary.json")
  errs=$(grep -c 'BENCH error' "$work/stock-$scheme.log" || true)
  rows+=("stock $scheme $n $ms $stock_idle $PEAK_RSS $END_RSS $K6_CPU $SRV_CPU $errs")
  wait_server_conns 0 60

  LOCAL_ADDRS=$MASSCONN_LOCAL_ADDRS hold_run "massconn-$scheme" "$K6" k6scripts/bench/massconn-hold.js "$MASSCONN_CONNS" "$url"
  line=$(grep -o 'BENCH open=.*' "$work/massconn-$scheme.log" | head -1)
  n=$(sed -E 's/.*open=([0-9]+).*/\1/' <<<"$line")
  ms=$(sed -E 's/.*connect_ms=([0-9]+).*/\1/' <<<"$line")
  failed=$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line")
  rows+=("massconn $scheme $n $ms $mc_idle $PEAK_RSS $END_RSS $K6_CPU $SRV_CPU $failed")
  wait_server_conns 0 60
done

printf '%s\n' "${rows[@]}" | awk '
{
  name=$1; scheme=$2; n=$3; ms=$4; idle=$5; peak=$6; end=$7; cpu=$8; srv=$9; errs=$10
  net_end[name, scheme] = (end-idle)*1024/n; rate[name, scheme] = n*1000/ms
  printf "%-8s %-3s %6d held (%d errors)  RSS net per conn: %6.0f B at the end of the hold, %6.0f B peak" \
    "  (held %.1f MiB, idle %.1f MiB)\n", name, scheme, n, errs, (end-idle)*1024/n, (peak-idle)*1024/n, end/1024, idle/1024
  printf "                      %6.0f conns/s established (%d in %d ms); CPU k6 %.2fs (%.0f us/conn), server %.2fs (%.0f us/conn)\n",
    n*1000/ms, n, ms, cpu/100, cpu*10000/n, srv/100, srv*10000/n
}
END {
  for (s = 1; s <= 2; s++) {
    sc = (s == 1 ? "ws" : "wss")
    if (!(("stock", sc) in rate)) continue
    printf "ratios %-3s RSS per conn stock/massconn %.0fx; connect rate massconn/stock %.1fx\n",
      sc, net_end["stock", sc]/net_end["massconn", sc], rate["massconn", sc]/rate["stock", sc]
  }
  if (!(("massconn", "wss") in rate)) exit
  printf "goals wss  RSS per conn <= 4096 B: %s (%.0f B); handshakes >= 4000/s: %s (%.0f/s)\n",
    (net_end["massconn", "wss"] <= 4096 ? "met" : "MISSED"), net_end["massconn", "wss"],
    (rate["massconn", "wss"] >= 4000 ? "met" : "MISSED"), rate["massconn", "wss"]
}'
echo "notes: RSS is user-space VmRSS of the k6 process, net of its idle baseline (kernel socket memory is not in it)."
echo "       stock rate = connections / time from scenario start to the last onopen; massconn rate = open / duration of connect()."
echo "       k6 and the server share the same $(nproc) cores: a handshake rate is bounded by their CPU per handshake together."
