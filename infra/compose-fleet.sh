#!/usr/bin/env bash
# Several servers and several k6 containers on one Docker host: every
# container has its own address on the compose network, so each k6 part has
# its own 64K source ports per server (the Node write-up's Docker-network
# trick), and the parts are merged with the same massconn-fleet tool as the
# one-box and Ansible fleets.
#
#   infra/compose-fleet.sh --parts 4 --servers 3 --connections 200000 --duration 5m
#   infra/compose-fleet.sh --dry-run ...     # print the docker commands only
#
# The merged report (report.html, report.md, report.json, chart.svg) is
# copied to --out (default results/compose-fleet). Exit status: 0 when the
# merged report passes, 1 when it fails, 2 on bad options. The stack is taken
# down at the end (docker compose down -v). COMPOSE_PROJECT_NAME runs it as
# another compose project (default massconn, the compose file's name), and
# NOFILE sets the containers' open-file limit as for `docker compose up`.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: infra/compose-fleet.sh --parts K --connections N [options]
  --parts K          k6 containers, one execution segment each (required)
  --connections N    connections for the whole test (required)
  --servers M        server replicas (default 1)
  --duration D       how long to hold the connections (default 60s)
  --insert-every D   insert loop interval (default 1s)
  --script NAME      script in k6scripts/ (default capacity.js)
  --out DIR          where the merged report is copied (default results/compose-fleet)
  --dry-run          print the docker commands instead of running them
EOF
}

die_usage() {
  echo "compose-fleet.sh: $1" >&2
  echo "run 'infra/compose-fleet.sh --help' for the options" >&2
  exit 2
}

parts="" connections="" servers=1 duration=60s insert_every=1s script=capacity.js dry=0 out=""
while (($#)); do
  case "$1" in
    --parts | --connections | --servers | --duration | --insert-every | --script | --out)
      (($# >= 2)) || die_usage "$1 needs a value"
      case "$1" in
        --parts) parts=$2 ;;
        --connections) connections=$2 ;;
        --servers) servers=$2 ;;
        --duration) duration=$2 ;;
        --insert-every) insert_every=$2 ;;
        --script) script=$2 ;;
        --out) out=$2 ;;
      esac
      shift
      ;;
    --dry-run) dry=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die_usage "unknown option '$1'" ;;
  esac
  shift
done
whole() {
  if ! [[ $2 =~ ^[0-9]+$ ]] || ((10#$2 < 1)); then
    die_usage "$1 must be a whole number of at least 1, got '$2'"
  fi
}
[ -n "$parts" ] || die_usage "missing --parts K: the number of k6 containers"
[ -n "$connections" ] || die_usage "missing --connections N: the connections for the whole test"
whole --parts "$parts"
whole --connections "$connections"
whole --servers "$servers"
parts=$((10#$parts)) connections=$((10#$connections)) servers=$((10#$servers))
((parts <= connections)) || die_usage "--parts $parts is more than --connections $connections: some parts would hold nothing"
[[ $duration =~ ^([0-9]+(ms|s|m|h))+$ ]] || die_usage "--duration must be a k6 duration such as 60s or 5m, got '$duration'"
[[ $insert_every =~ ^([0-9]+(ms|s|m|h))+$ ]] || die_usage "--insert-every must be a duration such as 1s, got '$insert_every'"
root=$(cd "$(dirname "$0")/.." && pwd)
[ -f "$root/k6scripts/$script" ] || die_usage "--script: k6scripts/$script does not exist"

run() {
  if ((dry)); then
    printf '%q ' "$@"
    echo
  else
    "$@"
  fi
}

# The compose file's name: (or COMPOSE_PROJECT_NAME), so containers are
# massconn-server-1, ...
project=${COMPOSE_PROJECT_NAME:-massconn}
[[ $project =~ ^[a-z0-9][a-z0-9_-]*$ ]] || die_usage "COMPOSE_PROJECT_NAME must be lowercase letters, digits, - and _, got '$project'"
out=${out:-$root/results/compose-fleet}
case "$out" in /*) ;; *) out=$PWD/$out ;; esac
cd "$root"
export INSERT_EVERY=$insert_every
urls=""
for i in $(seq 1 "$servers"); do
  urls+="${urls:+,}ws://$project-server-$i:8080/ws?topic=Track"
done

names=() dirs=()
for i in $(seq 0 $((parts - 1))); do
  names+=("$project-part-$i")
  dirs+=("/results/part-$i")
done
cleanup() {
  docker rm -f "${names[@]}" "$project-report" >/dev/null 2>&1 || true
  docker compose --profile fleet down -v >/dev/null 2>&1 || true
}
((dry)) || trap cleanup EXIT
run docker compose --profile fleet build
run docker compose up -d --wait --scale "server=$servers" postgres server insert
for i in "${!names[@]}"; do
  run docker compose run -d --name "${names[i]}" k6-part \
    --index "$i" --parts "$parts" --dir "${dirs[i]}" --host "${names[i]}" \
    -- "/k6scripts/$script" -e "CONNECTIONS=$connections" -e "URLS=$urls" \
    -e "DURATION=$duration" -e "INSERT_EVERY=$insert_every"
  if ((!dry)); then
    addr=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "${names[i]}")
    echo "compose-fleet.sh: part $i runs in ${names[i]} at ${addr% }"
  fi
done
run docker wait "${names[@]}"
run docker compose run --rm fleet-merge --out /results/report \
  --title "massconn ${script%.js}: $connections connections over $parts k6 containers, $servers server(s)" "${dirs[@]}"
run docker compose run --rm --entrypoint cat fleet-merge /results/report/report.md
# Out of the volume and onto the host, before `down -v` removes it.
run docker compose run --name "$project-report" --entrypoint true fleet-merge
((dry)) || mkdir -p "$out"
run docker cp "$project-report:/results/report/." "$out"
run docker rm "$project-report"
if ((dry)); then
  exit 0
fi
echo "compose-fleet.sh: report in $out (open report.html)"
if docker compose run --rm --entrypoint grep fleet-merge -q '"pass": *true' /results/report/report.json; then
  echo "compose-fleet.sh: PASS"
else
  echo "compose-fleet.sh: FAIL (see the report above)"
  exit 1
fi
