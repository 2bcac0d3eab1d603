#!/usr/bin/env bash
# Makes a Docker engine and the Compose v2 plugin answer on this machine, for
# the tests that run docker-compose.yml, infra/compose-fleet.sh and the
# Ansible playbook for real (.ci/run calls it; safe to run twice).
#
# - Compose v2 is not a Debian package: its CLI plugin is built from the Go
#   module once and cached in $MASSCONN_CACHE (default /var/cache/massconn),
#   where a re-run on the same machine finds it.
# - dockerd (Debian's docker.io) is started if no engine answers, and waited
#   for with `docker info`.
# Exits non-zero, saying why, when no engine can run: under CI=true the
# tests would fail anyway; locally set MASSCONN_SKIP_DOCKER=1 to skip them.
set -euo pipefail

COMPOSE_VERSION=v2.29.7
cache=${MASSCONN_CACHE:-/var/cache/massconn}
plugin_dirs=(/usr/local/lib/docker/cli-plugins "$HOME/.docker/cli-plugins")

say() { echo "docker-engine.sh: $*"; }

if ! docker compose version >/dev/null 2>&1; then
  built=$cache/compose-$COMPOSE_VERSION/docker-compose
  if [ ! -x "$built" ]; then
    say "building the Compose plugin $COMPOSE_VERSION from its Go module (about 2 minutes, once)"
    mkdir -p "$(dirname "$built")"
    tmp=$(mktemp -d)
    GOBIN=$tmp GOFLAGS=-mod=mod go install \
      -ldflags "-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
      "github.com/docker/compose/v2/cmd@$COMPOSE_VERSION"
    mv "$tmp/cmd" "$built"
    rmdir "$tmp"
  fi
  for d in "${plugin_dirs[@]}"; do
    if mkdir -p "$d" 2>/dev/null && cp "$built" "$d/docker-compose"; then
      break
    fi
  done
fi
docker compose version

if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    say "no Docker engine answers and dockerd is not installed (apt-get install docker.io)"
    exit 1
  fi
  if [ "$(id -u)" != 0 ]; then
    say "no Docker engine answers and dockerd needs root here; start it yourself or set MASSCONN_SKIP_DOCKER=1"
    exit 1
  fi
  log=/var/log/massconn-dockerd.log
  say "starting dockerd (log: $log)"
  nohup dockerd >"$log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! docker info >/dev/null 2>&1; then
    say "dockerd did not answer within 60 s; its log says:"
    tail -20 "$log" >&2
    exit 1
  fi
fi
docker info --format 'docker-engine.sh: engine {{.ServerVersion}}, storage {{.Driver}}, cgroups {{.CgroupDriver}}'
