#!/usr/bin/env bash
# hadome's main job on a local lab estate, narrated: installs what is missing, builds hadome,
# brings up the `misskey` estate (incident A's four PostgreSQL copies), replays the incident's
# faults, and shows `hadome check` and `hadome ask` refusing the overwrite that lost six months of
# data, then `hadome run` doing the safe direction until the estate checks clean. Tears everything
# down, even on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "+ cargo build -p hadome"
cargo build -q -p hadome
hadome=target/debug/hadome

scratch=$(mktemp -d /tmp/hadome-demo-XXXXXX)
# mktemp makes the directory 0700; PostgreSQL runs as `postgres` and must reach the lab inside.
chmod 755 "$scratch"
dir="$scratch/lab"
cleanup() {
  if [ -e "$dir/lab.json" ]; then "$hadome" lab down --dir "$dir" || true; fi
  rmdir "$scratch" 2>/dev/null || true
}
trap cleanup EXIT

# Bold narration on a terminal only; plain text when piped or logged.
if [ -t 1 ]; then bold=$'\033[1m' plain=$'\033[0m'; else bold="" plain=""; fi
say() { printf '\n%s# %s%s\n' "$bold" "$*" "$plain"; }
show() { printf '$ hadome %s\n' "$*"; "$hadome" "$@"; }

say "Incident A's estate: db-1 primary, db-2 its synchronous standby, db-3 an asynchronous copy, db-4 cascaded from db-3."
show lab up misskey --dir "$dir"
config="$dir/estate.toml"

say "Two slips, as in 2021: a configuration change on db-4 never applied, and db-3 left behind until the WAL it needs is recycled."
show lab fault --dir "$dir" config-change db-4 work_mem=64MB
show lab fault --dir "$dir" stall db-3

say "hadome check sees both at once. Processes are up, so a process watchdog saw nothing. (Exit 1: something is critical.)"
show check --config "$config" || true

say "Months later a DDoS freezes db-1 and db-2. The bot wants to 'restore' them from db-3."
show lab fault --dir "$dir" hang db-1
show lab fault --dir "$dir" hang db-2
show ask rebuild db-1 --from db-3 --config "$config" || true

say "The freeze passes. The safe direction: rebuild the stale copy from the fresh one, keeping the stale data aside first."
show lab fault --dir "$dir" resume db-1
show lab fault --dir "$dir" resume db-2
show ask rebuild db-3 --from db-1 --config "$config"

say "hadome run does it, guarded: intent journaled, db-3 stopped, its old data moved aside (never deleted), rebuilt, streaming."
show run rebuild db-3 --from db-1 --config "$config"

say "Rebuilding db-3 strands its cascade: db-4 needs WAL the new db-3 never had. hadome says so, and how to fix it."
show check --config "$config" || true
show run rebuild db-4 --from db-3 --config "$config"
show check --config "$config"

say "Tearing the estate down: every process by PID, then the directory."
show lab down --dir "$dir"
