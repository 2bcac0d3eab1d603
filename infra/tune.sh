#!/usr/bin/env bash
# Kernel and limit settings for holding many WebSocket connections, sized to a
# connection count (the sysctl lines of the Supabase and Appwrite write-ups and
# the conntrack fix of the Node one, computed instead of copied).
#
#   infra/tune.sh --check --connections 100000 [--role server|load|both]
#   infra/tune.sh --apply --connections 100000 --role load --processes 4
#
# --check (the default) reads and reports; it never writes anything. It exits
# 1 when a setting is below what the connection count needs, saying why it
# matters. --apply raises what is short (never lowers what is already higher,
# except the default socket buffer sizes when they cannot fit in memory),
# writes /etc/sysctl.d/90-massconn.conf and /etc/security/limits.d/90-massconn.conf
# so a reboot keeps them, then checks again.
#
# For tests, TUNE_PROC_SYS (default /proc/sys), TUNE_SYSCTL_FILE,
# TUNE_LIMITS_FILE, TUNE_NOFILE (hard limit, else `ulimit -Hn`) and
# TUNE_MEM_KB (else MemTotal) point the script at a fake machine.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: infra/tune.sh [--check | --apply] --connections N [options]
  --connections N     WebSocket connections the test holds in total (required)
  --role ROLE         what this host runs: server, load or both (default both:
                      server and k6 on one machine, two sockets per connection)
  --processes P       processes sharing this host's connections, e.g. k6 parts
                      or server replicas (default 1); sets the per-process
                      open-file limit needed
  --source-addrs K    local source addresses the load generator binds to
                      (LOCAL_ADDRS; default 1)
  --targets T         distinct server address:port targets (default 1)
  --check             report what is short and why; change nothing (default)
  --apply             raise what is short, persist it, then check again
EOF
}

die_usage() {
  echo "tune.sh: $1" >&2
  echo "run 'infra/tune.sh --help' for the options" >&2
  exit 2
}

mode=check connections="" role=both processes=1 source_addrs=1 targets=1
while (($#)); do
  case "$1" in
    --check) mode=check ;;
    --apply) mode=apply ;;
    --connections | --role | --processes | --source-addrs | --targets)
      (($# >= 2)) || die_usage "$1 needs a value"
      case "$1" in
        --connections) connections=$2 ;;
        --role) role=$2 ;;
        --processes) processes=$2 ;;
        --source-addrs) source_addrs=$2 ;;
        --targets) targets=$2 ;;
      esac
      shift
      ;;
    --connections=* | --role=* | --processes=* | --source-addrs=* | --targets=*)
      set -- "${1%%=*}" "${1#*=}" "${@:2}"
      continue
      ;;
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
[ -n "$connections" ] || die_usage "missing --connections N: the number of connections to size the settings for"
whole --connections "$connections"
whole --processes "$processes"
whole --source-addrs "$source_addrs"
whole --targets "$targets"
# Leading zeros would read as octal in arithmetic.
connections=$((10#$connections)) processes=$((10#$processes))
source_addrs=$((10#$source_addrs)) targets=$((10#$targets))
case "$role" in
  server | load | both) ;;
  *) die_usage "--role must be server, load or both, got '$role'" ;;
esac

proc_sys=${TUNE_PROC_SYS:-/proc/sys}
sysctl_file=${TUNE_SYSCTL_FILE:-/etc/sysctl.d/90-massconn.conf}
limits_file=${TUNE_LIMITS_FILE:-/etc/security/limits.d/90-massconn.conf}
page_size=$(getconf PAGESIZE 2>/dev/null || echo 4096)
mem_kb=${TUNE_MEM_KB:-$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)}

# Every connection is one socket at each end; on a host that runs both ends
# (a laptop, this repository's CI) each connection costs two.
sockets=$connections
[ "$role" = both ] && sockets=$((2 * connections))
per_process=$(((sockets + processes - 1) / processes + 1024))

sysctl_path() { echo "$proc_sys/${1//.//}"; }
read_sysctl() {
  local p
  p=$(sysctl_path "$1")
  [ -r "$p" ] || return 1
  tr -s ' \t' ' ' <"$p"
}
field() { echo "$1" | awk -v n="$2" '{print $n}'; }

short=0
declare -a to_write=() # "key=value" pairs --apply writes

ok() { printf 'ok     %-32s %s\n' "$1" "$2"; }
low() {
  printf 'SHORT  %-32s %s\n' "$1" "$2"
  printf '       %-32s why: %s\n' "" "$3"
  short=$((short + 1))
}
na() { printf 'n/a    %-32s %s\n' "$1" "$2"; }

# at_least KEY NEED WHY: a single-number sysctl that must be >= NEED.
at_least() {
  local key=$1 need=$2 why=$3 cur
  if ! cur=$(read_sysctl "$key"); then
    na "$key" "not present on this kernel"
    return
  fi
  if ((cur >= need)); then
    ok "$key" "$cur >= $need"
  else
    low "$key" "$cur < $need needed" "$why"
    to_write+=("$key=$need")
  fi
}

check_all() {
  short=0
  to_write=()
  echo "tune.sh: $mode for $connections connections, role $role: $sockets sockets on this host," \
    "$processes process(es), up to $per_process open files each"

  at_least fs.file-max $((sockets + 65536)) \
    "system-wide cap on open files; every connection is one file at each end, and accept()/connect() fail with ENFILE at the cap"
  at_least fs.nr_open "$per_process" \
    "the ceiling for any process's open-file limit: a nofile limit above it cannot be set"

  local hard
  hard=${TUNE_NOFILE:-$(ulimit -Hn)}
  if [ "$hard" = unlimited ] || ((hard >= per_process)); then
    ok "nofile (hard, this shell)" "$hard >= $per_process"
  else
    low "nofile (hard, this shell)" "$hard < $per_process needed" \
      "one process holds at most this many sockets (EMFILE beyond); raise it in $limits_file, LimitNOFILE= for systemd, ulimits: nofile for containers, or spread over more --processes"
    to_write+=("nofile=$per_process")
  fi

  if [ "$role" != server ]; then
    local range lo hi ports need
    if range=$(read_sysctl net.ipv4.ip_local_port_range); then
      lo=$(field "$range" 1) hi=$(field "$range" 2)
      ports=$((hi - lo + 1))
      need=$(((connections + source_addrs * targets - 1) / (source_addrs * targets)))
      if ((need > 64512)); then
        low net.ipv4.ip_local_port_range "$need ports needed per (source address, target) pair, more than any range gives" \
          "a client socket needs a local port unique per (source address, target): add source addresses (--source-addrs, k6 LOCAL_ADDRS), server targets or load hosts"
      elif ((ports >= need)); then
        ok net.ipv4.ip_local_port_range "$lo-$hi: $ports ports >= $need per (source address, target)"
      else
        low net.ipv4.ip_local_port_range "$lo-$hi: $ports ports < $need needed per (source address, target)" \
          "every outgoing connection takes a local port from this range; when it runs out, connect() fails with EADDRNOTAVAIL"
        to_write+=("net.ipv4.ip_local_port_range=1024 65535")
      fi
    else
      na net.ipv4.ip_local_port_range "not present on this kernel"
    fi
  fi

  local rmem wmem tcp_mem
  if rmem=$(read_sysctl net.ipv4.tcp_rmem) && wmem=$(read_sysctl net.ipv4.tcp_wmem) && tcp_mem=$(read_sysctl net.ipv4.tcp_mem); then
    # Under memory pressure the kernel squeezes each socket to its minimum
    # buffers; tcp_mem's last value (pages) must hold at least that much.
    local min_pages cur_max
    min_pages=$(((sockets * ($(field "$rmem" 1) + $(field "$wmem" 1)) + page_size - 1) / page_size))
    cur_max=$(field "$tcp_mem" 3)
    if ((cur_max >= min_pages)); then
      ok net.ipv4.tcp_mem "max $cur_max pages >= $min_pages (every socket at its minimum buffers)"
    else
      low net.ipv4.tcp_mem "max $cur_max pages < $min_pages needed" \
        "TCP memory is capped at this many pages; beyond it the kernel drops packets and logs 'out of memory -- consider tuning tcp_mem'"
      local pressure
      pressure=$(field "$tcp_mem" 2)
      ((pressure >= min_pages * 3 / 4)) || pressure=$((min_pages * 3 / 4))
      to_write+=("net.ipv4.tcp_mem=$(field "$tcp_mem" 1) $pressure $min_pages")
    fi
    # Default buffer sizes: what each new socket may grow to without
    # pressure. If all sockets using them would take over half the memory,
    # smaller defaults are the seeds' remedy (tcp_rmem/tcp_wmem '... 4096 ...').
    local default_kb budget_kb
    default_kb=$((sockets * ($(field "$rmem" 2) + $(field "$wmem" 2)) / 1024))
    budget_kb=$((mem_kb / 2))
    if ((default_kb <= budget_kb)); then
      ok "net.ipv4.tcp_rmem/tcp_wmem" "default buffers of all sockets: $((default_kb / 1024)) MiB <= half of memory ($((budget_kb / 1024)) MiB)"
    else
      low "net.ipv4.tcp_rmem/tcp_wmem" "default buffers of all sockets: $((default_kb / 1024)) MiB > half of memory ($((budget_kb / 1024)) MiB)" \
        "each socket starts with the default (middle) buffer size; with this many sockets that can exhaust memory before the connection count is reached"
      to_write+=("net.ipv4.tcp_rmem=$(field "$rmem" 1) 4096 $(field "$rmem" 3)")
      to_write+=("net.ipv4.tcp_wmem=$(field "$wmem" 1) 4096 $(field "$wmem" 3)")
    fi
  else
    na net.ipv4.tcp_mem "not present on this kernel"
  fi

  if [ "$role" != load ]; then
    # A backlog as deep as the connection count (within the kernel's usual
    # bounds) absorbs an arrival burst of the whole test at once.
    local backlog=$connections
    ((backlog >= 1024)) || backlog=1024
    ((backlog <= 65535)) || backlog=65535
    at_least net.core.somaxconn "$backlog" \
      "the accept queue of the server's listening socket; attempts beyond it are dropped and retried a second or more later, which shows up as slow or failed connects"
    at_least net.ipv4.tcp_max_syn_backlog "$backlog" \
      "half-open connections queued during a burst of arrivals; beyond it SYNs are dropped (or answered with cookies)"
  fi

  if [ -e "$(sysctl_path net.netfilter.nf_conntrack_max)" ]; then
    at_least net.netfilter.nf_conntrack_max $((connections + 65536)) \
      "connection tracking keeps one entry per connection; when the table is full new packets are dropped ('nf_conntrack: table full' in dmesg)"
  else
    na net.netfilter.nf_conntrack_max "connection tracking not loaded: no table to fill"
  fi
}

apply_all() {
  local kv key value persisted=""
  for kv in "${to_write[@]}"; do
    key=${kv%%=*} value=${kv#*=}
    if [ "$key" = nofile ]; then
      mkdir -p "$(dirname "$limits_file")"
      cat >"$limits_file" <<EOF
# written by massconn infra/tune.sh for $connections connections
*    soft nofile $value
*    hard nofile $value
root soft nofile $value
root hard nofile $value
EOF
      echo "wrote $limits_file (nofile $value): new login sessions get it; in this shell run 'ulimit -n $value', for systemd units set LimitNOFILE=$value"
      wrote_limits=$value
      continue
    fi
    if ! printf '%s\n' "$value" >"$(sysctl_path "$key")" 2>/dev/null; then
      echo "tune.sh: could not write $key=$value (need root, or the setting is not writable in this container)" >&2
      continue
    fi
    echo "set $key = $value"
    persisted+="$key = $value"$'\n'
  done
  if [ -n "$persisted" ]; then
    mkdir -p "$(dirname "$sysctl_file")"
    {
      echo "# written by massconn infra/tune.sh for $connections connections"
      printf '%s' "$persisted"
    } >"$sysctl_file"
    echo "wrote $sysctl_file (applied again at boot)"
  fi
}

wrote_limits=""
check_all
if [ "$mode" = apply ] && ((short > 0)); then
  apply_all
  echo
  mode=recheck
  # The nofile limit of a running shell cannot be raised from here; judge it
  # by the file just written, which is what the next session gets.
  [ -z "$wrote_limits" ] || TUNE_NOFILE=$wrote_limits
  check_all
  if ((short > 0)); then
    echo "tune.sh: $short setting(s) still short for $connections connections after --apply (see above)"
    exit 1
  fi
fi
if ((short > 0)); then
  echo "tune.sh: $short setting(s) short for $connections connections; 'infra/tune.sh --apply' with the same options raises them"
  exit 1
fi
echo "tune.sh: every setting is enough for $connections connections"
