#!/usr/bin/env bash
# hadome's main job on a local lab estate, narrated: installs what is missing, builds hadome,
# brings up the `misskey` estate (incident A's four PostgreSQL copies), replays the incident's
# faults, and shows `hadome check` and `hadome ask` refusing the overwrite that lost six months of
# data, then `hadome run` doing the safe direction until the estate checks clean. Then incident B:
# `hadome daemon` supervises a `trio`, db-1 freezes, and the daemon fences it and promotes the
# synchronous standby. Tears everything down (the daemon and every server by PID), even on failure
# or Ctrl-C.
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
trio="$scratch/trio"
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  if [ -e "$dir/lab.json" ]; then "$hadome" lab down --dir "$dir" || true; fi
  if [ -e "$trio/lab.json" ]; then "$hadome" lab down --dir "$trio" || true; fi
  rm -f "$scratch/daemon.log"
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

# Polls `hadome status` until its text matches a pattern, for at most $2 seconds.
await_status() {
  local pattern=$1 deadline=$((SECONDS + $2))
  until "$hadome" status --config "$trio/estate.toml" 2>/dev/null | grep -Eq "$pattern"; do
    if ((SECONDS >= deadline)); then echo "timed out waiting for: $pattern" >&2; return 1; fi
    sleep 0.2
  done
}

say "Incident B, guarded: a trio (db-1 primary, db-2 synchronous, db-3 asynchronous) under hadome daemon."
show lab up trio --dir "$trio"
printf '$ hadome daemon --config %s &\n' "$trio/estate.toml"
"$hadome" daemon --config "$trio/estate.toml" 2>"$scratch/daemon.log" &
daemon_pid=$!
deadline=$((SECONDS + 20))
until grep -q "healthy: \`db-1\` is the primary" "$scratch/daemon.log"; do
  if ((SECONDS >= deadline)); then echo "the daemon did not report db-1 healthy within 20 s" >&2; exit 1; fi
  sleep 0.2
done

say "db-1 freezes (every process stopped), as the Mackerel primary did. Its standbys keep a 'streaming' connection open."
show lab fault --dir "$trio" hang db-1
await_status "^db-2 +primary" 30
say "The daemon waited until db-1's standbys heard nothing from it either, fenced db-1, promoted db-2 (it holds every acknowledged commit), and repointed db-3:"
sed 's/^/    /' "$scratch/daemon.log"
show status --config "$trio/estate.toml"

say "The fence left db-1 unable to come back as a second primary: started again, it is read-only."
show lab fault --dir "$trio" start db-1
kill "$daemon_pid"; wait "$daemon_pid" || true; daemon_pid=""
show lab down --dir "$trio"
