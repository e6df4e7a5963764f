#!/usr/bin/env bash
# Several daemons, one actor, through etcd (issue 13 point 7, F28), repeated: TRIALS fresh
# `pair-etcd` labs; in each, two daemons "on two hosts" (one estate, two estate files differing only
# in `journal` and `[coordination] endpoints`: the lab's etcd clients d1 and d2):
#   1. kill -9 of the daemon holding the lease: time until the other holds `PREFIX/lease/CLUSTER`
#      (the lease takeover time: the etcd lease TTL plus at most one pass);
#   2. then, with the survivor acting and a new daemon on d1: isolate-client of the acting daemon
#      while the primary crashes; counts the `promote` intents across both journals and the
#      primaries, and reports a double action when more than one failover or primary is seen.
# Prints double actions (must be 0) and takeover median/min/max.
#
#   bench/coordination.sh [TRIALS]        # default 20; documented in docs/benchmarks.md
set -euo pipefail
cd "$(dirname "$0")/.."
trials=${1:-20}

scripts/setup.sh >/dev/null
cargo build -q --release -p hadome
hadome=$PWD/target/release/hadome
scratch=$(mktemp -d /tmp/hadome-bench-XXXXXX)
chmod 755 "$scratch"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for d in "$scratch"/lab-*; do
    if [ -e "$d/lab.json" ]; then "$hadome" lab down --dir "$d" >/dev/null || true; fi
  done
  rm -rf "$scratch"
}
trap cleanup EXIT

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
etcd_get() {  # KEY: the value through the members' shared endpoints
  timeout 10 env ETCDCTL_API=3 etcdctl --endpoints "$endpoints" --dial-timeout=2s \
    --command-timeout=2s get "$1" --print-value-only 2>/dev/null || true
}
host_estate() {  # DIR NAME: writes DIR/estate-NAME.toml
  local dir=$1 name=$2 eps
  eps=$("$hadome" lab status --dir "$dir" --json | python3 -c "
import json,sys; s=json.load(sys.stdin)
print(', '.join(json.dumps(e) for c in s['etcd_clients'] if c['name']=='$name' for e in c['endpoints']))")
  sed -e "s/path = \"hadome.sqlite\"/path = \"hadome-$name.sqlite\"/" \
      -e 's/on_primary_crash = "restart"/on_primary_crash = "failover"/' "$dir/estate.toml" \
      > "$dir/estate-$name.toml"
  printf '\n[coordination]\nendpoints = [%s]\n' "$eps" >> "$dir/estate-$name.toml"
}
start_daemon() {  # DIR NAME TAG: starts it, sets $started
  "$hadome" daemon --config "$1/estate-$2.toml" >"$1/daemon-$3.log" 2>&1 &
  started=$!
  pids+=("$started")
}
wait_holder() {  # HOLDER: polls (deadline 60 s) until the lease names it
  local deadline=$(( $(now_ms) + 60000 ))
  while [ "$(etcd_get /hadome/lease/pair-etcd)" != "$1" ]; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}
promotes() {  # JOURNAL: promote intents in it
  [ -e "$1" ] || { echo 0; return; }
  python3 - "$1" <<'PY'
import sqlite3, sys, json
db = sqlite3.connect(sys.argv[1])
n = 0
for (body,) in db.execute("SELECT body FROM events WHERE kind = 'intent'"):
    if json.loads(body).get("action", {}).get("name") == "promote":
        n += 1
print(n)
PY
}

host=$(cat /proc/sys/kernel/hostname)
takeovers=()
doubles=0
for trial in $(seq "$trials"); do
  dir="$scratch/lab-$trial"
  "$hadome" lab up pair-etcd --dir "$dir" >/dev/null
  endpoints=$(grep -o 'endpoints = \["http://[^"]*"\]' "$dir/estate.toml" | sed 's/.*"\(http[^"]*\)".*/\1/' | paste -sd,)
  host_estate "$dir" d1
  host_estate "$dir" d2
  start_daemon "$dir" d1 a; first=$started
  wait_holder "$host:$first"
  start_daemon "$dir" d2 b; second=$started
  sleep 1  # d2 settles into its passes; the measured interval starts at the kill below
  start=$(now_ms)
  kill -9 "$first"
  wait_holder "$host:$second"
  takeovers+=("$(( $(now_ms) - start ))")
  # A new daemon on d1, the survivor on d2 acting; then d2 is cut off while db-1 crashes.
  start_daemon "$dir" d1 c; third=$started
  "$hadome" lab fault --dir "$dir" isolate-client d2 >/dev/null
  "$hadome" lab fault --dir "$dir" crash db-1 >/dev/null
  deadline=$(( $(now_ms) + 90000 ))
  while [ "$(( $(promotes "$dir/hadome-d1.sqlite") + $(promotes "$dir/hadome-d2.sqlite") ))" -lt 1 ]; do
    [ "$(now_ms)" -lt "$deadline" ] || break
    sleep 0.2
  done
  sleep 5  # a few passes more: a second failover, if any, would be journaled by now
  total=$(( $(promotes "$dir/hadome-d1.sqlite") + $(promotes "$dir/hadome-d2.sqlite") ))
  primaries=$("$hadome" lab status --dir "$dir" --json | python3 -c "
import json,sys; s=json.load(sys.stdin)
print(sum(1 for n in s['nodes'] if (n.get('live') or {}).get('in_recovery') is False))")
  if [ "$total" -ne 1 ] || [ "$primaries" -gt 1 ]; then doubles=$(( doubles + 1 )); fi
  echo "trial $trial: takeover ${takeovers[-1]} ms, failovers $total, primaries $primaries"
  kill -TERM "$second" "$third" 2>/dev/null || true
  "$hadome" lab down --dir "$dir" >/dev/null
done
printf '%s\n' "${takeovers[@]}" | sort -n | awk -v doubles="$doubles" -v trials="$trials" '
  { t[NR] = $1 }
  END { printf "trials %d, double actions %d, lease takeover after kill -9: median %d ms, min %d ms, max %d ms\n",
        trials, doubles, t[int((NR + 1) / 2)], t[1], t[NR] }'
