#!/usr/bin/env bash
# Watching containers, end to end through the real CLI with real runc: top (ps -ef's columns
# read from /proc, and the host's ps with options, limited to the container's processes),
# stats --no-stream and --format json (memory > 0, pids >= 1, a container that fills memory
# shows more; the stream prints a block a second), rename (ps shows the new name, the old one
# no longer finds the container, start/stop/logs/rm by the new name, a taken name refused,
# /containers/update), inspect's name, state and network, and a second runtime: a crun
# container where crun works, otherwise the error crun gives on this host's hybrid cgroups,
# both per container (--runtime) and as taskd's configured default.
#
# Usage: test/integration/test_observe.sh [BUILD]   (as root; BUILD also from BERTH_BUILD)
BUILD=${1:-${BERTH_BUILD:-build}}
source "$(dirname "$0")/lib.sh"

# crun keeps its state where taskd tells it; lib.sh's sweep knows runc's only.
it_cleanup_extra() {
	local r id
	for r in "$T"/state/taskd/runtime/crun/*; do
		[ -d "$r" ] || continue
		for id in $(crun --root "$r" list -q 2>/dev/null); do
			crun --root "$r" delete -f "$id" >/dev/null 2>&1
		done
	done
}

it_setup
registry_start || { it_not_ok "registry starts"; it_summary; exit 1; }
push_image sh test/sh:v1
suite_start || { it_not_ok "suite starts"; it_summary; exit 1; }
SH=$REGISTRY/test/sh:v1
b images pull "$SH" >/dev/null || { it_not_ok "pull the test image"; it_summary; exit 1; }
it_ok "the suite runs and holds the test image"

ps_json() { b --format json ps -a; }
pid_of() { ps_json | jq -r --arg n "$1" '.[] | select(.name == $n) | .pid'; }
stats_json() { b stats --no-stream --format json "$@"; }
# ps_shows_name NAME: ps's last column is NAMES and a row's is NAME
ps_shows_name() {
	b ps >"$T/ps.out" && head -n 1 "$T/ps.out" | grep -q 'NAMES$' &&
		awk -v n="$1" 'NR > 1 && $NF == n { f = 1 } END { exit !f }' "$T/ps.out"
}
# named NAME JQ: the containers named NAME (ps -a --format json, an array) satisfy JQ
named() { b --format json ps -a | jq -e --arg n "$1" "[.[] | select(.name == \$n)] | $2" >/dev/null; }
# inspect_is REF JQ [ARGS...]: berth inspect REF satisfies JQ
inspect_is() {
	local ref=$1 filter=$2
	shift 2
	b inspect "$ref" | jq -e "$@" "$filter" >/dev/null
}

# --- top -----------------------------------------------------------------------------------
b run -d --name web "$SH" sh -c 'sleep 1000 & while true; do sleep 0.2; done' >/dev/null
init=$(pid_of web)
expect_exit "top of a running container" 0 b top web
check "top's header is docker's default (ps -ef)" \
	test "$(head -n 1 "$T/stdout" | tr -s ' ')" = "UID PID PPID C STIME TTY TIME CMD"
check "top lists the container's init by its host pid ($init)" \
	awk -v p="$init" 'NR > 1 && $2 == p { f = 1 } END { exit !f }' "$T/stdout"
check "top lists the background sleep with its command line, a child of the init" \
	awk -v p="$init" 'NR > 1 && $3 == p && /sleep 1000$/ { f = 1 } END { exit !f }' "$T/stdout"
check "top shows no process of the host (this shell, pid $$)" \
	awk -v p="$$" 'NR > 1 && $2 == p { f = 1 } END { exit f }' "$T/stdout"
check "every process top shows is root's, with a TIME and no terminal" \
	awk 'NR > 1 && ($1 != "root" || $6 != "?" || $7 !~ /^[0-9][0-9]:[0-9][0-9]:[0-9][0-9]$/) { bad = 1 } END { exit bad }' "$T/stdout"
expect_exit "top --format json" 0 b --format json top web
check "... titles and processes as docker's API" \
	jq -e '.titles == ["UID","PID","PPID","C","STIME","TTY","TIME","CMD"] and (.processes | length >= 2) and ([.processes[][7]] | index("sleep 1000"))' "$T/stdout"
expect_exit "top with ps options (-o pid,args)" 0 b top web -o pid,args
check "... prints ps's columns" test "$(head -n 1 "$T/stdout" | tr -s ' ' | sed 's/^ //')" = "PID COMMAND"
check "... and only the container's processes" \
	awk -v p="$init" 'NR > 1 { n++; if ($1 == p) f = 1 } END { exit !(f && n >= 2 && n < 10) }' "$T/stdout"
expect_exit "top with ps options that print no PID is INVALID_ARGUMENT" 2 b top web -o comm
expect_contains "... saying so" "$T/stderr" "no PID column"
expect_exit "top with options ps refuses is INVALID_ARGUMENT" 2 b top web --no-such-option
expect_contains "... with ps's own error" "$T/stderr" "ps --no-such-option"
b create --name idle "$SH" true >/dev/null
expect_exit "top of a container that is not running is FAILED_PRECONDITION" 5 b top idle
expect_exit "top of an unknown container is NOT_FOUND" 3 b top nope
expect_contains "... naming it" "$T/stderr" '"nope"'

# --- stats ---------------------------------------------------------------------------------
expect_exit "stats --no-stream of a container" 0 b stats --no-stream web
check "... a table with docker's columns" \
	test "$(head -n 1 "$T/stdout" | tr -s ' ')" = "CONTAINER ID NAME CPU % MEM USAGE / LIMIT MEM % NET I/O BLOCK I/O PIDS"
check "... and a row for web" awk 'NR == 2 && $1 == "web" && $2 == "web" { f = 1 } END { exit !f }' "$T/stdout"
expect_exit "stats --no-stream --format json" 0 stats_json web
cp "$T/stdout" "$T/web.json"
check "memory > 0, pids >= 1, a limit, a CPU % ($(jq -c '.[0] | {memory_usage, memory_limit, pids, cpu_percent, cgroup}' "$T/web.json"))" \
	jq -e 'length == 1 and (.[0] | .name == "web" and .running and .memory_usage > 0 and .memory_limit >= .memory_usage and .pids >= 1 and .cpu_percent >= 0 and .memory_percent >= 0 and (.cgroup == 1 or .cgroup == 2))' "$T/web.json"
check "pids counts the init, the sleep and the loop's sleeps (>= 2)" jq -e '.[0].pids >= 2' "$T/web.json"
check "the network: its own namespace, counters present" jq -e '.[0] | .network and .net_rx >= 0 and .net_tx >= 0' "$T/web.json"
b run -d --name hostnet --net host "$SH" sleep 1000 >/dev/null
stats_json hostnet >"$T/hostnet.json"
check "a container on the host's network has no network of its own to count" \
	jq -e '.[0] | .running and (.network | not) and .net_rx == 0' "$T/hostnet.json"
b rm -f hostnet >/dev/null
web_mem=$(jq '.[0].memory_usage' "$T/web.json")

# hog writes 48 MiB into its /dev/shm (a tmpfs charged to its memory cgroup)
b run -d --name hog "$SH" sh -c 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=48 2>/dev/null; echo filled; sleep 1000' >/dev/null
for _ in $(seq 100); do b logs hog 2>/dev/null | grep -q filled && break; sleep 0.2; done
stats_json hog >"$T/hog.json"
hog_mem=$(jq '.[0].memory_usage' "$T/hog.json")
check "a container that filled 48 MiB uses more memory ($hog_mem) than one that did not ($web_mem)" \
	test "$hog_mem" -gt $((web_mem + 40 * 1024 * 1024))
b run -d --name spin "$SH" sh -c 'while :; do :; done' >/dev/null
stats_json spin >"$T/spin.json"
check "a busy loop shows CPU use ($(jq '.[0].cpu_percent' "$T/spin.json")%)" jq -e '.[0].cpu_percent > 20' "$T/spin.json"
b kill spin >/dev/null

expect_exit "stats without a container reads every running one" 0 stats_json
check "... web and hog, not the created or killed ones" \
	jq -e '[.[].name] | sort == ["hog","web"]' "$T/stdout"
expect_exit "stats -a also reads the created and stopped ones" 0 stats_json -a
check "... with zeros" jq -e '[.[] | select(.running | not) | .name] | sort == ["idle","spin"]' "$T/stdout"
expect_exit "stats of a container that is not running" 0 stats_json idle
check "... shows it with zeros" jq -e '.[0] | .name == "idle" and (.running | not) and .memory_usage == 0 and .pids == 0' "$T/stdout"
expect_exit "stats of an unknown container is NOT_FOUND" 3 b stats --no-stream nope
expect_contains "... naming it" "$T/stderr" '"nope"'
timeout 3.6 "$BUILD/berth" --address "$T/state/berth.sock" stats web >"$T/stream.out" 2>&1
check "stats without --no-stream prints a new block every second ($(grep -c '^CONTAINER ID' "$T/stream.out") in 3.6 s)" \
	test "$(grep -c '^CONTAINER ID' "$T/stream.out")" -ge 2
expect_exit "stats: an unknown option is a usage error" 2 b stats --bogus

# --- rename --------------------------------------------------------------------------------
b run -d --name r1 "$SH" sh -c 'echo hello-from-r1; while true; do sleep 0.2; done' >/dev/null
expect_exit "rename of a running container" 0 b rename r1 r2
check "ps shows the new name in NAMES" ps_shows_name r2
check "ps --format json: the name changed, the id stayed" \
	named r2 'length == 1 and .[0].id == "r1" and .[0].status == "running"'
check "no container is named r1 any more" named r1 'length == 0'
expect_exit "the old name is not found" 3 b inspect r1
expect_exit "... nor stopped by" 3 b stop r1
expect_out "logs by the new name" hello-from-r1 b logs r2
expect_out "stop by the new name" r2 b stop -t 1 r2
expect_out "start by the new name" r2 b start r2
expect_exit "a taken name is refused with ALREADY_EXISTS" 4 b rename r2 web
expect_contains "... naming it" "$T/stderr" '"web"'
expect_exit "renaming to the same name is INVALID_ARGUMENT" 2 b rename r2 r2
expect_exit "a name of the wrong shape is a usage error" 2 b rename r2 'bad/name'
expect_exit "rename of an unknown container is NOT_FOUND" 3 b rename nope x
events=$(b --format json events --since 0 --until "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" \
	--filter topic=/containers/update | jq -r 'select(.payload.id == "r1") | .payload.name' | tr '\n' ' ')
check "rename emits /containers/update with the new name ($events)" test "$events" = "r2 "
id=$(b create --name r1 "$SH" true)
check "the freed name can be taken again; its id is generated, r1 being an id ($id)" \
	test -n "$id" -a "$id" != r1
check "... and r1 now means the new container" \
	inspect_is r1 '.[0].id == $id and .[0].name == "r1"' --arg id "$id"
expect_exit "a unique prefix of an id finds the container" 0 b inspect "${id:0:10}"
check "... the one with that id" jq -e --arg id "$id" '.[0].id == $id' "$T/stdout"
expect_exit "create refuses a name in use" 125 b create --name r2 "$SH" true
expect_contains "... naming the container that has it" "$T/stderr" 'container name "r2" is already in use by container "r1"'
expect_out "rm -f by the new name" r2 b rm -f r2
expect_exit "... and it is gone" 3 b inspect r2

# --- inspect's state -----------------------------------------------------------------------
expect_exit "inspect of a running container" 0 b inspect web
check "the record: id, name, image, runtime" \
	jq -e --arg sh "$SH" '.[0] | .id == "web" and .name == "web" and .image == $sh and .runtime == "runc"' "$T/stdout"
check "the state: running, its pid, started, not finished" \
	jq -e --arg pid "$(pid_of web)" '.[0].state | .status == "running" and .running and (.paused | not) and (.pid | tostring) == $pid and .exit_code == 0 and .started_at > 1700000000000 and .finished_at == 0' "$T/stdout"
check "mounts: the snapshot as /, then /proc and the rest" \
	jq -e '.[0].mounts[0] | .destination == "/" and .type == "snapshot"' "$T/stdout"
netns=$(jq -r '.[0].network.netns' "$T/stdout")
check "network: the mode and the hostname" jq -e '.[0].network | .mode != null and .hostname == "web"' "$T/stdout"
case $netns in
/*) check "... the network namespace is a path that exists ($netns)" test -e "$netns" ;;
*) check "... the network namespace is the host's or a new one ($netns)" test "$netns" = host -o "$netns" = new ;;
esac
check "the spec" jq -e '.[0].spec.ociVersion and .[0].spec.linux.cgroupsPath' "$T/stdout"
b stop -t 1 web >/dev/null
expect_exit "inspect of a stopped container" 0 b inspect web
check "the state: stopped, exit code of the signal, finished after it started" \
	jq -e '.[0].state | .status == "stopped" and (.running | not) and .pid == 0 and (.exit_code == 137 or .exit_code == 143) and .finished_at >= .started_at' "$T/stdout"

# --- runtimes ------------------------------------------------------------------------------
HYBRID_REASON="crun refuses this host's hybrid cgroups"
# crun_refused FILE: FILE holds crun's refusal of a hybrid cgroup host (v1 controllers plus
# a cgroup2 mount), as crun 1.8.1 words it: "cgroups in hybrid mode not supported, drop all
# controllers from cgroupv2", after berth's "(runtime crun)".
crun_refused() {
	grep -qF '(runtime crun)' "$1" && grep -qiE 'cgroups? in hybrid mode' "$1"
}
b run --runtime crun --name cr "$SH" sh -c 'echo hello-from-crun' >"$T/crun.out" 2>"$T/crun.err"
rc=$?
if [ $rc -eq 0 ]; then
	check "a crun container runs and prints" test "$(cat "$T/crun.out")" = hello-from-crun
	check "... recorded with runtime crun" inspect_is cr '.[0].runtime == "crun"'
elif crun_refused "$T/crun.err"; then
	it_skip "a crun container runs" "$HYBRID_REASON ($(head -c 300 "$T/crun.err"))"
	check "crun's failure reaches the user as run's own failure (125)" test $rc -eq 125
	expect_contains "... naming the container, crun and the reason" "$T/crun.err" \
		'start container "cr" (runtime crun): cgroups in hybrid mode not supported'
else
	it_not_ok "a crun container runs" "exit $rc: $(head -c 500 "$T/crun.err")"
fi
b rm -f cr >/dev/null 2>&1
expect_exit "an unknown runtime is refused before anything is made" 125 b run --runtime nope "$SH" true
expect_contains "... naming it" "$T/stderr" 'runtime "nope": not configured'

# taskd's configured default runtime: crun for containers that name none (and names
# survive taskd's restart)
b rename hog hog2 >/dev/null
kill -TERM "${IT_PIDS[taskd]}"
wait "${IT_PIDS[taskd]}" 2>/dev/null
unset "IT_PIDS[taskd]"
IT_CONFIG='"taskd": {"runtime": "crun"}' write_config
daemon_start taskd
wait_healthy 20 || it_not_ok "taskd restarts with crun as its default runtime"
check "after taskd's restart a renamed container has its new name" \
	inspect_is hog2 '.[0].id == "hog" and .[0].name == "hog2" and .[0].state.status == "running"'
expect_exit "... and its first name, its id, no longer finds it" 3 b inspect hog
b create --name dflt "$SH" sh -c 'echo hello-from-default' >/dev/null
check "a container created without --runtime gets the configured default" \
	inspect_is dflt '.[0].runtime == "crun"'
b start -a dflt >"$T/dflt.out" 2>"$T/dflt.err"
rc=$?
if [ $rc -eq 0 ]; then
	check "... and runs with it" test "$(cat "$T/dflt.out")" = hello-from-default
elif crun_refused "$T/dflt.err"; then
	it_skip "the default runtime crun runs a container" "$HYBRID_REASON"
	check "... start fails with crun's reason, not a hang ($rc)" test $rc -ne 0
else
	it_not_ok "the default runtime crun runs a container" "exit $rc: $(head -c 500 "$T/dflt.err")"
fi
b rm -f dflt >/dev/null 2>&1
expect_out "--runtime runc still overrides the default" hello-from-runc \
	b run --rm --runtime runc "$SH" echo hello-from-runc

b rm -f web hog2 spin idle r1 >/dev/null 2>&1
it_summary
