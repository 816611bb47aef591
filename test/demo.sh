#!/usr/bin/env bash
# What `make run` runs: builds the demo image from local files, starts the whole suite on a
# local root (/var/lib/berth-demo, state in /run/berth-demo), imports the image, runs a
# container that prints a greeting, then keeps the suite running in the foreground until
# Ctrl-C and stops it cleanly. Running it again first stops a suite it left running.
#
# The daemons run in a session of their own, so the terminal's Ctrl-C reaches this script and
# not them: the suite must still be up to remove the containers. On Ctrl-C, TERM, HUP or any
# exit the script removes every container of every namespace (also those started from another
# terminal), stops the daemons by PID (TERM, then KILL after 5 s), and then checks that no
# process, mount or network namespace of the demo is left (it reports and removes any).
#
# Usage: test/demo.sh [BUILD]   (as root). BERTH_DEMO_EXIT=1 stops right after the demo run.
# BERTH_DEMO_ROOT and BERTH_DEMO_STATE move the root and the state (the tests use that).
set -u
build=$(cd "${1:-build}" && pwd)
top=$(cd "$(dirname "$0")/.." && pwd)
root=${BERTH_DEMO_ROOT:-/var/lib/berth-demo}
state=${BERTH_DEMO_STATE:-/run/berth-demo}
sock=$state/berth.sock
pids=$state.pids
config=$state.json
daemons=(contentd snapshotd netd imaged taskd gatewayd)
images=""

if [ "$(id -u)" -ne 0 ]; then
	echo "make run: needs root (mounts, namespaces, runc)" >&2
	exit 1
fi

berth() { "$build/berth" --address "$sock" "$@"; }

# The CLI while stopping: in a session of its own, so that a second Ctrl-C cannot cut a
# removal short, with a bounded wait.
stop_cli() { setsid -w "$build/berth" --address "$sock" --timeout 10 "$@" </dev/null; }

# is_ours PID: PID is a daemon this script started (a recorded PID may since have been reused).
is_ours() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qF -- "--config $config"; }

# Processes of the demo (daemons, shims, runtimes: their command lines name the config, the
# root or the state) and mounts under the root or the state (overlays, and the nsfs files that
# hold the containers' network namespaces).
leftovers() {
	local p
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = "$$" ] && continue
		if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null |
			grep -qF -e "$config" -e "$root/" -e "$state/"; then
			echo "process ${p#/proc/}"
		fi
	done
	awk -v r="$root/" -v s="$state/" 'index($5, r) == 1 || index($5, s) == 1 { print "mount " $5 }' \
		/proc/self/mountinfo | sort -r
}

stop_suite() {
	[ -f "$pids" ] || return 0
	local pid ns id r kind what left
	# Containers first, in every namespace: their shims outlive the daemons by design.
	for ns in $({ echo default; stop_cli namespaces ls -q 2>/dev/null; } | sort -u); do
		for id in $(stop_cli --namespace "$ns" ps -a -q 2>/dev/null); do
			stop_cli --namespace "$ns" rm -f "$id" >/dev/null 2>&1
		done
	done
	# The default network, which the demo's first container made: its bridge and its rules.
	stop_cli network rm berth >/dev/null 2>&1
	# Stop in reverse order of start, by the PIDs this script recorded.
	for pid in $(tac "$pids"); do
		is_ours "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for pid in $(cat "$pids"); do
		for _ in $(seq 50); do
			is_ours "$pid" || break
			sleep 0.1
		done
		is_ours "$pid" && kill -KILL "$pid" 2>/dev/null
	done
	rm -f "$pids"
	# What a removal missed (a daemon that did not answer): report it, then clean it up.
	left=$(leftovers)
	[ -z "$left" ] && return 0
	echo "make run: left behind, removing: $(echo "$left" | tr "\n" " ")" >&2
	for r in "$state"/taskd/runtime/*/*; do
		[ -d "$r" ] || continue
		for id in $(runc --root "$r" list -q 2>/dev/null); do
			runc --root "$r" delete -f "$id" >/dev/null 2>&1
		done
	done
	leftovers | while read -r kind what; do
		case $kind in
		process) kill -KILL "$what" 2>/dev/null ;;
		mount) umount "$what" 2>/dev/null || umount -l "$what" 2>/dev/null ;;
		esac
	done
}

# On any exit: stop the suite once, ignoring further Ctrl-C (the commands it runs inherit that).
cleanup() {
	local rc=$?
	trap '' INT TERM HUP
	trap - EXIT
	stop_suite
	[ -n "$images" ] && rm -rf "$images"
	exit "$rc"
}

stop_suite
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
mkdir -p "$root" "$state"
cat >"$config" <<EOF2
{"root": "$root", "state": "$state", "log": {"level": "notice"},
 "netd": {"cni_conf_dir": "$root/cni"}}
EOF2

images=$(mktemp -d)
bash "$top/test/images/build.sh" "$images" >/dev/null || exit 1

: >"$pids"
for d in "${daemons[@]}"; do
	setsid "$build/berth-$d" --config "$config" </dev/null 2>>"$state-$d.log" &
	echo $! >>"$pids"
done
for _ in $(seq 100); do
	berth info >/dev/null 2>&1 && [ "$(berth --format json info | grep -o '"healthy":true' | wc -l)" = 5 ] && break
	sleep 0.1
done
berth info || exit 1
echo
berth images import "$images/berth-demo.tar" --name berth-demo:latest || exit 1
echo
echo "\$ berth run --rm berth-demo:latest"
berth run --rm --name demo berth-demo:latest
echo

[ "${BERTH_DEMO_EXIT:-0}" = 1 ] && exit 0

trap 'echo; echo "stopping the suite"; exit 0' INT TERM HUP
cat <<EOF2
The Berth suite is running (data in $root, sockets in $state, logs in $state-*.log).
From another terminal, try:

  $build/berth --address $sock info
  $build/berth --address $sock images ls
  $build/berth --address $sock run --rm berth-demo:latest echo hi
  $build/berth --address $sock run -d --name sleeper berth-demo:latest sleep 600
  $build/berth --address $sock ps

Press Ctrl-C to stop: that removes every container, also those started from another
terminal, and stops the suite.
EOF2
while :; do
	sleep 1 &
	wait $!
done
