#!/usr/bin/env bash
# The whole test suite: what CI runs (.ci/run calls exactly this) and what to run before a commit.
# Installs what is missing first; the tests start real PostgreSQL servers through the lab.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
echo "+ cargo fmt --all -- --check"
cargo fmt --all -- --check
echo "+ cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "+ cargo test --workspace --locked"
cargo test --workspace --locked
