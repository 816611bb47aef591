#!/usr/bin/env bash
# `make run` in a terminal, then Ctrl-C. test/demo.sh runs in a real pty (script(1)); once it
# says the suite is up, containers are started from "another terminal" (the CLI against the
# demo's socket, in two namespaces), then ^C is typed into the pty as a user would: the line
# discipline sends SIGINT to the foreground process group. The demo must remove every
# container itself (the daemons must not have received the SIGINT), stop its daemons and
# leave no process, mount or network namespace behind. Twice: a second run must work the same.
#
# The demo runs on a private root and state under T (BERTH_DEMO_ROOT, BERTH_DEMO_STATE), so a
# demo the user left running in /var/lib/berth-demo is not touched; it_cleanup sweeps T.
#
# Usage: test/integration/test_demo.sh [BUILD]
set -u
BUILD=${1:-build}
source "$(dirname "$0")/lib.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "# needs root (mounts, namespaces, runc)"
	echo "0 passed, 1 failed"
	exit 1
fi
T=$(mktemp -d /tmp/berth-demo-it.XXXXXX)
trap it_cleanup EXIT
trap 'exit 143' TERM INT
export BERTH_DEMO_ROOT=$T/root BERTH_DEMO_STATE=$T/state
IMAGES=$T/images
bash "$IT_TOP/test/images/build.sh" "$IMAGES" >/dev/null
SCRIPT_PID=""

# The CLI from "another terminal".
other() { timeout 60 "$BUILD/berth" --address "$T/state/berth.sock" "$@"; }

# wait_for SECONDS CMD...: until CMD succeeds; fails after SECONDS.
wait_for() {
	local limit=$(($1 * 10))
	shift
	for _ in $(seq "$limit"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

alive() { kill -0 "$1" 2>/dev/null; }
gone() { ! alive "$1"; }

# demo_round N: one `make run` session, ^C, and the checks of what it left.
demo_round() {
	local n=$1 out sleeper daemons pid left
	out=$T/demo$n.out
	sleeper="sleep 8639$n"
	: >"$out"
	# The pty's input: held open here, so script(1) never sees EOF before the ^C.
	rm -f "$T/tty"
	mkfifo "$T/tty"
	exec 3<>"$T/tty"
	# A background job of this shell starts with SIGINT ignored, which bash passes on and a
	# script cannot trap: restore the default, as in a terminal.
	env --default-signal=INT,QUIT script -qfec "bash $IT_TOP/test/demo.sh $BUILD" /dev/null \
		<&3 >"$out" 2>&1 &
	SCRIPT_PID=$!
	if wait_for 90 grep -q "Press Ctrl-C to stop" "$out"; then
		it_ok "round $n: the demo is up"
	else
		it_not_ok "round $n: the demo is up" "$(tail -n 20 "$out")"
		return
	fi
	grep -q "Hello from Berth" "$out" &&
		it_ok "round $n: the demo container ran" ||
		it_not_ok "round $n: the demo container ran" "$(tail -n 20 "$out")"
	daemons=$(cat "$T/state.pids")

	check "round $n: run -d from another terminal" \
		other run -d --name sleeper berth-demo:latest $sleeper
	check "round $n: import into a second namespace" \
		other --namespace second images import "$IMAGES/berth-demo.tar" --name berth-demo:latest
	check "round $n: run -d in the second namespace" \
		other --namespace second run -d --name sleeper2 berth-demo:latest $sleeper
	if wait_for 20 pgrep -f "^$sleeper\$" >/dev/null; then
		it_ok "round $n: the containers' processes run"
	else
		it_not_ok "round $n: the containers' processes run" "$(other ps -a 2>&1)"
	fi

	printf '\003' >&3 # Ctrl-C, through the terminal
	if wait_for 60 gone "$SCRIPT_PID"; then
		it_ok "round $n: ^C stops the demo"
	else
		it_not_ok "round $n: ^C stops the demo" "$(tail -n 20 "$out")"
		kill -TERM "$SCRIPT_PID" 2>/dev/null
		wait_for 30 gone "$SCRIPT_PID"
	fi
	wait "$SCRIPT_PID" 2>/dev/null
	SCRIPT_PID=""
	exec 3>&-
	grep -q "stopping the suite" "$out" && it_ok "round $n: the demo says it stops the suite" ||
		it_not_ok "round $n: the demo says it stops the suite" "$(tail -n 20 "$out")"
	# Removed through the suite, not by the sweep after it: the daemons were still up.
	grep -q "left behind" "$out" &&
		it_not_ok "round $n: the suite removed every container itself" "$(grep "left behind" "$out")" ||
		it_ok "round $n: the suite removed every container itself"
	left=""
	for pid in $daemons; do
		alive "$pid" && left="$left $pid"
	done
	[ -z "$left" ] && it_ok "round $n: every daemon stopped" ||
		it_not_ok "round $n: every daemon stopped" "still running:$left"
	left=$(procs_under_t; pgrep -f "^$sleeper\$")
	[ -z "$left" ] && it_ok "round $n: no process left" ||
		it_not_ok "round $n: no process left" "$(for p in $left; do ps -o pid=,args= -p "$p"; done)"
	left=$(mounts_under_t)
	[ -z "$left" ] && it_ok "round $n: no mount left" || it_not_ok "round $n: no mount left" "$left"
	left=$(awk -v t="$T/" 'index($5, t) == 1 && $0 ~ / - nsfs / { print $5 }' /proc/self/mountinfo)
	[ -z "$left" ] && it_ok "round $n: no network namespace left" ||
		it_not_ok "round $n: no network namespace left" "$left"
	# The demo's containers are on the default network; stopping removes its bridge too.
	if ip link show berth0 >/dev/null 2>&1; then
		it_not_ok "round $n: the default network's bridge is gone" "$(ip -o link show berth0)"
	else
		it_ok "round $n: the default network's bridge is gone"
	fi
	[ -e "$T/state.pids" ] && it_not_ok "round $n: the PID file is gone" ||
		it_ok "round $n: the PID file is gone"
}

# it_cleanup stops what a failed round left: the demo first (its own cleanup), then the sweep.
it_cleanup_extra() {
	local c
	[ -n "$SCRIPT_PID" ] || return 0
	for c in $(pgrep -P "$SCRIPT_PID"); do
		kill -TERM -- "-$c" 2>/dev/null # the pty's session: the demo and what it runs there
	done
	wait_for 30 gone "$SCRIPT_PID"
	return 0
}

demo_round 1
demo_round 2
it_summary
