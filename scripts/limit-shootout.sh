#!/usr/bin/env bash
# The capacity search's shootout (docs/results.md; the search: docs/scenarios.md, "How many connections does it
# hold?"): the same search and service level against one target on this
# machine, started here and stopped at the end.
#
#   scripts/limit-shootout.sh massconn-server|nchan1|nchan2|nodews|centrifugo
#
# Environment: STEPS (the search's flags, default
# "--start 5000 --step 5000 --max 40000 --step-hold 15s"), OUT (default
# results/limit-<target>). Needs bin/k6 bin/massconn-fleet (make build),
# bin/massconn-bench for nchan, server/testdata/nodews/node_modules for
# nodews, bin/centrifugo for centrifugo. Run it under the benchmark lock:
#   flock /tmp/massconn-bench.lock scripts/limit-shootout.sh nchan2
set -euo pipefail
cd "$(dirname "$0")/.."
which=${1:?give a target: massconn-server, nchan1, nchan2, nodews or centrifugo}
read -r -a steps <<<"${STEPS:---start 5000 --step 5000 --max 40000 --step-hold 15s}"
dir=$(mktemp -d)
args=(run --scenario limit "${steps[@]}" --k6 bin/k6 --scripts k6scripts --out "${OUT:-results/limit-$which}")
bg=
stop() {
  if [ -n "$bg" ]; then
    kill -INT "$bg" 2>/dev/null || true
    wait "$bg" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap stop EXIT
# waitfor FILE TEXT: until the target's log says it is up.
waitfor() {
  for _ in $(seq 100); do
    grep -q "$2" "$1" && return 0
    sleep 0.1
  done
  echo "the target did not start:" >&2
  cat "$1" >&2
  exit 1
}
case $which in
massconn-server)
  args+=(--server bin/massconn-server)
  ;;
nchan1 | nchan2)
  bin/massconn-bench nchan --workers="${which#nchan}" --listen 127.0.0.1:8090 >"$dir/log" 2>&1 &
  bg=$!
  waitfor "$dir/log" "(pid "
  pid=$(sed -n 's/.*(pid \([0-9]*\),.*/\1/p' "$dir/log")
  args+=(--target 'ws://127.0.0.1:8090/sub?id=news' --publish-url 'http://127.0.0.1:8090/pub?id=news' --target-pid "$pid")
  ;;
nodews)
  node server/testdata/nodews/server.js --listen 127.0.0.1:8091 >"$dir/log" 2>&1 &
  bg=$!
  waitfor "$dir/log" listening
  args+=(--target 'ws://127.0.0.1:8091/ws' --publish-url 'http://127.0.0.1:8091/publish' --target-pid "$bg")
  ;;
centrifugo)
  echo '{"client": {"insecure": true}, "http_api": {"key": "bench-key"}, "health": {"enabled": true},
 "http_server": {"address": "127.0.0.1", "port": 8092}, "log": {"level": "info"}}' >"$dir/centrifugo.json"
  bin/centrifugo -c "$dir/centrifugo.json" >"$dir/log" 2>&1 &
  bg=$!
  waitfor "$dir/log" "serving websocket"
  args+=(--target 'ws://127.0.0.1:8092/connection/websocket' --publish-url 'http://127.0.0.1:8092/api/publish'
    --publish-header 'X-API-Key: bench-key' --publish-body '{"channel":"news","data":{"seq":{{seq}},"ts":{{now_us}}}}'
    --target-pid "$bg" -e 'PROTOCOL={"name":"centrifugo","channels":["news"]}')
  ;;
*)
  echo "unknown target $which: massconn-server, nchan1, nchan2, nodews or centrifugo" >&2
  exit 2
  ;;
esac
echo "+ bin/massconn-fleet ${args[*]}"
start=$(date +%s)
bin/massconn-fleet "${args[@]}"
echo "the search took $(($(date +%s) - start)) s"
