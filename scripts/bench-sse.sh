#!/usr/bin/env bash
# k6 RSS per held connection and connects/s of http:// (EventSource)
# connections beside ws:// ones, in one run against one nginx+nchan whose
# /sub location takes both. Three k6 processes one after the other: an
# idle baseline (1 connection), CONNS ws://, CONNS http://. RSS is k6's
# VmRSS, the highest of 5 samples 1 s apart while all are held; "net"
# subtracts the baseline. Each phase dials from its own source addresses,
# so that the TIME_WAIT entries of one phase do not take the next one's
# ports, and from four of them: connect() picks ephemeral ports from the
# even half of the range first (14,116 here) and, once they are taken to
# one target, scans all of them for every further connect, which made
# 18,000 connections from one address take 7 s against 0.6 s for 12,000.
# Run it under the machine's benchmark lock:
#   flock /tmp/massconn-bench.lock scripts/bench-sse.sh
# Environment: CONNS (18000) HOLD (10s) CHANNELS (100) K6 (bin/k6).
set -euo pipefail
cd "$(dirname "$0")/.."
CONNS=${CONNS:-18000}
HOLD=${HOLD:-10s}
CHANNELS=${CHANNELS:-100}
K6=${K6:-bin/k6}
MODULE=/usr/lib/nginx/modules/ngx_nchan_module.so

dir=$(mktemp -d)
chmod 755 "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/nginx.conf" <<CONF
load_module $MODULE;
daemon off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 20000; }
http {
	access_log off;
	client_body_temp_path $dir/client_body;
	proxy_temp_path $dir/proxy;
	fastcgi_temp_path $dir/fastcgi;
	uwsgi_temp_path $dir/uwsgi;
	scgi_temp_path $dir/scgi;
	server {
		listen 127.0.0.1:$port backlog=4096;
		location = /sub { nchan_subscriber; nchan_channel_id \$arg_id; }
	}
}
CONF
nginx -e "$dir/error.log" -c "$dir/nginx.conf" -p "$dir" &
nginx_pid=$!
cleanup() { kill "$nginx_pid" 2>/dev/null || true; wait "$nginx_pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
for _ in $(seq 100); do
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
	sleep 0.1
done

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# phase NAME URL CONNS LOCAL: prints "NAME open failed ms rss_kb".
phase() {
	local name=$1 url=$2 conns=$3 local=$4 log="$dir/$1.log"
	K6_NO_USAGE_REPORT=true "$K6" run --no-color --no-summary -e URL="$url" -e CONNS="$conns" \
		-e LOCAL="$local" -e HOLD="$HOLD" -e CHANNELS="$CHANNELS" scripts/bench-sse/hold.js >"$log" 2>&1 &
	local pid=$! line="" best=0
	for _ in $(seq 1200); do
		line=$(grep -o 'HELD open=[0-9]* failed=[0-9]* ms=[0-9]*' "$log" || true)
		[ -n "$line" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ -z "$line" ]; then
		echo "$name: k6 did not report its connections:" >&2
		cat "$log" >&2
		exit 1
	fi
	for _ in 1 2 3 4 5; do
		sleep 1
		local kb
		kb=$(rss_kb "$pid")
		[ "$kb" -gt "$best" ] && best=$kb
	done
	wait "$pid" || { echo "$name: k6 failed:" >&2; cat "$log" >&2; exit 1; }
	set -- $line
	echo "$name ${2#open=} ${3#failed=} ${4#ms=} $best"
}

base=$(phase idle "http://127.0.0.1:$port/sub?id=bench" 1 127.0.0.2)
ws=$(phase ws "ws://127.0.0.1:$port/sub?id=bench" "$CONNS" 127.0.1.1,127.0.1.2,127.0.1.3,127.0.1.4)
sse=$(phase sse "http://127.0.0.1:$port/sub?id=bench" "$CONNS" 127.0.2.1,127.0.2.2,127.0.2.3,127.0.2.4)
echo "$base"; echo "$ws"; echo "$sse"
python3 - "$base" "$ws" "$sse" <<'PY'
import sys
rows = [r.split() for r in sys.argv[1:]]
idle = int(rows[0][4])
print(f"idle baseline: k6 RSS {idle/1024:.1f} MiB")
out = {}
for name, opened, failed, ms, kb in rows[1:]:
    opened, failed, ms, kb = int(opened), int(failed), int(ms), int(kb)
    net = (kb - idle) * 1024 / max(opened, 1)
    rate = opened / (ms / 1000)
    out[name] = (net, rate)
    print(f"{name:4s} {opened} open, {failed} failed; connect() {ms} ms = {rate:.0f} connects/s; "
          f"k6 RSS {kb/1024:.1f} MiB, net {net:.0f} B per held connection")
print(f"ratios sse/ws: RSS per connection {out['sse'][0]/out['ws'][0]:.2f}x, connects/s {out['sse'][1]/out['ws'][1]:.2f}x")
print(f"goals (sse): <= 1024 B per connection: {'met' if out['sse'][0] <= 1024 else 'missed'}; "
      f">= 20000 connects/s: {'met' if out['sse'][1] >= 20000 else 'missed'}")
PY
