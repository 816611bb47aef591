#!/usr/bin/env bash
# What `make run` runs: builds the demo image from local files, starts the whole suite on a
# local root (/var/lib/berth-demo, state in /run/berth-demo), imports the image, runs a
# container that prints a greeting, then keeps the suite running in the foreground until
# Ctrl-C and stops it cleanly. Running it again first stops a suite it left running.
#
# Usage: test/demo.sh [BUILD]   (as root). BERTH_DEMO_EXIT=1 stops right after the demo run.
set -u
build=$(cd "${1:-build}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
root=/var/lib/berth-demo
state=/run/berth-demo
sock=$state/berth.sock
pids=/run/berth-demo.pids
daemons=(contentd snapshotd netd imaged taskd gatewayd)

if [ "$(id -u)" -ne 0 ]; then
	echo "make run: needs root (mounts, namespaces, runc)" >&2
	exit 1
fi

berth() { "$build/berth" --address "$sock" "$@"; }

stop_suite() {
	[ -f "$pids" ] || return 0
	local pid id
	# Containers first: their shims outlive the daemons by design.
	for id in $(berth ps -a -q 2>/dev/null); do
		berth rm -f "$id" >/dev/null 2>&1
	done
	# Stop in reverse order of start, by the PIDs this script recorded.
	for pid in $(tac "$pids"); do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $(cat "$pids"); do
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	done
	rm -f "$pids"
}

stop_suite
mkdir -p "$root" "$state"
cat >/run/berth-demo.json <<EOF
{"root": "$root", "state": "$state", "log": {"level": "notice"}}
EOF

images=$(mktemp -d)
trap 'rm -rf "$images"' EXIT
bash "$top/test/images/build.sh" "$images" >/dev/null || exit 1

: >"$pids"
for d in "${daemons[@]}"; do
	"$build/berth-$d" --config /run/berth-demo.json 2>>"$state-$d.log" &
	echo $! >>"$pids"
done
for _ in $(seq 100); do
	berth info >/dev/null 2>&1 && [ "$(berth --format json info | grep -o '"healthy":true' | wc -l)" = 5 ] && break
	sleep 0.1
done
berth info || { stop_suite; exit 1; }
echo
berth images import "$images/berth-demo.tar" --name berth-demo:latest || { stop_suite; exit 1; }
echo
echo "\$ berth run --rm berth-demo:latest"
berth run --rm --name demo berth-demo:latest
echo

if [ "${BERTH_DEMO_EXIT:-0}" = 1 ]; then
	stop_suite
	exit 0
fi

trap 'echo; echo "stopping the suite"; stop_suite; rm -rf "$images"; exit 0' INT TERM
cat <<EOF
The Berth suite is running (data in $root, sockets in $state, logs in $state-*.log).
From another terminal, try:

  $build/berth --address $sock info
  $build/berth --address $sock images ls
  $build/berth --address $sock run --rm berth-demo:latest echo hi
  $build/berth --address $sock run -d --name sleeper berth-demo:latest sleep 600
  $build/berth --address $sock ps

Press Ctrl-C to stop.
EOF
while :; do
	sleep 1 &
	wait $!
done
