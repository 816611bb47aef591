#!/usr/bin/env bash
# The lifecycle verbs with docker's meaning, end to end through the real CLI with real runc:
# create then start (-a follows the output and exits with the container's code), stop (the
# stop signal, the image's StopSignal, SIGKILL after -t), kill -s by name and number, wait's
# exit codes, restart, pause and unpause (a counter stops, then goes on; their events),
# inspect, and ps --filter. Timing bounds are generous, for a loaded machine.
#
# Usage: test/integration/test_verbs.sh [BUILD]   (as root; BUILD also from BERTH_BUILD)
BUILD=${1:-${BERTH_BUILD:-build}}
source "$(dirname "$0")/lib.sh"

it_setup
registry_start || { it_not_ok "registry starts"; it_summary; exit 1; }
push_image sh test/sh:v1
push_image stopsig test/stopsig:v1
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
SH=$REGISTRY/test/sh:v1
STOPSIG=$REGISTRY/test/stopsig:v1
b images pull "$SH" >/dev/null && b images pull "$STOPSIG" >/dev/null ||
	{ it_not_ok "pull the test images"; it_summary; exit 1; }
it_ok "the suite runs and holds the test images"

# status_of ID: the container's status as ps --format json says.
status_of() { b --format json ps -a | jq -r --arg id "$1" '.[] | select(.id == $id) | .status'; }
pid_of() { b --format json ps -a | jq -r --arg id "$1" '.[] | select(.id == $id) | .pid'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# wait_status ID STATUS: up to 20 s for the container to reach STATUS.
wait_status() {
	local i
	for i in $(seq 100); do
		[ "$(status_of "$1")" = "$2" ] && return 0
		sleep 0.2
	done
	return 1
}

# --- create, start ---------------------------------------------------------------------------
expect_out "create prints the container's id" c1 \
	b create --name c1 "$SH" sh -c 'echo hello from c1; exit 3'
check "a created container is \"created\"" test "$(status_of c1)" = created
expect_exit "start -a exits with the container's code" 3 b start -a c1
check "start -a printed the container's output" test "$(cat "$T/stdout")" = "hello from c1"
expect_exit "start -a of an exited container starts it again" 3 b start -a c1
check "... and prints only the new run's output" test "$(cat "$T/stdout")" = "hello from c1"
expect_out "start prints the id" c1 b start c1
expect_exit "wait exits with the container's code" 3 b wait c1
check "wait prints the exit code" test "$(cat "$T/stdout")" = 3
expect_exit "create refuses an existing name" 125 b create --name c1 "$SH" true
expect_exit "create of an unknown image fails" 125 b create "$REGISTRY/test/nope:v1" true
expect_exit "start of an unknown container is NOT_FOUND" 3 b start nope
expect_contains "the error names the container" "$T/stderr" "nope"
expect_exit "start -a takes one container" 2 b start -a c1 c1
id=$(b create "$SH" true)
check "create without --name prints a generated id" test -n "$id"
expect_out "start of several containers prints each" "$(printf 'c1\n%s' "$id")" b start c1 "$id"

# --- stop --------------------------------------------------------------------------------
b run -d --name trap "$SH" sh -c 'trap "echo got-term; exit 7" TERM; while true; do sleep 0.1; done' >/dev/null
t0=$(now_ms)
expect_out "stop prints the id" trap b stop trap
t1=$(now_ms)
check "a container that handles SIGTERM stops well before the timeout ($((t1 - t0)) ms)" \
	test $((t1 - t0)) -lt 8000
expect_exit "it exited by its SIGTERM handler" 7 b wait trap
check "... wait printed 7" test "$(cat "$T/stdout")" = 7
check "stop answered once the exit was recorded" test "$(status_of trap)" = stopped
expect_out "stop of a stopped container is no error" trap b stop trap

b run -d --name deaf "$SH" sh -c 'trap "" TERM; while true; do sleep 0.1; done' >/dev/null
t0=$(now_ms)
expect_out "stop -t 1 of a container that ignores SIGTERM" deaf b stop -t 1 deaf
t1=$(now_ms)
check "it took the timeout, then SIGKILL ($((t1 - t0)) ms)" \
	test $((t1 - t0)) -ge 1000 -a $((t1 - t0)) -lt 20000
expect_exit "... and exited by SIGKILL (137)" 137 b wait deaf

b run -d --name usr1 "$STOPSIG" sh -c 'trap "exit 5" USR1; trap "exit 6" TERM; while true; do sleep 0.1; done' >/dev/null
t0=$(now_ms)
expect_out "stop of an image with StopSignal SIGUSR1" usr1 b stop -t 30 usr1
t1=$(now_ms)
check "it got SIGUSR1, not SIGTERM, and stopped at once ($((t1 - t0)) ms)" \
	test "$(b wait usr1)" = 5 -a $((t1 - t0)) -lt 15000
expect_exit "stop of an unknown container is NOT_FOUND" 3 b stop nope
expect_contains "the error names the container" "$T/stderr" "stop nope"
expect_exit "stop -t rejects a non-number" 2 b stop -t soon trap

# --- kill, wait ----------------------------------------------------------------------------
b run -d --name k "$SH" sh -c 'trap "exit 11" HUP; trap "exit 12" USR2; while true; do sleep 0.1; done' >/dev/null
expect_out "kill -s HUP prints the id" k b kill -s HUP k
expect_exit "the container got SIGHUP" 11 b wait k
check "... wait printed 11" test "$(cat "$T/stdout")" = 11
b start k >/dev/null
expect_out "kill -s by number (12: SIGUSR2)" k b kill -s 12 k
expect_exit "the container got SIGUSR2" 12 b wait k
check "... wait printed 12" test "$(cat "$T/stdout")" = 12
b start k >/dev/null
expect_out "kill -s SIGKILL" k b kill --signal SIGKILL k
expect_exit "killed by SIGKILL: 137" 137 b wait k
expect_exit "kill -s BOGUS is a usage error" 2 b kill -s BOGUS k
expect_exit "kill of a stopped container is FAILED_PRECONDITION" 5 b kill k
expect_contains "the error names the container" "$T/stderr" "kill k"
expect_exit "wait of several containers exits with the last one's code" 137 b wait trap k
check "... and prints each one's code" test "$(tr '\n' ' ' <"$T/stdout")" = "7 137 "
expect_exit "wait of an unknown container is NOT_FOUND" 3 b wait nope

# --- restart -------------------------------------------------------------------------------
b run -d --name r "$SH" sh -c 'while true; do sleep 0.1; done' >/dev/null
pid1=$(pid_of r)
expect_out "restart -t 1 prints the id" r b restart -t 1 r
check "the container runs again, with a new init" \
	test "$(status_of r)" = running -a "$(pid_of r)" != "$pid1"
expect_out "restart of an exited container starts it" trap b restart trap
check "... it runs" test "$(status_of trap)" = running

# --- pause, unpause ------------------------------------------------------------------------
b run -d --name cnt "$SH" sh -c 'trap "exit 9" TERM; i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done' >/dev/null
last_count() { b logs cnt | tail -n 1; }
sleep 1
expect_out "pause prints the id" cnt b pause cnt
check "a paused container is \"paused\" in ps" test "$(status_of cnt)" = paused
check "ps without -a lists a paused container" test "$(b ps -q | grep -x cnt)" = cnt
n1=$(last_count)
sleep 1.5
n2=$(last_count)
check "the counter does not advance while paused ($n1, $n2)" test "$n1" = "$n2" -a -n "$n1"
expect_exit "pause of a paused container is FAILED_PRECONDITION" 5 b pause cnt
expect_contains "the error names the container" "$T/stderr" 'container "cnt" is already paused'
expect_out "unpause prints the id" cnt b unpause cnt
sleep 1.5
n3=$(last_count)
check "the counter advances again after unpause ($n2, $n3)" test "$n3" -gt "$n2"
check "an unpaused container is \"running\"" test "$(status_of cnt)" = running
expect_exit "unpause of a running container is FAILED_PRECONDITION" 5 b unpause cnt
expect_exit "pause of an exited container is FAILED_PRECONDITION" 5 b pause c1
expect_exit "pause of an unknown container is NOT_FOUND" 3 b pause nope
events=$(b --format json events --since 0 --until "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" \
	--filter topic=/tasks/ | jq -r 'select(.payload.container_id == "cnt") | .topic' | tr '\n' ' ')
check "pause and unpause emit /tasks/paused and /tasks/resumed ($events)" \
	test "$events" = "/tasks/create /tasks/start /tasks/paused /tasks/resumed "
b pause cnt >/dev/null
expect_out "stop of a paused container" cnt b stop -t 20 cnt
expect_exit "... thaws it first, so its SIGTERM handler runs" 9 b wait cnt

# --- inspect -------------------------------------------------------------------------------
expect_exit "inspect of a running and a created container" 0 b inspect r c1
cp "$T/stdout" "$T/inspect.json"
check "inspect prints a JSON array of both" jq -e 'length == 2 and .[0].id == "r" and .[1].id == "c1"' "$T/inspect.json"
check "inspect: the record (image, command, labels)" \
	jq -e --arg sh "$SH" '.[0].image == $sh and .[0].command == ["sh","-c","while true; do sleep 0.1; done"] and .[0].labels == {}' "$T/inspect.json"
check "inspect: the state of a running container" \
	jq -e --arg pid "$(pid_of r)" '.[0].state | .status == "running" and .running and (.paused | not) and (.pid | tostring) == $pid and .started_at > 1700000000000 and .finished_at == 0' "$T/inspect.json"
check "inspect: the state of an exited container" \
	jq -e '.[1].state | .status == "stopped" and (.running | not) and .exit_code == 3 and .finished_at >= .started_at and .started_at > 0' "$T/inspect.json"
check "inspect: the spec taskd wrote" \
	jq -e '.[0].spec.ociVersion and .[0].spec.process.args == .[0].command and .[0].spec.root.path == "rootfs"' "$T/inspect.json"
check "inspect: mounts (the snapshot as /, then the spec's)" \
	jq -e '.[0].mounts[0].destination == "/" and .[0].mounts[0].type == "snapshot" and ([.[0].mounts[].destination] | index("/proc"))' "$T/inspect.json"
check "inspect: network (mode, hostname, namespace)" \
	jq -e '.[0].network.mode != null and .[0].network.hostname == "r" and .[0].network.netns != null' "$T/inspect.json"
expect_exit "inspect of an unknown container is NOT_FOUND" 3 b inspect r nope
check "... printing the ones found" jq -e 'length == 1' "$T/stdout"
expect_contains "... and naming the one not found" "$T/stderr" "inspect nope"

# --- ps --filter ---------------------------------------------------------------------------
b create --name lab1 --label tier=web --label solo "$SH" true >/dev/null
b create --name lab2 -l tier=db "$SH" true >/dev/null
ps_ids() { b --format json ps "$@" | jq -r '.[].id' | sort | tr '\n' ' '; }
check "ps --filter status=created (without -a)" test "$(ps_ids --filter status=created)" = "lab1 lab2 "
check "ps --filter status=exited lists the exited ones" \
	test "$(ps_ids --filter status=exited)" = "$(printf '%s\n' c1 cnt deaf "$id" k usr1 | sort | tr '\n' ' ')"
check "ps --filter status=running" test "$(ps_ids --filter status=running)" = "r trap "
check "ps --filter name=SUBSTR" test "$(ps_ids -a --filter name=lab)" = "lab1 lab2 "
check "ps --filter label=K=V" test "$(ps_ids -a --filter label=tier=web)" = "lab1 "
check "ps --filter label=K" test "$(ps_ids -a --filter label=tier)" = "lab1 lab2 "
check "ps: one key's values are alternatives" \
	test "$(ps_ids --filter status=created --filter status=running)" = "lab1 lab2 r trap "
check "ps: different keys must all match" \
	test "$(ps_ids -a --filter name=lab,label=solo)" = "lab1 "
expect_exit "ps --filter with an unknown key is a usage error" 2 b ps --filter color=red
expect_exit "ps --filter status=BOGUS is a usage error" 2 b ps --filter status=bogus
check "ps -q --filter" test "$(b ps -q -a --filter name=lab2)" = lab2
expect_exit "ps --format json after the command" 0 b ps -a --format json --filter name=lab1
check "... prints JSON with the labels" jq -e '.[0].id == "lab1" and .[0].labels == {"tier": "web", "solo": ""}' "$T/stdout"

# --- clean up ------------------------------------------------------------------------------
expect_exit "rm -f removes them all" 0 b rm -f c1 "$id" trap deaf usr1 k r cnt lab1 lab2
check "no container is left" test "$(b --format json ps -a | jq length)" = 0

suite_stop
leftover=$(mounts_under_t)
check "no mounts left" test -z "$leftover"
leftover=$(procs_under_t | grep -vx "$IT_REGISTRY_PID")
check "no processes left" test -z "$leftover"
it_summary
