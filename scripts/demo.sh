#!/usr/bin/env bash
# hadome's main job on local lab estates, narrated: installs what is missing (apt-get), builds
# hadome, and runs the incidents' drills (`hadome drill list`), each on its own lab of real
# servers, each step checked:
#   misskey   incident A: the stale copy and the unapplied setting found while every process is
#             up; the bot's overwrite denied; the safe direction done, guarded, until it checks clean;
#   mackerel  incident B: `hadome daemon` fences a frozen primary and promotes the synchronous
#             standby; the old primary cannot come back as a second primary;
#   s512      incident C, on a real systemd: the reboot loop, stopped by hadome's guard at the
#             next boot; the host's deletion denied until a verified final image covers its
#             only copy of the uploads.
#   quorum    incident D, on three real etcd members: the image of a healthy member's host denied
#             while another is down, `advise` says wait, allowed once it is back.
#   showcase  incident E, on real nginx and real DNS: the deploy that loops between the console
#             and SSO failed by `hadome gate` with the cycle named; the fix judged, loaded, passed.
# Each drill tears its lab down by PID, also on failure or Ctrl-C. Exit 0 only when every drill
# passed. DRILLS="misskey s512" runs some of them.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "+ cargo build -p hadome   # the first build compiles a few hundred crates: minutes (about 5 on 2 cores); later ones, seconds"
cargo build -q -p hadome
hadome=target/debug/hadome
echo "The incidents these drills replay are retold in ../shared/incidents/README.md."
echo "Each drill brings up its own lab of real servers, runs its steps (each checked), and tears it down:"
echo "seconds to a minute each; s512 first builds a Debian root filesystem (about 40 s, 205 MB, cached)."

scratch=$(mktemp -d /tmp/hadome-demo-XXXXXX)
# mktemp makes the directory 0700; PostgreSQL runs as `postgres` and must reach the labs inside.
chmod 755 "$scratch"
trap 'rmdir "$scratch" 2>/dev/null || true' EXIT

status=0
for drill in ${DRILLS:-misskey mackerel s512 quorum showcase}; do
  echo
  echo "+ hadome drill $drill --dir $scratch/$drill"
  "$hadome" drill "$drill" --dir "$scratch/$drill" || status=1
done
exit "$status"
