#!/usr/bin/env bash
# Supervision that never lies, end to end through the real CLI with real runc:
#   - a container whose berth-shim is killed (-9) is noticed at once: its processes are killed
#     and it is recorded exited 137 with the reason "shim lost" (ps, inspect, the event); the
#     same when the shim died while taskd was down;
#   - restart policies (--restart on-failure:N, always, unless-stopped) with exits and crashes,
#     stop ends them, and across a taskd restart always runs again while a stopped
#     unless-stopped stays stopped;
#   - --rm is taskd's: with -d, and across a taskd outage;
#   - gatewayd and taskd killed (-9) and started again during a `berth run --rm` (in create,
#     after start, while following), a few times each: run ends with the container's own exit
#     code (or a clear error) and nothing is left behind: no record, no mount, no shim.
# Every wait is bounded.
#
# Usage: test/integration/test_supervision.sh [BUILD]   (as root; BUILD also from BERTH_BUILD)
BUILD=${1:-${BERTH_BUILD:-build}}
ITERATIONS=${ITERATIONS:-3}
source "$(dirname "$0")/lib.sh"

it_setup
registry_start || { it_not_ok "registry starts"; it_summary; exit 1; }
push_image sh test/sh:v1
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
SH=$REGISTRY/test/sh:v1
b images pull "$SH" >/dev/null || { it_not_ok "pull the test image"; it_summary; exit 1; }
it_ok "the suite runs and holds the test image"

# exit_events: the /tasks/exit events logged so far, as JSON lines (a follower stopped after 3 s).
exit_events() {
	timeout 3 "$BUILD/berth" --address "$T/state/berth.sock" --format json events --since 0 \
		--filter topic=/tasks/exit 2>/dev/null
}
export -f b exit_events # for the checks that run a pipeline in bash -c
export T BUILD
ps_field() { b --format json ps -a | jq -r --arg id "$1" --arg f "$2" '.[] | select(.id == $id) | .[$f]'; }
status_of() { ps_field "$1" status; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
shim_pid() { cat "$T/state/taskd/bundles/default/$1/task/shim.pid" 2>/dev/null; }

# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
	local limit=$(($1 * 10)) i
	shift
	for i in $(seq "$limit"); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
is_status() { [ "$(status_of "$1")" = "$2" ]; }
is_gone() { [ -z "$(b --format json ps -a | jq -r --arg id "$1" '.[] | select(.id == $id) | .id')" ]; }
restarts_at_least() { [ "$(ps_field "$1" restart_count)" -ge "$2" ] 2>/dev/null; }

taskd_restart() {
	daemon_kill9 taskd
	daemon_start taskd
	wait_healthy 20
}

# nothing_left ID: no record, no bundle mount, no shim or runtime process of container ID.
nothing_left() {
	is_gone "$1" || { echo "record of $1 left: $(status_of "$1")"; return 1; }
	if mounts_under_t | grep -q "/bundles/default/$1/"; then
		echo "mount left for $1"
		return 1
	fi
	local p
	for p in $(procs_under_t); do
		if tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "-id $1 \|/default/$1/\| $1\$"; then
			echo "process left for $1: $(tr '\0' ' ' <"/proc/$p/cmdline")"
			return 1
		fi
	done
}

# --- a shim killed ---------------------------------------------------------------------------
b run -d --name lost1 "$SH" sleep 1000 >/dev/null
wait_for 10 is_status lost1 running
cpid=$(ps_field lost1 pid)
spid=$(shim_pid lost1)
if [ -n "$spid" ] && kill -0 "$spid" && kill -0 "$cpid"; then
	t0=$(now_ms)
	kill -9 "$spid"
	if wait_for 2 is_status lost1 stopped; then
		it_ok "a killed shim is noticed in $(($(now_ms) - t0)) ms"
	else
		it_not_ok "a killed shim is noticed within 2 s" "status: $(status_of lost1)"
	fi
	expect_out "ps shows the exit and its reason" "Exited (137) shim lost" \
		bash -c "b ps -a | awk '\$1 == \"lost1\"' | grep -o 'Exited (137) shim lost'"
	if wait_for 2 bash -c "! kill -0 $cpid 2>/dev/null"; then
		it_ok "the container's process is killed with its shim gone"
	else
		it_not_ok "the container's process is killed with its shim gone" "pid $cpid lives"
	fi
	expect_out "inspect shows exit code and reason" "137 shim lost" \
		bash -c "b inspect lost1 | jq -r '.[0].state | \"\(.exit_code) \(.exit_reason)\"'"
	expect_out "the /tasks/exit event carries the reason" "137 shim lost" \
		bash -c "exit_events | jq -r 'select(.payload.container_id == \"lost1\") | \"\(.payload.exit_status) \(.payload.reason)\"' | tail -n 1"
else
	it_not_ok "the shim and the container of lost1 run" "shim '$spid', pid '$cpid'"
fi
check "the container of a lost shim is removed" b rm lost1
check "nothing is left of it" nothing_left lost1

# The shim dies while taskd is down: found at taskd's start.
b run -d --name lost2 "$SH" sleep 1000 >/dev/null
wait_for 10 is_status lost2 running
cpid=$(ps_field lost2 pid)
spid=$(shim_pid lost2)
daemon_kill9 taskd
kill -9 "$spid" 2>/dev/null
daemon_start taskd
wait_healthy 20
expect_out "a shim that died while taskd was down: exited 137, shim lost" "stopped 137 shim lost" \
	bash -c "b --format json ps -a | jq -r '.[] | select(.id == \"lost2\") | \"\(.status) \(.exit_status) \(.exit_reason)\"'"
if wait_for 2 bash -c "! kill -0 $cpid 2>/dev/null"; then
	it_ok "and its container's process is killed"
else
	it_not_ok "and its container's process is killed" "pid $cpid lives"
fi
b rm lost2 >/dev/null

# --- restart policies ------------------------------------------------------------------------
b run -d --name of2 --restart on-failure:2 "$SH" sh -c 'exit 3' >/dev/null
if wait_for 10 bash -c "[ \"\$(b --format json ps -a | jq -r '.[] | select(.id == \"of2\") | \"\(.status) \(.restart_count)\"')\" = 'stopped 2' ]"; then
	sleep 1
	expect_out "on-failure:2 stops after 2 restarts" "stopped 2 3" \
		bash -c "b --format json ps -a | jq -r '.[] | select(.id == \"of2\") | \"\(.status) \(.restart_count) \(.exit_status)\"'"
else
	it_not_ok "on-failure:2 restarts twice" "$(b ps -a | grep of2)"
fi
expect_out "inspect shows the policy and RestartCount" "on-failure 2 2" \
	bash -c "b inspect of2 | jq -r '.[0] | \"\(.restart_policy.name) \(.restart_policy.maximum_retry_count) \(.restart_count)\"'"
b rm of2 >/dev/null

b run -d --name of0 --restart on-failure "$SH" sh -c 'exit 0' >/dev/null
sleep 1
expect_out "on-failure does not restart a clean exit" "stopped 0" \
	bash -c "b --format json ps -a | jq -r '.[] | select(.id == \"of0\") | \"\(.status) \(.restart_count)\"'"
b rm of0 >/dev/null

b run -d --name al1 --restart always "$SH" sh -c 'exit 0' >/dev/null
if wait_for 10 restarts_at_least al1 3; then
	it_ok "always restarts a clean exit, again and again"
else
	it_not_ok "always restarts a clean exit" "$(b ps -a | grep al1)"
fi
if wait_for 10 is_status al1 restarting; then
	it_ok "ps shows a container waiting for its restart as restarting"
else
	it_not_ok "ps shows restarting" "$(b ps -a | grep al1)"
fi
expect_out "ps (without -a) lists a restarting container" 1 \
	bash -c "b ps | grep -c '^al1 '"
b stop -t 1 al1 >/dev/null
n1=$(ps_field al1 restart_count)
sleep 2
n2=$(ps_field al1 restart_count)
if [ "$n1" = "$n2" ] && [ "$(status_of al1)" = stopped ]; then
	it_ok "stop ends the restarts"
else
	it_not_ok "stop ends the restarts" "count $n1 then $n2, status $(status_of al1)"
fi
b rm -f al1 >/dev/null

# A crash: the container's process killed from outside.
b run -d --name cr1 --restart on-failure "$SH" sleep 1000 >/dev/null
wait_for 10 is_status cr1 running
cpid=$(ps_field cr1 pid)
kill -9 "$cpid"
if wait_for 10 bash -c "[ \"\$(b --format json ps -a | jq -r '.[] | select(.id == \"cr1\") | \"\(.status) \(.restart_count)\"')\" = 'running 1' ]" &&
	[ "$(ps_field cr1 pid)" != "$cpid" ]; then
	it_ok "a crashed container is restarted (on-failure)"
else
	it_not_ok "a crashed container is restarted (on-failure)" "$(b ps -a | grep cr1)"
fi
b rm -f cr1 >/dev/null

# Across a taskd restart: always runs again, a stopped unless-stopped stays stopped.
b run -d --name al2 --restart always "$SH" sleep 1000 >/dev/null
b run -d --name us1 --restart unless-stopped "$SH" sleep 1000 >/dev/null
b run -d --name us2 --restart unless-stopped "$SH" sleep 1000 >/dev/null
wait_for 10 is_status al2 running && wait_for 10 is_status us1 running && wait_for 10 is_status us2 running
b stop -t 1 al2 us1 >/dev/null
taskd_restart
wait_for 10 is_status al2 running
expect_out "after a taskd restart: always runs again, stopped unless-stopped does not, running one runs" \
	"running stopped running" bash -c 'echo $(for c in al2 us1 us2; do b --format json ps -a | jq -r --arg c $c ".[] | select(.id == \$c) | .status"; done)'
b rm -f al2 us1 us2 >/dev/null

# As after a host reboot: the shim, the container, the bundle and the runtime's state are gone
# while taskd is down; an always container runs again when taskd starts.
b run -d --name al3 --restart always "$SH" sleep 1000 >/dev/null
wait_for 10 is_status al3 running
cpid=$(ps_field al3 pid)
spid=$(shim_pid al3)
daemon_kill9 taskd
kill -9 "$spid" "$cpid" 2>/dev/null
wait_for 5 bash -c "! kill -0 $cpid 2>/dev/null"
umount "$T/state/taskd/bundles/default/al3/rootfs" 2>/dev/null
rm -rf "$T/state/taskd/bundles/default/al3" "$T/state/taskd/runtime/runc/default/al3"
daemon_start taskd
wait_healthy 20
if wait_for 10 is_status al3 running && [ "$(ps_field al3 pid)" != "$cpid" ]; then
	it_ok "after a simulated reboot an always container runs again ($(ps_field al3 restart_count) restart)"
else
	it_not_ok "after a simulated reboot an always container runs again" "$(b ps -a | grep al3)"
fi
b rm -f al3 >/dev/null

# --- --rm ------------------------------------------------------------------------------------
expect_exit "run --rm ends with the container's code" 3 b run --rm --name rm1 "$SH" sh -c 'echo out; exit 3'
check "run --rm printed the output" grep -qx out "$T/stdout"
check "run --rm removed the container" nothing_left rm1

expect_out "run --rm -d prints the id" rm2 b run --rm -d --name rm2 "$SH" sh -c 'sleep 2; exit 4'
daemon_kill9 taskd
sleep 3
daemon_start taskd
wait_healthy 20
if wait_for 20 is_gone rm2; then
	it_ok "--rm -d removes the container after a taskd outage across its exit"
else
	it_not_ok "--rm -d removes the container after a taskd outage" "$(b ps -a | grep rm2)"
fi
check "nothing is left of rm2" nothing_left rm2
expect_out "the event log keeps rm2's exit" 4 \
	bash -c "exit_events | jq -r 'select(.payload.container_id == \"rm2\") | .payload.exit_status' | tail -n 1"

# --- daemons killed during berth run ---------------------------------------------------------
# chaos POINT DAEMON DELAY I: run --rm in the background, kill DAEMON -9 after DELAY seconds,
# start it again; run must end with 7 (or a clear error, 125) and leave nothing behind.
chaos() {
	local point=$1 d=$2 delay=$3 i=$4 name="ch-$1-$2-$4" rc
	timeout 120 "$BUILD/berth" --address "$T/state/berth.sock" run --rm --name "$name" "$SH" \
		sh -c 'sleep 2; echo bye; exit 7' >"$T/chaos.out" 2>"$T/chaos.err" &
	local run=$!
	sleep "$delay"
	daemon_kill9 "$d"
	sleep 0.5
	daemon_start "$d"
	wait "$run"
	rc=$?
	wait_healthy 20 >/dev/null
	if [ $rc -eq 7 ] && grep -qx bye "$T/chaos.out"; then
		:
	elif [ $rc -eq 7 ] || { [ $rc -eq 125 ] && [ -s "$T/chaos.err" ]; }; then
		it_log "$name: exit $rc: $(tail -n 1 "$T/chaos.err")"
	else
		it_not_ok "run with $d killed $point ($i) ends with the container's code" \
			"exit $rc: $(tail -n 2 "$T/chaos.err")"
		return
	fi
	if wait_for 20 is_gone "$name" && nothing_left "$name" >"$T/left" 2>&1; then
		it_ok "run with $d killed $point ($i): exit $rc, nothing left"
	else
		it_not_ok "run with $d killed $point ($i): nothing left" "$(cat "$T/left")"
	fi
}
for i in $(seq "$ITERATIONS"); do
	for d in gatewayd taskd; do
		chaos create "$d" "0.0$((RANDOM % 9 + 1))" "$i"
		chaos start "$d" "0.$((RANDOM % 3 + 3))" "$i"
		chaos following "$d" "1.$((RANDOM % 5))" "$i"
	done
done

it_log "requests answered again under their request ids: $(cat "$T"/logs/taskd.log | grep -c TASK-REPLAY)"
it_summary
