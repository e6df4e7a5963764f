#!/usr/bin/env bash
# What a deploy gate costs (issue 14, incident E), on a real showcase lab (Debian's nginx and
# dnsmasq, the console, SSO and app-1 in the lab's own namespace), release build:
#   - `hadome gate app-1` end to end (process start, estate, one probe of the route, verdict)
#     with the app deployed and running: it arrives in one hop (exit 0);
#   - the same gate after the incident (`stop app-1`, `deploy app-1`): the route loops between the
#     console and SSO, and the gate fails at once with the cycle named (exit 1), having sent at
#     most the route's hop limit of requests;
#   - `hadome ask reload web`: nginx -t and the lint of the whole `nginx -T`, end to end;
#   - `hadome check`: one whole pass (route probe, services, nginx dump and lint).
# Each timing is repeated RUNS times (default 20); median, min and max are printed as a markdown
# table. The lab is brought down by `hadome lab down` (by PID) in the EXIT trap; its temp dir
# removed. Needs root (the lab's namespace). Documented in docs/benchmarks.md ("Routes").
set -Eeuo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
cargo build -q --release -p hadome
hadome=$(pwd)/target/release/hadome
scratch=$(mktemp -d /tmp/hadome-bench-gate-XXXXXX)
chmod 755 "$scratch"
lab="$scratch/lab"
cleanup() {
  if [ -e "$lab/lab.json" ]; then "$hadome" lab down --dir "$lab" >/dev/null 2>&1 || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

# now, stats, time_it
. bench/lib.sh

"$hadome" lab up showcase --dir "$lab" >/dev/null
estate="$lab/estate.toml"
"$hadome" lab fault --dir "$lab" deploy app-1 >/dev/null
echo "hadome gate benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB, $(uname -r), nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///')"
echo
echo "| what | runs | median s | min s | max s |"
echo "|---|---|---|---|---|"
: >"$scratch/gate"; : >"$scratch/ask"; : >"$scratch/check"
for _ in $(seq "$RUNS"); do
  time_it "$scratch/gate" 0 "$hadome" gate app-1 --within 10 --config "$estate"
  time_it "$scratch/ask" 1 "$hadome" ask reload web --config "$estate"
  time_it "$scratch/check" 1 "$hadome" check --config "$estate"
done
stats "gate app-1, app running (arrives in 1 hop)" "$scratch/gate"
stats "ask reload web (nginx -t + lint; denied: nginx-static-resolve)" "$scratch/ask"
stats "check (route, services, nginx -T + lint)" "$scratch/check"

"$hadome" lab fault --dir "$lab" stop app-1 >/dev/null
"$hadome" lab fault --dir "$lab" deploy app-1 >/dev/null
: >"$scratch/gate-loop"
for _ in $(seq "$RUNS"); do
  time_it "$scratch/gate-loop" 1 "$hadome" gate app-1 --within 10 --config "$estate"
done
stats "gate app-1 after the incident's deploy (fails: the cycle named)" "$scratch/gate-loop"
