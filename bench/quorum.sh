#!/usr/bin/env bash
# What hadome costs on a quorum cluster (issue 13), on a real etcd3 lab (three Debian etcd 3.4
# members behind the lab proxy), release build:
#   - `hadome check`: one whole pass (the observer probes the 3 members concurrently — status,
#     member list, alarms, each bounded by the probe timeout — then the journal and the core);
#   - `hadome ask stop etcd-2`: the question end to end (process start, pass, verdict);
# each with the 3 members healthy, then with etcd-3 hung (SIGSTOP: `lab fault hang`), where the
# probe of etcd-3 runs into the probe timeout and the pass must still answer within it.
# Each timing is repeated RUNS times (default 20); median, min and max are printed as a markdown
# table with the estate's probe timeout. The lab is brought down by `hadome lab down` (by PID)
# in the EXIT trap; its temp dir removed. Documented in docs/benchmarks.md ("Quorum clusters").
set -Eeuo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
cargo build -q --release -p hadome
hadome=$(pwd)/target/release/hadome
scratch=$(mktemp -d /tmp/hadome-bench-quorum-XXXXXX)
chmod 755 "$scratch"
lab="$scratch/lab"
cleanup() {
  if [ -e "$lab/lab.json" ]; then "$hadome" lab down --dir "$lab" >/dev/null 2>&1 || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

# now, stats, time_it
. bench/lib.sh

"$hadome" lab up etcd3 --dir "$lab" >/dev/null
estate="$lab/estate.toml"
timeout=$(awk -F= '/^timeout_seconds|^probe_timeout_seconds/ { gsub(/ /, "", $2); print $2; exit }' "$estate")
echo "hadome quorum benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB, $(uname -r), probe timeout ${timeout:-?} s"
echo
echo "| what | runs | median s | min s | max s |"
echo "|---|---|---|---|---|"
: >"$scratch/check"; : >"$scratch/ask"
for _ in $(seq "$RUNS"); do
  time_it "$scratch/check" 0 "$hadome" check --config "$estate"
  time_it "$scratch/ask" 0 "$hadome" ask stop etcd-2 --config "$estate"
done
stats "check, 3 members healthy (one pass)" "$scratch/check"
stats "ask stop etcd-2, 3 members healthy (allowed)" "$scratch/ask"

"$hadome" lab fault --dir "$lab" hang etcd-3 >/dev/null
# If etcd-3 led, the two left elect a new leader first (etcd's election timeout); until then no
# member answers a linearizable read and `check` rightly says the quorum is lost. Time the steady
# state: poll until `check` passes again, bounded.
deadline=$((SECONDS + 15))
until "$hadome" check --config "$estate" >/dev/null 2>&1; do
  if ((SECONDS >= deadline)); then
    echo "with etcd-3 hung, etcd-1 and etcd-2 had no leader within 15 s" >&2
    exit 1
  fi
done
: >"$scratch/check-hung"; : >"$scratch/ask-hung"
for _ in $(seq "$RUNS"); do
  time_it "$scratch/check-hung" 0 "$hadome" check --config "$estate"
  time_it "$scratch/ask-hung" 1 "$hadome" ask stop etcd-2 --config "$estate"
done
"$hadome" lab fault --dir "$lab" resume etcd-3 >/dev/null
stats "check, etcd-3 hung (its probe runs into the timeout)" "$scratch/check-hung"
stats "ask stop etcd-2, etcd-3 hung (denied: quorum)" "$scratch/ask-hung"
