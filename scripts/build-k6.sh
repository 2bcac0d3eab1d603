#!/usr/bin/env bash
# Builds k6 with the xk6-massconn extension, the same way a user does:
#   xk6 build $K6_VERSION --with github.com/massconn/massconn/xk6-massconn=./xk6-massconn
# Used by the Makefile and by the container build, so the two cannot drift.
# K6_VERSION comes from the Makefile, which reads it from xk6-massconn/go.mod
# (the one place the k6 release is written); without make it is read there too.
set -euo pipefail
out=${1:-bin/k6}
root=$(cd "$(dirname "$0")/.." && pwd)
xk6=${XK6:-$root/bin/xk6}
cd "$root"
K6_VERSION=${K6_VERSION:-$(awk '$1 == "go.k6.io/k6" {print $2}' xk6-massconn/go.mod)}
[ -n "$K6_VERSION" ] || { echo "build-k6.sh: no go.k6.io/k6 line in xk6-massconn/go.mod; set K6_VERSION" >&2; exit 1; }
# Built beside the target and renamed into place, so that k6 processes
# started from $out meanwhile never see a half-written binary.
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
"$xk6" build "$K6_VERSION" \
  --with github.com/massconn/massconn/xk6-massconn="$root/xk6-massconn" \
  --output "$tmp"
mv -f "$tmp" "$out"
