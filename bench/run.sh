#!/usr/bin/env bash
# Berth against containerd (Debian's package) on the same machine, in the same run, on the
# same image (test/images' "sh", imported into both from the same OCI archive):
#
#   1. start latency: `berth run --rm IMG true` vs `ctr run --rm IMG ID true`, with hyperfine,
#      one series after the other in the same run;
#   2. resident memory (VmRSS) of every Berth daemon and of containerd, idle, and of one
#      berth-shim vs one containerd-shim-runc-v2 while each supervises a `sleep`.
#
# Results go to stdout and bench/results/<date>.md. Nothing here is a pass/fail test.
# Usage: bench/run.sh [BUILD] [RUNS]   (as root; installs hyperfine and containerd if missing)
# The other benchmarks (gc.sh, events.sh, containers.sh) run on their own in the same way.
set -u
BUILD=${1:-build}
RUNS=${2:-30}
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/test/integration/lib.sh"
source "$top/bench/lib.sh"

bench_require hyperfine containerd
it_cleanup_extra() { containerd_stop; }
it_setup
suite_start || exit 1
b images import "$IMAGES/sh.tar" --name bench/sh:v1 >/dev/null || exit 1

containerd_start || exit 1
ctr images import --base-name bench/sh "$IMAGES/sh.tar" >/dev/null || exit 1
cd_image=$(ctr images ls -q | head -n 1)

out=$top/bench/results/$(date -u +%Y-%m-%d).md
mkdir -p "$(dirname "$out")"
{
	echo "# Berth vs containerd $(containerd --version | awk '{print $3}'), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "$(bench_machine), runc $(runc --version | awk 'NR==1 {print $3}')"
	echo
	echo "## Start latency: run --rm IMAGE true ($RUNS runs each, 3 warm-up runs)"
	echo
} | tee "$out"

hyperfine --style basic -N --warmup 3 --runs "$RUNS" --export-markdown "$T/hyperfine.md" \
	-n berth "$BUILD/berth --address $T/state/berth.sock run --rm bench/sh:v1 true" \
	-n containerd "/usr/bin/ctr --address $cd_dir/containerd.sock -n bench run --rm $cd_image bench-true true"
cat "$T/hyperfine.md" >>"$out"

b run -d --name sleeper bench/sh:v1 sleep 600 >/dev/null
ctr run -d "$cd_image" sleeper sleep 600 >/dev/null
sleep 1
berth_shim=$(pgrep -f "berth-shim.*sleeper" | head -n 1)
cd_shim=$(pgrep -f "containerd-shim-runc-v2.*-namespace bench" | head -n 1)

{
	echo
	echo "## Resident memory (VmRSS)"
	echo
	echo "| process | KiB |"
	echo "|---|---|"
	total=0
	for d in "${IT_DAEMONS[@]}"; do
		r=$(rss_kib "${IT_PIDS[$d]}")
		total=$((total + r))
		echo "| berth-$d | $r |"
	done
	echo "| **all six Berth daemons** | **$total** |"
	echo "| containerd | $(rss_kib "$cd_pid") |"
	echo "| berth-shim (one container) | $(rss_kib "$berth_shim") |"
	echo "| containerd-shim-runc-v2 (one container) | $(rss_kib "$cd_shim") |"
} | tee -a "$out"

b rm -f sleeper >/dev/null
ctr task kill -s KILL sleeper >/dev/null 2>&1
sleep 0.5
ctr task delete sleeper >/dev/null 2>&1
ctr container delete sleeper >/dev/null 2>&1
ctr images rm "$cd_image" >/dev/null 2>&1
containerd_stop
echo
echo "written to $out"
