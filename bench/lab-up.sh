#!/usr/bin/env bash
# How long `hadome lab up` takes for each built-in topology: from the command's start to every
# standby streaming (and the synchronous ones synchronous), which is when `lab up` returns.
# Each run is followed by `lab down` (not timed). Prints median, min and max of RUNS runs.
#
#   bench/lab-up.sh [RUNS]        # default 5; documented in docs/benchmarks.md
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}

scripts/setup.sh >/dev/null
cargo build -q --release -p hadome
hadome=target/release/hadome

scratch=$(mktemp -d /tmp/hadome-bench-XXXXXX)
chmod 755 "$scratch"
cleanup() {
  if [ -e "$scratch/lab/lab.json" ]; then "$hadome" lab down --dir "$scratch/lab" >/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); $("$hadome" --version); $(/usr/lib/postgresql/15/bin/postgres --version)"
echo "date: $(date -u +%Y-%m-%d)"
printf '%-10s %5s %10s %10s %10s\n' topology runs median_s min_s max_s
for topology in pair trio misskey mackerel; do
  times=()
  for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$hadome" lab up "$topology" --dir "$scratch/lab" >/dev/null
    end=$(date +%s%N)
    "$hadome" lab down --dir "$scratch/lab" >/dev/null
    times+=("$(( (end - start) / 1000000 ))")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v topology="$topology" '
    { t[NR] = $1 }
    END {
      median = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
      printf "%-10s %5d %10.2f %10.2f %10.2f\n", topology, NR, median / 1000, t[1] / 1000, t[NR] / 1000
    }'
done
