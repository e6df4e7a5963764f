#!/usr/bin/env bash
# What a host lab costs, and what hadome costs on a host (issue 12), on this machine:
#   - the root filesystem: a cold build (mmdebstrap into a fresh cache) and a verified reuse;
#   - `hadome lab up s512` with the cache warm, and `lab down`;
#   - one reboot cycle of the real systemd (`lab fault reboot-host`: old boot id -> new one up);
#   - `hadome host-facts` inside the host (through `lab exec`, minus `lab exec -- true`);
#   - the reboot guard's own cost: `hadome ask reboot` inside the host, as ExecCondition= runs it.
# Each timing is repeated RUNS times (default 10; lab up 5); median, min and max are printed as a
# markdown table. COLD=0 skips the cold build (about 40 s and 205 MB).
# Every lab is brought down by `hadome lab down` (by PID) in the EXIT trap; temp dirs removed.
# Documented in docs/benchmarks.md ("Hosts").
set -Eeuo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
COLD=${COLD:-1}
cargo build -q --release -p hadome
hadome=$(pwd)/target/release/hadome
scratch=$(mktemp -d /tmp/hadome-bench-host-XXXXXX)
chmod 755 "$scratch"
lab="$scratch/lab"
cleanup() {
  if [ -e "$lab/lab.json" ]; then "$hadome" lab down --dir "$lab" >/dev/null 2>&1 || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT

# now, stats, time_it
. bench/lib.sh

echo "hadome host lab benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(free -g | awk '/Mem:/ { print $2 }') GiB, $(uname -r)"
echo
echo "| what | runs | median s | min s | max s |"
echo "|---|---|---|---|---|"
if [ "$COLD" = 1 ]; then
  : >"$scratch/cold"
  HADOME_LAB_ROOTFS_CACHE="$scratch/cache" time_it "$scratch/cold" 0 "$hadome" lab up s512 --dir "$scratch/cold-lab"
  "$hadome" lab down --dir "$scratch/cold-lab" >/dev/null
  stats "root filesystem built cold, then lab up s512 (mmdebstrap, $(du -sm "$scratch/cache" | cut -f1) MB)" "$scratch/cold"
  rm -rf "$scratch/cache"
fi
: >"$scratch/up"; : >"$scratch/down"
for _ in $(seq 5); do
  time_it "$scratch/up" 0 "$hadome" lab up s512 --dir "$lab"
  time_it "$scratch/down" 0 "$hadome" lab down --dir "$lab"
done
stats "lab up s512, cache warm (verified, copied, booted to running)" "$scratch/up"
stats "lab down (host stopped by PID, cgroups removed)" "$scratch/down"

"$hadome" lab up s512 --dir "$lab" >/dev/null
: >"$scratch/reboot"; : >"$scratch/exec"; : >"$scratch/facts"; : >"$scratch/ask"
for _ in $(seq "$RUNS"); do
  time_it "$scratch/reboot" 0 "$hadome" lab fault --dir "$lab" reboot-host s512
done
for _ in $(seq "$RUNS"); do
  time_it "$scratch/exec" 0 "$hadome" lab exec --dir "$lab" s512 -- true
  time_it "$scratch/facts" 0 "$hadome" lab exec --dir "$lab" s512 -- /usr/local/bin/hadome host-facts --data-path /srv/uploads --data-path /srv/config
  time_it "$scratch/ask" 0,1 "$hadome" lab exec --dir "$lab" s512 -- /usr/local/bin/hadome ask reboot s512 --config /etc/hadome/estate.toml
done
stats "one reboot cycle (reboot-host: new boot id up)" "$scratch/reboot"
stats "lab exec -- true (entering the host)" "$scratch/exec"
stats "lab exec -- hadome host-facts (2 data paths)" "$scratch/facts"
stats "lab exec -- hadome ask reboot (the guard, as ExecCondition= runs it)" "$scratch/ask"
