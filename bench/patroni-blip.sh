#!/usr/bin/env bash
# Patroni's side of issue 4's false-failover check: what a 5 s blip of the leader's link to its
# DCS (etcd) does to a 3-node Patroni cluster under a steady write load. hadome's side is
# `FAULTS=isolate bench/failover.sh` (db-1 unreachable for hadome and clients for 5 s, replication
# links up). Patroni runs beside PostgreSQL and checks it locally, so the counterpart of "the
# primary's node loses its coordinator for 5 s" is "the leader's Patroni loses etcd for 5 s":
# once a DCS request has failed for retry_timeout, Patroni demotes a leader that cannot renew
# its lock, and the leader key expires after ttl.
#
#   sudo bench/patroni-blip.sh                       # VARIANTS="A B", MODES="reset blackhole", 5 trials each
#   VARIANTS="A B C F" TRIALS=5 RESULTS=docs/bench/patroni-blip-DATE.md bench/patroni-blip.sh
#
# Set-up (Debian 12 packages, installed with apt-get if missing: etcd-server, etcd-client,
# patroni 3.0.2, postgresql-15, python3-psycopg2, jq, curl): one etcd on 127.0.0.1 (v3 API), and
# per trial a fresh 3-node Patroni cluster (pg0 pg1 pg2; PostgreSQL 15 from
# /usr/lib/postgresql/15/bin, run as the `postgres` OS user, data under a temp dir). Each Patroni
# node talks to etcd THROUGH ITS OWN TCP PROXY (bench/blip-proxy.py; Patroni's `etcd3.hosts` is
# the proxy, `use_proxies: true` so it never discovers etcd's own address), so one node's DCS link
# can be cut while everything else (PostgreSQL replication, the REST API between Patroni nodes,
# the clients) stays up. The cluster configuration is written by this script (it does not use the
# shared baseline's template); its PostgreSQL settings are the baseline's
# (../shared/bench/patroni-failover.sh): use_pg_rewind, use_slots, maximum_lag_on_failover 1 MiB,
# wal_log_hints, shared_buffers 32MB, max_connections 50, wal_keep_size 128MB, trust on loopback.
#
# Variants (Patroni's dynamic configuration; all on the etcd v3 API, `etcd3:`):
#   A  Patroni defaults: ttl 30, loop_wait 10, retry_timeout 10
#   B  tuned as the baseline's B: ttl 10, loop_wait 1, retry_timeout 4
#   C  B + synchronous_mode: true
#   F  B + failsafe_mode: true (Patroni >= 3.0: a leader that loses the DCS keeps running while
#      every member answers its REST POST /failsafe)
# Blip modes (MODES), what the leader's proxy does for BLIP_S seconds:
#   reset      open connections are reset (RST), new ones refused (ECONNREFUSED): etcd's process
#              restarting, or a firewall REJECT
#   blackhole  nothing passes either way; open connections stay open and carry on afterwards,
#              new ones get no answer: a partition, or a firewall DROP (a user-space approximation:
#              the proxy's kernel still answers handshakes and keepalives; see blip-proxy.py)
#
# Each trial:
#   1. three proxies, then pg0's Patroni (waited for until it is the running leader, so that every
#      trial starts with pg0 leading), then pg1's and pg2's; healthy = 1 running leader and 2
#      running replicas with lag < 1 MiB (+ a sync standby in C), and an INSERT commits on the
#      leader (bounded by BOOT_S). The leader's Patroni must hold a connection through its proxy
#      and no Patroni process may hold one to etcd directly (else the script stops: a harness bug);
#   2. a writer (bench/failover-writer.py: one persistent connection, unthrottled autocommit
#      single-row INSERTs, 2 s client timeout per operation, reconnects to whichever node answers
#      pg_is_in_recovery() = false) logs every acknowledged id with its time and node;
#   3. WARMUP_S after its first acknowledged commit, plus a jitter uniform in [0, loop_wait) s
#      (bash RANDOM seeded with SEED, so the cut lands at varying phases of Patroni's HA loop),
#      the leader's proxy cuts the link (t0 = the signal), BLIP_S later it restores it;
#   4. settle, with the writer still running: every 0.5 s every node is asked to commit an
#      INSERT over a new connection (psql, connect_timeout 2); settled = one and the same node,
#      alone, for STABLE_S, and at least OBSERVE_S after the restore (default ttl + loop_wait, by
#      when a leader key left unrenewed by the blip has expired and its consequence is visible),
#      bounded by SETTLE_S; then the writer stops;
#   5. throughout (from before t0 to the end), a monitor samples every 0.5 s the leader key
#      straight from etcd (its v3 JSON gateway, not through a proxy) and each node's GET /patroni
#      (role, state, timeline, postmaster start time), all at once, 0.4 s timeout each.
# Recorded per trial: failover = the settled writable node is not the old leader, or the leader
# key named another node at any sample after t0; demotion = the old leader's Patroni logged
# "Demoting self" after t0, or its /patroni role was seen other than master after t0 (a
# demotion without failover is an outage caused by the blip too, counted separately); the
# writer's longest gap between consecutive acknowledged commits ending after t0 (s, with when it
# began and ended relative to t0; "never" = it had not come back when it was stopped); lost = acknowledged ids missing on the settled leader; the most
# nodes that committed in one settle round (2 = split brain); the old leader's Patroni log after
# t0, condensed, in the per-trial report.
#
# Knobs (environment):
#   VARIANTS="A B"  MODES="reset blackhole"  TRIALS=5  BLIP_S=5  WARMUP_S=2  SEED=42
#   STABLE_S=3  OBSERVE_S=(ttl + loop_wait of the variant)  SETTLE_S=120  BOOT_S=120
#   RESULTS=FILE  also write the markdown report there (it always goes to stdout)
#   LOGS=DIR      keep each trial's logs (Patroni + PostgreSQL, proxies, monitor, acks) under DIR
#   HARD_LIMIT_S=7200  the whole run is aborted (cleanly) after this long
# Ports (all 127.0.0.1; the script refuses to start if one is in use): etcd 23890 (client) and
# 23900 (peer), proxies 23891-23893, PostgreSQL 25532-25534, Patroni REST 28108-28110: distinct
# from the shared baseline's, so both can run side by side.
#
# Run as root (apt-get, and starting Patroni as `postgres`: PostgreSQL refuses to run as root).
# Every process this script starts is tracked and ended by PID in the EXIT trap (never by name);
# every wait has a deadline (the only bare sleeps are the warm-up and the blip itself); the temp
# dir is removed, also on failure. Documented in docs/benchmarks.md ("Failover against Patroni").
set -Eeuo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

case "${1:-}" in
  "") ;;
  -h | --help) sed -n '2,/^set -Eeuo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: bench/patroni-blip.sh (knobs in the environment; --help)" >&2; exit 2 ;;
esac

VARIANTS=${VARIANTS:-"A B"}
MODES=${MODES:-"reset blackhole"}
TRIALS=${TRIALS:-5}
BLIP_S=${BLIP_S:-5}
WARMUP_S=${WARMUP_S:-2}
SEED=${SEED:-42}
STABLE_S=${STABLE_S:-3}
OBSERVE_S=${OBSERVE_S:-}
SETTLE_S=${SETTLE_S:-120}
BOOT_S=${BOOT_S:-120}
RESULTS=${RESULTS:-}
LOGS=${LOGS:-}
HARD_LIMIT_S=${HARD_LIMIT_S:-7200}

PG_BIN=/usr/lib/postgresql/15/bin
PY=/usr/bin/python3 # Debian's python3 with Debian's python3-psycopg2
WRITER=$ROOT/bench/failover-writer.py
PROXY=$ROOT/bench/blip-proxy.py
ETCD_PORT=23890
ETCD_PEER_PORT=23900
PROXY_PORTS=(23891 23892 23893)
PG_PORTS=(25532 25533 25534)
REST_PORTS=(28108 28109 28110)
NODES=(pg0 pg1 pg2)
NAMESPACE=/hadome-blip/

# variant -> "ttl loop_wait retry_timeout synchronous_mode failsafe_mode"
declare -A VARIANT_CFG=(
  [A]="30 10 10 false false"
  [B]="10 1 4 false false"
  [C]="10 1 4 true false"
  [F]="10 1 4 false true"
)
declare -A VARIANT_DESC=(
  [A]="Patroni defaults"
  [B]="tuned"
  [C]="tuned, synchronous_mode"
  [F]="tuned, failsafe_mode"
)
for v in $VARIANTS; do
  [ -n "${VARIANT_CFG[$v]:-}" ] || { echo "unknown variant $v (A B C F)" >&2; exit 2; }
done
for m in $MODES; do
  case "$m" in reset | blackhole) ;; *) echo "unknown mode $m (reset blackhole)" >&2; exit 2 ;; esac
done

# ------------------------------------------------------------------ processes, all by PID
PIDS=()           # long-lived background processes of this shell: etcd, watchdog
TRIAL_PIDS=()     # this trial's: proxies, writer, monitor
TRANSIENT=()      # this settle round's askers
PATRONI_PIDS=()
PROXY_PIDS=()
WORK=""
T=""              # the current trial's directory
ETCD_PID=""
WRITER_PID=""
MONITOR_PID=""

now_ns() { date +%s%N; }
log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

alive() { # a live (not zombie) process
  local state
  [ -n "${1:-}" ] || return 1
  state=$(awk '/^State:/ { print $2 }' "/proc/$1/status" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null || true); do
    echo "$child"
    descendants "$child"
  done
}
wait_gone() { # TIMEOUT_S PID...: true once none is alive, false at the deadline
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
# end_process PID TIMEOUT_S: SIGTERM a direct child of this shell (not a reused PID) and
# everything below it; SIGKILL what is left after TIMEOUT_S.
end_process() {
  local pid=$1 timeout=$2 below p
  [ -n "$pid" ] && alive "$pid" || return 0
  [ "$(awk '/^PPid:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)" = "$$" ] || return 0
  below=$(descendants "$pid")
  kill -TERM "$pid" 2>/dev/null || true
  for p in $below; do kill -TERM "$p" 2>/dev/null || true; done
  wait_gone "$timeout" "$pid" || true
  below="$below $(descendants "$pid")"
  for p in $pid $below; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
  wait "$pid" 2>/dev/null || true
}
# The postmaster of node I, from its postmaster.pid, only if that process really runs that data
# directory (not a stale file or a reused PID).
postmaster_pid() {
  local f="$T/data/${NODES[$1]}/postmaster.pid" p
  [ -n "$T" ] && [ -r "$f" ] || return 0
  p=$(head -1 "$f" 2>/dev/null || true)
  [ -n "$p" ] && alive "$p" && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -qF -- "-D $T/data/${NODES[$1]} " && echo "$p"
  return 0
}

# Patroni stops its PostgreSQL on SIGTERM; what is left after 30 s is killed (Patroni, its
# postmaster and everything below them).
stop_cluster() {
  local i p pms=() all=() rest=() below=()
  for i in 0 1 2; do
    p=${PATRONI_PIDS[$i]:-}
    [ -n "$p" ] && alive "$p" && all+=("$p")
    p=$(postmaster_pid "$i")
    [ -n "$p" ] && pms+=("$p")
  done
  [ ${#all[@]} -gt 0 ] || [ ${#pms[@]} -gt 0 ] || { PATRONI_PIDS=(); return 0; }
  for p in "${all[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  if ! wait_gone 30 "${all[@]}" "${pms[@]}"; then
    for p in "${all[@]}" "${pms[@]}"; do
      rest+=("$p")
      mapfile -t below < <(descendants "$p")
      rest+=("${below[@]}")
    done
    for p in "${rest[@]}"; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
    wait_gone 5 "${rest[@]}" || log "some of ${rest[*]} did not exit"
  fi
  for p in "${all[@]}"; do wait "$p" 2>/dev/null || true; done
  PATRONI_PIDS=()
}
stop_trial_processes() {
  local p
  [ -n "$T" ] && touch "$T/stop" "$T/monitor-stop" 2>/dev/null
  for p in "${TRANSIENT[@]}"; do end_process "$p" 1; done
  TRANSIENT=()
  [ -n "$WRITER_PID" ] && { wait_gone 5 "$WRITER_PID" || end_process "$WRITER_PID" 2; }
  [ -n "$MONITOR_PID" ] && { wait_gone 5 "$MONITOR_PID" || end_process "$MONITOR_PID" 2; }
  # a proxy still cut would keep a Patroni from stopping cleanly: restore first
  for p in "${PROXY_PIDS[@]}"; do alive "$p" && kill -USR2 "$p" 2>/dev/null; done
  stop_cluster
  for p in "${TRIAL_PIDS[@]}"; do end_process "$p" 5; done
  TRIAL_PIDS=()
  PROXY_PIDS=()
  WRITER_PID=""
  MONITOR_PID=""
}
keep_logs() {
  [ -n "$LOGS" ] && [ -n "$T" ] && [ -d "$T" ] || return 0
  local to
  to="$LOGS/$(basename "$T")"
  mkdir -p "$to"
  find "$T" -maxdepth 1 -type f -exec cp {} "$to/" \; 2>/dev/null || true
}
cleanup() {
  local rc=$? p
  trap - EXIT INT TERM ERR
  set +e
  stop_trial_processes
  keep_logs
  for p in "${PIDS[@]}"; do end_process "$p" 10; done
  [ -n "$WORK" ] && rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "failed (exit code $?) at line $LINENO: $BASH_COMMAND"' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ setup
install_debian() {
  log "installing from Debian: $*"
  apt-get update -q >&2
  env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2
}
setup() {
  [ "$(id -u)" = 0 ] || die "run as root (apt-get, and starting Patroni as the postgres user)"
  local need=() p
  [ -x "$PG_BIN/postgres" ] && [ -x "$PG_BIN/psql" ] || need+=(postgresql-15 postgresql-client-15)
  command -v patroni >/dev/null || need+=(patroni)
  command -v etcd >/dev/null || need+=(etcd-server)
  command -v etcdctl >/dev/null || need+=(etcd-client)
  command -v jq >/dev/null || need+=(jq)
  command -v curl >/dev/null || need+=(curl)
  "$PY" -c 'import psycopg2' 2>/dev/null || need+=(python3-psycopg2)
  [ ${#need[@]} -eq 0 ] || install_debian "${need[@]}"
  id postgres >/dev/null 2>&1 || die "no postgres OS user (the postgresql package creates it)"
  for p in "$ETCD_PORT" "$ETCD_PEER_PORT" "${PROXY_PORTS[@]}" "${PG_PORTS[@]}" "${REST_PORTS[@]}"; do
    [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] || die "port $p is in use on this machine"
  done
}

etcdctl_direct() { # ARGS...: etcdctl on etcd itself (not through a proxy), bounded
  ETCDCTL_API=3 timeout -s KILL 3 etcdctl --endpoints="127.0.0.1:$ETCD_PORT" --dial-timeout=1s --command-timeout=2s "$@"
}
start_etcd() {
  mkdir -p "$WORK/etcd"
  etcd --name blip --data-dir "$WORK/etcd/data" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "blip=http://127.0.0.1:$ETCD_PEER_PORT" --initial-cluster-state new \
    --initial-cluster-token hadome-blip >"$WORK/etcd/etcd.log" 2>&1 &
  ETCD_PID=$!
  PIDS+=("$ETCD_PID")
  local deadline=$(($(now_ns) + 30 * 1000000000))
  until etcdctl_direct endpoint health >/dev/null 2>&1; do
    alive "$ETCD_PID" || die "etcd exited: $(tail -5 "$WORK/etcd/etcd.log")"
    [ "$(now_ns)" -lt "$deadline" ] || die "etcd not healthy within 30 s"
    sleep 0.2
  done
  log "etcd up (pid $ETCD_PID, 127.0.0.1:$ETCD_PORT)"
}

# ------------------------------------------------------------------ one trial's cluster
start_proxies() { # MODE
  local i deadline
  PROXY_PIDS=()
  for i in 0 1 2; do
    rm -f "$T/proxy-${NODES[$i]}.state"
    "$PY" "$PROXY" --listen "127.0.0.1:${PROXY_PORTS[$i]}" --upstream "127.0.0.1:$ETCD_PORT" --mode "$1" \
      --state-file "$T/proxy-${NODES[$i]}.state" 2>"$T/proxy-${NODES[$i]}.log" &
    PROXY_PIDS[i]=$!
    TRIAL_PIDS+=("$!")
  done
  deadline=$(($(now_ns) + 10 * 1000000000))
  for i in 0 1 2; do
    until grep -q '^up ' "$T/proxy-${NODES[$i]}.state" 2>/dev/null; do
      alive "${PROXY_PIDS[$i]}" || die "proxy of ${NODES[$i]} exited: $(tail -3 "$T/proxy-${NODES[$i]}.log")"
      [ "$(now_ns)" -lt "$deadline" ] || die "proxy of ${NODES[$i]} not listening within 10 s"
      sleep 0.05
    done
  done
}
# proxy_signal I SIGNAL STATE: signal node I's proxy and wait (2 s) until its state file says STATE.
proxy_signal() {
  local i=$1 sig=$2 state=$3 deadline
  kill "-$sig" "${PROXY_PIDS[$i]}"
  deadline=$(($(now_ns) + 2 * 1000000000))
  until grep -q "^$state " "$T/proxy-${NODES[$i]}.state" 2>/dev/null; do
    [ "$(now_ns)" -lt "$deadline" ] || die "proxy of ${NODES[$i]} did not report $state within 2 s"
    sleep 0.01
  done
}
write_config() { # VARIANT NODE_INDEX SCOPE
  local v=$1 i=$2 scope=$3 ttl lw rt sync failsafe name=${NODES[$2]}
  read -r ttl lw rt sync failsafe <<<"${VARIANT_CFG[$v]}"
  cat >"$T/$name.yml" <<EOF
# Patroni configuration of $name, written by bench/patroni-blip.sh for one trial.
scope: $scope
namespace: $NAMESPACE
name: $name
log:
  level: INFO
  format: '%(asctime)s %(levelname)s: %(message)s'
restapi:
  listen: 127.0.0.1:${REST_PORTS[$i]}
  connect_address: 127.0.0.1:${REST_PORTS[$i]}
etcd3:
  hosts: 127.0.0.1:${PROXY_PORTS[$i]}   # this node's own proxy to etcd (127.0.0.1:$ETCD_PORT)
  use_proxies: true                     # never discover etcd's own address
bootstrap:
  dcs:
    ttl: $ttl
    loop_wait: $lw
    retry_timeout: $rt
    synchronous_mode: $sync
    failsafe_mode: $failsafe
    maximum_lag_on_failover: 1048576
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_connections: 50
        max_wal_senders: 10
        max_replication_slots: 10
        shared_buffers: 32MB
        wal_keep_size: 128MB
  initdb:
    - encoding: UTF8
    - locale: C
postgresql:
  listen: 127.0.0.1:${PG_PORTS[$i]}
  connect_address: 127.0.0.1:${PG_PORTS[$i]}
  data_dir: $T/data/$name
  bin_dir: $PG_BIN
  pgpass: $T/run/pgpass-$name
  authentication:
    superuser: {username: postgres, password: blip-su}
    replication: {username: replicator, password: blip-rep}
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication replicator 127.0.0.1/32 trust
  parameters:
    unix_socket_directories: $T/run
    logging_collector: "off"
EOF
  chown postgres:postgres "$T/$name.yml"
}
start_patroni() { # NODE_INDEX: setpriv execs, so $! is Patroni's own PID
  local i=$1
  setpriv --reuid=postgres --regid=postgres --init-groups env HOME="$T/run" PATH=/usr/bin:/bin \
    patroni "$T/${NODES[$i]}.yml" >>"$T/patroni-${NODES[$i]}.log" 2>&1 &
  PATRONI_PIDS[i]=$!
}
rest() { # NODE_INDEX PATH: GET from that node's REST API, bounded
  curl -sS -m 1 "http://127.0.0.1:${REST_PORTS[$1]}$2" 2>/dev/null
}
psql_at() { # NODE_INDEX ARGS...: psql over the node's client port, bounded
  local i=$1
  shift
  timeout -s KILL 3 "$PG_BIN/psql" "host=127.0.0.1 port=${PG_PORTS[$i]} user=postgres dbname=postgres connect_timeout=2" \
    -XAtq -v ON_ERROR_STOP=1 "$@"
}
check_patroni_alive() {
  local i
  for i in "$@"; do
    alive "${PATRONI_PIDS[$i]}" || { log "Patroni ${NODES[$i]} exited: $(tail -5 "$T/patroni-${NODES[$i]}.log")"; return 1; }
  done
}
# Healthy: one running leader, two running replicas with lag < 1 MiB (and a sync standby in
# synchronous_mode), and the leader commits an INSERT. Sets LEADER (node index).
LEADER=""
cluster_healthy() {
  local sync=$1 j name i
  j=$(rest 0 /cluster || rest 1 /cluster || rest 2 /cluster) || return 1
  jq -e --argjson sync "$sync" '
    ([.members[] | select(.role == "leader" and .state == "running")] | length) == 1
    and ([.members[] | select(.role != "leader" and (.state == "running" or .state == "streaming")
          and (.lag | type) == "number" and .lag < 1048576)] | length) == 2
    and (($sync | not) or ([.members[] | select(.role == "sync_standby")] | length) == 1)' <<<"$j" >/dev/null 2>&1 || return 1
  name=$(jq -r '.members[] | select(.role == "leader") | .name' <<<"$j")
  LEADER=""
  for i in 0 1 2; do [ "${NODES[$i]}" = "$name" ] && LEADER=$i; done
  [ -n "$LEADER" ] && psql_at "$LEADER" -c "CREATE TABLE IF NOT EXISTS blip_acks (id bigint PRIMARY KEY);
    CREATE TABLE IF NOT EXISTS blip_probe (node text, at timestamptz DEFAULT clock_timestamp());
    INSERT INTO blip_probe (node) VALUES ('health')" >/dev/null 2>&1
}
start_cluster() { # VARIANT SCOPE: false if it does not become healthy within BOOT_S
  local v=$1 scope=$2 sync deadline i
  read -r _ _ _ sync _ <<<"${VARIANT_CFG[$v]}"
  mkdir -p "$T/data" "$T/run"
  chown postgres:postgres "$T/data" "$T/run"
  chmod 700 "$T/data"
  for i in 0 1 2; do write_config "$v" "$i" "$scope"; done
  deadline=$(($(now_ns) + BOOT_S * 1000000000))
  start_patroni 0 # pg0 bootstraps alone, so that every trial starts with pg0 leading
  until [ "$(rest 0 /patroni | jq -r '"\(.role)/\(.state)"' 2>/dev/null)" = master/running ]; do
    check_patroni_alive 0 || return 1
    [ "$(now_ns)" -lt "$deadline" ] || { log "pg0 not the running leader within ${BOOT_S} s"; return 1; }
    sleep 0.2
  done
  start_patroni 1
  start_patroni 2
  until cluster_healthy "$sync"; do
    check_patroni_alive 0 1 2 || return 1
    [ "$(now_ns)" -lt "$deadline" ] || { log "cluster not healthy within ${BOOT_S} s"; return 1; }
    sleep 0.3
  done
}
# The leader's Patroni must reach etcd through its proxy only: sets VIA_PROXY (its established
# connections through its proxy) and fails if any Patroni process holds a connection to etcd.
VIA_PROXY=0
check_links() {
  local li=$1 pat p direct
  VIA_PROXY=$(ss -Htn state established "( dport = :${PROXY_PORTS[$li]} )" 2>/dev/null | wc -l)
  direct=0
  for p in "${PATRONI_PIDS[@]}"; do
    pat="pid=$p,"
    ss -Htnp state established "( dport = :$ETCD_PORT )" 2>/dev/null | grep -qF "$pat" && direct=$((direct + 1))
  done
  [ "$direct" = 0 ] || die "a Patroni process is connected to etcd directly, not through its proxy"
  [ "$VIA_PROXY" -gt 0 ] || die "the leader's Patroni has no connection through its proxy"
}

# ------------------------------------------------------------------ writer, monitor, settle
start_writer() {
  local spec="" i deadline
  for i in 0 1 2; do spec+="${spec:+,}${NODES[$i]}=127.0.0.1:${PG_PORTS[$i]}"; done
  : >"$T/acks.tsv"
  rm -f "$T/stop"
  "$PY" "$WRITER" --nodes "$spec" --ack-log "$T/acks.tsv" --stop-file "$T/stop" --table blip_acks \
    --op-timeout 2 --max-seconds 600 2>"$T/writer.log" &
  WRITER_PID=$!
  TRIAL_PIDS+=("$WRITER_PID")
  deadline=$(($(now_ns) + 20 * 1000000000))
  until [ -s "$T/acks.tsv" ]; do
    alive "$WRITER_PID" || die "the writer exited: $(tail -5 "$T/writer.log")"
    [ "$(now_ns)" -lt "$deadline" ] || die "the writer acknowledged nothing within 20 s"
    sleep 0.05
  done
}
stop_writer() {
  touch "$T/stop"
  wait_gone 5 "$WRITER_PID" || end_process "$WRITER_PID" 2
  WRITER_PID=""
}
# Every 0.5 s: "UNIX_NS key=HOLDER pg0=ROLE/STATE/TIMELINE/POSTMASTER_START ...", the leader key
# read from etcd itself (its v3 JSON gateway, not through a proxy), each node's view from its own
# REST API GET /patroni ("?" when it does not answer within 0.4 s). monitor.py, written at start.
start_monitor() { # LEADER_KEY
  rm -f "$T/monitor-stop"
  : >"$T/monitor.txt"
  "$PY" "$WORK/monitor.py" "$1" "$T/monitor-stop" "$ETCD_PORT" "${REST_PORTS[@]}" >>"$T/monitor.txt" 2>"$T/monitor.log" &
  MONITOR_PID=$!
  TRIAL_PIDS+=("$MONITOR_PID")
}
stop_monitor() {
  touch "$T/monitor-stop"
  wait_gone 5 "$MONITOR_PID" || end_process "$MONITOR_PID" 2
  MONITOR_PID=""
}
# Sets WRITABLE to the node indexes that commit an INSERT now (asked concurrently, 3 s each).
WRITABLE=""
ROUND=0
writable_nodes() {
  local i dir pid
  ROUND=$((ROUND + 1))
  dir="$T/writable.$ROUND"
  mkdir -p "$dir"
  TRANSIENT=()
  for i in 0 1 2; do
    (psql_at "$i" -c "INSERT INTO blip_probe (node) VALUES ('settle-${NODES[$i]}')" >/dev/null 2>&1 && : >"$dir/$i") &
    TRANSIENT+=("$!")
  done
  wait_gone 5 "${TRANSIENT[@]}" || true
  for pid in "${TRANSIENT[@]}"; do end_process "$pid" 1; done
  TRANSIENT=()
  WRITABLE=""
  for i in 0 1 2; do
    if [ -e "$dir/$i" ]; then WRITABLE+="${WRITABLE:+ }$i"; fi
  done
  rm -rf "$dir"
}
# settle T1_NS OBSERVE_S: SETTLED (node index or empty), SETTLED_OK (yes/no), MAX_WRITABLE.
SETTLED=""
SETTLED_OK=no
MAX_WRITABLE=0
settle() {
  local t1=$1 observe=$2 deadline candidate="" since=0 now n
  deadline=$((t1 + SETTLE_S * 1000000000))
  SETTLED=""
  SETTLED_OK=no
  MAX_WRITABLE=0
  while [ "$(now_ns)" -lt "$deadline" ]; do
    writable_nodes
    n=$(wc -w <<<"$WRITABLE")
    [ "$n" -gt "$MAX_WRITABLE" ] && MAX_WRITABLE=$n
    now=$(now_ns)
    if [ "$n" = 1 ]; then
      if [ "$WRITABLE" != "$candidate" ]; then
        candidate=$WRITABLE
        since=$now
      elif [ $((now - since)) -ge $((STABLE_S * 1000000000)) ] && [ $((now - t1)) -ge $((observe * 1000000000)) ]; then
        SETTLED=$candidate
        SETTLED_OK=yes
        return 0
      fi
    else
      candidate=""
    fi
    sleep 0.5
  done
  SETTLED=$candidate # the last single writer seen, if any
}
count_lost() { # NODE_INDEX: acknowledged ids missing there, or NA
  [ -n "$1" ] || { echo NA; return 0; }
  if psql_at "$1" -c "COPY (SELECT id FROM blip_acks) TO STDOUT" >"$T/present.txt" 2>/dev/null; then
    comm -23 <(cut -f1 "$T/acks.tsv" | sort) <(sort "$T/present.txt") | wc -l
  else
    echo NA
  fi
}

# ------------------------------------------------------------------ one trial
ROWS=""
run_trial() { # VARIANT MODE N
  local v=$1 mode=$2 n=$3 ttl lw rt sync failsafe observe scope li jitter_ms t0 t1 tstop tend lost i
  read -r ttl lw rt sync failsafe <<<"${VARIANT_CFG[$v]}"
  observe=${OBSERVE_S:-$((ttl + lw))}
  scope="blip-$v-$mode-$n"
  T="$WORK/$v-$mode-$n"
  mkdir -p "$T"
  chmod 755 "$T"
  start_proxies "$mode"
  if ! start_cluster "$v" "$scope"; then
    log "$v $mode #$n: the cluster did not come up; trial not run"
    printf '%s\t%s\t%s\tunhealthy\n' "$v" "$mode" "$n" >>"$ROWS"
    stop_trial_processes
    keep_logs
    T=""
    return 0
  fi
  li=$LEADER
  check_links "$li"
  start_writer
  start_monitor "$NAMESPACE$scope/leader"
  jitter_ms=$((RANDOM % (lw * 1000))) # main shell: RANDOM's seeded sequence
  sleep "$WARMUP_S"
  sleep "$(printf '%d.%03d' $((jitter_ms / 1000)) $((jitter_ms % 1000)))"
  {
    for i in 0 1 2; do echo "OFF_${NODES[$i]}=$(stat -c %s "$T/patroni-${NODES[$i]}.log")"; done
  } >"$T/meta"
  # the blip
  t0=$(now_ns)
  proxy_signal "$li" USR1 cut
  cp "$T/proxy-${NODES[$li]}.state" "$T/cut.state"
  sleep "$BLIP_S"
  proxy_signal "$li" USR2 up
  t1=$(now_ns)
  settle "$t1" "$observe" # with the writer running
  tstop=$(now_ns)
  stop_writer
  tend=$(now_ns)
  stop_monitor
  lost=$(count_lost "$SETTLED")
  {
    echo "VARIANT=$v"
    echo "MODE=$mode"
    echo "TRIAL=$n"
    echo "JITTER_MS=$jitter_ms"
    echo "T0=$t0"
    echo "T1=$t1"
    echo "TSTOP=$tstop"
    echo "TEND=$tend"
    echo "OLD=${NODES[$li]}"
    echo "SETTLED=$([ -n "$SETTLED" ] && echo "${NODES[$SETTLED]}")"
    echo "SETTLED_OK=$SETTLED_OK"
    echo "MAX_WRITABLE=$MAX_WRITABLE"
    echo "LOST=$lost"
    echo "VIA_PROXY=$VIA_PROXY"
    echo "CUT_STATE=$(cat "$T/cut.state")"
  } >>"$T/meta"
  stop_trial_processes
  "$PY" "$WORK/analyse.py" row "$T" >>"$ROWS"
  "$PY" "$WORK/analyse.py" events "$T" >>"$WORK/events.md"
  log "$v $mode #$n: $("$PY" "$WORK/analyse.py" line "$T")"
  keep_logs
  rm -rf "$T/data"
  T=""
}

# ------------------------------------------------------------------ analysis (Python, stdlib)
write_monitor() {
  cat >"$WORK/monitor.py" <<'PYEOF'
import base64, json, os, sys, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

key, stop, etcd_port = sys.argv[1], sys.argv[2], sys.argv[3]
rest_ports = sys.argv[4:]
names = ["pg%d" % i for i in range(len(rest_ports))]
body = json.dumps({"key": base64.b64encode(key.encode()).decode()}).encode()


def leader_key():
    try:
        req = urllib.request.Request("http://127.0.0.1:%s/v3/kv/range" % etcd_port, data=body, method="POST")
        with urllib.request.urlopen(req, timeout=0.4) as r:
            kvs = json.load(r).get("kvs") or []
        return base64.b64decode(kvs[0]["value"]).decode() if kvs else "none"
    except Exception:
        return "?"


def node(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%s/patroni" % port, timeout=0.4) as r:
            j = json.load(r)
    except Exception as e:
        if hasattr(e, "read"):  # an HTTP error status still carries the JSON
            try:
                j = json.loads(e.read())
            except Exception:
                return "?"
        else:
            return "?"
    return "/".join(str(j.get(k, "?")).replace(" ", "T") for k in ("role", "state", "timeline", "postmaster_start_time"))


with ThreadPoolExecutor(max_workers=len(rest_ports) + 1) as pool:
    nxt = time.monotonic()
    while not os.path.exists(stop):
        ns = time.time_ns()
        fk = pool.submit(leader_key)
        fs = [pool.submit(node, p) for p in rest_ports]
        line = "%d key=%s %s" % (ns, fk.result(), " ".join("%s=%s" % (n, f.result()) for n, f in zip(names, fs)))
        print(line, flush=True)
        nxt += 0.5
        time.sleep(max(0.0, nxt - time.monotonic()))
PYEOF
}
write_analyser() {
  cat >"$WORK/analyse.py" <<'PYEOF'
import os, re, sys, time

NODES = ["pg0", "pg1", "pg2"]
PATRONI_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) (\w+): (.*)$")
PG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3}) \w+ \[\d+\] (\w+):\s+(.*)$")


def meta(tdir):
    m = {}
    for line in open(os.path.join(tdir, "meta")):
        k, _, v = line.rstrip("\n").partition("=")
        m[k] = v
    return m


def local_ns(date, ms):
    return int(time.mktime(time.strptime(date, "%Y-%m-%d %H:%M:%S"))) * 10**9 + int(ms) * 10**6


def log_lines(tdir, node, off, t0, tend):
    """(ns, source, level, message) of the node's log from byte offset off, t0 <= ns <= tend."""
    out = []
    with open(os.path.join(tdir, "patroni-%s.log" % node), "rb") as f:
        f.seek(int(off))
        for raw in f:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            m = PATRONI_LINE.match(line)
            src = "patroni"
            if not m:
                m = PG_LINE.match(line)
                src = "postgres"
            if not m:
                continue
            ns = local_ns(m.group(1), m.group(2))
            if t0 - 10**6 <= ns <= tend:
                out.append((ns, src, m.group(3), m.group(4)))
    return out


def monitor(tdir):
    rows = []
    for line in open(os.path.join(tdir, "monitor.txt")):
        parts = line.split()
        if not parts:
            continue
        r = {"ns": int(parts[0])}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            r[k] = v
        rows.append(r)
    return rows


def collapse(seq):
    out = []
    for s in seq:
        if not out or out[-1] != s:
            out.append(s)
    return out


def acks(tdir):
    a = []
    for line in open(os.path.join(tdir, "acks.tsv")):
        f = line.split("\t")
        if len(f) >= 3:
            a.append((int(f[0]), int(f[1]), f[2].strip()))
    return a


def analyse(tdir):
    m = meta(tdir)
    t0, t1, tend = int(m["T0"]), int(m["T1"]), int(m["TEND"])
    old = m["OLD"]
    r = dict(m)
    mon = monitor(tdir)
    before = [x for x in mon if x["ns"] < t0]
    after = [x for x in mon if x["ns"] >= t0]
    # the leader key's holders, from the last sample before the cut on ("?" = etcd did not answer)
    keys = collapse([x.get("key", "?") for x in (before[-1:] + after)])
    r["KEYS"] = ">".join(keys) if keys else "-"
    other_holder = any(k not in (old, "?", "none", "") for k in keys)
    # the old leader's own view: role/state/timeline/postmaster start
    def view(x, node):
        return (x.get(node, "?") + "/?/?/?").split("/")[:4]
    old_before = view(before[-1], old) if before else ["?"] * 4
    roles = collapse(["%s:%s" % (view(x, old)[0], view(x, old)[1]) for x in after if view(x, old)[0] != "?"])
    r["OLD_ROLES"] = ">".join(roles) if roles else "-"
    role_demoted = any(not s.startswith("master:running") for s in roles)
    starts = set(view(x, old)[3] for x in after if view(x, old)[3] not in ("?", ""))
    r["PG_RESTART"] = "yes" if old_before[3] != "?" and any(s != old_before[3] for s in starts) else "no"
    settled = m["SETTLED"]
    last = after[-1] if after else None
    tl_after = view(last, settled)[2] if (last and settled) else "?"
    r["TIMELINE"] = "%s>%s" % (old_before[2], tl_after)
    # the old leader's log after the cut
    lines = log_lines(tdir, old, m["OFF_" + old], t0, tend)
    demote = [l for l in lines if l[0] >= t0 and l[1] == "patroni" and l[3].startswith("Demoting self")]
    r["DEMOTE_AT"] = "%.2f" % ((demote[0][0] - t0) / 1e9) if demote else "-"
    r["DEMOTE_HOW"] = demote[0][3][len("Demoting self "):].strip("()") if demote else "-"
    r["DEMOTED"] = "yes" if (demote or role_demoted) else "no"
    r["FAILOVER"] = "yes" if ((settled and settled != old) or other_holder) else "no"
    if r["FAILOVER"] == "yes":
        r["OUTCOME"] = "failover"
    elif r["DEMOTED"] == "yes":
        r["OUTCOME"] = "demotion"
    else:
        r["OUTCOME"] = "none"
    # the writer
    a = acks(tdir)
    r["ACKED"] = str(len(a))
    r["PRE"] = str(sum(1 for x in a if x[1] < t0))
    gap, gs, ge, prev = 0, None, None, None
    for x in a:
        if prev is not None and x[1] > t0 and x[1] - prev > gap:
            gap, gs, ge = x[1] - prev, prev, x[1]
        prev = x[1]
    tstop = int(m["TSTOP"])  # when the writer was told to stop
    if prev is not None and tstop - prev > gap:  # the writer had not come back by then
        gap, gs, ge = tstop - prev, prev, None
    r["GAP"] = "%.2f" % (gap / 1e9)
    r["GAP_FROM"] = "%+.2f" % ((gs - t0) / 1e9) if gs is not None else "-"
    r["GAP_TO"] = "%+.2f" % ((ge - t0) / 1e9) if ge is not None else "never"
    r["WRITER_SEQ"] = ">".join(collapse([x[2] for x in a if x[1] >= t0])) or "-"
    cs = m["CUT_STATE"].split()
    kv = dict(p.split("=", 1) for p in cs[2:])
    r["CUT"] = "reset %s" % kv.get("reset", "?") if m["MODE"] == "reset" else "open %s" % kv.get("open", "?")
    r["BLIP_REAL"] = "%.2f" % ((t1 - int(cs[1])) / 1e9)
    r["BLIP_AT"] = "%.2f" % ((t1 - t0) / 1e9)
    r["LINES"] = lines
    return r


FIELDS = ["VARIANT", "MODE", "TRIAL", "JITTER_MS", "OLD", "SETTLED", "SETTLED_OK", "OUTCOME", "FAILOVER",
          "DEMOTED", "DEMOTE_AT", "DEMOTE_HOW", "PG_RESTART", "TIMELINE", "KEYS", "OLD_ROLES", "ACKED", "PRE",
          "LOST", "GAP", "GAP_FROM", "GAP_TO", "WRITER_SEQ", "MAX_WRITABLE", "CUT", "VIA_PROXY", "BLIP_REAL"]

# steady-state HA lines, and the settle probes' INSERTs refused by a read-only node
SKIP = re.compile(r"^no action\. |^Lock owner: \S+; I am \S+$|^cannot execute INSERT in a read-only transaction|^INSERT INTO blip_probe")
# etcd client retries: the first of each kind is shown, the others counted in one line at the end
NOISE = re.compile(r"^Retrying \(Retry\(|^Reconnection allowed|^Request to server \S+ failed|^Failed to get list of machines"
                   r"|^the database system is (shutting down|starting up|not yet accepting connections)"
                   r"|^terminating connection due to administrator command|^watchprefix failed|^KVCache\.run")


def events(r):
    t0 = int(r["T0"])
    out = ["#### %s, %s, trial %s (leader %s; outcome: %s)" % (r["VARIANT"], r["MODE"], r["TRIAL"], r["OLD"], r["OUTCOME"]),
           "", "The old leader's log, in seconds after the cut (restored at +%s s); Patroni's \"no action\" lines left out, etcd client retries condensed:"
           % r["BLIP_AT"], "", "```"]
    noise = {}  # normalised message -> [count, first s, last s, text]
    shown = 0
    for ns, src, level, msg in r["LINES"]:
        if SKIP.match(msg):
            continue
        s = (ns - t0) / 1e9
        key = (src, re.sub(r"\d+", "N", msg)[:60])
        text = "%s %s: %s" % (src, level, msg)
        if NOISE.match(msg):
            if key in noise:
                noise[key][0] += 1
                noise[key][2] = s
                continue
            noise[key] = [1, s, s, text]
        shown += 1
        if shown > 60:
            out.append("... (the rest left out)")
            break
        out.append("%+7.2f  %s" % (s, text[:150]))
    for n, first, last, text in noise.values():
        if n > 1:
            out.append("(%dx from %+.2f to %+.2f: %s)" % (n, first, last, text[:90]))
    out += ["```", ""]
    return "\n".join(out)


def main():
    what, tdir = sys.argv[1], sys.argv[2]
    r = analyse(tdir)
    if what == "row":
        print("\t".join(str(r.get(f, "")) or "-" for f in FIELDS))
    elif what == "events":
        print(events(r))
    else:
        print("%s; leader %s -> %s (settled %s); demoted %s%s; key %s; longest writer gap %s s (%s..%s); acked %s, lost %s; writable at once max %s"
              % (r["OUTCOME"], r["OLD"], r["SETTLED"] or "none", r["SETTLED_OK"], r["DEMOTED"],
                 " at +%s s (%s)" % (r["DEMOTE_AT"], r["DEMOTE_HOW"]) if r["DEMOTE_AT"] != "-" else "",
                 r["KEYS"], r["GAP"], r["GAP_FROM"], r["GAP_TO"], r["ACKED"], r["LOST"], r["MAX_WRITABLE"]))


main()
PYEOF
}

# ------------------------------------------------------------------ report
# Rows (TSV): the FIELDS of analyse.py, in order; an unhealthy trial has 4 fields.
summary() {
  awk -F'\t' -v dA="${VARIANT_DESC[A]}" -v dB="${VARIANT_DESC[B]}" -v dC="${VARIANT_DESC[C]}" -v dF="${VARIANT_DESC[F]}" '
    function sort(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } }
    function median(a, n) { return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    { k = $1 SUBSEP $2
      if (!(k in seen)) { seen[k] = 1; order[++no] = k }
      tr[k]++
      if (NF < 10) { bad[k]++; next }
      if ($8 == "failover") fo[k]++
      else if ($8 == "demotion") de[k]++
      else none[k]++
      g[k, ++ng[k]] = $20 + 0
      if ($19 == "NA") lna[k]++; else lost[k] += $19
      acked[k] += $17
      if ($24 + 0 > 1) two[k]++
      if ($7 != "yes") uns[k]++
    }
    END {
      print "| variant | blip | trials | failovers (leader changed) | demotions without failover | no effect | longest writer gap s (median / min / max) | lost / acknowledged | trials with two writable nodes | not settled |"
      print "|---|---|---|---|---|---|---|---|---|---|"
      for (o = 1; o <= no; o++) { k = order[o]; split(k, p, SUBSEP)
        d = (p[1] == "A") ? dA : (p[1] == "B") ? dB : (p[1] == "C") ? dC : dF
        n = ng[k] + 0; gs = "-"
        if (n > 0) { delete a; for (i = 1; i <= n; i++) a[i] = g[k, i]; sort(a, n); gs = sprintf("%.2f / %.2f / %.2f", median(a, n), a[1], a[n]) }
        printf "| %s (%s) | %s | %d%s | %d | %d | %d | %s | %d / %d%s | %d | %d |\n", p[1], d, p[2], tr[k], (bad[k] ? sprintf(" (%d not run: cluster unhealthy)", bad[k]) : ""),
          fo[k], de[k], none[k], gs, lost[k], acked[k], (lna[k] ? sprintf(" (%d not counted)", lna[k]) : ""), two[k], uns[k]
      }
    }' "$ROWS"
}
per_trial() {
  echo "| variant | blip | trial | jitter s | outcome | leader before → settled | old leader demoted (s after cut, mode) | PostgreSQL restarted on old leader | timeline | leader key holders | old leader role/state seen | acked (before cut) | lost | longest writer gap s (from..to, s after cut) | writer committed on | most writable at once | cut: connections | blip s |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  awk -F'\t' '
    NF < 10 { printf "| %s | %s | %s | - | cluster unhealthy, not run |||||||||||||\n", $1, $2, $3; next }
    { printf "| %s | %s | %s | %.3f | %s | %s → %s%s | %s | %s | %s | %s | %s | %s (%s) | %s | %s (%s..%s) | %s | %s | %s | %s |\n",
        $1, $2, $3, $4 / 1000, $8, $5, ($6 == "-" ? "none" : $6), ($7 == "yes" ? "" : " (not settled)"),
        ($10 == "yes" ? ($11 == "-" ? "yes (role seen)" : sprintf("yes, +%s (%s)", $11, $12)) : "no"),
        $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $27 }' "$ROWS"
}
report() {
  local v ttl lw rt sync failsafe
  echo "# Patroni: a ${BLIP_S} s blip of the leader's link to etcd"
  echo
  echo "Generated by \`bench/patroni-blip.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC') in $(($(date +%s) - START_S)) s."
  echo
  echo "- Machine: $(nproc) cores, $(free -g | awk '/^Mem:/ { print $2 }') GiB, Linux $(uname -r); $(patroni --version 2>&1 | head -1) (Debian $(dpkg-query -W -f='${Version}' patroni 2>/dev/null)); $("$PG_BIN/postgres" --version); etcd $(etcd --version 2>/dev/null | awk '/^etcd Version/ { print $3 }') (Debian $(dpkg-query -W -f='${Version}' etcd-server 2>/dev/null)); python3-psycopg2 $(dpkg-query -W -f='${Version}' python3-psycopg2 2>/dev/null)."
  echo "- Per trial a fresh 3-node cluster (pg0 bootstraps and leads), one etcd (v3 API, Patroni's \`etcd3:\`); each node reaches etcd through its own proxy (\`bench/blip-proxy.py\`, \`use_proxies: true\`). The leader's proxy cuts the link for ${BLIP_S} s, ${WARMUP_S} s after the writer's first acknowledged commit plus a jitter in [0, loop_wait) s (seed $SEED); reset = open connections reset and new ones refused, blackhole = nothing passes, connections held."
  echo "- Writer: \`bench/failover-writer.py\`, one persistent connection, unthrottled autocommit single-row INSERTs, 2 s client timeout per operation, reconnecting to whichever node answers \`pg_is_in_recovery() = false\`; it runs until the cluster has settled: one node alone accepting a new connection's INSERT for ${STABLE_S} s, and at least OBSERVE_S after the restore (bounded by ${SETTLE_S} s)."
  echo "- failover: the settled writable node is not the old leader, or etcd's leader key named another node at any 0.5 s sample after the cut. demotion: the old leader's Patroni logged \"Demoting self\", or its REST API reported a role other than master after the cut. lost: acknowledged ids missing on the settled node."
  echo
  echo "| variant | ttl | loop_wait | retry_timeout | synchronous_mode | failsafe_mode | OBSERVE_S |"
  echo "|---|---|---|---|---|---|---|"
  for v in $VARIANTS; do
    read -r ttl lw rt sync failsafe <<<"${VARIANT_CFG[$v]}"
    echo "| $v (${VARIANT_DESC[$v]}) | $ttl | $lw | $rt | $sync | $failsafe | ${OBSERVE_S:-$((ttl + lw))} |"
  done
  echo
  summary
  echo
  echo "### Per trial"
  echo
  per_trial
  echo
  echo "\"cut: connections\" = the leader's connections through its proxy that were reset (reset) or held open (blackhole) at the cut; \"blip s\" = the cut as the proxy applied it, to the restore."
  echo
  echo "### The old leader's log, per trial"
  echo
  cat "$WORK/events.md"
}

# ------------------------------------------------------------------ main
START_S=$(date +%s)
RANDOM=$SEED
setup
WORK=$(mktemp -d /tmp/patroni-blip-XXXXXX)
chmod 755 "$WORK" # Patroni and PostgreSQL run as postgres and must reach their directories
ROWS="$WORK/rows.tsv"
: >"$ROWS"
: >"$WORK/events.md"
[ -z "$LOGS" ] || mkdir -p "$LOGS"
write_monitor
write_analyser
(
  sleep "$HARD_LIMIT_S"
  echo "patroni-blip: hard limit of ${HARD_LIMIT_S} s reached, aborting" >&2
  kill -TERM $$
) &
PIDS+=("$!")
start_etcd
log "Patroni DCS blip: variants $VARIANTS, modes $MODES, $TRIALS trial(s) each, ${BLIP_S} s blips"
for v in $VARIANTS; do
  for mode in $MODES; do
    for n in $(seq 1 "$TRIALS"); do
      run_trial "$v" "$mode" "$n"
    done
  done
done
report >"$WORK/results.md"
cat "$WORK/results.md"
if [ -n "$RESULTS" ]; then
  mkdir -p "$(dirname "$RESULTS")"
  cp "$WORK/results.md" "$RESULTS"
  log "results written to $RESULTS"
fi
