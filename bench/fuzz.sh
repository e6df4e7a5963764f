#!/usr/bin/env bash
# The long fuzz runs (issue 17): each target of `crates/hadome-fuzz` under libFuzzer for
# FUZZ_SECONDS, one after another at low priority (`nice`), then the committed corpus
# `fuzz/corpus/NAME/` rebuilt small: its named seeds (real inputs), plus the fewest of the old
# corpus's and the run's inputs that cover every edge they cover (libFuzzer's -set_cover_merge=1
# with -use_counters=0: hit counts are not kept apart, so the corpus stays a few hundred files
# rather than thousands). Prints one Markdown row per target, as docs/benchmarks.md records them:
# executions, executions per second, coverage (libFuzzer's `cov:` edges and `ft:` features at
# the end), the corpus before and after the merge, peak RSS, crashes.
#
#   bench/fuzz.sh [TARGET…]          # default every target in fuzz/fuzz_targets/
#   FUZZ_SECONDS=60 bench/fuzz.sh    # default 600
#   FUZZ_MERGE=0 bench/fuzz.sh       # leave the committed corpus as it is
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`); CI runs the stable
# short run instead (crates/hadome-fuzz/tests/short_run.rs). A crash leaves its input in
# fuzz/artifacts/NAME/ and the row says so; the script goes on with the next target.
set -Euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-600}
merge=${FUZZ_MERGE:-1}
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for file in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$file" .rs)"); done
fi
scratch=$(mktemp -d /tmp/hadome-fuzz-XXXXXX)
trap 'rm -rf "$scratch"' EXIT

echo "| target | seconds | executions | exec/s | cov | ft | corpus before → after | peak RSS MiB | crashes |"
echo "|---|---|---|---|---|---|---|---|---|"
for target in "${targets[@]}"; do
  log=$scratch/$target.log
  work=$scratch/$target-corpus
  mkdir -p "$work"
  before=$(find "fuzz/corpus/$target" -type f | wc -l)
  # -timeout: one input slower than 10 s is a hang; -rss_limit_mb and -malloc_limit_mb: more
  # memory than that is unbounded allocation; both are crashes for libFuzzer.
  (cd fuzz && nice -n 10 cargo +nightly fuzz run "$target" "$work" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
    -print_final_stats=1) >"$log" 2>&1
  status=$?
  executions=$(grep -oP 'stat::number_of_executed_units:\s*\K[0-9]+' "$log" | tail -1)
  per_second=$(grep -oP 'stat::average_exec_per_sec:\s*\K[0-9]+' "$log" | tail -1)
  rss=$(grep -oP 'stat::peak_rss_mb:\s*\K[0-9]+' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1)
  cov=$(grep -oP 'cov: \K[0-9]+' <<<"$last")
  ft=$(grep -oP 'ft: \K[0-9]+' <<<"$last")
  crashes=$(find "fuzz/artifacts/$target" -type f 2>/dev/null | wc -l)
  if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes="exit $status (see below)"; fi
  if [ "$merge" = 1 ] && [ "$status" -eq 0 ]; then
    fresh=$scratch/$target-minimal
    mkdir -p "$fresh"
    # Named files are the seeds; libFuzzer names what it adds by the SHA-1 of its content.
    find "fuzz/corpus/$target" -type f -regextype posix-extended ! -regex '.*/[0-9a-f]{40}' -exec cp {} "$fresh/" \;
    (cd fuzz && nice -n 10 cargo +nightly fuzz run "$target" "$fresh" "corpus/$target" "$work" -- \
      -set_cover_merge=1 -use_counters=0 -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10) \
      >"$scratch/$target.merge" 2>&1 &&
      rm -rf "fuzz/corpus/$target" && cp -r "$fresh" "fuzz/corpus/$target"
  fi
  after=$(find "fuzz/corpus/$target" -type f | wc -l)
  echo "| $target | $seconds | ${executions:-?} | ${per_second:-?} | ${cov:-?} | ${ft:-?} | $before → $after | ${rss:-?} | $crashes |"
  if [ "$status" -ne 0 ]; then
    echo "    $target exited $status; the end of its log:" >&2
    tail -40 "$log" | sed 's/^/    /' >&2
  fi
done
