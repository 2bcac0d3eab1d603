#!/usr/bin/env bash
# Benchmark (not a test): xk6-massconn's protocol adapters against real
# servers on this machine: CONNECTIONS (10,000) clients of Centrifugo v6
# (bin/centrifugo) and of a Socket.IO 4 server (npm socket.io,
# xk6-massconn/engine/testdata/protopeers), PUBS (20) publications fanned
# out to all of them every EVERY_MS (500 ms); prints connections held,
# drops, messages received/expected and publish-to-client latency p50/p99
# (k6scripts/bench/adapter-fanout.js; Centrifugo: the publication carries
# Date.now() from the k6 script before the HTTP publish; Socket.IO: the server
# stamps each emit). Both servers run with their default ping intervals.
#
#   scripts/bench-adapters.sh      (or: make bench-adapters)
#
# Bounded: each k6 run has K6_TIMEOUT (300 s); every process started here
# is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=lib/proc.sh
source scripts/lib/proc.sh
K6=${K6:-$root/bin/k6}
CENTRIFUGO=${CENTRIFUGO_BINARY:-$root/bin/centrifugo}
PEERS=${PROTOPEERS_DIR:-$root/xk6-massconn/engine/testdata/protopeers}
CONNECTIONS=${CONNECTIONS:-10000}
PUBS=${PUBS:-20}
EVERY_MS=${EVERY_MS:-500}
K6_TIMEOUT=${K6_TIMEOUT:-300}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do stop_proc "$p" server; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

run_k6() { # protocol ws_url publish_base
  timeout "$K6_TIMEOUT" "$K6" run --no-color --quiet --summary-export "$work/$1.json" \
    -e PROTOCOL="$1" -e WS_URL="$2" -e PUBLISH="$3" -e API_KEY=bench-key \
    -e CONNECTIONS="$CONNECTIONS" -e PUBS="$PUBS" -e EVERY_MS="$EVERY_MS" \
    k6scripts/bench/adapter-fanout.js >"$work/$1.log" 2>&1 || { cat "$work/$1.log" >&2; return 1; }
  python3 - "$1" "$work/$1.json" "$work/$1.log" <<'PY'
import json, re, sys
name, summary, log = sys.argv[1:]
m = json.load(open(summary))["metrics"]
res = json.loads(re.search(r'RESULT (\{.*?\})"?\s', open(log).read()).group(1).replace('\\"', '"'))
lat = m.get("massconn_latency", {})
print(f"{name:11} connections={res['connections']} held={res['held']} drops={res['dropped']} failed={res['failed']} "
      f"received={res['received']}/{res['expected']} latency p50={lat.get('p(50)', float('nan')):.1f}ms "
      f"p99={lat.get('p(99)', float('nan')):.1f}ms max={lat.get('max', float('nan')):.1f}ms")
PY
}

port=$(free_port)
cat >"$work/centrifugo.json" <<JSON
{"client": {"insecure": true}, "http_api": {"key": "bench-key"}, "health": {"enabled": true},
 "http_server": {"address": "127.0.0.1", "port": $port}, "log": {"level": "error"}}
JSON
"$CENTRIFUGO" -c "$work/centrifugo.json" >"$work/centrifugo.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
run_k6 centrifugo "ws://127.0.0.1:$port/connection/websocket" "http://127.0.0.1:$port/api"
stop_proc "${pids[0]}" centrifugo

PEER_KEEP_RUNNING=1 SIO_PING_INTERVAL=25000 SIO_PING_TIMEOUT=20000 \
  node "$PEERS/server.js" socketio 0 >"$work/sio.out" 2>&1 </dev/null &
pids+=($!)
for _ in $(seq 1 300); do grep -q '^listening ' "$work/sio.out" 2>/dev/null && break; sleep 0.1; done
sport=$(sed -n 's/^listening //p' "$work/sio.out")
run_k6 socketio "ws://127.0.0.1:$sport/socket.io/" "http://127.0.0.1:$sport"
