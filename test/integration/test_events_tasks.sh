#!/usr/bin/env bash
# The events of containers, tasks and networks, as a user reads them with `berth events`:
# every way the CLI runs a container (run --rm, a failing exit code, run -d then rm -f, a
# command that cannot start, an image that does not exist) produces its events once, in the
# documented order, with the documented payload; and /tasks/exit comes exactly once with the
# right status when the container exits while taskd, or gatewayd and then taskd, are down
# (killed with -9), however often taskd restarts afterwards.
#
# Order is checked per source: taskd's /containers/ and /tasks/ events of one container come
# in the order of their changes; netd's /networks/ events are a source of their own.
#
# Usage: test/integration/test_events_tasks.sh [BUILD]   (as root; BUILD also from BERTH_BUILD)
BUILD=${1:-${BERTH_BUILD:-build}}
source "$(dirname "$0")/lib.sh"

it_setup
registry_start || { it_not_ok "registry starts"; it_summary; exit 1; }
push_image sh test/sh:v1
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
SH=$REGISTRY/test/sh:v1
b images pull "$SH" >/dev/null || { it_not_ok "pull $SH"; it_summary; exit 1; }
it_ok "the suite runs and holds $SH"

# --- reading the log -------------------------------------------------------------------------

# All events of containers, tasks and networks so far, one JSON object a line.
all_events() {
	b --format json events --since 0 --until "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" \
		--filter topic=/containers/ --filter topic=/tasks/ --filter topic=/networks/
}

# The events of container ID (its id or container_id in the payload).
events_of() { # ID
	all_events | jq -c --arg id "$1" 'select((.payload.id // .payload.container_id) == $id)'
}

# taskd's topics of container ID in the log's order, on one line.
task_topics() { # ID
	events_of "$1" | jq -r 'select(.topic | startswith("/networks/") | not) | .topic' |
		tr '\n' ' ' | sed 's/ $//'
}

# How many events of TOPIC container ID has.
count_of() { # TOPIC ID
	events_of "$2" | jq -r --arg t "$1" 'select(.topic == $t) | .topic' | wc -l
}

# The payload of the first event of TOPIC of container ID, as JSON.
payload_of() { # TOPIC ID
	events_of "$2" | jq -c --arg t "$1" 'select(.topic == $t) | .payload' | head -n 1
}

# "COUNT STATUS": how many /tasks/exit container ID has, and the exit_status of the first.
exit_of() { # ID
	echo "$(count_of /tasks/exit "$1") $(payload_of /tasks/exit "$1" | jq -r .exit_status)"
}

# Wait (20 s at most) until container ID has an event of TOPIC: outboxes deliver after commit.
wait_event() { # TOPIC ID
	for _ in $(seq 100); do
		[ "$(count_of "$1" "$2")" -ge 1 ] && return 0
		sleep 0.2
	done
	return 1
}

FULL="/containers/create /tasks/create /tasks/start /tasks/exit /tasks/delete /containers/delete"

# expect_topics NAME ID WANT: once ID's last event is there, its topics are exactly WANT.
expect_topics() {
	local last=${3##* }
	wait_event "$last" "$2"
	expect_out "$1" "$3" task_topics "$2"
}

# --- run --rm --------------------------------------------------------------------------------

expect_exit "run --rm exits 0" 0 b run --rm --name r1 "$SH" true
expect_topics "run --rm: create, task create, start, exit, task delete, delete, once each" \
	r1 "$FULL"
p=$(payload_of /containers/create r1)
if echo "$p" | jq -e '.id == "r1" and .runtime == "runc" and .net == "none"
	and (.image | length > 0) and (.snapshot_key | length > 0)' >/dev/null; then
	it_ok "/containers/create carries id, image, runtime, net and snapshot_key"
else
	it_not_ok "/containers/create payload" "$p"
fi
p=$(payload_of /tasks/create r1)
if echo "$p" | jq -e '.container_id == "r1" and .pid > 0 and (.bundle | endswith("/r1"))' \
	>/dev/null; then
	it_ok "/tasks/create carries container_id, bundle and pid"
else
	it_not_ok "/tasks/create payload" "$p"
fi
pid=$(echo "$p" | jq -r .pid)
expect_out "/tasks/start carries the same pid" "$pid" \
	jq -r .pid <<<"$(payload_of /tasks/start r1)"
p=$(payload_of /tasks/exit r1)
if echo "$p" | jq -e --argjson pid "$pid" '.container_id == "r1" and .id == "r1" and
	.pid == $pid and .exit_status == 0 and .exited_at > 1000000000000000000' >/dev/null; then
	it_ok "/tasks/exit carries container_id, id, pid, exit_status and exited_at (ns)"
else
	it_not_ok "/tasks/exit payload" "$p"
fi
ex=$(echo "$p" | jq -r .exited_at)
p=$(payload_of /tasks/delete r1)
if echo "$p" | jq -e --argjson at "$ex" '.exit_status == 0 and .exited_at == $at' >/dev/null; then
	it_ok "/tasks/delete carries the exit of the task it removed"
else
	it_not_ok "/tasks/delete payload" "$p"
fi
expect_out "/containers/delete names the container" '{"id":"r1"}' payload_of /containers/delete r1
wait_event /networks/disconnect r1
expect_out "netd: /networks/connect and /networks/disconnect, once each" "1 1" \
	echo "$(count_of /networks/connect r1)" "$(count_of /networks/disconnect r1)"
p=$(payload_of /networks/connect r1)
if echo "$p" | jq -e '.container_id == "r1" and .network == "none" and
	(.netns_path | length > 0)' >/dev/null; then
	it_ok "/networks/connect carries container_id, network and netns_path"
else
	it_not_ok "/networks/connect payload" "$p"
fi

# --- a failing exit code, removed later --------------------------------------------------------

expect_exit "run exits with the container's code" 7 b run --name r2 "$SH" sh -c 'exit 7'
expect_topics "an exited container: create, task create, start, exit" r2 \
	"/containers/create /tasks/create /tasks/start /tasks/exit"
expect_out "/tasks/exit carries the exit code, once" "1 7" exit_of r2
expect_exit "rm removes it" 0 b rm r2
expect_topics "rm: task delete, then delete" r2 "$FULL"

# --- run -d, then rm -f ------------------------------------------------------------------------

expect_exit "run -d starts a container" 0 b run -d --name r3 "$SH" sleep 1000
wait_event /tasks/start r3
expect_exit "rm -f kills and removes it" 0 b rm -f r3
expect_topics "rm -f: the exit it caused comes before task delete and delete" r3 "$FULL"
expect_out "the killed task exits 137, once" "1 137" exit_of r3

# --- failures ----------------------------------------------------------------------------------

expect_exit "a command that cannot start exits 127" 127 b run --rm --name r4 "$SH" /nonexistent
expect_topics "a task that never started emits no task events" r4 \
	"/containers/create /containers/delete"
expect_exit "an unknown image exits 125" 125 b run --rm --name r5 "$REGISTRY/test/absent:v1" true
sleep 0.5
expect_out "a container that could not be created emits nothing" "" task_topics r5

# --- exits while taskd is down -----------------------------------------------------------------

# k1 exits on its own while taskd is down; k2 is killed while taskd is down.
expect_exit "run -d k1 (exits with 3 in 2 s)" 0 b run -d --name k1 "$SH" sh -c 'sleep 2; exit 3'
expect_exit "run -d k2" 0 b run -d --name k2 "$SH" sleep 1000
wait_event /tasks/start k1
wait_event /tasks/start k2
k2pid=$(b --format json ps | jq -r '.[] | select(.id == "k2") | .pid')
daemon_kill9 taskd
kill -9 "$k2pid"
sleep 3
daemon_start taskd
wait_healthy 20
wait_event /tasks/exit k1
wait_event /tasks/exit k2
expect_out "an exit while taskd was down: one /tasks/exit with the code (3)" "1 3" exit_of k1
expect_out "a kill while taskd was down: one /tasks/exit with 137" "1 137" exit_of k2

# g1 exits while gatewayd is down (taskd commits the exit, its outbox keeps it), then taskd is
# killed too before it could deliver; both come back.
expect_exit "run -d g1 (exits with 4 in 2 s)" 0 b run -d --name g1 "$SH" sh -c 'sleep 2; exit 4'
wait_event /tasks/start g1
daemon_kill9 gatewayd
sleep 3.5
daemon_kill9 taskd
daemon_start gatewayd
daemon_start taskd
wait_healthy 20
wait_event /tasks/exit g1
expect_out "an exit committed while the log was down: delivered once, with its code (4)" \
	"1 4" exit_of g1

# More restarts, by -9 and cleanly: nothing is emitted again.
daemon_kill9 taskd
daemon_start taskd
wait_healthy 20
kill -TERM "${IT_PIDS[taskd]}"
wait "${IT_PIDS[taskd]}" 2>/dev/null
unset "IT_PIDS[taskd]"
daemon_start taskd
wait_healthy 20
sleep 1
expect_out "after more restarts, still one /tasks/exit each" "1 3 1 137 1 4" \
	echo "$(exit_of k1)" "$(exit_of k2)" "$(exit_of g1)"
expect_exit "rm the exited containers" 0 b rm k1 k2 g1
for id in k1 k2 g1; do
	expect_topics "$id: every event once, in order" "$id" "$FULL"
done

it_summary
