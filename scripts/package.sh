#!/usr/bin/env bash
# Builds hadome's Debian package with cargo-deb: the binary as /usr/bin/hadome, the systemd unit,
# the `hadome` user (sysusers.d), the state directory (tmpfiles.d) and /etc/hadome/estate.toml as
# a conffile (files in packaging/, metadata in crates/hadome/Cargo.toml's [package.metadata.deb]).
#
#   scripts/package.sh                 a release build, then target/debian/hadome_VERSION-1_ARCH.deb
#   scripts/package.sh --debug-build   the debug binary `cargo build` or `cargo test` already made,
#                                      unbuilt and stripped (seconds): what tests/it/package.rs installs
#   --output DIR                       where the .deb goes (default: target/debian)
#
# Installs cargo-deb (cargo install --locked) when it is missing. Prints every command it runs,
# and the .deb's path last.
set -euo pipefail
cd "$(dirname "$0")/.."

# The version setup.sh installs too. Pinned: `--debug-build` packages the dev profile, which
# cargo-deb 3.8 accepts with a warning and says a later version may refuse.
cargo_deb_version=3.8.0

usage() {
  echo "usage: scripts/package.sh [--debug-build] [--output DIR]" >&2
  exit 2
}

debug_build=false
output=target/debian
while [ $# -gt 0 ]; do
  case "$1" in
    --debug-build) debug_build=true ;;
    --output) [ $# -ge 2 ] || usage; output=$2; shift ;;
    *) usage ;;
  esac
  shift
done

run() {
  echo "+ $*" >&2
  "$@"
}

if ! cargo deb --version >/dev/null 2>&1; then
  echo "package: cargo-deb is missing: installing it (about a minute of compiling)" >&2
  run cargo install --locked cargo-deb --version "$cargo_deb_version"
fi

mkdir -p "$output"
if $debug_build; then
  # --profile dev: target/debug/hadome, as built; cargo-deb strips it (20 MB, not 250) and --fast
  # compresses lightly. --no-build: it must exist already.
  binary="${CARGO_TARGET_DIR:-target}/debug/hadome"
  [ -x "$binary" ] || { echo "package: $binary is missing: run cargo build -p hadome first" >&2; exit 1; }
  run cargo deb -p hadome --profile dev --no-build --fast --output "$output"
else
  run cargo deb -p hadome --locked --output "$output"
fi
