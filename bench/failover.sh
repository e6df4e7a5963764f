#!/usr/bin/env bash
# hadome's failover benchmark: how long writes stop, and what is lost, when the primary fails
# under a steady write load; and whether a short client-side network blip makes hadome fail
# over when it should not. Measured the same way as the Patroni peer baseline
# (../shared/bench/patroni-failover.sh), which `--patroni` runs in the same session.
#
#   bench/failover.sh               # hadome: TRIALS trials of each fault in FAULTS
#   bench/failover.sh --patroni     # the Patroni peer, same machine (installs patroni and etcd)
#   bench/failover.sh --both        # hadome, then Patroni, back to back
#
# Each trial runs on a fresh lab (`hadome lab up $TOPOLOGY`, trio by default: db-1 primary, db-2 synchronous standby,
# db-3 asynchronous standby; the lab's estate.toml has failover = "auto",
# detection_seconds = 0.75, on_primary_crash = "restart") supervised by `hadome daemon`:
#   1. a writer (bench/failover-writer.py) commits single-row INSERTs, unthrottled, on one
#      persistent connection, and logs every acknowledged id; on an error it reconnects to
#      whichever node answers pg_is_in_recovery() = false;
#   2. WARMUP_S after its first acknowledged commit, plus a jitter uniform in [0, 500) ms (the
#      daemon's probe interval; bash RANDOM seeded with SEED), the fault hits db-1:
#        crash            hadome lab fault crash db-1             (kill -9 of the postmaster)
#        hang             hadome lab fault hang db-1              (SIGSTOP of the whole instance)
#        hang-postmaster  hadome lab fault hang-postmaster db-1   (SIGSTOP of the postmaster only)
#        isolate-hang     hadome lab fault isolate db-1, then hang db-1: a hung primary that
#                         looks crashed (its client port resets at once; issue 18's second case)
#      t0 is taken just before the fault command starts;
#   3. every node gets a psql INSERT every 100 ms (connect_timeout=2, a new connection each);
#      "failover s" = t0 -> the first probe INSERT that committed on any node;
#   4. the writer goes on for HOLD_S after that probe, then stops;
#   5. the old primary comes back: `fault resume db-1` after a hang (the daemon has usually
#      fenced it, and then there is nothing left to resume: recorded as such); after a crash
#      nothing (the daemon restarts it in place, or fails over);
#   6. settle: every 0.5 s, every node is asked to commit an INSERT; settled = one and the same
#      node, alone, for STABLE_S (bounded by SETTLE_S). "lost" = acknowledged ids missing on
#      that node. Two nodes committing at once is recorded (it must never happen).
# The `isolate` fault is the false-failover check: `isolate db-1` (its client port closes, the
# replication links stay), ISOLATE_S later `rejoin db-1`, with the writer running; then settle.
# The `overload` fault is the other one (issue 17): bench/overload.py takes every client slot of
# db-1 that a role without superuser can have, OVERLOAD_BUSY of them burning CPU in a PL/pgSQL
# loop (the machine's CPU saturated), for OVERLOAD_S, with the writer running; then settle.
# A trial counts as a false failover when the primary changed or the daemon logged a failover.
#
# Knobs (environment):
#   TRIALS=5  FAULTS="crash hang hang-postmaster isolate overload"  WARMUP_S=2  HOLD_S=2  ISOLATE_S=5
#   OVERLOAD_S=20  OVERLOAD_BUSY=8
#   FAILOVER_BOUND_S=30 (no committed probe by then: "none")  SETTLE_S=30  STABLE_S=3  SEED=42
#   TOPOLOGY=trio    the lab: `trio` (servers the lab runs itself) or `debian3` (three systemd hosts
#                    in containers, each running Debian's postgresql@15-main under its own
#                    systemd, reached over SSH: the daemon acts through its built-in Debian actions,
#                    `actions = "debian"`, with no argv command; same db-1/db-2/db-3 roles)
#   RESULTS=FILE     also write the markdown results there (they always go to stdout)
#   LOGS=DIR         keep each trial's logs (daemon, writer, probes, PostgreSQL) under DIR
#   NO_BUILD=1       use target/release/hadome as it is (default: cargo build --release -p hadome)
#   SUPERVISOR=daemon (default) | standin: a crude fence/promote/follow script instead of the
#      daemon, to test this harness alone; its numbers say nothing about hadome.
#   --patroni / --both: PATRONI_VARIANTS="B C" (add D for the etcd v2 control),
#      PATRONI_RESULTS=FILE (default target/bench/patroni-failover-results.md), TRIALS as above,
#      PATRONI_SCRIPT=../shared/bench/patroni-failover.sh, PATRONI_BUDGET_S=2400.
#
# Everything listens on 127.0.0.1 only. Every process this script starts is tracked and ended by
# PID in the EXIT trap, never by name; every wait has a deadline; the temp dir is removed.
# Documented in docs/benchmarks.md ("Failover against Patroni").
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

MODE=hadome
case "${1:-}" in
  "") ;;
  --patroni) MODE=patroni ;;
  --both) MODE=both ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: bench/failover.sh [--patroni | --both]" >&2; exit 2 ;;
esac

TRIALS=${TRIALS:-5}
FAULTS=${FAULTS:-"crash hang hang-postmaster isolate overload"}
WARMUP_S=${WARMUP_S:-2}
HOLD_S=${HOLD_S:-2}
ISOLATE_S=${ISOLATE_S:-5}
OVERLOAD_S=${OVERLOAD_S:-20}
OVERLOAD_BUSY=${OVERLOAD_BUSY:-8}
FAILOVER_BOUND_S=${FAILOVER_BOUND_S:-30}
SETTLE_S=${SETTLE_S:-30}
STABLE_S=${STABLE_S:-3}
SEED=${SEED:-42}
RESULTS=${RESULTS:-}
LOGS=${LOGS:-}
NO_BUILD=${NO_BUILD:-0}
SUPERVISOR=${SUPERVISOR:-daemon}
TOPOLOGY=${TOPOLOGY:-trio}
case "$TOPOLOGY" in trio | debian3) ;; *) echo "TOPOLOGY must be trio or debian3" >&2; exit 2 ;; esac
if [ "$SUPERVISOR" = standin ] && [ "$TOPOLOGY" != trio ]; then
  echo "SUPERVISOR=standin fences with the lab's own fence, which only the trio's nodes have" >&2
  exit 2
fi
PATRONI_VARIANTS=${PATRONI_VARIANTS:-"B C"}
PATRONI_RESULTS=${PATRONI_RESULTS:-$ROOT/target/bench/patroni-failover-results.md}
PATRONI_SCRIPT=${PATRONI_SCRIPT:-$ROOT/../shared/bench/patroni-failover.sh}
PATRONI_BUDGET_S=${PATRONI_BUDGET_S:-2400}

PG_BIN=${HADOME_PG_BINDIR:-/usr/lib/postgresql/15/bin}
PY=/usr/bin/python3 # Debian's python3, with Debian's python3-psycopg2
HADOME=$ROOT/target/release/hadome
WRITER=$ROOT/bench/failover-writer.py
OVERLOADER=$ROOT/bench/overload.py
PRIMARY=db-1 # the topology's primary, the node every fault hits

case "$SUPERVISOR" in daemon | standin) ;; *) echo "SUPERVISOR must be daemon or standin" >&2; exit 2 ;; esac
for fault in $FAULTS; do
  case "$fault" in crash | hang | hang-postmaster | isolate | isolate-hang | overload) ;; *) echo "unknown fault $fault (crash hang hang-postmaster isolate isolate-hang overload)" >&2; exit 2 ;; esac
done

# ------------------------------------------------------------------ the Patroni side
run_patroni() {
  [ -r "$PATRONI_SCRIPT" ] || { echo "no Patroni baseline script at $PATRONI_SCRIPT" >&2; return 1; }
  mkdir -p "$(dirname "$PATRONI_RESULTS")"
  # Its faults, named as ours: kill9 = crash, stopall = hang, sigstop = hang-postmaster.
  # FAULTS is unset: the Patroni script would apply it to every variant.
  env -u FAULTS VARIANTS="$PATRONI_VARIANTS" TRIALS="$TRIALS" RESULTS="$PATRONI_RESULTS" \
    FAULTS_B="kill9 sigstop stopall" FAULTS_C="kill9 stopall" FAULTS_D="stopall" \
    WARMUP_S="$WARMUP_S" HOLD_S="$HOLD_S" SEED="$SEED" \
    BUDGET_S="$PATRONI_BUDGET_S" HARD_LIMIT_S="$((PATRONI_BUDGET_S + 120))" \
    bash "$PATRONI_SCRIPT"
  echo "Patroni results: $PATRONI_RESULTS" >&2
}
if [ "$MODE" = patroni ]; then
  run_patroni
  exit
fi

# ------------------------------------------------------------------ processes, all by PID
PIDS=()         # every background process started by this shell (its direct children)
SCRATCH=""
LAB=""          # the current trial's lab directory
TRIAL_LOGS=""   # the current trial's log directory
SUPERVISOR_PID=""
WRITER_PID=""
PROBE_PIDS=()

now_ns() { date +%s%N; }
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# A live (not zombie) process.
alive() {
  local state
  [ -n "${1:-}" ] || return 1
  state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
descendants() {
  local child children
  children=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
  for child in $children; do
    echo "$child"
    descendants "$child"
  done
}
# end PID TIMEOUT_S: SIGTERM a process we started and everything below it, SIGKILL what is left
# after TIMEOUT_S. Only a direct child of this shell is signalled (not a reused PID).
end_process() {
  local pid=$1 timeout=$2 below p deadline
  [ -n "$pid" ] && alive "$pid" || return 0
  [ "$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" = "$$" ] || return 0
  below=$(descendants "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  for p in $below; do kill -TERM "$p" 2>/dev/null || true; done
  deadline=$(($(now_ns) + timeout * 1000000000))
  while [ "$(now_ns)" -lt "$deadline" ]; do
    alive "$pid" || break
    sleep 0.1
  done
  below="$below $(descendants "$pid")"
  for p in $pid $below; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
  wait "$pid" 2>/dev/null || true
}
# wait_gone TIMEOUT_S PID...: true once none is alive, false at the deadline.
wait_gone() {
  local deadline=$(($(now_ns) + $1 * 1000000000)) p any
  shift
  while :; do
    any=0
    for p in "$@"; do alive "$p" && any=1; done
    [ "$any" = 0 ] && return 0
    [ "$(now_ns)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM ERR
  set +e
  [ -n "$TRIAL_LOGS" ] && touch "$TRIAL_LOGS/stop" 2>/dev/null
  for pid in "${PIDS[@]}" "${TRANSIENT[@]}"; do end_process "$pid" 5; done
  if [ -n "$LAB" ] && [ -e "$LAB/lab.json" ]; then
    keep_logs
    "$HADOME" lab down --dir "$LAB" >&2 || log "lab down failed for $LAB: see above"
  fi
  [ -n "$SCRATCH" ] && rm -rf "$SCRATCH"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "failed (exit code $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ setup
install_debian() {
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  log "installing from Debian: $*"
  "${sudo[@]}" apt-get update -q >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
}
setup() {
  [ -x "$PG_BIN/postgres" ] || scripts/setup.sh >&2
  local need=()
  "$PY" -c 'import psycopg2' 2>/dev/null || need+=(python3-psycopg2)
  command -v jq >/dev/null || need+=(jq)
  [ ${#need[@]} -eq 0 ] || install_debian "${need[@]}"
  if [ "$NO_BUILD" = 1 ]; then
    [ -x "$HADOME" ] || die "NO_BUILD=1 but there is no $HADOME"
  else
    cargo build -q --release -p hadome
  fi
}

# ------------------------------------------------------------------ one lab, its nodes
declare -A PORT=()
NODES=()
ESTATE_SETTINGS=""
psql_at() { # PORT ARGS...: psql over the node's client port, bounded
  local port=$1
  shift
  timeout -s KILL 3 "$PG_BIN/psql" "host=127.0.0.1 port=$port user=postgres dbname=postgres connect_timeout=2" \
    -XAtq -v ON_ERROR_STOP=1 "$@"
}
lab_up() {
  "$HADOME" lab up "$TOPOLOGY" --dir "$LAB" >"$TRIAL_LOGS/lab-up.txt"
  PORT=()
  NODES=()
  local name port
  while read -r name port; do
    NODES+=("$name")
    PORT[$name]=$port
  done < <("$HADOME" lab status --dir "$LAB" --json | jq -r '.nodes[] | "\(.name) \(.port)"')
  [ "${NODES[*]}" = "db-1 db-2 db-3" ] || die "unexpected $TOPOLOGY nodes: ${NODES[*]}"
  # What the daemon runs with, for the report (the lab writes it; the first trial's is kept).
  [ -n "$ESTATE_SETTINGS" ] || ESTATE_SETTINGS=$(awk -F' *= *' '
    /^(timeout_seconds|interval_seconds|failover|detection_seconds|on_primary_crash|on_old_primary) *=/ {
      gsub(/"/, "", $2); sub(/ *#.*/, "", $2); out = out (out == "" ? "" : ", ") $1 " " $2 }
    END { print out }' "$LAB/estate.toml")
  psql_at "${PORT[$PRIMARY]}" -c "CREATE TABLE failover_bench_acks (id bigint PRIMARY KEY);
    CREATE TABLE failover_bench_probe (node text, at timestamptz DEFAULT clock_timestamp())" >/dev/null
}
# Copies the trial's logs to $LOGS (when set) before the lab directory goes.
keep_logs() {
  [ -n "$LOGS" ] && [ -n "$TRIAL_LOGS" ] && [ -d "$TRIAL_LOGS" ] || return 0
  local to name
  to="$LOGS/$(basename "$TRIAL_LOGS")"
  mkdir -p "$to"
  cp -r "$TRIAL_LOGS/." "$to/" 2>/dev/null || true
  for name in "${NODES[@]}"; do
    cp "$LAB/nodes/$name/postgresql.log" "$to/postgresql-$name.log" 2>/dev/null || true
  done
  cp "$LAB/proxy.log" "$to/proxy.log" 2>/dev/null || true
}
lab_down() {
  keep_logs
  "$HADOME" lab down --dir "$LAB" >>"$TRIAL_LOGS/lab-down.txt" 2>&1 ||
    die "lab down failed for $LAB: $(tail -3 "$TRIAL_LOGS/lab-down.txt")"
  LAB=""
}

# Sets WRITABLE to the nodes that commit an INSERT now (asked concurrently, each bounded by 3 s),
# space separated.
WRITABLE=""
ROUND=0
TRANSIENT=() # this round's askers (also ended by the EXIT trap)
writable_nodes() {
  local name dir pid
  ROUND=$((ROUND + 1))
  dir="$TRIAL_LOGS/writable.$ROUND"
  mkdir -p "$dir"
  TRANSIENT=()
  for name in "${NODES[@]}"; do
    (psql_at "${PORT[$name]}" -c "INSERT INTO failover_bench_probe (node) VALUES ('settle-$name')" >/dev/null 2>&1 &&
      : >"$dir/$name") &
    TRANSIENT+=("$!")
  done
  wait_gone 5 "${TRANSIENT[@]}" || true
  for pid in "${TRANSIENT[@]}"; do end_process "$pid" 1; done
  TRANSIENT=()
  WRITABLE=""
  for name in "${NODES[@]}"; do
    if [ -e "$dir/$name" ]; then WRITABLE+="${WRITABLE:+ }$name"; fi
  done
  rm -rf "$dir"
}

# settle: sets SETTLED_PRIMARY (the one writable node, stable for STABLE_S; empty if none by
# SETTLE_S), MAX_WRITABLE (the most nodes that committed in any one round) and SETTLED (yes/no).
SETTLED_PRIMARY=""
MAX_WRITABLE=0
SETTLED=no
settle() {
  local deadline=$(($(now_ns) + SETTLE_S * 1000000000)) w n candidate="" since=0 now
  SETTLED_PRIMARY=""
  MAX_WRITABLE=0
  SETTLED=no
  while [ "$(now_ns)" -lt "$deadline" ]; do
    writable_nodes
    w=$WRITABLE
    n=$(wc -w <<<"$w")
    [ "$n" -gt "$MAX_WRITABLE" ] && MAX_WRITABLE=$n
    now=$(now_ns)
    if [ "$n" = 1 ]; then
      if [ "$w" != "$candidate" ]; then
        candidate=$w
        since=$now
      elif [ $((now - since)) -ge $((STABLE_S * 1000000000)) ]; then
        SETTLED_PRIMARY=$candidate
        SETTLED=yes
        return 0
      fi
    else
      candidate=""
    fi
    sleep 0.5
  done
  SETTLED_PRIMARY=$candidate # the last single writer seen, if any
  return 0
}

# ------------------------------------------------------------------ the supervisor
start_supervisor() {
  if [ "$SUPERVISOR" = daemon ]; then
    "$HADOME" daemon --config "$LAB/estate.toml" 2>"$TRIAL_LOGS/daemon.log" &
    SUPERVISOR_PID=$!
    PIDS+=("$SUPERVISOR_PID")
    # Ready once its first pass is done: it logs the cluster healthy, or (should that line
    # change) `hadome status --json` shows this daemon holding the cluster's lease.
    local deadline=$(($(now_ns) + 30 * 1000000000)) next_status=0 status
    until grep -q "cluster \`$TOPOLOGY\`: healthy" "$TRIAL_LOGS/daemon.log" 2>/dev/null; do
      alive "$SUPERVISOR_PID" || die "hadome daemon exited: $(tail -5 "$TRIAL_LOGS/daemon.log")"
      [ "$(now_ns)" -lt "$deadline" ] || die "hadome daemon did not report the cluster healthy within 30 s"
      if [ "$(now_ns)" -ge "$next_status" ]; then
        next_status=$(($(now_ns) + 500000000))
        status=$("$HADOME" status --config "$LAB/estate.toml" --json 2>/dev/null || true)
        jq -e --arg pid "$SUPERVISOR_PID" '.clusters[0].daemon.lease | select(. != null and (.expired | not) and (.holder | endswith(":" + $pid)))' \
          <<<"$status" >/dev/null 2>&1 && break
      fi
      sleep 0.1
    done
  else
    standin_supervisor >"$TRIAL_LOGS/daemon.log" 2>&1 &
    SUPERVISOR_PID=$!
    PIDS+=("$SUPERVISOR_PID")
  fi
}
SUPERVISOR_EXITED=""
stop_supervisor() {
  if [ "$SUPERVISOR" = daemon ] && ! alive "$SUPERVISOR_PID"; then
    SUPERVISOR_EXITED=" (the daemon exited during the trial)"
  fi
  end_process "$SUPERVISOR_PID" 15
  SUPERVISOR_PID=""
}
# The stand-in (SUPERVISOR=standin): watches db-1 over its Unix socket (so `isolate` does not
# fool it); once db-1 has not answered for 1.5 s, fences it, promotes db-2 with pg_promote()
# and repoints db-3. Never restarts. For testing this harness only.
standin_supervisor() {
  local deadline=$(($(now_ns) + 300 * 1000000000)) last_ok
  last_ok=$(now_ns)
  echo "stand-in: watching db-1"
  while [ "$(now_ns)" -lt "$deadline" ]; do
    if timeout -s KILL 0.5 "$PG_BIN/psql" "host=$LAB/nodes/db-1/run user=postgres dbname=postgres" -XAtqc 'SELECT 1' >/dev/null 2>&1; then
      last_ok=$(now_ns)
    elif [ $(($(now_ns) - last_ok)) -gt 1500000000 ]; then
      echo "stand-in: fencing \`db-1\`"
      "$HADOME" lab fault --dir "$LAB" fence db-1
      echo "stand-in: FAILOVER of \`trio\` to db-2"
      timeout -s KILL 10 "$PG_BIN/psql" "host=$LAB/nodes/db-2/run user=postgres dbname=postgres" -XAtqc 'SELECT pg_promote(true, 10)'
      "$HADOME" lab fault --dir "$LAB" follow db-3 db-2
      echo "stand-in: done"
      return 0
    fi
    sleep 0.1
  done
}
# Counts what the supervisor did, from its log: failovers, in-place restarts, rebuilds, fence
# steps (of a failover or of a second primary) and escalations.
supervisor_actions() {
  local log=$TRIAL_LOGS/daemon.log f r b x e
  f=$(grep -c 'FAILOVER of' "$log" || true)
  r=$(grep -c 'restarting `' "$log" || true)
  b=$(grep -c 'rebuilding `' "$log" || true)
  x=$(grep -cE '(done|FAILED) fence `|stand-in: fencing' "$log" || true)
  e=$(grep -c 'ESCALATION' "$log" || true)
  FAILOVERS=$f
  ACTIONS="failover $f, restart $r, rebuild $b, fence $x, escalation $e"
}

# ------------------------------------------------------------------ writer and probes
start_writer() {
  local spec="" name
  for name in "${NODES[@]}"; do spec+="${spec:+,}$name=127.0.0.1:${PORT[$name]}"; done
  : >"$TRIAL_LOGS/acks.tsv"
  "$PY" "$WRITER" --nodes "$spec" --ack-log "$TRIAL_LOGS/acks.tsv" --stop-file "$TRIAL_LOGS/stop" \
    --op-timeout 2 --max-seconds 240 2>"$TRIAL_LOGS/writer.log" &
  WRITER_PID=$!
  PIDS+=("$WRITER_PID")
  local deadline=$(($(now_ns) + 20 * 1000000000))
  until [ -s "$TRIAL_LOGS/acks.tsv" ]; do
    alive "$WRITER_PID" || die "the writer exited: $(tail -5 "$TRIAL_LOGS/writer.log")"
    [ "$(now_ns)" -lt "$deadline" ] || die "the writer acknowledged nothing within 20 s"
    sleep 0.05
  done
}
stop_writer() {
  touch "$TRIAL_LOGS/stop"
  wait_gone 5 "$WRITER_PID" || end_process "$WRITER_PID" 2
  WRITER_PID=""
}
# overload NODE: every client slot of NODE a role without superuser can take, OVERLOAD_BUSY of
# them burning CPU, for OVERLOAD_S (bench/overload.py); then every backend of that role ended by
# its PID (pg_terminate_backend), in case the script was killed before its statement_timeout.
overload() {
  local node=$1 pid
  psql_at "${PORT[$node]}" -c "DO \$\$ BEGIN CREATE ROLE bench_load LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" >/dev/null
  "$PY" "$OVERLOADER" --port "${PORT[$node]}" --role bench_load --busy "$OVERLOAD_BUSY" \
    --seconds "$OVERLOAD_S" --stop-file "$TRIAL_LOGS/stop" >>"$TRIAL_LOGS/faults.txt" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_gone $((OVERLOAD_S + 30)) "$pid" || end_process "$pid" 2
  psql_at "${PORT[$node]}" -c "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'bench_load'" >>"$TRIAL_LOGS/faults.txt" 2>&1 || true
}
# One loop per node: a psql INSERT over a new connection every 100 ms until the deadline or the
# stop file; each commit appends "UNIX_NS NODE" to the probe file.
start_probes() {
  local deadline=$1 name
  : >"$TRIAL_LOGS/probes.txt"
  rm -f "$TRIAL_LOGS/probes-stop"
  PROBE_PIDS=()
  for name in "${NODES[@]}"; do
    (
      while [ "$(now_ns)" -lt "$deadline" ] && [ ! -e "$TRIAL_LOGS/probes-stop" ]; do
        if psql_at "${PORT[$name]}" -c "INSERT INTO failover_bench_probe (node) VALUES ('$name')" >/dev/null 2>&1; then
          echo "$(now_ns) $name" >>"$TRIAL_LOGS/probes.txt"
        fi
        sleep 0.1
      done
    ) &
    PROBE_PIDS+=("$!")
    PIDS+=("$!")
  done
}
stop_probes() {
  local pid
  touch "$TRIAL_LOGS/probes-stop"
  if ! wait_gone 4 "${PROBE_PIDS[@]}"; then
    for pid in "${PROBE_PIDS[@]}"; do end_process "$pid" 2; done
  fi
  PROBE_PIDS=()
}

# ------------------------------------------------------------------ one trial
ROWS=""
warm_up() { # the writer's warm-up, then a jitter in [0, 500) ms (RANDOM: main shell only)
  local jitter_ms=$((RANDOM % 500))
  sleep "$WARMUP_S"
  sleep "$(printf '0.%03d' "$jitter_ms")"
}
# Ack-log statistics after t0: acked, acked before t0, longest gap between acknowledged commits
# that ends after t0 (s), and the seconds from T1 to the first ack after T1.
ack_stats() { # T0_NS T1_NS
  awk -F'\t' -v t0="$1" -v t1="$2" '
    { n++; if ($2 < t0) pre++
      if (n > 1 && $2 > t0 && $2 - prev > gap) gap = $2 - prev
      if (back == "" && $2 >= t1) back = ($2 - t1) / 1e9
      prev = $2 }
    END { printf "%d %d %.2f %s\n", n, pre, gap / 1e9, (back == "" ? "NA" : sprintf("%.2f", back)) }' \
    "$TRIAL_LOGS/acks.tsv"
}
# The nodes that committed, in time order, runs merged ("db-1>db-2"): in the probe file (after
# the fault) and in the ack log (from T0 on). A node that comes back after another
# ("db-1>db-2>db-1") means two nodes accepted writes in the same window.
sequences() { # T0_NS
  local probes writer
  probes=$(sort -n "$TRIAL_LOGS/probes.txt" 2>/dev/null | awk '$2 != last { s = s (s == "" ? "" : ">") $2; last = $2 } END { print (s == "" ? "-" : s) }')
  writer=$(awk -F'\t' -v t0="$1" '$2 >= t0 && $3 != last { s = s (s == "" ? "" : ">") $3; last = $3 } END { print (s == "" ? "-" : s) }' "$TRIAL_LOGS/acks.tsv")
  echo "$probes $writer"
}
count_lost() { # NODE: acknowledged ids missing on NODE, or NA
  local node=$1
  [ -n "$node" ] || { echo NA; return 0; }
  if psql_at "${PORT[$node]}" -c "COPY (SELECT id FROM failover_bench_acks) TO STDOUT" >"$TRIAL_LOGS/present.txt" 2>/dev/null; then
    comm -23 <(cut -f1 "$TRIAL_LOGS/acks.tsv" | sort) <(sort "$TRIAL_LOGS/present.txt") | wc -l
  else
    echo NA
  fi
}

run_trial() { # FAULT N
  local fault=$1 n=$2 t0 t1 first="" fo=NA resumed=none first_node="" deadline resume="-"
  local acked pre gap back lost primary_after probe_seq writer_seq
  TRIAL_LOGS="$SCRATCH/logs/$fault-$n"
  LAB="$SCRATCH/lab-$fault-$n"
  mkdir -p "$TRIAL_LOGS"
  : >"$TRIAL_LOGS/probes.txt"
  lab_up
  start_supervisor
  start_writer
  warm_up
  t0=$(now_ns)
  if [ "$fault" = isolate ] || [ "$fault" = overload ]; then
    if [ "$fault" = isolate ]; then
      "$HADOME" lab fault --dir "$LAB" isolate "$PRIMARY" >>"$TRIAL_LOGS/faults.txt"
      sleep "$ISOLATE_S"
      "$HADOME" lab fault --dir "$LAB" rejoin "$PRIMARY" >>"$TRIAL_LOGS/faults.txt"
    else
      overload "$PRIMARY"
    fi
    t1=$(now_ns)
    settle # with the writer still running
    stop_writer
  else
    if [ "$fault" = isolate-hang ]; then
      "$HADOME" lab fault --dir "$LAB" isolate "$PRIMARY" >>"$TRIAL_LOGS/faults.txt"
      "$HADOME" lab fault --dir "$LAB" hang "$PRIMARY" >>"$TRIAL_LOGS/faults.txt"
    else
      "$HADOME" lab fault --dir "$LAB" "$fault" "$PRIMARY" >>"$TRIAL_LOGS/faults.txt"
    fi
    t1=$(now_ns) # when the fault command returned (its effect verified)
    deadline=$((t0 + FAILOVER_BOUND_S * 1000000000))
    start_probes "$deadline"
    while [ "$(now_ns)" -lt "$deadline" ]; do
      first=$(sort -n "$TRIAL_LOGS/probes.txt" | head -1)
      [ -n "$first" ] && break
      sleep 0.05
    done
    if [ -n "$first" ]; then
      sleep "$HOLD_S" # the writer goes on writing to wherever writes resumed
      first_node=${first#* }
      fo=$(awk -v a="${first% *}" -v b="$t0" 'BEGIN { printf "%.2f", (a - b) / 1e9 }')
      if [ "$first_node" = "$PRIMARY" ]; then resumed=same-node; else resumed=new-node; fi
    else
      resumed="none<${FAILOVER_BOUND_S}s"
    fi
    stop_probes
    stop_writer
    if [ "$fault" != crash ]; then # the old primary comes back
      if "$HADOME" lab fault --dir "$LAB" resume "$PRIMARY" >>"$TRIAL_LOGS/faults.txt" 2>&1; then
        resume=resumed
      else
        resume="nothing to resume"
      fi
      if [ "$fault" = isolate-hang ]; then # its client port back, for the settle's probes
        "$HADOME" lab fault --dir "$LAB" rejoin "$PRIMARY" >>"$TRIAL_LOGS/faults.txt" 2>&1 || true
      fi
    fi
    settle
  fi
  primary_after=$SETTLED_PRIMARY
  lost=$(count_lost "$primary_after")
  read -r acked pre gap back < <(ack_stats "$t0" "$t1")
  read -r probe_seq writer_seq < <(sequences "$t0")
  SUPERVISOR_EXITED=""
  stop_supervisor
  supervisor_actions
  ACTIONS+=$SUPERVISOR_EXITED
  lab_down
  local fault_s
  fault_s=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.2f", (a - b) / 1e9 }')
  if [ "$fault" = isolate ] || [ "$fault" = overload ]; then
    log "$fault #$n: primary after ${primary_after:-none} (settled: $SETTLED), writer back ${back}s after the $fault ended, longest writer gap ${gap}s; acked $acked, lost $lost; $ACTIONS"
  else
    log "$fault #$n: failover ${fo}s ($resumed${first_node:+, $first_node}; probes committed on $probe_seq, the writer on $writer_seq); acked $acked ($pre before the fault), lost $lost on ${primary_after:-none} (settled: $SETTLED); longest writer gap ${gap}s; old primary: $resume; $ACTIONS"
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
    "$fault" "$n" "$fo" "$resumed" "${first_node:--}" "$acked" "$pre" "$lost" "$gap" \
    "${primary_after:-none}" "$MAX_WRITABLE" "$SETTLED" "$resume" "$FAILOVERS" "$ACTIONS" "$back/$fault_s" \
    "$probe_seq" "$writer_seq" >>"$ROWS"
  TRIAL_LOGS=""
}

# ------------------------------------------------------------------ report
# Rows (TSV, one per trial): 1 fault, 2 trial, 3 failover s, 4 writes resumed on, 5 first probe's
# node, 6 acked, 7 acked before the fault, 8 lost, 9 longest writer gap s, 10 primary after,
# 11 most nodes writable at once after, 12 settled, 13 old primary, 14 failovers logged,
# 15 supervisor actions, 16 writer back after rejoin s / fault command s, 17 probe sequence,
# 18 writer sequence.
# shellcheck disable=SC2016 # awk's $ fields, not the shell's
AWK_LIB='
  function sort(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } }
  function median(a, n) { return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  function revisits(seq,   k, m, p, seen) { m = split(seq, p, ">"); for (k = 1; k <= m; k++) { if (p[k] in seen) return 1; seen[p[k]] = 1 } return 0 }
  function two_primaries() { return ($11 + 0 > 1) || revisits($17) || revisits($18) }
  function check(f) { return f == "isolate" || f == "overload" }
  function false_failover() { return check($1) && ($14 + 0 > 0 || $10 != "db-1") }
'
summary() {
  awk -F'\t' -v isolate_s="$ISOLATE_S" -v overload_s="$OVERLOAD_S" -v busy="$OVERLOAD_BUSY" "$AWK_LIB"'
    { f = $1
      if (!(f in seen)) { seen[f] = 1; order[++nf] = f }
      tr[f]++
      if ($3 != "NA") { c[f]++; v[f, c[f]] = $3 + 0 }
      lost[f] = lost[f] (lost[f] == "" ? "" : " / ") $8
      if ($8 != "NA") lt[f] += $8; else lna[f]++
      at[f] += $6
      if (!((f, $4) in os)) { os[f, $4] = 1; ol[f] = ol[f] (ol[f] == "" ? "" : "|") $4 }
      oc[f, $4]++
      if (two_primaries()) two[f]++
      if (false_failover()) ff[f]++
      fo[f] += $14
      m = split($15, parts, ", ")
      for (k = 1; k <= m; k++) { split(parts[k], kv, " "); act[f, k] += kv[2]; actname[k] = kv[1] }
      nact = m
      split($16, bf, "/"); if (bf[1] != "NA") { bc[f]++; bv[f, bc[f]] = bf[1] + 0 }
    }
    function actions(f,   k, out) { out = ""; for (k = 1; k <= nact; k++) if (act[f, k] > 0) out = out (out == "" ? "" : ", ") actname[k] " " act[f, k]; return (out == "" ? "none" : out) }
    END {
      for (o = 1; o <= nf; o++) { f = order[o]
        if (check(f)) continue
        if (!header++) {
          print "| fault | trials | failover s (min / median / max) | writes resumed on | lost acknowledged commits per trial | lost / acknowledged, all trials | trials with two nodes accepting writes | supervisor actions, all trials |"
          print "|---|---|---|---|---|---|---|---|"
        }
        n = c[f] + 0
        if (n > 0) { delete a; for (i = 1; i <= n; i++) a[i] = v[f, i]; sort(a, n)
                     fs = sprintf("%.2f / %.2f / %.2f", a[1], median(a, n), a[n]); if (n < tr[f]) fs = fs sprintf(" (%d of %d trials)", n, tr[f]) }
        else fs = "no writes resumed in any trial"
        m = split(ol[f], oo, "|"); ostr = ""
        for (q = 1; q <= m; q++) ostr = ostr (q > 1 ? ", " : "") oo[q] " " oc[f, oo[q]] "/" tr[f]
        printf "| %s | %d | %s | %s | %s | %d / %d%s | %d | %s |\n", f, tr[f], fs, ostr, lost[f], lt[f], at[f], (lna[f] ? sprintf(" (%d trials not counted)", lna[f]) : ""), two[f], actions(f)
      }
      checks = 0
      for (o = 1; o <= nf; o++) { f = order[o]; if (!check(f)) continue
        if (!checks++) {
          if (header) print ""
          print "| check | trials | false failovers (primary changed, or a failover logged) | writer back after the fault s (median) | lost acknowledged commits per trial | trials with two nodes accepting writes | supervisor actions, all trials |"
          print "|---|---|---|---|---|---|---|"
        }
        n = bc[f] + 0; med = "NA"
        if (n > 0) { delete a; for (i = 1; i <= n; i++) a[i] = bv[f, i]; sort(a, n); med = sprintf("%.2f", median(a, n)) }
        what = (f == "isolate") ? sprintf("isolate db-1 for %s s", isolate_s) : sprintf("overload db-1 for %s s (every client slot taken, %s CPU loops)", overload_s, busy)
        printf "| %s | %d | %d | %s | %s | %d | %s |\n", what, tr[f], ff[f], med, lost[f], two[f], actions(f)
      }
    }' "$ROWS"
}
verdict() {
  awk -F'\t' "$AWK_LIB"'
    { f = $1; tr[f]++; if (!(f in seen)) { seen[f] = 1; order[++nf] = f }
      if ($3 != "NA") { c[f]++; v[f, c[f]] = $3 + 0 }
      if ($8 == "NA" || $8 + 0 > 0) lost++
      if (two_primaries()) two++
      if (false_failover()) ff++ }
    END {
      ok = 1; msg = ""
      for (o = 1; o <= nf; o++) { f = order[o]; if (check(f)) continue
        n = c[f] + 0
        if (n < tr[f]) { ok = 0; msg = msg sprintf("; %s: writes did not resume in %d trial(s)", f, tr[f] - n) }
        if (n == 0) continue
        delete a; for (i = 1; i <= n; i++) a[i] = v[f, i]; sort(a, n)
        bound = (f == "hang") ? 1.5 : 3
        if (median(a, n) > bound) { ok = 0; msg = msg sprintf("; %s: median %.2f s > %s s", f, median(a, n), bound) } }
      if (lost) { ok = 0; msg = msg sprintf("; %d trial(s) lost commits (or could not count them)", lost) }
      if (two) { ok = 0; msg = msg sprintf("; %d trial(s) with two nodes accepting writes", two) }
      if (ff) { ok = 0; msg = msg sprintf("; %d false failover(s)", ff) }
      printf "Target (median ≤ 1.5 s on a hang and ≤ 3 s on every other fault, zero commits lost, zero false failovers, never two nodes accepting writes): **%s**%s.\n", (ok ? "met" : "not met"), msg
    }' "$ROWS"
}
per_trial() {
  echo "| fault | trial | failover s | writes resumed on (first probe) | nodes that committed: probes / writer, after the fault | acked (before fault) | lost | longest writer gap s | primary after (settled) | most writable at once, after | old primary | supervisor actions | fault command s |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  awk -F'\t' '{ split($16, bf, "/")
    if ($1 == "isolate") { $3 = "-"; $4 = "writer back " bf[1] " s after rejoin"; bf[2] = "-" }
    if ($1 == "overload") { $3 = "-"; $4 = "writer back " bf[1] " s after the load"; bf[2] = "-" }
    printf "| %s | %d | %s | %s%s | %s / %s | %s (%s) | %s | %s | %s (%s) | %s | %s | %s | %s |\n", $1, $2, $3, $4, ($5 == "-" ? "" : " (" $5 ")"), $17, $18, $6, $7, $8, $9, $10, $12, $11, $13, $15, bf[2] }' "$ROWS"
}
report() {
  local pg psy
  pg=$("$PG_BIN/postgres" --version)
  psy=$(dpkg-query -W -f='${Version}' python3-psycopg2 2>/dev/null || echo unknown)
  echo "# hadome failover benchmark"
  echo
  echo "Generated by \`bench/failover.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') in $(($(date +%s) - START_S)) s."
  if [ "$SUPERVISOR" = standin ]; then
    echo
    echo "**SUPERVISOR=standin: a test of the harness with a crude fence/promote/follow script instead of \`hadome daemon\`. These numbers say nothing about hadome.**"
  fi
  echo
  echo "- Machine: $(nproc) cores, $(free -g | awk '/^Mem:/ { print $2 }') GiB, Linux $(uname -r); $("$HADOME" --version); $pg; python3-psycopg2 $psy."
  echo "- Lab: \`hadome lab up $TOPOLOGY\` per trial (db-1 primary, db-2 synchronous, db-3 asynchronous); estate.toml as the lab writes it ($ESTATE_SETTINGS); supervisor: $([ "$SUPERVISOR" = daemon ] && echo "\`hadome daemon\`" || echo "the stand-in")."
  echo "- Writer: \`bench/failover-writer.py\`, one persistent connection, autocommit single-row INSERTs, unthrottled, 2 s client timeout per operation, reconnecting to whichever node answers \`pg_is_in_recovery() = false\`. Fault ${WARMUP_S} s after its first acknowledged commit plus a jitter in [0, 500) ms (seed $SEED); writer stopped ${HOLD_S} s after the first committed probe."
  echo "- failover s: fault command started -> first committed probe INSERT (psql, new connection, every 100 ms per node, connect_timeout 2). lost: acknowledged ids missing on the one node accepting writes, stable for ${STABLE_S} s (bounded by ${SETTLE_S} s), after the old primary came back. Isolate: \`isolate db-1\`, ${ISOLATE_S} s, \`rejoin db-1\`, writer running. Overload: \`bench/overload.py\` holds every client slot of db-1 a role without superuser can take, ${OVERLOAD_BUSY} of them in a CPU loop, for ${OVERLOAD_S} s, writer running."
  echo
  summary
  echo
  verdict
  echo
  echo "### Per trial"
  echo
  per_trial
}

# ------------------------------------------------------------------ main
START_S=$(date +%s)
RANDOM=$SEED
setup
SCRATCH=$(mktemp -d /tmp/hadome-failover-XXXXXX)
chmod 755 "$SCRATCH" # the lab's servers run as postgres and must reach their directories
ROWS="$SCRATCH/rows.tsv"
: >"$ROWS"
[ -z "$LOGS" ] || mkdir -p "$LOGS"
log "hadome failover benchmark: $TRIALS trial(s) of: $FAULTS (supervisor: $SUPERVISOR)"
for fault in $FAULTS; do
  for n in $(seq 1 "$TRIALS"); do
    run_trial "$fault" "$n"
  done
done
report >"$SCRATCH/results.md"
cat "$SCRATCH/results.md"
if [ -n "$RESULTS" ]; then
  mkdir -p "$(dirname "$RESULTS")"
  cp "$SCRATCH/results.md" "$RESULTS"
  log "results written to $RESULTS"
fi
if [ "$MODE" = both ]; then
  run_patroni
fi
