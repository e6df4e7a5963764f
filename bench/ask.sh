#!/usr/bin/env bash
# How long `hadome ask` takes end to end on a lab estate: process start, config, journal, one
# concurrent probe of every instance, the interlocks, the answer. Two cases on `misskey` (4 nodes):
# all healthy, and db-1 hung (its probe runs into the 2 s probe timeout, the bound hadome
# promises: an answer within twice the probe timeout). Prints median, min and max of RUNS runs.
# Side by side, the healthy ask with `sslmode=disable` added to every conninfo: what libpq's
# default `prefer` costs (hadome asks each server for TLS first; the lab's Unix sockets say no).
#
#   bench/ask.sh [RUNS]        # default 5; documented in docs/benchmarks.md
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}

scripts/setup.sh >/dev/null
cargo build -q --release -p hadome
hadome=target/release/hadome

scratch=$(mktemp -d /tmp/hadome-bench-XXXXXX)
chmod 755 "$scratch"
dir="$scratch/lab"
cleanup() {
  if [ -e "$dir/lab.json" ]; then "$hadome" lab down --dir "$dir" >/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

"$hadome" lab up misskey --dir "$dir" >/dev/null
config="$dir/estate.toml"
"$hadome" check --config "$config" >/dev/null || true

measure() {
  local label=$1
  shift
  local times=()
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s%N)
    "$hadome" "$@" >/dev/null || true
    end=$(date +%s%N)
    times+=("$(( (end - start) / 1000000 ))")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v label="$label" '
    { t[NR] = $1 }
    END {
      median = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
      printf "%-44s %5d %10.3f %10.3f %10.3f\n", label, NR, median / 1000, t[1] / 1000, t[NR] / 1000
    }'
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); $("$hadome" --version)"
echo "date: $(date -u +%Y-%m-%d)"
printf '%-44s %5s %10s %10s %10s\n' case runs median_s min_s max_s
measure "ask rebuild db-3 --from db-1, all healthy" ask rebuild db-3 --from db-1 --config "$config"
measure "check, all healthy" check --config "$config"
# The same estate, every conninfo with sslmode=disable (same directory: same journal).
sed 's/^conninfo = "\(.*\)"$/conninfo = "\1 sslmode=disable"/' "$config" >"$dir/estate-disable.toml"
grep -q 'sslmode=disable' "$dir/estate-disable.toml"
measure "ask rebuild db-3 --from db-1, sslmode=disable" ask rebuild db-3 --from db-1 --config "$dir/estate-disable.toml"
measure "ask rebuild db-3 --from db-1, all healthy (again)" ask rebuild db-3 --from db-1 --config "$config"
"$hadome" lab fault --dir "$dir" hang db-1 >/dev/null
measure "ask rebuild db-1 --from db-3, db-1 hung" ask rebuild db-1 --from db-3 --config "$config"
"$hadome" lab fault --dir "$dir" resume db-1 >/dev/null
