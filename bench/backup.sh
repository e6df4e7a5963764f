#!/usr/bin/env bash
# Backups (issue 5): how fast `hadome backup verify` reads a pg_dump archive of at least 1 GB
# (SHA-256 and structure in one pass; target >= 500 MB/s), and how long `hadome backup
# restore-test` takes against a plain `pg_restore` of the same file (target <= 1.5x).
#
#   bench/backup.sh [RUNS]       # default 3; documented in docs/benchmarks.md
#
# The copy is written to /dev/shm (a tmpfs; another filesystem than the lab's, so the backup is
# trusted), and read from the page cache like any file just written: the numbers are CPU-bound,
# not disk-bound.
#
# One lab (`pair`) gets `pgbench -i -s SCALE` (SCALE=110 by default: a ~1.1 GB uncompressed dump);
# `hadome backup run` makes the copy with `pg_dump -Fc -Z0` in hadome's exported snapshot. Then,
# RUNS times each, alternating: `hadome backup verify` (whole command, release build), and beside
# it `sha256sum` and `pg_restore --list` of the same file; `hadome backup restore-test` (scratch
# one-node lab up, pg_restore from stdin, exact row counts, teardown) and a plain `pg_restore -d`
# into a fresh database of a one-node lab started once (its start not timed: the plain side gets
# a server for free, which favours it). Everything listens on 127.0.0.1; every process is ended
# by PID (the lab's own teardown); the scratch directory is removed.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
scale=${SCALE:-110}

scripts/setup.sh >/dev/null
cargo build -q --release -p hadome
hadome=$PWD/target/release/hadome
bin=/usr/lib/postgresql/15/bin

scratch=$(mktemp -d /tmp/hadome-bench-backup-XXXXXX)
chmod 755 "$scratch"
# The copies live on another filesystem than the lab's data directories, as the rule
# `snapshot-independence` wants (else `backup verify` rightly says "not trusted"): a tmpfs.
backups=$(mktemp -d /dev/shm/hadome-bench-backups-XXXXXX)
cleanup() {
  for lab in "$scratch/lab" "$scratch/plain"; do
    if [ -e "$lab/lab.json" ]; then "$hadome" lab down --dir "$lab" >/dev/null || true; fi
  done
  rm -rf "$scratch" "$backups"
}
trap cleanup EXIT
trap 'echo "bench/backup.sh failed (exit code $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

now_ns() { date +%s%N; }
stats() { # label unit values...: median / min / max
  local label=$1 unit=$2
  shift 2
  printf '%s\n' "$@" | sort -g | awk -v label="$label" -v unit="$unit" '
    { v[NR] = $1 }
    END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
          printf "| %s | %d | %.2f | %.2f | %.2f | %s |\n", label, NR, m, v[1], v[NR], unit }'
}

"$hadome" lab up pair --dir "$scratch/lab" >/dev/null
port=$("$hadome" lab status --dir "$scratch/lab" --json | jq -r '.nodes[] | select(.name == "db-1") | .port')
conninfo="host=127.0.0.1 port=$port user=postgres dbname=postgres"
echo "loading pgbench scale $scale into db-1 ..." >&2
"$bin/pgbench" -i -q -n -s "$scale" "$conninfo" >/dev/null 2>&1
cat >>"$scratch/lab/estate.toml" <<EOF

[[backup]]
name = "bench"
type = "pg_dump"
instance = "db-1"
path = "$backups/bench-*.dump"
command = ["$bin/pg_dump", "-Fc", "-Z0", "--snapshot={snapshot}", "-f", "{output}", "$conninfo"]
EOF
config=$scratch/lab/estate.toml
start=$(now_ns)
made=$("$hadome" backup run bench --config "$config" --json)
run_s=$(awk -v a="$(now_ns)" -v b="$start" 'BEGIN { printf "%.2f", (a - b) / 1e9 }')
dump=$(jq -r .path <<<"$made")
size=$(stat -c %s "$dump")
echo "dump: $dump, $size bytes, made by hadome backup run in $run_s s" >&2

# The plain side's server has the scratch server's settings (`crates/hadome/src/restore_test.rs`:
# no fsync, no synchronous commit, no full-page writes), so both restore into the same kind of server.
printf '[settings]\nfsync = false\nsynchronous_commit = false\nfull_page_writes = false\n\n[[node]]\nname = "db-1"\n' >"$scratch/one.toml"
"$hadome" lab up "$scratch/one.toml" --dir "$scratch/plain" >/dev/null
plain_port=$("$hadome" lab status --dir "$scratch/plain" --json | jq -r '.nodes[0].port')
plain="host=127.0.0.1 port=$plain_port user=postgres"

verify=() sha=() list=() test_total=() test_restore=() restore=()
for n in $(seq "$runs"); do
  sync
  start=$(now_ns)
  "$hadome" backup verify bench --config "$config" --json >"$scratch/verify.json" ||
    { echo "backup verify says not trusted: $(cat "$scratch/verify.json")" >&2; exit 1; }
  verify+=("$(awk -v a="$(now_ns)" -v b="$start" -v s="$size" 'BEGIN { printf "%.1f", s / ((a - b) / 1e9) / 1e6 }')")
  start=$(now_ns)
  sha256sum "$dump" >/dev/null
  sha+=("$(awk -v a="$(now_ns)" -v b="$start" -v s="$size" 'BEGIN { printf "%.1f", s / ((a - b) / 1e9) / 1e6 }')")
  start=$(now_ns)
  "$bin/pg_restore" --list "$dump" >/dev/null
  list+=("$(awk -v a="$(now_ns)" -v b="$start" -v s="$size" 'BEGIN { printf "%.1f", s / ((a - b) / 1e9) / 1e6 }')")

  start=$(now_ns)
  tested=$("$hadome" backup restore-test bench --config "$config" --json)
  test_total+=("$(awk -v a="$(now_ns)" -v b="$start" 'BEGIN { printf "%.2f", (a - b) / 1e9 }')")
  test_restore+=("$(jq -r .restore_seconds <<<"$tested")")
  [ "$(jq -r .ok <<<"$tested")" = true ] || { echo "restore test failed: $tested" >&2; exit 1; }

  "$bin/psql" "$plain dbname=postgres" -XAtqc "CREATE DATABASE plain_$n" >/dev/null
  start=$(now_ns)
  "$bin/pg_restore" --no-owner --no-privileges --exit-on-error -d "$plain dbname=plain_$n" "$dump"
  restore+=("$(awk -v a="$(now_ns)" -v b="$start" 'BEGIN { printf "%.2f", (a - b) / 1e9 }')")
  "$bin/psql" "$plain dbname=postgres" -XAtqc "DROP DATABASE plain_$n" >/dev/null
  echo "run $n: verify ${verify[-1]} MB/s, sha256sum ${sha[-1]} MB/s, restore-test ${test_total[-1]} s (pg_restore inside ${test_restore[-1]} s), plain pg_restore ${restore[-1]} s" >&2
done

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); $("$hadome" --version); $("$bin/postgres" --version)"
echo "date: $(date -u +%Y-%m-%d); dump: pg_dump -Fc -Z0 of pgbench scale $scale, $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1e9 }') GB), made in $run_s s"
echo
echo "| measure | runs | median | min | max | unit |"
echo "|---|---|---|---|---|---|"
stats "\`hadome backup verify\` (whole command: SHA-256 + structure)" "MB/s" "${verify[@]}"
stats "\`sha256sum\` alone" "MB/s" "${sha[@]}"
stats "\`pg_restore --list\` (reads the TOC only)" "MB/s" "${list[@]}"
stats "\`hadome backup restore-test\` (whole command)" "s" "${test_total[@]}"
stats "  of which pg_restore inside it" "s" "${test_restore[@]}"
stats "plain \`pg_restore -d\` (server already up, same settings)" "s" "${restore[@]}"
printf '%s\n' "${test_total[@]}" | sort -g | awk -v r="$(printf '%s\n' "${restore[@]}" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')" '
  { v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
  printf "\nrestore-test / plain pg_restore (medians): %.2f (target <= 1.5)\n", m / r }'
