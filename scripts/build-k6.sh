#!/usr/bin/env bash
# Builds k6 with the xk6-massconn extension, the same way a user does:
#   xk6 build v1.8.1 --with github.com/massconn/massconn/xk6-massconn=./xk6-massconn
# Used by the Makefile and by the container build, so the two cannot drift.
set -euo pipefail
out=${1:-bin/k6}
root=$(cd "$(dirname "$0")/.." && pwd)
xk6=${XK6:-$root/bin/xk6}
cd "$root"
# Built beside the target and renamed into place, so that k6 processes
# started from $out meanwhile never see a half-written binary.
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
"$xk6" build "${K6_VERSION:-v1.8.1}" \
  --with github.com/massconn/massconn/xk6-massconn="$root/xk6-massconn" \
  --output "$tmp"
mv -f "$tmp" "$out"
