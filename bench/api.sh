#!/usr/bin/env bash
# The daemon as a service (issue 16), on the `misskey` lab (4 nodes) with `[api]`:
#   - `POST /v1/ask` over one keep-alive connection: p50, p99 and max of REQUESTS requests, and
#     how many the daemon answered from its own facts (younger than one probe interval);
#   - `hadome ask --api URL` end to end (a process per answer, as a bot's shell step), beside
#     `hadome ask --config` (a process that probes for itself);
#   - `GET /metrics` and `GET /` (the dashboard): p50, p99, max;
#   - the daemon's CPU and memory supervising TARGETS instances (each an alias of one of the
#     lab's four servers: every probe is a real connection and query to a real server, but four
#     servers answer them all), over WINDOW seconds, and per target.
#
#   bench/api.sh [REQUESTS] [TARGETS] [WINDOW]   # default 2000 120 30; in docs/benchmarks.md
#   HADOME_BIN=target/debug/hadome bench/api.sh   # a build at hand instead of a release build
set -Eeuo pipefail
cd "$(dirname "$0")/.."
requests=${1:-2000}
targets=${2:-120}
window=${3:-30}
. bench/lib.sh

scripts/setup.sh >/dev/null
if [ -n "${HADOME_BIN:-}" ]; then
  hadome=$(realpath "$HADOME_BIN")
else
  cargo build -q --release -p hadome
  hadome=$PWD/target/release/hadome
fi

scratch=$(mktemp -d /tmp/hadome-bench-XXXXXX)
chmod 755 "$scratch"
dir="$scratch/lab"
daemon=""
cleanup() {
  if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then
    kill "$daemon" && wait "$daemon" 2>/dev/null || true
  fi
  if [ -e "$dir/lab.json" ]; then "$hadome" lab down --dir "$dir" >/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

"$hadome" lab up misskey --dir "$dir" >/dev/null
config="$dir/estate.toml"

# start_daemon CONFIG LOG: starts the daemon (its PID in $daemon) and waits for its API address.
start_daemon() {
  "$hadome" daemon --config "$1" >"$2" 2>&1 &
  daemon=$!
  for _ in $(seq 200); do
    address=$(grep -o 'dashboard on http://[0-9.:]*' "$2" | head -1 | sed 's/dashboard on //' || true)
    if [ -n "$address" ] && grep -q 'healthy\|supervising' "$2"; then return; fi
    kill -0 "$daemon" || { cat "$2" >&2; exit 1; }
    sleep 0.05 # poll interval; bounded by the loop
  done
  echo "the daemon did not start its API" >&2
  cat "$2" >&2
  exit 1
}
stop_daemon() {
  kill "$daemon"
  wait "$daemon" 2>/dev/null || true
  daemon=""
}

printf '\n[api]\nlisten = "127.0.0.1:0"\n' >>"$config"
start_daemon "$config" "$scratch/daemon.log"
# Let the first passes settle (a healthy cluster, sessions open).
for _ in $(seq 100); do grep -q 'healthy' "$scratch/daemon.log" && break; sleep 0.1; done

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); $("$hadome" --version)"
echo "date: $(date -u +%Y-%m-%d); binary: $hadome"
echo
echo "| request (keep-alive, misskey) | requests | p50 (ms) | p99 (ms) | max (ms) | from the daemon's facts |"
echo "|---|---|---|---|---|---|"
read -r n p50 p99 max fresh < <(python3 bench/api-client.py ask "$address" "$requests")
echo "| POST /v1/ask rebuild db-3 --from db-1 | $n | $p50 | $p99 | $max | $fresh |"
read -r n p50 p99 max _ < <(python3 bench/api-client.py get "$address" /metrics 200)
echo "| GET /metrics | $n | $p50 | $p99 | $max | |"
read -r n p50 p99 max _ < <(python3 bench/api-client.py get "$address" / 200)
echo "| GET / (dashboard) | $n | $p50 | $p99 | $max | |"
read -r n p50 p99 max _ < <(python3 bench/api-client.py get "$address" /v1/status 200)
echo "| GET /v1/status | $n | $p50 | $p99 | $max | |"

echo
echo "| command | runs | median (s) | min (s) | max (s) |"
echo "|---|---|---|---|---|"
: >"$scratch/api"
: >"$scratch/local"
for _ in $(seq 20); do
  time_it "$scratch/api" 0 "$hadome" ask rebuild db-3 --from db-1 --api "$address" --json
  time_it "$scratch/local" 0 "$hadome" ask rebuild db-3 --from db-1 --config "$config" --json
done
stats "hadome ask --api (thin client)" "$scratch/api"
stats "hadome ask --config (probes itself)" "$scratch/local"
stop_daemon

# The largest estate: TARGETS instances, each an alias of one of misskey's four servers, no
# cluster (nothing to fail over), probed every second.
big="$dir/estate-big.toml"
{
  printf '[journal]\npath = "big.sqlite"\n\n[probe]\ntimeout_seconds = 2.0\ninterval_seconds = 1.0\n\n[api]\nlisten = "127.0.0.1:0"\n'
  mapfile -t conninfos < <(grep '^conninfo = ' "$config")
  for i in $(seq "$targets"); do
    printf '\n[[instance]]\nname = "t-%d"\n%s\ndata_dir = "/srv/t-%d"\n' "$i" "${conninfos[$(( i % ${#conninfos[@]} ))]}" "$i"
  done
} >"$big"
echo
start_daemon "$big" "$scratch/big.log"
sleep 5 # warm-up before the measured window; not a synchronisation
ticks=$(getconf CLK_TCK)
cpu0=$(awk '{print $14 + $15}' "/proc/$daemon/stat")
t0=$(now)
sleep "$window" # the measured window
cpu1=$(awk '{print $14 + $15}' "/proc/$daemon/stat")
t1=$(now)
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$daemon/status")
hwm_kib=$(awk '/VmHWM/ {print $2}' "/proc/$daemon/status")
read -r _ p50 p99 _ _ < <(python3 bench/api-client.py get "$address" /metrics 50)
stop_daemon
awk -v c0="$cpu0" -v c1="$cpu1" -v t0="$t0" -v t1="$t1" -v hz="$ticks" -v n="$targets" \
  -v rss="$rss_kib" -v hwm="$hwm_kib" -v p50="$p50" -v p99="$p99" 'BEGIN {
  cpu = (c1 - c0) / hz / (t1 - t0)
  printf "| targets | CPU (cores) | RSS (MiB) | peak RSS (MiB) | CPU per target (ms/s) | RSS per target (KiB) | targets per core | /metrics p50/p99 (ms) |\n"
  printf "|---|---|---|---|---|---|---|---|\n"
  printf "| %d | %.3f | %.1f | %.1f | %.3f | %.1f | %.0f | %s / %s |\n", n, cpu, rss / 1024, hwm / 1024, cpu * 1000 / n, rss / n, (cpu > 0 ? n / cpu : 0), p50, p99
  printf "\nProjected to 1,000 targets: %.2f cores, %.0f MiB.\n", cpu * 1000 / n, rss / n * 1000 / 1024
}'
# Each target costs its server two connections (the probe's and the daemon's open session); the
# lab's servers keep PostgreSQL's default max_connections (100), so four servers hold about 190.
grep -q 'unreachable' "$scratch/big.log" && echo "warning: some targets were unreachable during the window (see the daemon's log)" || true
