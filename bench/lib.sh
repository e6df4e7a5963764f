# Shared by the whole-run benchmarks (bench/gate.sh, bench/quorum.sh, bench/host-lab.sh): source
# it after `set -Eeuo pipefail`.

now() { date +%s.%N; }

# stats NAME FILE: one markdown row, seconds, from one number per line: runs, median, min, max.
stats() {
  sort -g "$2" | awk -v name="$1" '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "| %s | %d | %.3f | %.3f | %.3f |\n", name, NR, m, v[1], v[NR] }'
}

# time_it FILE EXPECTED COMMAND...: appends the command's wall time in seconds. The command must
# exit with one of EXPECTED (a comma list: `1` for a deny, `0,1` where either answer is right),
# or the benchmark stops: a wrong answer is not a timing.
time_it() {
  local file=$1 expected=$2 t0 t1 rc=0
  shift 2
  t0=$(now)
  "$@" >/dev/null 2>&1 || rc=$?
  t1=$(now)
  case ",$expected," in
    *",$rc,"*) ;;
    *)
      echo "unexpected exit $rc (wanted $expected): $*" >&2
      "$@" >&2 || true
      exit 1
      ;;
  esac
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }' >>"$file"
}
