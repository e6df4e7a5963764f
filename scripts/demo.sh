#!/usr/bin/env bash
# hadome's main job on a local lab estate: installs what is missing, builds hadome, brings up the
# `misskey` estate (incident A's four PostgreSQL copies), shows it, injects the fault that started
# the incident, shows it again, and tears everything down, even on failure or Ctrl-C.
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

say "The incident began when db-3 fell so far behind that the WAL it needed was recycled. The process stays up."
show lab fault --dir "$dir" stall db-3

say "db-3 still runs and still answers, but it no longer streams (RECEIVER '-'), and db-4 streams from a copy that will never move."
show lab status --dir "$dir"

say "Tearing the estate down: every process by PID, then the directory."
show lab down --dir "$dir"
