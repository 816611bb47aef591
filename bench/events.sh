#!/usr/bin/env bash
# Events and the front door, Berth against containerd (Debian's package) on the same machine
# in the same run:
#
#   1. event throughput end to end, from a state change to a subscriber: Berth with
#      test/helpers/event_bench, which creates N leases in contentd through the gateway from
#      several threads (each a committed change whose event goes through contentd's outbox to
#      the gateway's log) while it follows /leases/create: events per second from the first
#      change to the last event seen, and the latency from each change's answer to its event.
#   2. the same with the command-line tools of both: a follower (`berth events`, `ctr events`)
#      running while M namespaces are created one `namespaces create` after the other; the
#      time until the follower printed the last one.
#   3. the latency the gateway adds to one call: images.list straight to imaged's socket and
#      through the gateway (p50, p99).
#
# Results go to stdout and bench/results/events-<date>.md. Nothing here is a pass/fail test.
# Usage: bench/events.sh [BUILD] [N] [M]   (as root; installs containerd if missing)
set -u
BUILD=${1:-build}
N=${2:-5000}
M=${3:-200}
top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/test/integration/lib.sh"
source "$top/bench/lib.sh"

bench_require containerd
it_cleanup_extra() { containerd_stop; }
it_setup
suite_start || exit 1
containerd_start || exit 1
helper=$BUILD/test/helpers/event_bench
sock=$T/state/berth.sock

out=$top/bench/results/events-$(date -u +%Y-%m-%d).md
mkdir -p "$(dirname "$out")"
{
	echo "# Events and the front door, Berth vs containerd $(containerd --version | awk '{print $3}'), $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	bench_machine
	echo
	echo "## 1. Event throughput, state change to subscriber ($N lease creations, Berth)"
	echo
	echo "| threads | events/s | latency p50 | latency p99 |"
	echo "|---|---|---|---|"
} | tee "$out"
for threads in 1 8; do
	"$helper" events "$sock" "$N" "$threads" >"$T/ev.txt" 2>"$T/ev.err" || {
		cat "$T/ev.err"
		exit 1
	}
	v() { awk -v k="$1" '$1 == k { print $2 }' "$T/ev.txt"; }
	echo "| $threads | $(v events_per_second) | $(v latency_p50_ms) ms | $(v latency_p99_ms) ms |" | tee -a "$out"
done

# 2. command-line followers
follow_berth() {
	"$BUILD/berth" --address "$sock" events --filter topic=/namespaces/create >"$T/follow" 2>/dev/null &
	echo $!
}
follow_ctr() {
	/usr/bin/ctr --address "$cd_dir/containerd.sock" events >"$T/follow" 2>/dev/null &
	echo $!
}
cli_round() { # NAME FOLLOW_FN CREATE_CMD...
	local name=$1 follow=$2 pid t0 t1
	shift 2
	: >"$T/follow"
	pid=$($follow)
	sleep 0.5
	t0=$(date +%s%N)
	for i in $(seq "$M"); do "$@" "bench-$name-$i" >/dev/null 2>&1; done
	for _ in $(seq 600); do
		[ "$(grep -c "bench-$name-" "$T/follow")" -ge "$M" ] && break
		sleep 0.01
	done
	t1=$(date +%s%N)
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	echo "$(((t1 - t0) / 1000000)) $(grep -c "bench-$name-" "$T/follow")"
}
read -r b_ms b_n <<<"$(cli_round berth follow_berth "$BUILD/berth" --address "$sock" namespaces create)"
read -r c_ms c_n <<<"$(cli_round ctr follow_ctr /usr/bin/ctr --address "$cd_dir/containerd.sock" namespaces create)"
{
	echo
	echo "## 2. $M namespaces created with the CLI while a CLI follower prints their events"
	echo
	echo "| runtime | wall time until the last event was printed | events printed |"
	echo "|---|---|---|"
	echo "| berth | $b_ms ms | $b_n |"
	echo "| containerd | $c_ms ms | $c_n |"
} | tee -a "$out"

# 3. call latency through the gateway
"$helper" calls "$sock" "$T/state/imaged.sock" images.list 5000 >"$T/calls.txt"
v() { awk -v k="$1" '$1 == k { print $2 }' "$T/calls.txt"; }
{
	echo
	echo "## 3. Latency the gateway adds to one call (images.list, 5000 calls each way)"
	echo
	echo "| path | p50 | p99 |"
	echo "|---|---|---|"
	echo "| straight to berth-imaged | $(v direct_p50_us) µs | $(v direct_p99_us) µs |"
	echo "| through berth-gatewayd | $(v gateway_p50_us) µs | $(v gateway_p99_us) µs |"
	echo
	echo "Added by the gateway at the median: $(v added_p50_us) µs."
} | tee -a "$out"
