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

now() { date +%s.%N; }
# stats NAME FILE: one markdown row, seconds, from one number per line
stats() {
  sort -g "$2" | awk -v name="$1" '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "| %s | %d | %.3f | %.3f | %.3f |\n", name, NR, m, v[1], v[NR] }'
}
# time_it FILE EXPECTED COMMAND...: appends the command's wall time in seconds; the command must
# exit with EXPECTED (a deny is exit 1), or the benchmark stops: a wrong answer is not a timing.
time_it() {
  local file=$1 expected=$2 t0 t1 rc=0
  shift 2
  t0=$(now)
  "$@" >/dev/null 2>&1 || rc=$?
  t1=$(now)
  if [ "$rc" != "$expected" ]; then
    echo "unexpected exit $rc (wanted $expected): $*" >&2
    "$@" >&2 || true
    exit 1
  fi
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }' >>"$file"
}

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
: >"$scratch/check-hung"; : >"$scratch/ask-hung"
for _ in $(seq "$RUNS"); do
  time_it "$scratch/check-hung" 0 "$hadome" check --config "$estate"
  time_it "$scratch/ask-hung" 1 "$hadome" ask stop etcd-2 --config "$estate"
done
"$hadome" lab fault --dir "$lab" resume etcd-3 >/dev/null
stats "check, etcd-3 hung (its probe runs into the timeout)" "$scratch/check-hung"
stats "ask stop etcd-2, etcd-3 hung (denied: quorum)" "$scratch/ask-hung"
