# shellcheck shell=bash
# Process helpers shared by the scripts. Source it, then:
#
#   port=$(free_port)          # a free loopback TCP port
#   stop_proc "$pid" server    # SIGTERM, up to 15 s, then SIGKILL; reaps it

# free_port asks the kernel for a free loopback port and releases it for
# the caller's server.
free_port() {
  python3 - <<'PY' 2>/dev/null && return 0
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 10000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# stop_proc PID NAME: SIGTERM, wait up to 15 s (a server gives its clients
# their close 1001 first), then SIGKILL. A child of this shell is reaped.
stop_proc() {
  local pid=$1 name=$2
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 150); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "${0##*/}: $name (pid $pid) ignored SIGTERM for 15s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
