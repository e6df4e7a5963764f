#!/usr/bin/env bash
# Randomized fault trials: hadome's daemon supervising a lab estate under a write load while a
# seeded schedule of faults hits it; every safety claim checked after each trial.
#
#   SEEDS=1-3 bench/trials.sh          # seeds 1 to 3 (the default)
#   SEEDS=1-100 RESULTS=target/bench/trials.md bench/trials.sh
#   SEEDS=42 bench/trials.sh           # one seed again: the same topology and schedule
#   bench/trials.sh --plan-only        # print each seed's schedule, run nothing
#
# Each seed picks a topology (trio, misskey, mackerel) and 1–3 faults at random moments: crash,
# hang, hang-postmaster, resume, cut/heal of a replication link, isolate/rejoin, stall, stop of a
# standby, kill -9 of the daemon (started again after 0.2–5 s), and, when the first fault takes the
# primary away, perhaps a last fault during the failover it causes. A trial runs on a fresh lab
# (`hadome lab up`) with `hadome daemon` supervising, a writer committing and logging every
# acknowledged id, and a sampler asking every member to commit every 100 ms; then it heals
# everything, settles, and checks:
#   - every acknowledged commit is on the settled primary;
#   - no two members accepted writes within one 100 ms sample, and none again after another did;
#   - no member's data directory was replaced without a journaled rebuild or restore of it;
#   - it ended with one primary accepting writes, or with an escalation saying why;
#   - the daemon's automated actions kept within their budgets (no action loop).
# Exit status 0 only when every check of every trial held. A failed trial prints its seed, the
# schedule, what failed and where its logs are (SCRATCH/seed-N/logs: daemon, servers, proxy, ack
# log, a copy of the journal); a passed trial's directory is removed.
#
# Knobs (environment): SEEDS=1-3, RESULTS=FILE (the markdown summary, also printed),
# SCRATCH=target/trials, HOLD_S=4 (last fault → heal), SETTLE_S=60, STABLE_S=3,
# HADOME_BIN=target/debug/hadome (NO_BUILD=1: use it as it is). Documented in docs/trials.md;
# results in docs/benchmarks.md ("Randomized fault trials").
#
# Every process a trial starts (PostgreSQL, the lab's proxy, the daemon) is ended by PID when the
# trial ends, Ctrl-C included; everything listens on 127.0.0.1 or Unix sockets in the lab.
set -euo pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  "" | --plan-only) ;;
  *) echo "usage: [SEEDS=A-B] bench/trials.sh [--plan-only]" >&2; exit 2 ;;
esac

[ -x "${HADOME_PG_BINDIR:-/usr/lib/postgresql/15/bin}/postgres" ] || scripts/setup.sh >&2
if [ "${NO_BUILD:-0}" != 1 ]; then
  cargo build -q -p hadome -p hadome-trials
fi
[ -z "${RESULTS:-}" ] || mkdir -p "$(dirname "$RESULTS")"
exec target/debug/hadome-trials "$@"
