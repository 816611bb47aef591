#!/usr/bin/env bash
# Runs every test of the suite against the binaries in BUILD (default build/) and prints the
# totals last: unit tests (test/unit), fuzz corpus replays (test/fuzz/corpus), the systemd
# unit check and the integration suites (test/integration/*.sh, as root).
#
# Each test program ends its output with "N passed, N failed[, N skipped]"; this script adds
# those lines up. A program that ends without such a line, or exits non-zero, counts as one
# failure. Usage: test/run.sh [BUILD] [FILTER]   (FILTER: a substring of the test names to run)
set -u
build=${1:-build}
filter=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
export BERTH_BUILD=$build

total_pass=0 total_fail=0 total_skip=0
failed_names=()
timings=()

run_one() { # name command...
	local name=$1
	shift
	if [ -n "$filter" ] && [[ $name != *"$filter"* ]]; then
		return
	fi
	echo "=== $name"
	local out rc summary p f s t0
	out=$(mktemp)
	t0=$SECONDS
	"$@" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	timings+=("$((SECONDS - t0)) s  $name")
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	rm -f "$out"
	if [ -z "$summary" ]; then
		total_fail=$((total_fail + 1))
		failed_names+=("$name (no summary line, exit $rc)")
		return
	fi
	p=$(echo "$summary" | sed -E 's/^([0-9]+) passed.*/\1/')
	f=$(echo "$summary" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
	s=0
	if [[ $summary == *skipped* ]]; then
		s=$(echo "$summary" | sed -E 's/.* ([0-9]+) skipped.*/\1/')
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
	total_skip=$((total_skip + s))
	if [ "$f" -gt 0 ] || [ "$rc" -ne 0 ]; then
		[ "$f" -eq 0 ] && total_fail=$((total_fail + 1))
		failed_names+=("$name")
	fi
}

for t in "$build"/test/unit/test_*; do
	[ -x "$t" ] || continue
	run_one "unit/$(basename "$t")" "$t"
done

for r in "$build"/test/fuzz/replay_fuzz_*; do
	[ -x "$r" ] || continue
	target=${r##*/replay_fuzz_}
	if [ -d "test/fuzz/corpus/$target" ]; then
		run_one "fuzz/$target" "$r" "test/fuzz/corpus/$target"
	else
		total_fail=$((total_fail + 1))
		failed_names+=("fuzz/$target (no corpus in test/fuzz/corpus/$target)")
	fi
done

for t in test/integration/test_*.sh; do
	[ -f "$t" ] || continue
	run_one "integration/$(basename "$t" .sh)" bash "$t" "$build"
done

echo
echo "Slowest:"
printf '%s\n' "${timings[@]}" | sort -rn | head -n 8 | sed 's/^/  /'
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "Failed:"
	printf '  %s\n' "${failed_names[@]}"
fi
if [ "$total_skip" -gt 0 ]; then
	echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
	echo "$total_pass passed, $total_fail failed"
fi
[ "$total_fail" -eq 0 ]
